"""The store on SQLite and PostgreSQL: answers written per turn, updated, never duplicated."""

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from careprep.preparation.progress import (
    SKIPPED,
    answers_so_far,
    find_by_sender,
    record_answer,
    record_complete,
    record_skip,
)
from careprep.record import build_record, to_json, to_text
from careprep.store import engine_for, session_scope
from careprep.store.models import Answer, Base, Goal, PreparationStatus
from tests.factories import book


def test_re_answering_updates_the_one_row(database_url: str) -> None:
    with session_scope(database_url) as session:
        preparation = book(session).preparation
        record_answer(session, preparation, "what_matters", "My garden", "My garden")
        record_answer(session, preparation, "what_matters", "My family", "My family")
        rows = (
            session.execute(select(Answer).where(Answer.preparation_id == preparation.id))
            .scalars()
            .all()
        )
        assert [(row.question_id, row.value) for row in rows] == [("what_matters", "My family")]


def test_answers_survive_in_the_store(database_url: str) -> None:
    with session_scope(database_url) as session:
        token = book(session).preparation.invite_token
    with session_scope(database_url) as session:
        preparation = find_by_sender(session, token)
        assert preparation is not None
        record_answer(session, preparation, "consent_start", True, "yes")
        record_answer(session, preparation, "confidence", 4, "four")
        record_skip(session, preparation, "good_day")
    with session_scope(database_url) as session:
        preparation = find_by_sender(session, token)
        assert preparation is not None
        assert preparation.status == PreparationStatus.IN_PROGRESS
        values = answers_so_far(session, preparation)
        assert values["confidence"] == 4
        assert values["good_day"] == SKIPPED
        assert values["what_matters"] is None


def test_goals_are_replaced_not_added(database_url: str) -> None:
    with session_scope(database_url) as session:
        preparation = book(session).preparation
        record_answer(session, preparation, "goals", ["walk", "sleep"], "sleep")
        record_answer(session, preparation, "goals", ["swim"], "swim")
        goals = (
            session.execute(select(Goal.text).where(Goal.preparation_id == preparation.id))
            .scalars()
            .all()
        )
        assert goals == ["swim"]


def test_a_half_finished_preparation_is_a_usable_partial_record(database_url: str) -> None:
    with session_scope(database_url) as session:
        appointment = book(session)
        preparation = appointment.preparation
        record_answer(session, preparation, "consent_start", True, "yes")
        record_answer(
            session, preparation, "what_matters", "Seeing my grandson", "Seeing my grandson"
        )
        record_skip(session, preparation, "going_well")
        appointment_id = appointment.id
    with session_scope(database_url) as session:
        record = build_record(session, appointment_id, "Europe/London")
        assert record is not None
        assert record.completeness == {"answered": 2, "skipped": 1, "not_reached": 11}
        text = to_text(record)
        assert re.search(
            r"Appointment: [A-Z][a-z]+day \d{1,2} [A-Z][a-z]+ \d{4} at \d\d:\d\d", text
        )
        assert "What matters to me: Seeing my grandson" in text
        assert "What is going well: Skipped" in text
        assert "My goals: Not answered yet" in text
        assert to_json(record)["preparation_status"] == "in_progress"


def test_saying_no_at_the_start_is_kept(database_url: str) -> None:
    with session_scope(database_url) as session:
        preparation = book(session).preparation
        record_answer(session, preparation, "consent_start", False, "no")
        assert preparation.status == PreparationStatus.DECLINED


def test_consent_to_share_is_recorded_with_its_time(database_url: str) -> None:
    with session_scope(database_url) as session:
        preparation = book(session).preparation
        record_answer(session, preparation, "consent_share", True, "yes")
        assert preparation.consent_to_share is True
        assert preparation.consent_to_share_at is not None
        assert preparation.consent_to_share_at.tzinfo is not None
        assert record_complete(preparation) is True
        assert record_complete(preparation) is False
        count = session.execute(select(func.count()).select_from(Answer)).scalar()
        assert count == 1


def test_the_migrations_build_exactly_the_models(database_url: str) -> None:
    with engine_for(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
