"""The pre-consultation record: built from the store, rendered as plain text or JSON.

A record is read against the questionnaire its preparation names (id and version),
so it always shows the questions that were actually asked. Its top is a summary of
at most three lines for a practitioner with a minute; each answer is tagged with the
themes a practitioner acts on; and it says what changed since the patient's previous
record. ``for_practice`` withholds the answers a patient has not agreed to share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from careprep.preparation.progress import (
    SKIPPED,
    answers_by_question,
    goal_rows,
    questionnaire_of,
)
from careprep.preparation.questionnaire import (
    CONTACT,
    GOAL_PROGRESS,
    PREPARE,
    REVIEW,
    Kind,
    Question,
    QuestionId,
    questionnaire,
)
from careprep.record import themes as theme_rules
from careprep.store.models import Answer, Appointment, Goal, Preparation, SafetyFlag

CONFIDENCE_SUPPORT_BELOW = 7
"""A confidence below this may need more support (conversation.md, section 3)."""

SUMMARY_WORDS_CHARS = 90
"""The longest quotation of the patient's words in the summary lines."""

STORED_CHANNELS = {"sms": "SMS", "web": "web chat"}
"""How each channel an answer came by is named to a reader."""


@dataclass
class Section:
    """One question's part of the record.

    ``value`` is what was read from the reply (for choices: the options picked, then
    any words of the patient's own, unchanged); ``patient_words`` is the reply exactly
    as it was sent. The goals' value is read from the goal rows, each goal as given.
    """

    question_id: str
    heading: str
    state: str  # answered / skipped / not_reached
    value: Any = None
    patient_words: str | None = None
    answered_at: str | None = None
    themes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RecordGoal:
    """One goal in the patient's words, as its row in the goal table."""

    id: int
    position: int
    text: str


@dataclass
class ReviewedGoal:
    """How a goal set earlier is going, said at a review; ``goal_id`` is the goal's row."""

    goal_id: int | None
    text: str
    status: str
    note: str


@dataclass
class ConfidencePoint:
    """The patient's confidence at one of their preparations or reviews."""

    appointment_id: int
    at: str
    kind: str
    confidence: int


@dataclass
class Change:
    """How one section differs from the patient's previous record."""

    question_id: str
    heading: str
    state: str  # new / changed / same / not_answered (answered before, not this time)


@dataclass
class Changes:
    """What changed since the patient's previous record, section by section."""

    previous_appointment_id: int
    previous_appointment_at: str
    sections: list[Change] = field(default_factory=list)
    confidence_then: int | None = None
    confidence_now: int | None = None


@dataclass
class Record:
    """The whole pre-consultation record of one appointment."""

    appointment_id: int
    patient_id: int
    practice: str
    patient_name: str
    date_of_birth: str
    appointment_at: str
    practitioner: str | None
    preparation_status: str
    consent_to_share: bool | None
    consent_to_share_at: str | None
    sms_opted_out: bool
    questionnaire_id: str
    questionnaire_version: str
    goals: list[RecordGoal] = field(default_factory=list)
    safety_flags: list[dict[str, Any]] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)
    read_at: str | None = None
    read_by: str | None = None
    summary: list[str] = field(default_factory=list)
    themes: list[dict[str, Any]] = field(default_factory=list)
    offers: list[str] = field(default_factory=list)
    themes_version: str | None = None
    changes: Changes | None = None
    withheld: bool = False
    kind: str = "care_planning"
    follows_appointment_id: int | None = None
    followed_by_appointment_id: int | None = None
    reviewed_goals: list[ReviewedGoal] = field(default_factory=list)
    confidence_trend: list[ConfidencePoint] = field(default_factory=list)

    @property
    def shared(self) -> bool:
        """Whether the patient agreed to share their answers with the care team."""
        return self.consent_to_share is True

    @property
    def open_flags(self) -> list[dict[str, Any]]:
        """The safety flags nobody has handled yet."""
        return [flag for flag in self.safety_flags if not flag["handled_at"]]

    @property
    def confidence(self) -> int | None:
        """The patient's confidence, 0 to 10, if they gave it."""
        value = self.answered(QuestionId.CONFIDENCE)
        return int(value) if isinstance(value, int) else None

    @property
    def confidence_reading(self) -> str | None:
        """The plain reading of the confidence score."""
        return confidence_reading(self.confidence)

    def section(self, question_id: str) -> Section:
        """Return the section of one question (KeyError if the questionnaire has none)."""
        found = self.find(question_id)
        if found is None:
            raise KeyError(question_id)
        return found

    def find(self, question_id: str) -> Section | None:
        """Return the section of one question, or None if this questionnaire did not ask it."""
        for each in self.sections:
            if each.question_id == question_id:
                return each
        return None

    def answered(self, question_id: str) -> Any:
        """Return the value of an answered question (None if skipped, not reached or not asked)."""
        found = self.find(question_id)
        return found.value if found is not None and found.state == "answered" else None

    @property
    def is_review(self) -> bool:
        """Whether this is the record of a review of the plan (not of a preparation)."""
        return self.questionnaire_id == REVIEW.id

    @property
    def completeness(self) -> dict[str, int]:
        """Count the questions answered, skipped and not reached."""
        counts = {"answered": 0, "skipped": 0, "not_reached": 0}
        for section in self.sections:
            counts[section.state] += 1
        return counts


