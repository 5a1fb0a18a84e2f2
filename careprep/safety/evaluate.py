"""Measure the safety netting on one half of the corpus: recall per level, false alarms.

``python -m careprep.safety.evaluate`` prints the development half's figures, and with
``--misses`` its misses and false alarms: the only ones a pattern writer may look
at. ``--half heldout`` measures the held-out half; its misses are read only once the
patterns are final, for the residual-risk section of docs/clinical-safety.md, and
never to change a pattern.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from careprep import yamltext
from careprep.safety import SEVERITY, Level, detect_all, detector
from careprep.safety.corpus import Example, Half, examples

TARGET_RECALL = 0.99
TARGET_FALSE_ALARM_RATE = 0.02
"""What the safety netting must reach on held-out messages (docs/clinical-safety.md)."""
FLOOR_FILE = Path(__file__).with_name("floor.yml")
"""What it reaches today: a change that falls below this fails the build."""


@dataclass(frozen=True)
class Limits:
    """The least recall per level and the most false alarms a measurement may show."""

    recall: dict[str, float]
    false_alarm_rate: float


TARGET = Limits({level.value: TARGET_RECALL for level in SEVERITY}, TARGET_FALSE_ALARM_RATE)


def floor() -> Limits:
    """Return the floor the build holds (``floor.yml``): raise it with every improvement."""
    loaded = yamltext.load(FLOOR_FILE.read_text())
    return Limits(
        {level.value: float(loaded["recall"][level.value]) for level in SEVERITY},
        float(loaded["false_alarm_rate"]),
    )


Detect = Callable[[str], Iterable[Level]]


def caught(example: Example, found: set[Level]) -> bool:
    """Return True when the levels found give the signposting the example needs.

    999 for an urgent problem is over-triage, not a miss; anything else must be
    the example's own level.
    """
    level = Level(example.level)
    return level in found or (level is Level.URGENT and Level.EMERGENCY in found)


FILE_COUNTS = ("red_flags", "caught", "everyday", "alarms")


@dataclass
class Report:
    """The figures of one half of the corpus."""

    half: Half
    red_flags: dict[str, int] = field(default_factory=dict)
    caught: dict[str, int] = field(default_factory=dict)
    everyday: int = 0
    false_alarms: int = 0
    misses: list[tuple[Example, list[str]]] = field(default_factory=list)
    alarms: list[tuple[Example, list[str]]] = field(default_factory=list)
    files: dict[str, dict[str, int]] = field(default_factory=dict)
    """Per file of the corpus: its red flags and how many were caught, its everyday
    messages and how many raised an alarm."""

    def count(self, example: Example, outcome: str) -> None:
        """Count one message in its file's figures ("red_flags", "caught", "everyday", "alarms")."""
        counts = self.files.setdefault(example.source, dict.fromkeys(FILE_COUNTS, 0))
        counts[outcome] += 1

    def recall(self, level: Level) -> float:
        """Return the share of this level's red flags that got its signposting."""
        total = self.red_flags.get(level.value, 0)
        return self.caught.get(level.value, 0) / total if total else 1.0

    @property
    def false_alarm_rate(self) -> float:
        """Return the share of everyday messages that raised any concern."""
        return self.false_alarms / self.everyday if self.everyday else 0.0

    def meets(self, limits: Limits) -> bool:
        """Return True when every level reaches its recall and alarms stay under the cap."""
        return (
            all(self.recall(level) >= limits.recall[level.value] for level in SEVERITY)
            and self.false_alarm_rate <= limits.false_alarm_rate
        )

    def figures(self) -> dict[str, object]:
        """Return the figures as plain values."""
        return {
            "half": self.half.value,
            "recall": {
                level.value: {
                    "caught": self.caught.get(level.value, 0),
                    "of": self.red_flags.get(level.value, 0),
                    "recall": round(self.recall(level), 4),
                }
                for level in SEVERITY
            },
            "everyday": self.everyday,
            "false_alarms": self.false_alarms,
            "false_alarm_rate": round(self.false_alarm_rate, 4),
            "files": self.files,
        }


def both_nets(text: str) -> list[Level]:
    """Return the levels the rules and the classifier together raise."""
    return [concern.level for concern in detect_all(text)]


def rules_only(text: str) -> list[Level]:
    """Return the levels the rules alone raise."""
    return [concern.level for concern in detector().detect_all(text)]


NETS: dict[str, Detect] = {"both": both_nets, "rules": rules_only}


