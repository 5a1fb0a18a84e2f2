"""The careprep command as a practice uses it: a real process, a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

CAREPREP = str(Path(sys.executable).with_name("careprep"))
IN_A_WEEK = (datetime.now(timezone.utc) + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")


def careprep(
    database_url: str, tmp_path: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CAREPREP_VAR_DIR": str(tmp_path / "var"),
        "CAREPREP_WEB_URL": "https://careprep.example",
    }
    return subprocess.run(
        [CAREPREP, *args], input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def add(database_url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return careprep(
        database_url,
        tmp_path,
        "appointment",
        "add",
        "--practice",
        "Hill Surgery",
        "--patient-name",
        "Ann Example",
        "--phone",
        "07700 900123",
        "--dob",
        "1950-02-03",
        "--at",
        IN_A_WEEK,
        *extra,
    )


def record_heading(database_url: str, tmp_path: Path, appointment_id: object) -> str:
    """Return the first line of an appointment's exported record."""
    return careprep(database_url, tmp_path, "export", str(appointment_id)).stdout.split("\n")[0]


def test_appointment_add_prints_the_id_and_invite_link(database_url: str, tmp_path: Path) -> None:
    from careprep.preparation.progress import find_by_link, find_by_sender
    from careprep.store import session_scope

    result = add(database_url, tmp_path)
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["created"] is True
    assert record_heading(database_url, tmp_path, created["appointment_id"]) == (
        "Pre-consultation record - Ann Example (born 1950-02-03)"
    )
    site, token = created["invite_url"].rsplit("/chat/", 1)
    assert site == "https://careprep.example"
    with session_scope(database_url) as session:
        preparation = find_by_link(session, token)
        assert preparation is not None
        assert preparation.appointment_id == created["appointment_id"]
        assert find_by_sender(session, token) is None, "the link must not be the sender id"
    again = json.loads(add(database_url, tmp_path).stdout)
    assert again["appointment_id"] == created["appointment_id"]
    assert again["invite_url"] == created["invite_url"]
    assert again["created"] is False


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--phone", "12", "phone number '12'"),
        ("--dob", "03/02/1950", "YYYY-MM-DD"),
        ("--dob", "2999-01-01", "in the future"),
        ("--at", "next tuesday", "ISO 8601"),
        ("--at", "2001-01-01T10:00", "in the past"),
        ("--practice", "   ", "practice name is empty"),
    ],
)
def test_bad_input_gets_one_line_and_exit_status_2(
    flag: str, value: str, reason: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    args = {
        "--practice": "Hill Surgery",
        "--patient-name": "Ann Example",
        "--phone": "07700 900123",
        "--dob": "1950-02-03",
        "--at": IN_A_WEEK,
    }
    args[flag] = value
    flat = [part for pair in args.items() for part in pair]
    result = careprep(url, tmp_path, "appointment", "add", *flat)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert reason in result.stderr
    nothing = careprep(url, tmp_path, "export", "1")
    assert nothing.stderr.strip() == "careprep: there is no appointment 1"


def test_unknown_practitioner_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = add(url, tmp_path, "--practitioner", "who@example.org")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "careprep: there is no practitioner who@example.org at Hill Surgery"
    )
    nothing = careprep(url, tmp_path, "export", "1")
    assert nothing.stderr.strip() == "careprep: there is no appointment 1"


def add_practitioner(
    database_url: str, tmp_path: Path, email: str, password: str
) -> subprocess.CompletedProcess[str]:
    return careprep(
        database_url, tmp_path, "practitioner", "add", "--practice", "Hill Surgery",
        "--email", email, stdin=password + "\n",
    )  # fmt: skip


def test_practitioner_add_then_book_with_them(database_url: str, tmp_path: Path) -> None:
    result = add_practitioner(database_url, tmp_path, "Dr.Lee@Example.org", "correct horse battery")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["email"] == "dr.lee@example.org"
    booked = add(database_url, tmp_path, "--practitioner", "dr.lee@example.org")
    assert booked.returncode == 0, booked.stderr
    appointment_id = str(json.loads(booked.stdout)["appointment_id"])
    assert (
        "With: dr.lee@example.org"
        in careprep(database_url, tmp_path, "export", appointment_id).stdout
    )
    short = add_practitioner(database_url, tmp_path, "x@example.org", "short")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    again = add_practitioner(database_url, tmp_path, "dr.lee@example.org", "another long one")
    assert again.returncode != 0 and "already exists" in again.stderr


