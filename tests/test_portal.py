"""The practitioner portal over HTTP: sign-in, what each practice sees, records, admin pages."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.bundle import Bundle
from sqlalchemy import select

from careprep.clinic.appointments import add_practitioner
from careprep.clinic.audit import record_access
from careprep.messaging.reminders import schedule
from careprep.safety.flags import raise_flag
from careprep.settings import Settings
from careprep.store import session_scope
from careprep.store.models import (
    Appointment,
    AuditEvent,
    Practitioner,
    SafetyFlag,
)
from tests.factories import book, make_settings, prepare
from web.app import create_app
from web.security import COOKIE

PASSWORD = "correct horse battery"
ADMIN = "manager@hill.example"
CLINICIAN = "gp@hill.example"
OTHER = "gp@vale.example"


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Practice:
    """Two practices' people and appointments in one store."""

    settings: Settings
    clock: Clock
    prepared: int
    flagged: int
    unshared: int
    not_started: int
    elsewhere: int
    elsewhere_flag: int
    flag: int


@pytest.fixture
def practice(settings: Settings) -> Practice:
    with session_scope(settings.database_url) as session:
        add_practitioner(session, "Hill Surgery", ADMIN, PASSWORD, "admin")
        add_practitioner(session, "Hill Surgery", CLINICIAN, PASSWORD)
        add_practitioner(session, "Vale Practice", OTHER, PASSWORD)
        prepared = book(session, name="Ann Prepared")
        prepare(
            session,
            prepared,
            {"what_matters": "My <b>garden</b> & my grandchildren", "confidence": "3"},
        )
        flagged = book(session, name="Bob Flagged")
        prepare(session, flagged, {"what_matters": "Getting back to work"})
        flag = raise_flag(session, flagged.preparation, "urgent", "I fell and hit my head", None)
        unshared = book(session, name="Cat Private")
        prepare(session, unshared, {"consent_share": "no", "what_matters": "My secret garden"})
        raise_flag(session, unshared.preparation, "mental_health", "no way out of this", None)
        not_started = book(session, name="Dan Waiting")
        invited = book(session, name="Fay Invited")
        schedule(session, not_started, "Europe/London", settings.web_url)  # due, not sent yet
        schedule(session, invited, "Europe/London", settings.web_url)[0].state = "sent"
        elsewhere = book(session, practice="Vale Practice", name="Eve Elsewhere")
        prepare(session, elsewhere)
        other_flag = raise_flag(session, elsewhere.preparation, "urgent", "dizzy", None)
        ids = [a.id for a in (prepared, flagged, unshared, not_started, elsewhere)]
        flag_ids = other_flag.id, flag.id
    return Practice(settings, Clock(), *ids, *flag_ids)


def client_of(practice: Practice) -> TestClient:
    return TestClient(create_app(practice.settings, practice.clock), follow_redirects=False)


def csrf_of(page: Any) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Any:
    token = csrf_of(client.get("/clinic"))
    return client.post(
        "/clinic/login", data={"email": email, "password": password, "csrf_token": token}
    )


@pytest.fixture
def admin(practice: Practice) -> Iterator[TestClient]:
    client = client_of(practice)
    assert sign_in(client, ADMIN).status_code == 303
    yield client


@pytest.fixture
def clinician(practice: Practice) -> Iterator[TestClient]:
    client = client_of(practice)
    assert sign_in(client, CLINICIAN).status_code == 303
    yield client


def without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", html)


def audit_actions(practice: Practice, appointment_id: int) -> list[str]:
    with session_scope(practice.settings.database_url) as session:
        query = select(AuditEvent.action).where(AuditEvent.appointment_id == appointment_id)
        return list(session.scalars(query.order_by(AuditEvent.id)))


