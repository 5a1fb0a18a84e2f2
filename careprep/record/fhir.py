"""The record as FHIR R4 resources: plain JSON-ready dicts, checked by ``fhir.resources`` in tests.

``questionnaire_response`` is the ``fhir`` export; ``bundle`` the ``fhir-bundle`` export: a
``collection`` Bundle with the Questionnaire (rendered from the questionnaire value, so
the two cannot drift), the QuestionnaireResponse, the Patient, one Goal per goal, a Flag
per open safety flag, the Consent to share and a Provenance saying the answers are the
patient's own and by which channel. Resources are shaped after the UK Core profiles of
the same name where there is one (docs/fhir.md says which). Ids are stable, so an export
made twice names the same resources.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from careprep.preparation.questionnaire import (
    PREPARE,
    Kind,
    Question,
    Questionnaire,
    questionnaire,
)
from careprep.record import STORED_CHANNELS, Record, Section, progress_words

BASE = "https://careprep.uk/fhir"
"""The base of careprep's canonical URLs, identifier systems and code systems."""

ITEM_TYPES = {
    Kind.FREE_TEXT: "text",
    Kind.YES_NO: "boolean",
    Kind.SCALE: "integer",
    Kind.CHOICE: "choice",
    Kind.MULTI_CHOICE: "open-choice",
    Kind.GOALS: "text",
    Kind.GOAL_REVIEW: "string",
}
"""The FHIR item type of each kind of question; the others are not part of the response."""

SCALE_RANGE = (0, 10)
FLAG_WORDS = {
    "emergency": "Emergency: told to call 999",
    "urgent": "Urgent: told to call NHS 111 or the practice today",
    "mental_health": "Mental health crisis: given crisis lines",
    "safeguarding": "Safeguarding concern",
    "identity": "Identity check failed",
}
Reference = dict[str, str]


def questionnaire_url(asked: Questionnaire) -> str:
    """Return the canonical URL of a questionnaire (without its version)."""
    return f"{BASE}/Questionnaire/{asked.id}"


