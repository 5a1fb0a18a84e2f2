"""The web app's start page and health check (the chat and portal come later)."""

from pathlib import Path

from fastapi.testclient import TestClient

from careprep.settings import Settings
from careprep.store import session_scope
from tests.factories import book, make_settings
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


def test_an_invitation_link_points_to_sms_until_web_chat_opens(settings: Settings) -> None:
    with session_scope(settings.database_url) as session:
        token = book(session).preparation.invite_token
    client = TestClient(create_app(settings))
    page = client.get(f"/chat/{token}")
    assert page.status_code == 200
    assert "reply HI to the text message" in page.text
    unknown = client.get("/chat/not-a-token")
    assert unknown.status_code == 404
    assert "can't find this invitation" in unknown.text