def test_the_portal_asks_for_an_email_and_a_password(practice: Practice) -> None:
    client = client_of(practice)
    page = client.get("/clinic")
    assert page.status_code == 200
    assert 'type="email"' in page.text and 'type="password"' in page.text
    assert client.get("/clinic/appointments").headers["location"] == "/clinic"
    assert client.get(f"/clinic/appointments/{practice.prepared}").headers["location"] == "/clinic"


def test_a_clinician_sees_their_practice_s_appointments_and_no_other(
    practice: Practice, clinician: TestClient
) -> None:
    page = clinician.get("/clinic/appointments")
    assert page.status_code == 200
    for name, appointment_id in [
        ("Ann Prepared", practice.prepared),
        ("Bob Flagged", practice.flagged),
        ("Cat Private", practice.unshared),
        ("Dan Waiting", practice.not_started),
    ]:
        assert f'href="/clinic/appointments/{appointment_id}">{name}</a>' in page.text
    assert "Eve Elsewhere" not in page.text
    assert "Fay Invited" in page.text
    assert (
        "5 appointments: 3 prepared, 0 in progress, 1 invited but not started, "
        "1 not invited yet." in page.text
    )
    assert "2 with an open safety concern." in page.text
    assert "Not invited yet" in page.text and "Invited</strong>" in page.text
    assert "Urgent" in page.text and "Mental health" in page.text
    # Counted as the patient was asked: "Question 1 of 14" by SMS is "14 of 14" here.
    progress = re.findall(r"(\d+) of (\d+) answered", page.text)
    assert sorted(progress) == [("0", "14")] * 2 + [("14", "14")] * 3


def test_the_list_filters_and_sorts(practice: Practice, clinician: TestClient) -> None:
    concerns = clinician.get("/clinic/appointments?show=concerns").text
    assert "Bob Flagged" in concerns and "Cat Private" in concerns
    assert "Ann Prepared" not in concerns and "Dan Waiting" not in concerns
    first = clinician.get("/clinic/appointments?sort=concerns").text
    assert first.index("Cat Private") < first.index("Bob Flagged") < first.index("Ann Prepared")
    invited = clinician.get("/clinic/appointments?show=invited").text
    assert "Fay Invited" in invited and "Dan Waiting" not in invited
    waiting = clinician.get("/clinic/appointments?show=not_started").text
    assert "Fay Invited" not in waiting
    assert "Dan Waiting" in waiting and "Ann Prepared" not in waiting
    nothing = clinician.get("/clinic/appointments?when=past").text
    assert "No appointments match" in nothing
    odd = clinician.get("/clinic/appointments?show=<script>&sort=x&when=y")
    assert odd.status_code == 200 and "Dan Waiting" in odd.text


def test_the_record_shows_the_summary_first_and_the_patient_s_words_escaped(
    practice: Practice, clinician: TestClient
) -> None:
    page = clinician.get(f"/clinic/appointments/{practice.prepared}")
    assert page.status_code == 200
    text = page.text
    assert text.index("Summary") < text.index("What matters to me")
    assert "Matters most: “My &lt;b&gt;garden&lt;/b&gt; &amp; my grandchildren”" in text
    assert "<b>garden</b>" not in text
    assert "Confidence 3/10 (may need more support)" in text
    assert "health coaching" in text
    assert f"/clinic/appointments/{practice.prepared}/export?format=fhir-bundle" in text
    assert audit_actions(practice, practice.prepared) == ["viewed"]


def test_flags_come_before_the_answers_and_can_be_marked_handled(
    practice: Practice, clinician: TestClient
) -> None:
    page = clinician.get(f"/clinic/appointments/{practice.flagged}")
    assert page.text.index("I fell and hit my head") < page.text.index("What matters to me")
    handled = clinician.post(
        f"/clinic/flags/{practice.flag}/handle", data={"csrf_token": csrf_of(page)}
    )
    assert handled.status_code == 303
    after = clinician.get(handled.headers["location"]).text
    assert "Flag marked as handled." in after and f"handled by {CLINICIAN}" in after
    with session_scope(practice.settings.database_url) as session:
        flag = session.get(SafetyFlag, practice.flag)
        assert flag is not None and flag.handled_by == CLINICIAN