def _code(option: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", option.lower()).strip("-")


def _coding(asked: Questionnaire, question: Question, option: str) -> dict[str, str]:
    return {
        "system": f"{BASE}/CodeSystem/{asked.id}-{question.id}",
        "code": _code(option),
        "display": option,
    }


def _item_text(question: Question) -> str:
    """Return a question as the Questionnaire item says it (a review asks it once per goal)."""
    if question.kind is Kind.GOAL_REVIEW:
        return "How is each of your goals going, and what helped or got in the way?"
    return question.text


def _asked_items(asked: Questionnaire) -> list[Question]:
    return [question for question in asked.flow if question.kind in ITEM_TYPES]


def questionnaire_resource(asked: Questionnaire = PREPARE) -> dict[str, Any]:
    """Return the FHIR Questionnaire of a questionnaire value: one item per question."""
    items = []
    for question in _asked_items(asked):
        item: dict[str, Any] = {
            "linkId": question.id,
            "text": _item_text(question),
            "type": ITEM_TYPES[question.kind],
            "required": False,
            "repeats": question.kind in (Kind.MULTI_CHOICE, Kind.GOALS, Kind.GOAL_REVIEW),
        }
        if question.options and question.kind is not Kind.GOAL_REVIEW:
            item["answerOption"] = [
                {"valueCoding": _coding(asked, question, option)} for option in question.options
            ]
        if question.kind is Kind.SCALE:
            low, high = SCALE_RANGE
            item["extension"] = [
                {"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueInteger": low},
                {"url": "http://hl7.org/fhir/StructureDefinition/maxValue", "valueInteger": high},
            ]
        items.append(item)
    return {
        "resourceType": "Questionnaire",
        "id": f"careprep-{asked.id}-{asked.version}",
        "url": questionnaire_url(asked),
        "version": asked.version,
        "name": f"Careprep{asked.id.title()}",
        "title": asked.title,
        "status": "active",
        "subjectType": ["Patient"],
        "publisher": "careprep",
        "item": items,
    }


def patient_reference(record: Record) -> Reference:
    """Return the reference to the patient of a record, with their name for a reader."""
    return {
        "reference": f"Patient/careprep-patient-{record.patient_id}",
        "display": record.patient_name,
    }


def _response_id(record: Record) -> str:
    return f"careprep-preparation-{record.appointment_id}"


def _answers(
    asked: Questionnaire, question: Question, section: Section, record: Record
) -> list[dict[str, Any]]:
    value = section.value
    if question.kind is Kind.GOALS:
        return [{"valueString": goal.text} for goal in record.goals]
    if question.kind is Kind.GOAL_REVIEW:
        return [{"valueString": progress_words(entry)} for entry in value]
    if question.kind is Kind.FREE_TEXT:
        return [{"valueString": section.patient_words or str(value)}]
    if question.kind is Kind.YES_NO:
        return [{"valueBoolean": bool(value)}]
    if question.kind is Kind.SCALE:
        return [{"valueInteger": int(value)}]
    picked = value if isinstance(value, list) else [value]
    return [
        {"valueCoding": _coding(asked, question, each)}
        if each in question.options
        else {"valueString": str(each)}
        for each in picked
    ]


def authored(record: Record) -> str | None:
    """Return when the patient last answered, the time the response was authored."""
    times = [section.answered_at for section in record.sections if section.answered_at]
    return max(times, key=datetime.fromisoformat) if times else None


def questionnaire_response(record: Record) -> dict[str, Any]:
    """Return the record as a FHIR QuestionnaireResponse: the answers the patient gave.

    Skipped and unanswered questions have no item. A record whose answers are withheld
    (no consent to share) has none at all: the response then says only how far the
    patient got.
    """
    asked = questionnaire(record.questionnaire_id, record.questionnaire_version)
    sections = {section.question_id: section for section in record.sections}
    items = []
    for question in _asked_items(asked):
        section = sections.get(question.id)
        if section is None or section.state != "answered" or section.value is None:
            continue
        answers = _answers(asked, question, section, record)
        if answers:
            items.append({"linkId": question.id, "text": _item_text(question), "answer": answers})
    patient = patient_reference(record)
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": _response_id(record),
        "identifier": {"system": f"{BASE}/Id/preparation", "value": str(record.appointment_id)},
        "questionnaire": f"{questionnaire_url(asked)}|{asked.version}",
        "status": "completed" if record.preparation_status == "complete" else "in-progress",
        "subject": patient,
        "author": patient,
        "source": patient,
        "item": items,
    }
    when = authored(record)
    if when:
        response["authored"] = when
    if not items:
        del response["item"]
    return response


def patient_resource(record: Record) -> dict[str, Any]:
    """Return the patient: careprep's own identifier, name and date of birth, nothing more."""
    return {
        "resourceType": "Patient",
        "id": f"careprep-patient-{record.patient_id}",
        "identifier": [{"system": f"{BASE}/Id/patient", "value": str(record.patient_id)}],
        "name": [{"text": record.patient_name}],
        "birthDate": record.date_of_birth,
    }


ACHIEVEMENT = {
    "Done": ("completed", "achieved", "Achieved"),
    "Getting there": ("active", "improving", "Improving"),
    "Not started": ("active", "no-progress", "No Progress"),
    "No longer matters": ("cancelled", None, None),
}
"""For each answer at a review: the Goal's lifecycleStatus and its achievementStatus code."""


def goal_resources(record: Record) -> list[dict[str, Any]]:
    """Return a Goal per goal, in the patient's words, expressed by the patient.

    A new goal is ``proposed``; a goal reviewed keeps the id of the Goal it was when set,
    so a receiver updates it, with the review's ``achievementStatus`` and the patient's note.
    """
    patient = patient_reference(record)
    goals = [] if record.withheld else record.goals
    resources = [
        {
            "resourceType": "Goal",
            "id": f"careprep-goal-{goal.id}",
            "lifecycleStatus": "proposed",
            "description": {"text": goal.text},
            "subject": patient,
            "expressedBy": patient,
        }
        for goal in goals
    ]
    for reviewed in [] if record.withheld else record.reviewed_goals:
        lifecycle, code, display = ACHIEVEMENT[reviewed.status]
        resource: dict[str, Any] = {
            "resourceType": "Goal",
            "id": f"careprep-goal-{reviewed.goal_id}"
            if reviewed.goal_id is not None
            else f"careprep-review-{record.appointment_id}-goal-{len(resources) + 1}",
            "lifecycleStatus": lifecycle,
            "description": {"text": reviewed.text},
            "subject": patient,
            "expressedBy": patient,
        }
        if code is not None:
            resource["achievementStatus"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/goal-achievement",
                        "code": code,
                        "display": display,
                    }
                ],
                "text": reviewed.status,
            }
        if reviewed.note:
            resource["note"] = [{"text": reviewed.note}]
        resources.append(resource)
    return resources


