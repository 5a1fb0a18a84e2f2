"""The web app: the start page, the invitation link's page, the practitioner portal, health.

``uvicorn --factory web.app:serve`` runs it (``careprep up`` does): the settings are read
once, as it starts. Tests build it with ``create_app(settings, clock)``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from careprep.record import shown_sections
from careprep.runtime import without_tensorflow
from careprep.settings import Settings, get_settings
from web.chat import AskRasa, chat_routes
from web.clinic import SignInNeeded, clinic_routes
from web.security import Sessions, add_security_headers

HERE = Path(__file__).parent
NHSUK = HERE.parent / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"
PRIVATE = ("/clinic", "/chat")
"""Pages that show or lead to patient data: a session cookie, and never cached."""

log = logging.getLogger(__name__)
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.globals["shown_sections"] = shown_sections


def _local(moment: datetime, zone: str) -> datetime:
    """Return a stored (UTC) time as the practice reads it."""
    return moment.astimezone(ZoneInfo(zone))


templates.env.filters["local"] = _local


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def create_app(
    settings: Settings,
    clock: Callable[[], datetime] = _utc_now,
    ask_rasa: AskRasa | None = None,
) -> FastAPI:
    """Return the web app, serving the store and the rest of what these settings name.

    The web chat talks to the Rasa server at ``settings.rasa_url`` unless ``ask_rasa``
    is given.
    """
    app = FastAPI(title="careprep", docs_url=None, redoc_url=None, openapi_url=None)
    # The cookie belongs to the web app's own address (CAREPREP_WEB_URL); PUBLIC_URL is
    # the Rasa server's, which Twilio calls.
    secure = settings.web_url.startswith("https://")
    sessions = Sessions(settings.secret_key, secure, clock)

    @app.middleware("http")
    async def session_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        private = request.url.path.startswith(PRIVATE)
        if private:
            request.state.web = sessions.load(request)
        response = await call_next(request)
        if private:
            sessions.save(response, request.state.web)
        add_security_headers(response, private)
        return response

    @app.exception_handler(SignInNeeded)
    def sign_in_needed(request: Request, _: SignInNeeded) -> Response:
        return RedirectResponse("/clinic", status_code=303)

    @app.exception_handler(HTTPException)
    def problem_page(request: Request, problem: HTTPException) -> Response:
        return templates.TemplateResponse(
            request,
            "problem.html",
            {"status": problem.status_code, "detail": problem.detail, "who": None},
            status_code=problem.status_code,
        )

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, _: RequestValidationError) -> Response:
        return templates.TemplateResponse(
            request,
            "problem.html",
            {
                "status": 400,
                "detail": "That address or form was not one this site understands.",
                "who": None,
            },
            status_code=400,
        )

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        """Say what careprep is and where the chat and the portal will be."""
        return templates.TemplateResponse(request, "home.html")

    @app.get("/health")
    def health() -> dict[str, str]:
        """Report that the web app is running."""
        return {"status": "ok"}

    app.include_router(clinic_routes(settings, templates, clock))
    app.include_router(chat_routes(settings, templates, clock, ask_rasa))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if NHSUK.is_dir():
        app.mount("/nhsuk", StaticFiles(directory=NHSUK), name="nhsuk")
        app.mount("/assets", StaticFiles(directory=NHSUK / "assets"), name="nhsuk-assets")
    else:
        log.warning("nhsuk-frontend is not installed (run make install): pages will be unstyled")
    return app


def serve() -> FastAPI:
    """Return the app for uvicorn, with this process's settings and no TensorFlow."""
    without_tensorflow()
    return create_app(get_settings())