def _readable(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment:%A} {moment.day} {moment:%B %Y at %H:%M}"


def _iso(moment: datetime | None, zone: ZoneInfo | None = None) -> str | None:
    if moment is None:
        return None
    return (moment.astimezone(zone) if zone else moment).isoformat(timespec="seconds")


def confidence_reading(score: int | None) -> str | None:
    """Return the plain reading of a confidence score: below 7 may need more support."""
    if score is None:
        return None
    return "may need more support" if score < CONFIDENCE_SUPPORT_BELOW else "feels confident"


def shorten(text: str, limit: int) -> str:
    """Return the patient's words cut at a word boundary to at most ``limit`` characters.

    Never reworded: a cut is only ever a prefix of whole words followed by an ellipsis.
    """
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    cut = words[: limit - 1].rsplit(" ", 1)[0] if " " in words[: limit - 1] else ""
    return (cut.rstrip(",;:-") or words[: limit - 1]) + "\u2026"


def _flows_text(section: Section) -> list[str]:
    """Return the texts of an answer that themes are read from (goals one by one)."""
    if section.state != "answered":
        return []
    if isinstance(section.value, list):
        return [str(item) for item in section.value]
    if section.patient_words:
        return [section.patient_words]
    return []


def _add_words(words: list[str], more: tuple[str, ...]) -> None:
    """Add the words not yet there, whatever their case ("Walk" after "walk" adds nothing)."""
    for word in more:
        if word.lower() not in (seen.lower() for seen in words):
            words.append(word)


def _tag_themes(record: Record) -> None:
    """Tag each answer with its themes; gather them, and their offers, for the record."""
    gathered: dict[str, dict[str, Any]] = {}
    for section in record.sections:
        for text in _flows_text(section):
            for tag in theme_rules.tag(text):
                found = {
                    "theme": tag.theme.id,
                    "label": tag.theme.label,
                    "words": list(tag.words),
                    "offer": tag.theme.offer,
                }
                mine = next((t for t in section.themes if t["theme"] == tag.theme.id), None)
                if mine is None:
                    section.themes.append(found)
                else:
                    _add_words(mine["words"], tag.words)
                whole = gathered.setdefault(
                    tag.theme.id, {**found, "words": [], "question_ids": []}
                )
                _add_words(whole["words"], tag.words)
                if section.question_id not in whole["question_ids"]:
                    whole["question_ids"].append(section.question_id)
    record.themes = list(gathered.values())
    record.themes_version = theme_rules.version()
    offers = [theme["offer"] for theme in record.themes]
    confidence = theme_rules.confidence_offer(record.confidence)
    if confidence:
        offers.insert(0, confidence)
    record.offers = list(dict.fromkeys(offers))


def _flag_words(record: Record) -> str | None:
    flags = record.open_flags
    if not flags:
        return None
    levels = ", ".join(dict.fromkeys(flag["level"].replace("_", " ") for flag in flags))
    return f"{len(flags)} open safety flag{'s' if len(flags) > 1 else ''}: {levels}"