def flag_resources(record: Record) -> list[dict[str, Any]]:
    """Return a Flag for each safety flag nobody has handled yet (a duty of care: always sent)."""
    flags = []
    for flag in record.open_flags:
        level = str(flag["level"])
        flags.append(
            {
                "resourceType": "Flag",
                "id": f"careprep-flag-{flag['id']}",
                "status": "active",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/flag-category",
                                "code": "clinical",
                                "display": "Clinical",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [
                        {
                            "system": f"{BASE}/CodeSystem/safety-level",
                            "code": level,
                            "display": FLAG_WORDS.get(level, level),
                        }
                    ],
                    "text": f"{FLAG_WORDS.get(level, level)}. The patient wrote: {flag['message']}",
                },
                "subject": patient_reference(record),
                "period": {"start": flag["raised_at"]},
            }
        )
    return flags


def consent_resource(record: Record) -> dict[str, Any] | None:
    """Return the patient's answer to sharing with the care team, or None if not asked yet."""
    if record.consent_to_share is None:
        return None
    agreed = record.consent_to_share
    consent: dict[str, Any] = {
        "resourceType": "Consent",
        "id": f"careprep-consent-{record.appointment_id}",
        "status": "active" if agreed else "rejected",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "patient-privacy",
                    "display": "Privacy Consent",
                }
            ]
        },
        "category": [
            {
                "coding": [
                    {"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
                ]
            }
        ],
        "patient": patient_reference(record),
        "policyRule": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "OPTIN" if agreed else "OPTOUT",
                }
            ],
            "text": "Share my prepared answers with my care team before the appointment",
        },
        "provision": {
            "type": "permit" if agreed else "deny",
            "data": [
                {
                    "meaning": "related",
                    "reference": {"reference": f"QuestionnaireResponse/{_response_id(record)}"},
                }
            ],
        },
    }
    if record.consent_to_share_at:
        consent["dateTime"] = record.consent_to_share_at
    return consent


def provenance_resource(record: Record, now: datetime) -> dict[str, Any]:
    """Return who wrote the answers (the patient) and by which channel."""
    channels = " and ".join(STORED_CHANNELS.get(each, each) for each in record.channels)
    return {
        "resourceType": "Provenance",
        "id": f"careprep-provenance-{record.appointment_id}",
        "target": [{"reference": f"QuestionnaireResponse/{_response_id(record)}"}],
        "recorded": authored(record) or now.isoformat(),
        "activity": {"text": f"Answered by the patient{' by ' + channels if channels else ''}"},
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "author",
                            "display": "Author",
                        }
                    ]
                },
                "who": patient_reference(record),
            },
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                            "code": "assembler",
                            "display": "Assembler",
                        }
                    ]
                },
                "who": {"display": "careprep"},
            },
        ],
        "entity": [
            {"role": "source", "what": {"display": f"careprep channel: {each}"}}
            for each in record.channels
        ],
    }


def bundle(record: Record, now: datetime | None = None) -> dict[str, Any]:
    """Return the record as a FHIR ``collection`` Bundle of everything a receiver needs."""
    now = now or datetime.now(timezone.utc)
    asked = questionnaire(record.questionnaire_id, record.questionnaire_version)
    provenance = provenance_resource(record, now)
    if not provenance["entity"]:
        del provenance["entity"]
    consent = consent_resource(record)
    resources = [
        questionnaire_resource(asked),
        questionnaire_response(record),
        patient_resource(record),
        *goal_resources(record),
        *flag_resources(record),
        *([consent] if consent else []),
        provenance,
    ]
    return {
        "resourceType": "Bundle",
        "id": f"careprep-record-{record.appointment_id}",
        "identifier": {"system": f"{BASE}/Id/record", "value": str(record.appointment_id)},
        "type": "collection",
        "timestamp": now.isoformat(timespec="seconds"),
        "entry": [
            {
                "fullUrl": f"{BASE}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
            }
            for resource in resources
        ],
    }