def evaluate(half: Half, detect: Detect = both_nets, batch: int | None = None) -> Report:
    """Run the safety netting over one half of the corpus (or one batch of it)."""
    report = Report(half)
    for example in examples(half):
        if batch is not None and example.batch != batch:
            continue
        found = set(detect(example.text))
        names = sorted(level.value for level in found)
        if example.is_red_flag:
            report.red_flags[example.level] = report.red_flags.get(example.level, 0) + 1
            report.count(example, "red_flags")
            if caught(example, found):
                report.count(example, "caught")
                report.caught[example.level] = report.caught.get(example.level, 0) + 1
            else:
                report.misses.append((example, names))
        else:
            report.everyday += 1
            report.count(example, "everyday")
            if found:
                report.count(example, "alarms")
                report.false_alarms += 1
                report.alarms.append((example, names))
    return report


def table(report: Report) -> str:
    """Return the figures as a short text table."""
    lines = [f"{report.half.value} half"]
    for level in SEVERITY:
        lines.append(
            f"  {level.value:<14} recall {report.recall(level):7.2%}"
            f"  ({report.caught.get(level.value, 0)} of {report.red_flags.get(level.value, 0)})"
        )
    lines.append(
        f"  {'false alarms':<14} {report.false_alarm_rate:7.2%}"
        f"  ({report.false_alarms} of {report.everyday})"
    )
    return "\n".join(lines)


def by_file(report: Report) -> str:
    """Return each file's figures: red flags caught, or everyday messages that raised an alarm.

    Ordinary answers and hard negatives (old events, denials, idioms) are kept in
    separate files by most writers, so this shows how often an ordinary answer is
    told to get help, beside how often a message written to trip the netting is.
    """
    lines = [f"{report.half.value} half, by file"]
    for source, counts in sorted(report.files.items()):
        parts = []
        if counts["red_flags"]:
            parts.append(f"caught {counts['caught']:4} of {counts['red_flags']:4}")
        if counts["everyday"]:
            parts.append(f"alarms {counts['alarms']:4} of {counts['everyday']:4}")
        lines.append(f"  {source:<40} " + ", ".join(parts))
    return "\n".join(lines)


def _listing(report: Report, level: str | None, why: bool = False) -> str:
    lines = []

    def explained(line: str, example: Example) -> None:
        lines.append(line)
        if why:
            lines.extend(f"      {reason}" for reason in detector().explain(example.text))

    for example, found in report.misses:
        if level in (None, example.level):
            explained(
                f"MISS  {example.level:<13} {example.topic:<20} {found} {example.text}", example
            )
    for example, found in report.alarms:
        if level is None or level in found:
            explained(f"ALARM {example.topic:<34} {found} {example.text}", example)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the figures; exit 1 if a half that was measured fails its floor."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--half", choices=["development", "heldout", "both"], default="development")
    parser.add_argument("--net", choices=sorted(NETS), default="both", help="which nets to run")
    parser.add_argument("--misses", action="store_true", help="list misses and false alarms")
    parser.add_argument("--level", help="list only this level's misses and alarms")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--batch", type=int, help="only the messages of this batch")
    parser.add_argument("--by-file", action="store_true", help="also give each file's figures")
    parser.add_argument(
        "--why", action="store_true", help="with --misses: the rules each listed message matched"
    )
    parser.add_argument(
        "--unseen",
        action="store_true",
        help="measure the blind batch in corpus/unseen/ whole (figures only, never misses)",
    )
    args = parser.parse_args(argv)
    if args.unseen and args.misses:
        parser.error("an unseen batch's misses are not listed: it must stay unread until split")
    halves = [Half.DEVELOPMENT, Half.HELD_OUT] if args.half == "both" else [Half(args.half)]
    if args.unseen:
        halves = [Half.UNSEEN]
    reports = [evaluate(half, NETS[args.net], args.batch) for half in halves]
    if args.json:
        print(json.dumps([report.figures() for report in reports], indent=2))
    else:
        print("\n".join(table(report) for report in reports))
        if args.by_file:
            print("\n".join(by_file(report) for report in reports))
    if args.misses:
        for report in reports:
            print(_listing(report, args.level, args.why))
    held_out = [report for report in reports if report.half is Half.HELD_OUT]
    for report in held_out:
        print(
            "held-out half: "
            + ("meets" if report.meets(TARGET) else "does NOT yet meet")
            + f" the target ({TARGET_RECALL:.0%} recall per level,"
            f" at most {TARGET_FALSE_ALARM_RATE:.0%} false alarms); "
            + ("holds" if report.meets(floor()) else "FALLS BELOW")
            + f" the floor in {FLOOR_FILE.name}"
        )
    return 0 if all(report.meets(floor()) for report in held_out) else 1


if __name__ == "__main__":
    raise SystemExit(main())
