"""What the browser tests share: Debian's chromium through Playwright, axe-core, the web app.

Chromium is installed by ``make browser`` (``make test`` runs it) and axe-core by npm
into node_modules/; Playwright downloads nothing. Every page a test visits is checked
at 320 px with axe-core (no serious or critical WCAG 2.1 A/AA violation) and for
sideways scrolling; screenshots are kept under var/browser-results/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from careprep.supervisor import free_ports, web_command

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RESULTS = ROOT / "var" / "browser-results"
WIDTH = 320
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


@contextmanager
def web_app(environment: dict[str, str]) -> Iterator[str]:
    """Run the web app as ``careprep up`` runs it, with this environment; yield its URL."""
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CAREPREP_SECRET_KEY": "browser-test-key", "CAREPREP_WEB_URL": url}
    env.update(environment)
    process = subprocess.Popen(web_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_until_up(url, process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's chromium, driven by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: run `make browser` (make test does)"
    assert AXE.exists(), "axe-core is not installed: run `make install` (npm ci)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def narrow_page(browser: Any, javascript: bool = True) -> Iterator[Any]:
    """A page 320 px wide. axe-core is injected as a script, which our CSP (rightly) forbids."""
    context = browser.new_context(
        viewport={"width": WIDTH, "height": 640}, bypass_csp=True, java_script_enabled=javascript
    )
    try:
        yield context.new_page()
    finally:
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
    assert width <= WIDTH, f"{name} scrolls sideways at {WIDTH} px ({width} px wide)"


def check_text_zoom(page: Any, name: str) -> None:
    """Double the text size (as a browser's text-only zoom does) and check nothing overflows."""
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    try:
        RESULTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(RESULTS / f"{name}-text-200.png"), full_page=True)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= WIDTH, f"{name} at 200% text scrolls sideways ({width} px wide)"
    finally:
        page.evaluate("() => { document.documentElement.style.fontSize = ''; }")
