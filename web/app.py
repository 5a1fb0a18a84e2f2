"""The web app. For now: a start page, the invitation link's page and a health check."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from careprep.preparation.progress import find_by_sender
from careprep.settings import Settings, get_settings
from careprep.store import session_scope

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))


def create_app(settings: Settings) -> FastAPI:
    """Return the web app, serving the store and the rest of what these settings name."""
    app = FastAPI(title="careprep", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        """Say what careprep is and where the chat and the portal will be."""
        return templates.TemplateResponse(request, "home.html")

    @app.get("/chat/{token}", response_class=HTMLResponse)
    def chat(request: Request, token: str) -> HTMLResponse:
        """Open an invitation link: web chat is not open yet, so point to SMS (404 if unknown)."""
        with session_scope(settings.database_url) as session:
            known = find_by_sender(session, token) is not None
        return templates.TemplateResponse(
            request, "chat.html", {"known": known}, status_code=200 if known else 404
        )

    @app.get("/health")
    def health() -> dict[str, str]:
        """Report that the web app is running."""
        return {"status": "ok"}

    return app


app = create_app(get_settings())
"""The app that uvicorn serves (``web.app:app``): its settings are read once, as it starts."""
