"""Reviews in the portal: listed as reviews, a request to talk is a task until read, the record
beside the one it reviews, with the confidence across the patient's records. Over HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from careprep.messaging.reminders import book_review
from careprep.preparation.progress import record_answer, record_complete
from careprep.preparation.questionnaire import QuestionId
from careprep.store import session_scope
from careprep.store.models import Appointment
from tests import test_portal as portal
from tests.test_portal import CLINICIAN, OTHER, Practice, client_of, csrf_of, sign_in

practice = portal.practice
"""The portal tests' two practices, shared by import."""

REVIEW_ANSWERS = [
    (QuestionId.CONSENT_START, True),
    (
        QuestionId.GOAL_PROGRESS,
        [{"goal": "Walk to the shops without stopping", "status": "Done", "note": "<b>did it</b>"}],
    ),
    (QuestionId.CHANGES, "Moved in with my daughter"),
    (QuestionId.CONFIDENCE, 8),
    (QuestionId.CONTACT, "A phone call"),
    (QuestionId.READBACK, True),
    (QuestionId.CONSENT_SHARE, True),
]


@pytest.fixture
def review_id(practice: Practice) -> int:
    """Ann's review, done today: she asked for a phone call."""
    with session_scope(practice.settings.database_url) as session:
        ann = session.get(Appointment, practice.prepared)
        review = book_review(session, ann, 6, "Europe/London")
        assert review is not None
        review.starts_at = practice.clock.now + timedelta(hours=1)
        for question_id, value in REVIEW_ANSWERS:
            record_answer(session, review.preparation, question_id, value, str(value), "sms")
        record_complete(review.preparation)
        return int(review.id)


def signed_in_clinician(practice: Practice) -> TestClient:
    client = client_of(practice)
    assert sign_in(client, CLINICIAN).status_code == 303
    return client


def test_a_review_is_listed_as_one_and_a_request_to_talk_shows_until_read(
    practice: Practice, review_id: int
) -> None:
    client = signed_in_clinician(practice)

    listed = client.get("/clinic/appointments", params={"when": "all"})
    assert "Review of the plan" in listed.text
    assert "Asks for a phone call" in listed.text
    assert "1 asked for an appointment or a call." in listed.text
    requests = client.get("/clinic/appointments", params={"when": "all", "show": "requests"})
    assert re.findall(r'href="/clinic/appointments/(\d+)"', requests.text) == [str(review_id)]

    record = client.get(f"/clinic/appointments/{review_id}")
    client.post(f"/clinic/appointments/{review_id}/read", data={"csrf_token": csrf_of(record)})

    after = client.get("/clinic/appointments", params={"when": "all", "show": "requests"})
    assert f'href="/clinic/appointments/{review_id}"' not in after.text
    assert (
        "asked for an appointment or a call"
        not in client.get("/clinic/appointments", params={"when": "all"}).text
    )


def test_the_review_record_sits_beside_the_plan_with_the_confidence_over_time(
    practice: Practice, review_id: int
) -> None:
    client = signed_in_clinician(practice)

    page = client.get(f"/clinic/appointments/{review_id}")

    assert page.status_code == 200
    assert "review due" in page.text
    assert (
        f'href="/clinic/appointments/{practice.prepared}">Open the record it reviews' in page.text
    )
    assert "Goals: 1 done" in page.text and "Would like a phone call" in page.text
    assert "Walk to the shops without stopping: Done (&lt;b&gt;did it&lt;/b&gt;)" in page.text
    trend = page.text[page.text.index("Confidence over time") :]
    assert "3 out of 10 (preparation)" in trend and "8 out of 10 (review)" in trend
    plan = client.get(f"/clinic/appointments/{practice.prepared}")
    assert f'href="/clinic/appointments/{review_id}">Open the review that follows' in plan.text


def test_another_practices_review_is_not_found(practice: Practice, review_id: int) -> None:
    client = client_of(practice)
    assert sign_in(client, OTHER).status_code == 303

    assert client.get(f"/clinic/appointments/{review_id}").status_code == 404