def _summary(record: Record) -> list[str]:
    """Return at most three lines: what matters most, the main worry, confidence and flags.

    A review's lines say how the goals are going and whether the patient wants to talk.
    """
    lines = _review_lines(record) if record.is_review else []
    for question_id, label in (
        (QuestionId.WHAT_MATTERS, "Matters most"),
        (QuestionId.NOT_GOING_WELL, "Main worry"),
    ):
        section = record.find(question_id)
        if section is not None and section.state == "answered" and section.patient_words:
            words = shorten(section.patient_words, SUMMARY_WORDS_CHARS)
            lines.append(f"{label}: \u201c{words}\u201d")
    last = []
    if record.confidence is not None:
        last.append(f"Confidence {record.confidence}/10 ({record.confidence_reading})")
    flags = _flag_words(record)
    if flags:
        last.append(flags)
    if not lines and not last:
        last.append(_status_words(record))
    if last:
        lines.append(". ".join(last))
    return lines


def _review_lines(record: Record) -> list[str]:
    """Return how many goals are at each stage, and any appointment or call asked for."""
    lines = []
    progress = record.answered(QuestionId.GOAL_PROGRESS)
    if isinstance(progress, list) and progress:
        counts = Counter(entry["status"] for entry in progress)
        stages = [
            f"{counts[status]} {status.lower()}" for status in GOAL_PROGRESS if counts[status]
        ]
        lines.append("Goals: " + ", ".join(stages))
    wanted = record.answered(QuestionId.CONTACT)
    if wanted in CONTACT[:2]:
        lines.append(f"Would like {str(wanted).lower()}")
    return lines


def _status_words(record: Record) -> str:
    if record.preparation_status == "not_started":
        return "Not started yet"
    counts = record.completeness
    return (
        f"Preparation {record.preparation_status.replace('_', ' ')}: "
        f"{counts['answered']} answered, {counts['skipped']} skipped"
    )


def _comparable(section: Section) -> Any:
    if section.state != "answered":
        return None
    if isinstance(section.value, str):
        return " ".join(section.value.split()).casefold()
    return section.value


