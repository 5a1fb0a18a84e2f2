"""The portal in a real browser: Debian's chromium driven by Playwright, axe-core in the page.

The web app runs as ``careprep up`` runs it (uvicorn, ``web.app:serve``) on a store of its
own. Each page is checked at 320 px wide with axe-core (no serious or critical WCAG 2.1
A/AA violation) and without sideways scrolling; screenshots and the printed record are
kept under var/browser-results/ for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from careprep.clinic.appointments import add_practitioner
from careprep.safety.flags import raise_flag
from careprep.store import session_scope
from careprep.store.migrate import upgrade
from careprep.supervisor import free_ports, web_command
from tests.factories import book, prepare

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RESULTS = ROOT / "var" / "browser-results"
PASSWORD = "correct horse battery"
ADMIN = "manager@hill.example"
CLINICIAN = "nurse@hill.example"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the web app stopped with status {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the web app did not start within 60 s")


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
        unshared = book(session, name="Cat Private")
        prepare(session, unshared, {"consent_share": "no"})
        book(session, name="Dan Waiting")
        ids = {"prepared": prepared.id, "unshared": unshared.id}
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CAREPREP_VAR_DIR": str(workdir / "var"),
        "CAREPREP_SECRET_KEY": "browser-test-key",
        "CAREPREP_WEB_URL": url,
    }
    process = subprocess.Popen(web_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_until_up(url, process)
        yield {"url": url, **ids}
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium, installed by make (make browser)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: run `make browser` (make test does)"
    assert AXE.exists(), "axe-core is not installed: run `make install` (npm ci)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # axe-core is injected as a script, which the pages' own CSP (rightly) forbids.
    context = browser.new_context(viewport={"width": 320, "height": 640}, bypass_csp=True)
    yield context.new_page()
    context.close()


def check_page(page: Any, name: str) -> None:
    """Run axe-core on the page, check it fits 320 px, keep a screenshot."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(RESULTS / f"{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}
        })"""
    )
    serious = [
        f"{violation['id']}: {violation['help']} ({len(violation['nodes'])} on the page)"
        for violation in results["violations"]
        if violation["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{name}: {serious}"
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 320, f"{name} scrolls sideways at 320 px ({width} px wide)"


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
