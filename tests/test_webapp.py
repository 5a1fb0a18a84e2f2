"""The web app's start page and health check (the chat and portal come later)."""

from fastapi.testclient import TestClient

from webapp.app import app


def test_home_page_tells_a_patient_where_to_start() -> None:
    page = TestClient(app).get("/")
    assert page.status_code == 200
    assert "please open that link to start" in page.text
    assert "999" in page.text and "NHS 111" in page.text


def test_health() -> None:
    assert TestClient(app).get("/health").json() == {"status": "ok"}
