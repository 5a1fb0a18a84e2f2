"""The web app. For now: a start page and a health check for ``careprep up``."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))

app = FastAPI(title="careprep", docs_url=None, redoc_url=None)


@app.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    """Say what careprep is and where the chat and the portal will be."""
    return templates.TemplateResponse(request, "home.html")


@app.get("/health")
def health() -> dict[str, str]:
    """Report that the web app is running."""
    return {"status": "ok"}