def test_without_consent_the_record_shows_the_status_and_flags_but_no_answers(
    practice: Practice, clinician: TestClient
) -> None:
    page = clinician.get(f"/clinic/appointments/{practice.unshared}").text
    assert "has not agreed to share their answers" in page
    assert "no way out of this" in page
    assert "secret garden" not in page
    download = clinician.get(f"/clinic/appointments/{practice.unshared}/export?format=json")
    assert "secret garden" not in download.text and json.loads(download.text)["withheld"]


def test_marking_a_record_read_shows_in_the_list(practice: Practice, clinician: TestClient) -> None:
    listed = clinician.get("/clinic/appointments").text
    assert "2 prepared but not read yet." in listed
    page = clinician.get(f"/clinic/appointments/{practice.prepared}")
    done = clinician.post(
        f"/clinic/appointments/{practice.prepared}/read", data={"csrf_token": csrf_of(page)}
    )
    assert done.status_code == 303
    record = clinician.get(f"/clinic/appointments/{practice.prepared}").text
    assert f"Read by {CLINICIAN}" in record and "Mark as read" not in record
    after = clinician.get("/clinic/appointments").text
    assert "1 prepared but not read yet." in after and "Read " in after
    with session_scope(practice.settings.database_url) as session:
        appointment = session.get(Appointment, practice.prepared)
        assert appointment is not None and appointment.record_read_by == CLINICIAN


def test_downloads_are_the_export_formats_named_without_the_patient(
    practice: Practice, clinician: TestClient
) -> None:
    base = f"/clinic/appointments/{practice.prepared}/export"
    bundle = clinician.get(f"{base}?format=fhir-bundle")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"] == "application/fhir+json"
    disposition = bundle.headers["content-disposition"]
    assert disposition == f'attachment; filename="careprep-record-{practice.prepared}.bundle.json"'
    Bundle.parse_obj(bundle.json())
    text = clinician.get(f"{base}?format=text")
    assert text.headers["content-type"].startswith("text/plain")
    assert "Pre-consultation record - Ann Prepared" in text.text
    assert clinician.get(f"{base}?format=xml").status_code == 404
    assert audit_actions(practice, practice.prepared) == ["exported:fhir-bundle", "exported:text"]


def test_a_script_in_an_answer_is_text_on_the_page_in_print_and_in_every_download(
    practice: Practice, clinician: TestClient
) -> None:
    script = "<script>alert(1)</script>"
    with session_scope(practice.settings.database_url) as session:
        appointment = book(session, name="Gus <i>Tester</i>")
        prepare(session, appointment, {"what_matters": script, "questions": f"Is {script} ok?"})
        appointment_id = appointment.id
    base = f"/clinic/appointments/{appointment_id}"
    for path in (base, f"{base}/print", "/clinic/appointments"):
        page = clinician.get(path).text
        assert "<script>alert" not in page and "<i>Tester" not in page, path
        assert "Gus &lt;i&gt;Tester&lt;/i&gt;" in page, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in clinician.get(base).text
    for form in ("text", "json", "fhir", "fhir-bundle"):
        download = clinician.get(f"{base}/export?format={form}")
        # Downloads are files, never pages: not HTML, not sniffed, saved rather than shown.
        assert "html" not in download.headers["content-type"], form
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["content-disposition"].startswith("attachment;")
        assert script in download.text or json.dumps(script)[1:-1] in download.text, form


def test_the_print_view_is_laid_out_for_a4(practice: Practice, clinician: TestClient) -> None:
    page = clinician.get(f"/clinic/appointments/{practice.prepared}/print")
    assert page.status_code == 200
    assert "Pre-consultation record: Ann Prepared" in page.text
    assert "Mark as handled" not in page.text and "careprep-print" in page.text
    css = clinician.get("/static/careprep.css").text
    assert "size: A4" in css
    assert audit_actions(practice, practice.prepared) == ["printed"]