def test_import_keeps_good_rows_and_reports_bad_ones_by_line(
    database_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "clinic.csv"
    csv_file.write_text(
        "practice,patient_name,phone,dob,at\n"
        f"Hill Surgery,Ann Example,07700 900123,1950-02-03,{IN_A_WEEK}\n"
        f"Hill Surgery,Bob Example,not a phone,1960-05-06,{IN_A_WEEK}\n"
        f"Hill Surgery,Cat Example,+447700900456,1970-07-08,{IN_A_WEEK}\n"
        "Hill Surgery,Dan Example,07700 900789,1980-13-40,2030-01-01T09:00\n"
    )
    result = careprep(database_url, tmp_path, "appointment", "import", str(csv_file))
    assert result.returncode == 1
    added = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(added) == 2
    assert "clinic.csv line 3: phone number 'not a phone'" in result.stderr
    assert "clinic.csv line 5: date of birth '1980-13-40'" in result.stderr
    assert "2 rows imported, 2 rejected" in result.stderr
    assert [record_heading(database_url, tmp_path, row["appointment_id"]) for row in added] == [
        "Pre-consultation record - Ann Example (born 1950-02-03)",
        "Pre-consultation record - Cat Example (born 1970-07-08)",
    ]


def test_import_of_a_file_without_the_columns_is_refused(tmp_path: Path) -> None:
    csv_file = tmp_path / "wrong.csv"
    csv_file.write_text("name,mobile\nAnn,07700900123\n")
    result = careprep(
        f"sqlite:///{tmp_path / 'c.db'}", tmp_path, "appointment", "import", str(csv_file)
    )
    assert result.returncode != 0
    assert "no column practice, patient_name, phone, dob, at" in result.stderr


def test_export_of_an_unknown_appointment(tmp_path: Path) -> None:
    result = careprep(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, "export", "999")
    assert result.returncode != 0
    assert result.stderr.strip() == "careprep: there is no appointment 999"


def test_export_json_of_a_new_appointment(database_url: str, tmp_path: Path) -> None:
    appointment_id = json.loads(add(database_url, tmp_path).stdout)["appointment_id"]
    result = careprep(database_url, tmp_path, "export", str(appointment_id), "--format", "json")
    record = json.loads(result.stdout)
    assert record["patient_name"] == "Ann Example"
    assert record["preparation_status"] == "not_started"
    assert record["completeness"] == {"answered": 0, "skipped": 0, "not_reached": 14}


def test_db_upgrade_and_worker_once(database_url: str, tmp_path: Path) -> None:
    upgraded = careprep(database_url, tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0 and upgraded.stdout == "database is up to date\n"
    worker = careprep(database_url, tmp_path, "worker", "--once")
    assert worker.returncode == 0 and "0 messages handled" in worker.stdout


def test_usage_errors_exit_non_zero(tmp_path: Path) -> None:
    result = careprep(f"sqlite:///{tmp_path / 'c.db'}", tmp_path, "export", "abc")
    assert result.returncode != 0
    assert "invalid int value" in result.stderr


def test_flags_newest_first_by_practice_and_handled_once(database_url: str, tmp_path: Path) -> None:
    from careprep.safety import Level
    from careprep.safety.flags import raise_flag
    from careprep.store import session_scope
    from tests.factories import book

    with session_scope(database_url) as session:
        hill = book(session, practice="Hill Surgery").preparation
        vale = book(session, practice="Vale Practice", phone="07700 900999").preparation
        first = raise_flag(session, hill, Level.URGENT.value, "I fell over", "going_well").id
        second = raise_flag(session, hill, Level.EMERGENCY.value, "I can't breathe", None).id
        other = raise_flag(session, vale, Level.MENTAL_HEALTH.value, "I want to die", "goals").id

    listed = careprep(
        database_url, tmp_path, "flags", "--practice", "Hill Surgery", "--format", "json"
    )
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [row["flag_id"] for row in rows] == [second, first]
    assert rows[0]["level"] == "emergency" and rows[0]["message"] == "I can't breathe"
    text = careprep(database_url, tmp_path, "flags").stdout
    assert f"#{other}" in text and "MENTAL_HEALTH" in text

    handled = careprep(
        database_url, tmp_path, "flags", "handle", str(second), "--by", "Dr.Lee@example.org"
    )
    assert handled.returncode == 0
    assert handled.stdout.strip() == f"flag {second} handled by dr.lee@example.org"
    again = careprep(
        database_url, tmp_path, "flags", "handle", str(second), "--by", "x@example.org"
    )
    assert again.returncode != 0
    assert "already handled by dr.lee@example.org" in again.stderr
    remaining = careprep(
        database_url, tmp_path, "flags", "--practice", "Hill Surgery", "--format", "json"
    )
    assert [json.loads(line)["flag_id"] for line in remaining.stdout.splitlines()] == [first]

    export = careprep(database_url, tmp_path, "export", str(rows[0]["appointment_id"]))
    assert export.stdout.index("SAFETY FLAGS") < export.stdout.index("SUMMARY")
    assert "emergency: I can't breathe" in export.stdout
    assert "(handled by dr.lee@example.org, " in export.stdout
    assert "urgent: I fell over" in export.stdout and "(OPEN)" in export.stdout


def test_flags_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    assert careprep(url, tmp_path, "flags").stdout.strip() == "no open flags"
    unknown = careprep(url, tmp_path, "flags", "handle", "42", "--by", "a@example.org")
    assert unknown.returncode != 0 and "there is no flag 42" in unknown.stderr
    practice = careprep(url, tmp_path, "flags", "--practice", "Nowhere")
    assert practice.returncode != 0 and "no practice called 'Nowhere'" in practice.stderr


def test_practice_set_changes_the_messaging_settings_and_refuses_bad_ones(
    database_url: str, tmp_path: Path
) -> None:
    add(database_url, tmp_path)
    changed = careprep(
        database_url, tmp_path, "practice", "set", "--practice", "Hill Surgery",
        "--quiet-hours", "21:30-08:00", "--invite-days", "10", "--send-rate", "5",
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert json.loads(changed.stdout) == {
        "practice": "Hill Surgery",
        "quiet_hours": "21:30-08:00",
        "sundays": "no messages",
        "invite_days": 10,
        "nudge_days": 2,
        "send_rate": 5,
    }
    for wrong, reason in [
        (["--quiet-hours", "9pm-8am"], "HH:MM-HH:MM on the 24-hour clock, or none"),
        (["--quiet-hours", "25:00-08:00"], "HH:MM-HH:MM"),
        (["--invite-days", "-1"], "--invite-days must be a whole number of days from 0 to 60"),
        (["--nudge-days", "11"], "--nudge-days <= --invite-days"),
        (["--send-rate", "0"], "--send-rate must be from 1 to 100"),
    ]:
        refused = careprep(
            database_url, tmp_path, "practice", "set", "--practice", "Hill Surgery", *wrong
        )
        assert refused.returncode == 2 and reason in refused.stderr, (wrong, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1
    unknown = careprep(database_url, tmp_path, "practice", "set", "--practice", "Nowhere")
    assert unknown.returncode == 2 and "no practice called 'Nowhere'" in unknown.stderr
    kept = careprep(database_url, tmp_path, "practice", "set", "--practice", "Hill Surgery")
    assert json.loads(kept.stdout)["quiet_hours"] == "21:30-08:00", "a refused change keeps the old"


def test_booking_queues_the_invitation_and_the_worker_logs_it_without_twilio(
    database_url: str, tmp_path: Path
) -> None:
    from careprep.store import session_scope
    from careprep.store.models import OutboxMessage, Preparation

    appointment_id = json.loads(add(database_url, tmp_path).stdout)["appointment_id"]
    # Sent now, whatever the hour or the day (quiet hours have tests of their own).
    quiet = careprep(
        database_url,
        tmp_path,
        "practice",
        "set",
        "--practice",
        "Hill Surgery",
        "--quiet-hours",
        "none",
    )
    assert quiet.returncode == 0, quiet.stderr
    worker = careprep(database_url, tmp_path, "worker", "--once")
    assert worker.returncode == 0 and "1 messages handled" in worker.stdout
    with session_scope(database_url) as session:
        invitation, nudge = session.query(OutboxMessage).order_by(OutboxMessage.due_at).all()
        assert invitation.kind == "invitation" and invitation.state == "logged"
        assert nudge.kind == "nudge" and nudge.state == "pending", "the nudge is not due yet"
        assert session.get(Preparation, invitation.preparation_id).appointment_id == appointment_id
        assert "Hill Surgery" in invitation.body and "reply HI" in invitation.body
        assert "999" in invitation.body and "not read in real time" in invitation.body
