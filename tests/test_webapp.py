"""The web app's start page and health check (the chat and the portal have their own tests)."""

from pathlib import Path

from fastapi.testclient import TestClient

from tests.factories import make_settings
from web.app import create_app


def client_without_a_store(tmp_path: Path) -> TestClient:
    """The web app for pages that read nothing from the store."""
    return TestClient(create_app(make_settings(f"sqlite:///{tmp_path / 'none.db'}", tmp_path)))


def test_home_page_tells_a_patient_where_to_start(tmp_path: Path) -> None:
    page = client_without_a_store(tmp_path).get("/")
    assert page.status_code == 200
    assert "please open that link to start" in page.text
    assert "999" in page.text and "NHS 111" in page.text


def test_health(tmp_path: Path) -> None:
    assert client_without_a_store(tmp_path).get("/health").json() == {"status": "ok"}