@pytest.mark.parametrize(
    "path",
    [
        "/clinic/appointments/{id}",
        "/clinic/appointments/{id}/print",
        "/clinic/appointments/{id}/export?format=json",
    ],
)
def test_another_practice_s_record_is_not_found_like_an_unknown_one(
    practice: Practice, clinician: TestClient, path: str
) -> None:
    theirs = clinician.get(path.format(id=practice.elsewhere))
    unknown = clinician.get(path.format(id=999_999))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.text == unknown.text
    assert "Eve" not in theirs.text
    assert audit_actions(practice, practice.elsewhere) == []


def test_another_practice_s_flag_and_read_mark_are_refused(
    practice: Practice, clinician: TestClient
) -> None:
    token = csrf_of(clinician.get("/clinic/appointments"))
    flag = clinician.post(
        f"/clinic/flags/{practice.elsewhere_flag}/handle", data={"csrf_token": token}
    )
    read = clinician.post(
        f"/clinic/appointments/{practice.elsewhere}/read", data={"csrf_token": token}
    )
    assert flag.status_code == read.status_code == 404
    with session_scope(practice.settings.database_url) as session:
        other = session.get(SafetyFlag, practice.elsewhere_flag)
        appointment = session.get(Appointment, practice.elsewhere)
        assert other is not None and other.handled_at is None
        assert appointment is not None and appointment.record_read_at is None


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(practice: Practice) -> None:
    wrong = sign_in(client_of(practice), CLINICIAN, "not the password")
    unknown = sign_in(client_of(practice), "nobody@hill.example", "not the password")
    assert wrong.status_code == unknown.status_code == 200
    assert "The e-mail address or password is not right" in wrong.text
    assert without_tokens(wrong.text).replace(CLINICIAN, "X") == without_tokens(
        unknown.text
    ).replace("nobody@hill.example", "X")


def test_five_failures_in_a_row_lock_the_account_for_15_minutes(practice: Practice) -> None:
    client = client_of(practice)
    for _ in range(5):
        assert sign_in(client, CLINICIAN, "wrong password").status_code == 200
    locked = sign_in(client, CLINICIAN)
    assert locked.status_code == 200 and "is not right" in locked.text
    practice.clock.advance(minutes=14)
    assert sign_in(client, CLINICIAN).status_code == 200
    practice.clock.advance(minutes=2)
    assert sign_in(client, CLINICIAN).status_code == 303


def test_a_success_resets_the_count_of_failures(practice: Practice) -> None:
    client = client_of(practice)
    for _ in range(4):
        sign_in(client, CLINICIAN, "wrong password")
    assert sign_in(client, CLINICIAN).status_code == 303
    other = client_of(practice)
    for _ in range(4):
        sign_in(other, CLINICIAN, "wrong password")
    assert sign_in(other, CLINICIAN).status_code == 303


def test_thirty_idle_minutes_sign_a_practitioner_out(
    practice: Practice, clinician: TestClient
) -> None:
    practice.clock.advance(minutes=29)
    assert clinician.get("/clinic/appointments").status_code == 200
    practice.clock.advance(minutes=29)
    assert clinician.get("/clinic/appointments").status_code == 200
    practice.clock.advance(minutes=31)
    gone = clinician.get("/clinic/appointments")
    assert gone.status_code == 303 and gone.headers["location"] == "/clinic"
    assert "signed out because nothing happened for 30 minutes" in clinician.get("/clinic").text


