"""FHIR exports: every resource valid per fhir.resources, and saying what the patient said."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from fhir.resources import get_fhir_model_class
from fhir.resources.bundle import Bundle
from fhir.resources.questionnaire import Questionnaire as FhirQuestionnaire
from fhir.resources.questionnaireresponse import QuestionnaireResponse

from careprep.preparation.progress import record_answer
from careprep.preparation.questionnaire import PREPARE, QuestionId
from careprep.record import Record, build_record, for_practice
from careprep.record import fhir as record_fhir
from careprep.record.exports import FORMATS, export, file_name
from careprep.safety.flags import handle_flag, raise_flag
from careprep.store import session_scope
from tests.factories import PREPARED_ANSWERS, book, prepare
from tests.test_cli import careprep

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
HTML = "<script>alert('x')</script> & my knees"


def prepared(database_url: str, **answers: Any) -> Record:
    with session_scope(database_url) as session:
        appointment = book(session)
        prepare(session, appointment, {"not_going_well": HTML, **answers})
        preparation = appointment.preparation
        raise_flag(session, preparation, "urgent", "I fell and hit my head", "going_well")
        handled = raise_flag(session, preparation, "emergency", "chest pain now", None)
        handle_flag(session, handled.id, "gp@example.org")
        record = build_record(session, appointment.id, "Europe/London")
        assert record is not None
        return record


REQUIRED_CODES = {
    ("QuestionnaireResponse", "status"): {
        "in-progress", "completed", "amended", "entered-in-error", "stopped",
    },
    ("Questionnaire", "status"): {"draft", "active", "retired", "unknown"},
    ("Goal", "lifecycleStatus"): {
        "proposed", "planned", "accepted", "active", "on-hold", "completed",
        "cancelled", "entered-in-error", "rejected",
    },
    ("Flag", "status"): {"active", "inactive", "entered-in-error"},
    ("Consent", "status"): {
        "draft", "proposed", "active", "rejected", "inactive", "entered-in-error",
    },
}  # fmt: skip
"""FHIR R4's required bindings that fhir.resources does not check itself."""


def valid(resource: dict[str, Any]) -> Any:
    """Parse a resource with the model of its type, and check the codes and rules it skips."""
    kind = resource["resourceType"]
    for (bound_kind, element), codes in REQUIRED_CODES.items():
        if bound_kind == kind:
            assert resource[element] in codes, (kind, element, resource[element])
    if kind == "Consent":
        assert "policy" in resource or "policyRule" in resource  # invariant ppc-1
        assert resource["provision"]["type"] in ("deny", "permit")
    if kind == "Questionnaire":
        types = {"boolean", "integer", "text", "string", "choice", "open-choice", "date"}
        assert {item["type"] for item in resource["item"]} <= types
    return get_fhir_model_class(kind).parse_obj(resource)


