"""The portal in a real browser: Debian's chromium driven by Playwright, axe-core in the page.

The web app runs as ``careprep up`` runs it (uvicorn, ``web.app:serve``) on a store of its
own. Each page is checked at 320 px wide with axe-core (no serious or critical WCAG 2.1
A/AA violation) and without sideways scrolling; screenshots and the printed record are
kept under var/browser-results/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from careprep.clinic.appointments import add_practitioner
from careprep.messaging.reminders import schedule
from careprep.safety.flags import raise_flag
from careprep.store import session_scope
from careprep.store.migrate import upgrade
from tests.browser import RESULTS, check_page, chromium, narrow_page, web_app
from tests.factories import book, prepare

PASSWORD = "correct horse battery"
ADMIN = "manager@hill.example"
CLINICIAN = "nurse@hill.example"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The web app serving a practice with a prepared, a flagged and an unshared record."""
    workdir = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{workdir / 'careprep.db'}"
    upgrade(database_url)
    with session_scope(database_url) as session:
        add_practitioner(session, "Hill Surgery", ADMIN, PASSWORD, "admin")
        add_practitioner(session, "Hill Surgery", CLINICIAN, PASSWORD)
        prepared = book(session, name="Ann Prepared")
        prepare(session, prepared, {"what_matters": "My garden <b>and</b> my grandchildren"})
        raise_flag(session, prepared.preparation, "urgent", "I fell and hit my head", None)
        schedule(session, prepared, "Europe/London", "http://localhost:8000")
        unshared = book(session, name="Cat Private")
        prepare(session, unshared, {"consent_share": "no"})
        book(session, name="Dan Waiting")
        ids = {"prepared": prepared.id, "unshared": unshared.id}
    environment = {"DATABASE_URL": database_url, "CAREPREP_VAR_DIR": str(workdir / "var")}
    with web_app(environment) as url:
        yield {"url": url, **ids}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with narrow_page(browser) as opened:
        yield opened


def sign_in_with_the_keyboard(page: Any, url: str, email: str = CLINICIAN) -> None:
    page.goto(f"{url}/clinic")
    check_page(page, "sign-in")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the skip link
    page.focus("#email")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/clinic/appointments")


def test_a_clinician_reads_a_record_at_320_px_with_no_serious_accessibility_fault(
    site: dict[str, Any], page: Any
) -> None:
    url = site["url"]
    page.goto(f"{url}/clinic")
    page.fill("#email", CLINICIAN)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.locator(".nhsuk-error-summary").is_visible()
    check_page(page, "sign-in-failed")

    sign_in_with_the_keyboard(page, url)
    assert page.locator("h1").inner_text().startswith("Appointments")
    check_page(page, "appointments")

    page.click("text=Ann Prepared")
    page.wait_for_url(f"{url}/clinic/appointments/{site['prepared']}")
    summary = page.locator(".careprep-summary").inner_text()
    assert "Matters most" in summary and "1 open safety flag: urgent" in summary
    assert page.locator("text=My garden <b>and</b> my grandchildren").count() >= 1
    check_page(page, "record")

    page.click("text=Mark as read")
    assert page.locator("text=Marked as read.").is_visible()

    page.goto(f"{url}/clinic/appointments/{site['unshared']}")
    assert page.locator("text=has not agreed to share their answers").is_visible()
    check_page(page, "record-not-shared")


def test_a_practice_admin_s_pages_have_no_serious_accessibility_fault(
    site: dict[str, Any], page: Any
) -> None:
    url = site["url"]
    sign_in_with_the_keyboard(page, url, ADMIN)
    for path, name in [
        ("/clinic/upload", "upload"),
        ("/clinic/practitioners", "practitioners"),
        ("/clinic/audit", "audit"),
        ("/clinic/messages", "messages"),
    ]:
        page.goto(f"{url}{path}")
        check_page(page, name)


def test_a_typical_record_prints_on_one_a4_page(site: dict[str, Any], page: Any) -> None:
    sign_in_with_the_keyboard(page, site["url"])
    page.goto(f"{site['url']}/clinic/appointments/{site['prepared']}/print")
    check_page(page, "print")
    page.emulate_media(media="print")
    pdf = page.pdf(prefer_css_page_size=True)
    (RESULTS / "record.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert boxes and all(round(float(w)) == 595 and round(float(h)) == 842 for w, h in boxes)
    pages = re.findall(rb"/Type\s*/Page\b(?!s)", pdf)
    assert len(pages) == 1, f"the record printed on {len(pages)} pages"


def test_the_patient_pages_have_no_serious_accessibility_fault(
    site: dict[str, Any], page: Any
) -> None:
    page.goto(site["url"] + "/")
    check_page(page, "home")
    page.goto(site["url"] + "/chat/not-a-token")
    check_page(page, "chat-unknown")
