"""When a practice's messages may go out: outside its quiet hours, and never on a Sunday.

Times are the practice's local times (Europe/London by default), so quiet hours of
20:00-09:00 stay 20:00-09:00 on both sides of the clock changes in March and October.
A message due inside quiet hours, or on a Sunday, goes at the next allowed minute.
A practice that sets its quiet hours to "none" has no quiet time at all, Sundays included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

DEFAULT_QUIET_HOURS = "20:00-09:00"
NO_QUIET_HOURS = "none"
SUNDAY = 6
"""``date.weekday()`` of a Sunday: no messages are sent that day."""

_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class BadQuietHours(ValueError):
    """Quiet hours written other than HH:MM-HH:MM (24-hour clock) or "none"."""


@dataclass(frozen=True)
class QuietHours:
    """A daily window without messages, ``start`` to ``end`` local time (may cross midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, written: str) -> QuietHours | None:
        """Read "HH:MM-HH:MM" (None for "none"); raise BadQuietHours otherwise."""
        text = written.strip().lower()
        if text == NO_QUIET_HOURS:
            return None
        match = _WINDOW.match(text)
        if match is None:
            raise BadQuietHours(
                f"quiet hours must be HH:MM-HH:MM on the 24-hour clock, or none, not {written!r}"
            )
        start = time(int(match.group(1)), int(match.group(2)))
        end = time(int(match.group(3)), int(match.group(4)))
        if start == end:
            raise BadQuietHours("quiet hours must start and end at different times")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def covers(self, moment: time) -> bool:
        """Whether a local time of day falls inside the window."""
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Return a local wall-clock time as a real moment (a time skipped in March moves on)."""
    wall = datetime.combine(day, at, tzinfo=zone)
    return wall.astimezone(timezone.utc).astimezone(zone)


def next_allowed(moment: datetime, quiet: QuietHours | None, zone_name: str) -> datetime:
    """Return ``moment`` if a message may go then, else the next minute one may (in UTC)."""
    if quiet is None:
        return moment.astimezone(timezone.utc)
    zone = ZoneInfo(zone_name)
    local = moment.astimezone(zone)
    for _ in range(9):  # at most a Sunday and a quiet night in a row
        if local.weekday() == SUNDAY:
            monday = local.date() + timedelta(days=1)
            local = _local(monday, quiet.end, zone)
            continue
        if quiet.covers(local.time()):
            day = local.date()
            if quiet.start > quiet.end and local.time() >= quiet.start:
                day += timedelta(days=1)
            local = _local(day, quiet.end, zone)
            continue
        return local.astimezone(timezone.utc)
    raise AssertionError("no allowed minute found in a week")  # pragma: no cover