def items(response: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {item["linkId"]: item["answer"] for item in response.get("item", [])}


def test_the_questionnaire_is_rendered_from_the_questionnaire_value() -> None:
    resource = record_fhir.questionnaire_resource(PREPARE)
    parsed = valid(resource)
    assert isinstance(parsed, FhirQuestionnaire)
    assert parsed.url == "https://careprep.uk/fhir/Questionnaire/prepare"
    assert parsed.version == PREPARE.version and parsed.status == "active"
    link_ids = [item.linkId for item in parsed.item]
    assert link_ids == [
        q.id for q in PREPARE.flow if q.id not in (QuestionId.READBACK, QuestionId.IDENTITY)
    ]
    by_id = {item.linkId: item for item in parsed.item}
    for question in PREPARE.flow:
        if question.id in by_id:
            assert by_id[question.id].text == question.text
            shown = [option.valueCoding.display for option in by_id[question.id].answerOption or []]
            assert shown == list(question.options)
    assert by_id[QuestionId.CONFIDENCE].type == "integer"
    assert by_id[QuestionId.TOPICS].type == "open-choice" and by_id[QuestionId.TOPICS].repeats
    assert by_id[QuestionId.CONSENT_SHARE].type == "boolean"


def test_the_response_holds_the_patient_s_answers_typed_and_in_their_words(
    database_url: str,
) -> None:
    record = prepared(database_url)
    response = record_fhir.questionnaire_response(record)
    parsed = valid(response)
    assert parsed.status == "completed"
    assert parsed.questionnaire == "https://careprep.uk/fhir/Questionnaire/prepare|1"
    patient = f"Patient/careprep-patient-{record.patient_id}"
    assert parsed.subject.reference == parsed.author.reference == patient
    assert parsed.source.reference == patient
    assert parsed.authored is not None
    answers = items(response)
    assert answers[QuestionId.WHAT_MATTERS] == [{"valueString": PREPARED_ANSWERS["what_matters"]}]
    assert answers[QuestionId.NOT_GOING_WELL] == [{"valueString": HTML}]
    assert answers[QuestionId.GOALS] == [
        {"valueString": goal} for goal in PREPARED_ANSWERS["goals"]
    ]
    assert answers[QuestionId.CONFIDENCE] == [{"valueInteger": 4}]
    assert answers[QuestionId.CONSENT_SHARE] == [{"valueBoolean": True}]
    topics = answers[QuestionId.TOPICS]
    assert [a["valueCoding"]["display"] for a in topics if "valueCoding" in a] == [
        "Pain",
        "Sleep",
    ]
    assert {"valueString": "my knees"} in topics
    assert QuestionId.READBACK not in answers and QuestionId.IDENTITY not in answers


def test_every_answer_matches_its_question_s_type(database_url: str) -> None:
    record = prepared(database_url)
    questions = {
        item["linkId"]: item for item in record_fhir.questionnaire_resource(PREPARE)["item"]
    }
    allowed = {
        "text": {"valueString"},
        "boolean": {"valueBoolean"},
        "integer": {"valueInteger"},
        "choice": {"valueCoding"},
        "open-choice": {"valueCoding", "valueString"},
    }
    response = record_fhir.questionnaire_response(record)
    for item in response["item"]:
        question = questions[item["linkId"]]
        assert item["text"] == question["text"]
        assert len(item["answer"]) == 1 or question["repeats"]
        for answer in item["answer"]:
            (kind,) = answer
            assert kind in allowed[question["type"]], (item["linkId"], kind)
            if kind == "valueCoding":
                assert answer[kind] in [o["valueCoding"] for o in question["answerOption"]]


def test_skipped_and_unreached_questions_have_no_item(database_url: str) -> None:
    record = prepared(database_url, good_day=None, questions="SKIP")
    answers = items(record_fhir.questionnaire_response(record))
    assert QuestionId.GOOD_DAY not in answers


def test_the_bundle_holds_every_resource_and_each_is_valid(database_url: str) -> None:
    record = prepared(database_url)
    data = record_fhir.bundle(record, NOW)
    parsed = Bundle.parse_obj(data)
    assert parsed.type == "collection"
    resources = [entry["resource"] for entry in data["entry"]]
    for resource in resources:
        valid(resource)
    kinds = [resource["resourceType"] for resource in resources]
    assert kinds == [
        "Questionnaire",
        "QuestionnaireResponse",
        "Patient",
        "Goal",
        "Goal",
        "Flag",
        "Consent",
        "Provenance",
    ]
    urls = [entry["fullUrl"] for entry in data["entry"]]
    assert len(set(urls)) == len(urls)
    by_kind = {resource["resourceType"]: resource for resource in resources}
    goals = [r for r in resources if r["resourceType"] == "Goal"]
    assert [goal["description"]["text"] for goal in goals] == PREPARED_ANSWERS["goals"]
    assert {goal["lifecycleStatus"] for goal in goals} == {"proposed"}
    assert goals[0]["expressedBy"]["reference"] == f"Patient/careprep-patient-{record.patient_id}"
    assert "I fell and hit my head" in by_kind["Flag"]["code"]["text"]
    assert "chest pain now" not in json.dumps(by_kind["Flag"])
    consent = by_kind["Consent"]
    assert consent["status"] == "active" and consent["provision"]["type"] == "permit"
    assert consent["dateTime"] == record.consent_to_share_at
    provenance = by_kind["Provenance"]
    assert provenance["target"] == [
        {"reference": f"QuestionnaireResponse/{by_kind['QuestionnaireResponse']['id']}"}
    ]
    assert provenance["activity"]["text"] == "Answered by the patient by SMS"
    assert provenance["agent"][0]["who"]["reference"].startswith("Patient/")
    patient = by_kind["Patient"]
    assert patient["birthDate"] == "1950-02-03" and "telecom" not in patient


def test_both_channels_are_named_in_the_provenance(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        prepare(session, appointment, channel="sms")
        preparation = appointment.preparation
        record_answer(session, preparation, QuestionId.CONFIDENCE, 8, "8", "web")
        record = build_record(session, appointment.id, "Europe/London")
        assert record is not None
    provenance = record_fhir.provenance_resource(record, NOW)
    assert provenance["activity"]["text"] == "Answered by the patient by SMS and web chat"


def test_without_consent_the_bundle_holds_no_answers_but_keeps_the_flags(
    database_url: str,
) -> None:
    record = for_practice(prepared(database_url, consent_share="no"))
    data = record_fhir.bundle(record, NOW)
    Bundle.parse_obj(data)
    resources = [entry["resource"] for entry in data["entry"]]
    for resource in resources:
        valid(resource)
    kinds = [resource["resourceType"] for resource in resources]
    assert "Goal" not in kinds and kinds.count("Flag") == 1
    text = json.dumps(data)
    assert "grandchildren" not in text and PREPARED_ANSWERS["goals"][0] not in text
    response = resources[kinds.index("QuestionnaireResponse")]
    assert "item" not in response
    consent = resources[kinds.index("Consent")]
    assert consent["status"] == "rejected" and consent["provision"]["type"] == "deny"


def test_a_record_not_started_is_an_empty_response_in_progress(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        record = build_record(session, appointment.id, "Europe/London")
        assert record is not None
    response = QuestionnaireResponse.parse_obj(record_fhir.questionnaire_response(record))
    assert response.status == "in-progress" and response.item is None
    assert response.authored is None
    data = record_fhir.bundle(record, NOW)
    Bundle.parse_obj(data)
    kinds = [entry["resource"]["resourceType"] for entry in data["entry"]]
    assert "Consent" not in kinds and "Goal" not in kinds
    for entry in data["entry"]:
        valid(entry["resource"])


@pytest.mark.parametrize("format_name", FORMATS)
def test_every_format_writes_and_names_its_file_without_the_patient(
    database_url: str, format_name: str
) -> None:
    record = prepared(database_url)
    written = export(record, format_name)
    assert written.endswith("\n")
    if format_name != "text":
        json.loads(written)
    assert "Ann" not in file_name(record, format_name)


def test_the_command_line_exports_fhir_and_leaves_an_audit_trail(
    database_url: str, tmp_path: Path
) -> None:
    from sqlalchemy import select

    from careprep.store.models import AuditEvent

    record = prepared(database_url)
    identifier = str(record.appointment_id)
    response = careprep(database_url, tmp_path, "export", identifier, "--format", "fhir")
    assert response.returncode == 0, response.stderr
    parsed = QuestionnaireResponse.parse_obj(json.loads(response.stdout))
    assert parsed.status == "completed"
    whole = careprep(database_url, tmp_path, "export", identifier, "--format", "fhir-bundle")
    assert whole.returncode == 0, whole.stderr
    Bundle.parse_obj(json.loads(whole.stdout))
    with session_scope(database_url) as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.appointment_id == record.appointment_id)
        ).all()
        assert [event.action for event in events] == ["exported:fhir", "exported:fhir-bundle"]
        assert all(event.actor.startswith("cli:") and event.practice_id for event in events)
    wrong = careprep(database_url, tmp_path, "export", identifier, "--format", "xml")
    assert wrong.returncode != 0 and "invalid choice" in wrong.stderr


def test_the_command_line_export_withholds_answers_without_consent(
    database_url: str, tmp_path: Path
) -> None:
    record = prepared(database_url, consent_share="no")
    shown = careprep(database_url, tmp_path, "export", str(record.appointment_id))
    assert shown.returncode == 0, shown.stderr
    assert "grandchildren" not in shown.stdout
    assert "I fell and hit my head" in shown.stdout
