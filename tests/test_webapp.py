"""The web app's start page and health check (the chat and portal come later)."""

from fastapi.testclient import TestClient

from web.app import app


def test_home_page_tells_a_patient_where_to_start() -> None:
    page = TestClient(app).get("/")
    assert page.status_code == 200
    assert "please open that link to start" in page.text
    assert "999" in page.text and "NHS 111" in page.text


def test_health() -> None:
    assert TestClient(app).get("/health").json() == {"status": "ok"}


def test_an_invitation_link_points_to_sms_until_web_chat_opens(store_env: str) -> None:
    from careprep.store import session_scope
    from tests.factories import book

    with session_scope(store_env) as session:
        token = book(session).preparation.invite_token
    page = TestClient(app).get(f"/chat/{token}")
    assert page.status_code == 200
    assert "reply HI to the text message" in page.text
    unknown = TestClient(app).get("/chat/not-a-token")
    assert unknown.status_code == 404
    assert "can't find this invitation" in unknown.text