def _previous_preparation(session: Session, appointment: Appointment) -> Preparation | None:
    """Return the patient's latest earlier preparation that has any answer."""
    return (
        session.execute(
            select(Preparation)
            .join(Appointment, Preparation.appointment_id == Appointment.id)
            .where(
                Appointment.patient_id == appointment.patient_id,
                Appointment.starts_at < appointment.starts_at,
                Preparation.answers.any(),
            )
            .order_by(Appointment.starts_at.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


def _changes(session: Session, appointment: Appointment, record: Record, zone: str) -> None:
    """Compare each section with the patient's previous record, where there is one."""
    previous = _previous_preparation(session, appointment)
    if previous is None:
        return
    before = build_record(session, previous.appointment_id, zone, compare=False)
    if before is None:
        return
    then = {section.question_id: section for section in before.sections}
    changes = Changes(
        previous_appointment_id=before.appointment_id,
        previous_appointment_at=before.appointment_at,
        confidence_then=before.confidence,
        confidence_now=record.confidence,
    )
    for section in record.sections:
        if section.question_id == QuestionId.READBACK:
            continue
        old = then.get(section.question_id)
        was, now = (_comparable(old) if old else None), _comparable(section)
        if now is None and was is None:
            continue
        if was is None:
            state = "new"
        elif now is None:
            state = "not_answered"
        else:
            state = "same" if was == now else "changed"
        changes.sections.append(Change(section.question_id, section.heading, state))
    record.changes = changes


def _reviewed_goals(
    session: Session, appointment: Appointment, record: Record
) -> list[ReviewedGoal]:
    """Return how each goal under review is going, tied to the goal's row where it was set."""
    progress = record.answered(QuestionId.GOAL_PROGRESS)
    if not isinstance(progress, list):
        return []
    rows: dict[str, int] = {}
    earlier = appointment.follows
    while earlier is not None:
        if earlier.preparation is not None:
            for row in goal_rows(session, earlier.preparation):
                rows.setdefault(row.text, row.id)
        earlier = earlier.follows
    return [
        ReviewedGoal(rows.get(entry["goal"]), entry["goal"], entry["status"], entry["note"])
        for entry in progress
    ]


def _confidence_trend(
    session: Session, appointment: Appointment, local: ZoneInfo
) -> list[ConfidencePoint]:
    """Return the patient's confidence at each of their records they shared, oldest first."""
    scores = session.execute(
        select(Appointment, Answer)
        .join(Preparation, Preparation.appointment_id == Appointment.id)
        .join(Answer, Answer.preparation_id == Preparation.id)
        .where(
            Appointment.patient_id == appointment.patient_id,
            Appointment.practice_id == appointment.practice_id,
            Answer.question_id == QuestionId.CONFIDENCE,
            Answer.skipped.is_(False),
            Preparation.consent_to_share.is_(True),
        )
        .order_by(Appointment.starts_at)
    ).all()
    return [
        ConfidencePoint(
            earlier.id, earlier.starts_at.astimezone(local).isoformat(), earlier.kind, answer.value
        )
        for earlier, answer in scores
        if isinstance(answer.value, int)
    ]


def build_record(
    session: Session, appointment_id: int, zone: str, compare: bool = True
) -> Record | None:
    """Return the record of an appointment, its times in ``zone``; None if there is none.

    With ``compare``, the record says what changed since the patient's previous one.
    """
    appointment = session.get(Appointment, appointment_id)
    if appointment is None:
        return None
    preparation = appointment.preparation
    asked = questionnaire_of(preparation) if preparation else PREPARE
    stored: dict[str, Answer] = answers_by_question(preparation) if preparation else {}
    goals: list[Goal] = goal_rows(session, preparation) if preparation else []
    flags = (
        session.execute(
            select(SafetyFlag)
            .where(SafetyFlag.preparation_id == preparation.id)
            .order_by(SafetyFlag.raised_at.desc())
        ).scalars()
        if preparation
        else []
    )
    local = ZoneInfo(zone)
    record = Record(
        appointment_id=appointment.id,
        patient_id=appointment.patient_id,
        practice=appointment.practice.name,
        patient_name=appointment.patient.name,
        date_of_birth=appointment.patient.date_of_birth.isoformat(),
        appointment_at=appointment.starts_at.astimezone(local).isoformat(),
        practitioner=appointment.practitioner.email if appointment.practitioner else None,
        preparation_status=preparation.status if preparation else "not_started",
        consent_to_share=preparation.consent_to_share if preparation else None,
        consent_to_share_at=_iso(preparation.consent_to_share_at, local) if preparation else None,
        sms_opted_out=appointment.patient.sms_opted_out_at is not None,
        questionnaire_id=asked.id,
        questionnaire_version=asked.version,
        goals=[RecordGoal(goal.id, goal.position, goal.text) for goal in goals],
        channels=sorted({answer.channel for answer in stored.values() if answer.channel}),
        read_at=_iso(appointment.record_read_at, local),
        read_by=appointment.record_read_by,
        safety_flags=[
            {
                "id": flag.id,
                "level": flag.level,
                "message": flag.message,
                "raised_at": _iso(flag.raised_at, local),
                "handled_at": _iso(flag.handled_at, local),
                "handled_by": flag.handled_by,
                "detected_by": flag.detected_by,
                "pattern_version": flag.pattern_version,
                "classifier_version": flag.classifier_version,
            }
            for flag in flags
        ],
    )
    for question in asked.flow:
        answer = stored.get(question.id)
        if answer is None:
            record.sections.append(Section(question.id, question.section, "not_reached"))
        elif answer.skipped:
            record.sections.append(
                Section(
                    question.id,
                    question.section,
                    "skipped",
                    answered_at=_iso(answer.answered_at, local),
                )
            )
        elif question.kind is Kind.GOALS:
            record.sections.append(
                Section(
                    question.id,
                    question.section,
                    "answered",
                    value=[goal.text for goal in record.goals],
                    answered_at=_iso(answer.answered_at, local),
                )
            )
        else:
            record.sections.append(
                Section(
                    question.id,
                    question.section,
                    "answered",
                    value=answer.value,
                    patient_words=answer.raw_text,
                    answered_at=_iso(answer.answered_at, local),
                )
            )
    record.kind = appointment.kind
    record.follows_appointment_id = appointment.follows_id
    record.followed_by_appointment_id = session.execute(
        select(Appointment.id).where(Appointment.follows_id == appointment.id)
    ).scalar_one_or_none()
    record.reviewed_goals = _reviewed_goals(session, appointment, record)
    record.confidence_trend = _confidence_trend(session, appointment, local)
    _tag_themes(record)
    record.summary = _summary(record)
    if compare:
        _changes(session, appointment, record, zone)
    return record


def for_practice(record: Record) -> Record:
    """Return the record as the practice may see it.

    Answers are shown only when the patient agreed to share them. Otherwise the
    practice sees the status, the completeness and every safety flag (a duty of
    care), never the answers, the goals, the themes or what changed.
    """
    if record.shared:
        return record
    hidden = [
        replace(section, value=None, patient_words=None, themes=[]) for section in record.sections
    ]
    shown = replace(
        record,
        sections=hidden,
        goals=[],
        themes=[],
        offers=[],
        changes=None,
        withheld=True,
        reviewed_goals=[],
        confidence_trend=[],
    )
    flags = _flag_words(record)
    shown.summary = [_status_words(shown)] + ([flags] if flags else [])
    return shown


def describe(question: Question, value: Any) -> str:
    """Return an answer in plain words for a reader."""
    if value is None:
        return "Not answered yet"
    if value == SKIPPED:
        return "Skipped"
    if question.kind is Kind.YES_NO or question.kind is Kind.CONFIRM:
        return "Yes" if value else "No"
    if question.kind is Kind.SCALE:
        reading = (
            "may need more support" if int(value) < CONFIDENCE_SUPPORT_BELOW else "feels confident"
        )
        return f"{value} out of 10 ({reading})"
    if question.kind is Kind.GOAL_REVIEW and isinstance(value, list):
        return "; ".join(map(progress_words, value)) if value else "No goals to review"
    if isinstance(value, list):
        return "; ".join(str(item) for item in value) if value else "None"
    return str(value)


def progress_words(entry: dict[str, str]) -> str:
    """Return how one reviewed goal is going: "Walk to the shops: Getting there (physio)"."""
    note = f" ({entry['note']})" if entry.get("note") else ""
    return f"{entry['goal']}: {entry['status']}{note}"


def to_json(record: Record) -> dict[str, Any]:
    """Return the record as a JSON-ready dict."""
    data = asdict(record)
    data["completeness"] = record.completeness
    data["shared"] = record.shared
    data["confidence"] = record.confidence
    data["confidence_reading"] = record.confidence_reading
    return data


CHANGE_WORDS = {
    "new": "new",
    "changed": "changed",
    "same": "the same",
    "not_answered": "not answered this time",
}


@dataclass(frozen=True)
class ShownSection:
    """A section as a reader sees it: its heading, its state and its answer in words.

    ``items`` is set for answers read as a list in the patient's order (goals, topics).
    """

    question_id: str
    heading: str
    state: str
    text: str
    items: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()


def shown_sections(record: Record) -> list[ShownSection]:
    """Return the sections in plain words, in the order asked (the read-back left out)."""
    asked = questionnaire(record.questionnaire_id, record.questionnaire_version)
    shown = []
    for section in record.sections:
        if section.question_id == QuestionId.READBACK:
            continue
        value = {"skipped": SKIPPED, "not_reached": None}.get(section.state, section.value)
        question = asked.question(section.question_id)
        listed = isinstance(section.value, list) and question.kind in (
            Kind.GOALS,
            Kind.MULTI_CHOICE,
        )
        shown.append(
            ShownSection(
                section.question_id,
                section.heading,
                section.state,
                describe(question, value),
                tuple(str(item) for item in section.value) if listed else (),
                tuple(theme["label"] for theme in section.themes),
            )
        )
    return shown


def _section_lines(record: Record) -> list[str]:
    lines = []
    for section in shown_sections(record):
        if section.question_id == QuestionId.GOALS and section.items:
            lines.append(f"{section.heading}:")
            lines += [f"  {number}. {goal}" for number, goal in enumerate(section.items, 1)]
        else:
            lines.append(f"{section.heading}: {section.text}")
    return lines


def _theme_lines(record: Record) -> list[str]:
    if not record.themes and not record.offers:
        return []
    lines = ["", f"THEMES (from the patient's words; theme rules {record.themes_version})"]
    for theme in record.themes:
        words = ", ".join(f'"{word}"' for word in theme["words"])
        lines.append(f"- {theme['label']}: {words}")
    if record.offers:
        lines += ["", "OFFERS TO CONSIDER"] + [f"- {offer}" for offer in record.offers]
    return lines


def _change_lines(record: Record) -> list[str]:
    changes = record.changes
    if changes is None:
        return []
    lines = ["", f"WHAT CHANGED since the record of {_readable(changes.previous_appointment_at)}"]
    lines += [f"{change.heading}: {CHANGE_WORDS[change.state]}" for change in changes.sections]
    if changes.confidence_then is not None or changes.confidence_now is not None:
        then = "-" if changes.confidence_then is None else changes.confidence_then
        now = "-" if changes.confidence_now is None else changes.confidence_now
        lines.append(f"Confidence: {then} then, {now} now (out of 10)")
    return lines


def to_text(record: Record) -> str:
    """Return the record as plain text for a practitioner: flags, summary, then sections."""
    title = "Review of the care plan" if record.is_review else "Pre-consultation record"
    when = "Review due" if record.is_review else "Appointment"
    lines = [
        f"{title} - {record.patient_name} (born {record.date_of_birth})",
        f"{when}: {_readable(record.appointment_at)} at {record.practice}",
    ]
    if record.practitioner:
        lines.append(f"With: {record.practitioner}")
    lines.append("")
    if record.safety_flags:
        lines.append("SAFETY FLAGS")
        for flag in record.safety_flags:
            handled = (
                f" (handled by {flag['handled_by']}, {_readable(flag['handled_at'])})"
                if flag["handled_at"]
                else " (OPEN)"
            )
            lines.append(
                f"! {flag['level']}: {flag['message']} - {_readable(flag['raised_at'])}{handled}"
            )
        lines.append("")
    lines += ["SUMMARY"] + record.summary + [""]
    consent = {True: "Yes", False: "No", None: "Not asked yet"}[record.consent_to_share]
    when = f" ({record.consent_to_share_at})" if record.consent_to_share_at else ""
    counts = record.completeness
    by = " and ".join(STORED_CHANNELS.get(channel, channel) for channel in record.channels)
    lines += [
        f"{'Review' if record.is_review else 'Preparation'}: "
        f"{record.preparation_status.replace('_', ' ')}" + (f" (answered by {by})" if by else ""),
        f"Consent to share with the care team: {consent}{when}",
        f"Completeness: {counts['answered']} answered, {counts['skipped']} skipped, "
        f"{counts['not_reached']} not reached",
    ]
    if record.sms_opted_out:
        lines.append("Text messages: the patient has opted out")
    lines.append("")
    if record.withheld:
        lines.append(
            "The patient has not agreed to share their answers with the care team, "
            "so they are not shown."
        )
    else:
        lines += (
            _section_lines(record)
            + _theme_lines(record)
            + _change_lines(record)
            + _trend_lines(record)
        )
    return "\n".join(lines) + "\n"


def trend_words(record: Record) -> str | None:
    """Return the confidence across the patient's shared records: "4 (1 Dec 2026) -> 7 ..."."""
    if len(record.confidence_trend) < 2:
        return None
    return " -> ".join(
        f"{point.confidence} ({_day(point.at)}{', review' if point.kind == 'review' else ''})"
        for point in record.confidence_trend
    )


def _day(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    return f"{moment.day} {moment:%b %Y}"


def _trend_lines(record: Record) -> list[str]:
    words = trend_words(record)
    return ["", "CONFIDENCE OVER TIME", words] if words else []