def test_signing_out_ends_the_session_and_any_copy_of_its_cookie(
    practice: Practice, clinician: TestClient
) -> None:
    copied = clinician.cookies.get(COOKIE)
    assert copied
    token = csrf_of(clinician.get("/clinic/appointments"))
    out = clinician.post("/clinic/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert clinician.get("/clinic/appointments").status_code == 303
    thief = client_of(practice)
    thief.cookies.set(COOKIE, copied)
    assert thief.get("/clinic/appointments").status_code == 303
    practice.clock.advance(seconds=1)
    assert sign_in(client_of(practice), CLINICIAN).status_code == 303


def test_a_tampered_cookie_is_a_new_session(practice: Practice, clinician: TestClient) -> None:
    cookie = clinician.cookies.get(COOKIE)
    assert cookie
    forged = client_of(practice)
    forged.cookies.set(COOKIE, cookie[:-3] + ("AAA" if not cookie.endswith("AAA") else "BBB"))
    assert forged.get("/clinic/appointments").status_code == 303


def test_every_form_needs_its_csrf_token_and_this_site_s_origin(
    practice: Practice, clinician: TestClient
) -> None:
    path = f"/clinic/appointments/{practice.prepared}/read"
    assert clinician.post(path, data={}).status_code == 403
    assert clinician.post(path, data={"csrf_token": "guess"}).status_code == 403
    token = csrf_of(clinician.get("/clinic/appointments"))
    cross = clinician.post(
        path, data={"csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert "did not come from this site" in cross.text
    with session_scope(practice.settings.database_url) as session:
        appointment = session.get(Appointment, practice.prepared)
        assert appointment is not None and appointment.record_read_at is None
    login = client_of(practice).post(
        "/clinic/login", data={"email": CLINICIAN, "password": PASSWORD, "csrf_token": "x"}
    )
    assert login.status_code == 403


def test_pages_carry_security_headers_and_no_inline_script(
    practice: Practice, admin: TestClient
) -> None:
    for path in [
        "/clinic",
        "/clinic/appointments",
        f"/clinic/appointments/{practice.prepared}",
        f"/clinic/appointments/{practice.prepared}/print",
        "/clinic/upload",
        "/clinic/practitioners",
        "/clinic/audit",
    ]:
        page = admin.get(path, follow_redirects=True)
        assert page.status_code == 200, path
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["cache-control"] == "no-store"
        assert page.headers["referrer-policy"] == "same-origin"
        assert "<script" not in page.text and "style=" not in page.text, path
        assert '<html lang="en">' in page.text


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
    tmp_path: Any, database_url: str
) -> None:
    plain = TestClient(create_app(make_settings(database_url, tmp_path)))
    cookie = plain.get("/clinic").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    secure = TestClient(
        create_app(make_settings(database_url, tmp_path, web_url="https://careprep.example"))
    )
    assert "Secure" in secure.get("/clinic").headers["set-cookie"]


@pytest.mark.parametrize("path", ["/clinic/upload", "/clinic/practitioners", "/clinic/audit"])
def test_admin_pages_are_closed_to_clinicians(clinician: TestClient, path: str) -> None:
    page = clinician.get(path)
    assert page.status_code == 403
    assert "You cannot do that here" in page.text


def test_an_admin_uploads_appointments_and_sees_each_refused_row(
    practice: Practice, admin: TestClient
) -> None:
    csv = (
        "patient_name,phone,dob,at\n"
        "Fay New,07700 900777,1960-04-05,2030-01-10T09:30\n"
        "Gus Bad,07700 900778,31/02/1960,2030-01-10T09:45\n"
        "Hal Later,07700 900779,1955-01-01,next tuesday\n"
    )
    token = csrf_of(admin.get("/clinic/upload"))
    result = admin.post(
        "/clinic/upload",
        data={"csrf_token": token},
        files={"file": ("list.csv", io.BytesIO(csv.encode()), "text/csv")},
    )
    assert result.status_code == 200
    assert "1 appointment added, 2 rows refused." in result.text
    assert '<td class="nhsuk-table__cell">3</td>' in result.text
    listed = admin.get("/clinic/appointments?when=all").text
    assert "Fay New" in listed and "Gus Bad" not in listed
    with session_scope(practice.settings.database_url) as session:
        events = session.scalars(
            select(AuditEvent.detail).where(AuditEvent.action == "uploaded_appointments")
        ).all()
        assert events == ["1 added, 2 refused"]


def test_an_upload_for_another_practice_or_not_csv_adds_nothing(
    practice: Practice, admin: TestClient
) -> None:
    token = csrf_of(admin.get("/clinic/upload"))
    other = (
        "practice,patient_name,phone,dob,at\n"
        "Vale Practice,Ivy,07700 900780,1950-01-01,2030-01-01T10:00\n"
    )
    refused = admin.post(
        "/clinic/upload",
        data={"csrf_token": token},
        files={"file": ("list.csv", io.BytesIO(other.encode()), "text/csv")},
    )
    assert "this row is for another practice (Vale Practice)" in refused.text
    binary = admin.post(
        "/clinic/upload",
        data={"csrf_token": token},
        files={"file": ("list.csv", io.BytesIO(b"\xff\xfe\x00\x01" * 10), "text/csv")},
    )
    assert binary.status_code == 400 and "Save it as CSV" in binary.text
    huge = admin.post(
        "/clinic/upload",
        data={"csrf_token": token},
        files={"file": ("list.csv", io.BytesIO(b"a" * 1_000_001), "text/csv")},
    )
    assert huge.status_code == 400 and "over 1 MB" in huge.text
    with session_scope(practice.settings.database_url) as session:
        assert (
            session.scalar(select(Appointment).where(Appointment.id > practice.elsewhere)) is None
        )


def test_an_admin_adds_and_stops_a_practitioner(practice: Practice, admin: TestClient) -> None:
    token = csrf_of(admin.get("/clinic/practitioners"))
    added = admin.post(
        "/clinic/practitioners",
        data={
            "email": "nurse@hill.example",
            "password": PASSWORD,
            "role": "clinician",
            "csrf_token": token,
        },
    )
    assert added.status_code == 303
    nurse = client_of(practice)
    assert sign_in(nurse, "nurse@hill.example").status_code == 303
    page = admin.get("/clinic/practitioners")
    assert "nurse@hill.example" in page.text
    with session_scope(practice.settings.database_url) as session:
        person_id = session.scalar(
            select(Practitioner.id).where(Practitioner.email == "nurse@hill.example")
        )
    assert f"/clinic/practitioners/{person_id}/active" in page.text
    stopped = admin.post(
        f"/clinic/practitioners/{person_id}/active",
        data={"active": "no", "csrf_token": csrf_of(page)},
    )
    assert stopped.status_code == 303
    assert nurse.get("/clinic/appointments").status_code == 303
    assert sign_in(client_of(practice), "nurse@hill.example").status_code == 200
    short = admin.post(
        "/clinic/practitioners",
        data={"email": "x@hill.example", "password": "short", "csrf_token": csrf_of(page)},
    )
    assert short.status_code == 400 and "at least 10 characters" in short.text


def test_the_audit_trail_lists_who_did_what_newest_first(
    practice: Practice, admin: TestClient, clinician: TestClient
) -> None:
    clinician.get(f"/clinic/appointments/{practice.prepared}")
    clinician.get(f"/clinic/appointments/{practice.prepared}/export?format=fhir")
    page = admin.get("/clinic/audit").text.split("<tbody", 1)[1]
    assert page.index("exported: fhir") < page.index("viewed") < page.index("signed in")
    assert CLINICIAN in page and OTHER not in page


def test_the_audit_trail_shows_times_as_the_practice_reads_them(
    practice: Practice, admin: TestClient
) -> None:
    with session_scope(practice.settings.database_url) as session:
        event = record_access(session, CLINICIAN, "viewed", practice.prepared)
        event.at = datetime(2026, 7, 1, 11, 0, 5, tzinfo=timezone.utc)
    page = admin.get("/clinic/audit").text
    assert "01 Jul 2026 12:00:05" in page  # British Summer Time
    assert "01 Jul 2026 11:00:05" not in page
