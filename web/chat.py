"""The patient web chat under /chat/<link token>: a thin edge over Rasa and the core.

The link token names a preparation (``careprep.preparation.link``); the web app looks
up the conversation's sender id on the server and talks to the Rasa server's REST
channel with it, so the browser never sees or chooses a sender id. The transcript is
read back from the tracker store (``bot.transcript``), so a conversation begun by SMS
shows here and carries on, and a reload or a second device shows the same.

Every page works without JavaScript (a reply is a form post, answered by a redirect);
``web/static/chat.js`` turns the same forms into a live chat that asks for
``X-Careprep-Chat`` partial answers and keeps what was typed when a request fails.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import requests
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from bot.transcript import Line, messages_since, transcript
from careprep.preparation import messages
from careprep.preparation.conversation import question_asked
from careprep.preparation.link import LinkState, OpenedLink, check_link_date_of_birth, open_link
from careprep.preparation.progress import questionnaire_of
from careprep.preparation.questionnaire import (
    Kind,
    Question,
    QuestionId,
    Questionnaire,
    numbered,
    question,
)
from careprep.record import build_record
from careprep.record.summary import patient_copy
from careprep.settings import Settings
from careprep.store import session_scope
from careprep.store.models import Preparation, PreparationStatus
from web.security import form_from_this_site, web_session

log = logging.getLogger(__name__)

MAX_MESSAGE = 2000
"""The longest reply the web chat takes, in characters."""
PER_MINUTE = 30
"""The most messages one conversation may send in a minute (any channel)."""
START = "/greet"
"""What the web app says for the patient to open a conversation (not shown in the transcript)."""
PARTIAL = "x-careprep-chat"
NO_CHOICE = Form([])
"""The boxes ticked for a multi-choice question: none unless the form sends some."""
"""The header chat.js sends to get the new messages as HTML fragments instead of a page."""

COMMANDS = (
    ("WHY", "Why do you ask?"),
    ("SKIP", "Skip this question"),
    ("BACK", "Go back"),
    ("PAUSE", "Stop for now"),
    ("HELP", "Help"),
)
"""The commands offered as buttons under every question: what is sent, what the button says."""

_PHONE_NUMBERS = (
    (re.compile(r"\b999\b"), "999", "999"),
    (re.compile(r"\bNHS 111\b(?!\.)"), "111", "NHS 111"),
    (re.compile(r"\b116 123\b"), "116123", "116 123"),
    (re.compile(r"\b0808 2000 247\b"), "08082000247", "0808 2000 247"),
)

AskRasa = Callable[[str, str], None]
"""Send one message for a sender id to the assistant (raises ``RasaUnavailable``)."""


class RasaUnavailable(Exception):
    """The assistant could not take the message now; nothing was stored."""


def rasa_rest(rasa_url: str) -> AskRasa:
    """Return a sender that posts to the Rasa server's REST channel."""

    def ask(sender_id: str, text: str) -> None:
        try:
            answer = requests.post(
                f"{rasa_url}/webhooks/rest/webhook",
                json={"sender": sender_id, "message": text},
                timeout=30,
            )
        except requests.RequestException as problem:
            raise RasaUnavailable(type(problem).__name__) from problem
        if answer.status_code != 200:
            raise RasaUnavailable(f"status {answer.status_code}")

    return ask


def _under_way(lines: list[Line]) -> bool:
    """Whether the conversation has begun past the SMS date-of-birth question.

    A patient who replied HI by SMS and then opened the link has passed the web check
    instead: the conversation is started again for them here, not left asking by SMS.
    """
    last = next((line for line in reversed(lines) if not line.by_patient), None)
    return last is not None and question(QuestionId.IDENTITY).text not in last.text


def message_html(text: str) -> Markup:
    """Return a message as HTML: escaped, its lines kept, phone numbers as tel: links."""
    html = str(escape(text))
    for pattern, number, words in _PHONE_NUMBERS:
        html = pattern.sub(f'<a href="tel:{number}">{words}</a>', html)
    return Markup(html.replace("\n", "<br>\n"))


def _without_numbered_options(text: str, options: tuple[str, ...]) -> str:
    """Drop the "1 Medicines" lines of a choice the page shows as checkboxes."""
    shown = set(numbered(options).split("\n"))
    return "\n".join(line for line in text.split("\n") if line not in shown)


def reply_area(
    lines: list[Line], questionnaire: Questionnaire, preparation: Preparation
) -> dict[str, Any]:
    """Work out what the reply form offers, from the last thing careprep said."""
    last = next((line for line in reversed(lines) if not line.by_patient), None)
    asked: Question | None = question_asked(last.text, questionnaire) if last else None
    finished = preparation.status in (PreparationStatus.COMPLETE, PreparationStatus.DECLINED)
    area: dict[str, Any] = {
        "asked": asked,
        "options": last.options if last else (),
        "choices": (),
        "parts": (),
        "finished": finished and (asked is None),
    }
    if asked is not None and asked.kind is Kind.MULTI_CHOICE:
        area["choices"] = tuple(enumerate(asked.options, start=1))
    if asked is not None and asked.kind is Kind.CONFIRM:
        area["parts"] = tuple(enumerate((q.section for q in questionnaire.editable), start=1))
    return area


def chat_routes(
    settings: Settings,
    templates: Jinja2Templates,
    clock: Callable[[], datetime],
    ask_rasa: AskRasa | None = None,
) -> APIRouter:
    """Return the web chat's routes."""
    router = APIRouter(prefix="/chat")
    ask = ask_rasa or rasa_rest(settings.rasa_url)
    templates.env.filters["message_html"] = message_html

    def page(
        request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
    ) -> Response:
        values = {
            "who": None,
            "csrf": web_session(request).csrf,
            "chat_page": True,
            **(context or {}),
        }
        return templates.TemplateResponse(request, name, values, status_code=status)

    def closed(request: Request, link: OpenedLink) -> Response:
        if link.state is LinkState.LOCKED:
            return page(request, "chat/locked.html", {"practice": link.practice}, 403)
        return page(request, "chat/closed.html", status=404)

    def opened(token: str) -> OpenedLink:
        with session_scope(settings.database_url) as store:
            return open_link(store, token, clock())

    def chat_page(
        request: Request,
        token: str,
        link: OpenedLink,
        error: str | None = None,
        typed: str = "",
        status: int = 200,
    ) -> Response:
        assert link.sender_id is not None and link.preparation_id is not None
        with session_scope(settings.database_url) as store:
            started = _under_way(transcript(store, link.sender_id))
        # No store session is open while Rasa answers: it writes to the same database.
        if not started and error is None:
            try:
                ask(link.sender_id, START)
            except RasaUnavailable as problem:
                log.warning("web chat: could not start a conversation (%s)", problem)
                error = messages_unavailable()
                status = 503
        with session_scope(settings.database_url) as store:
            lines = transcript(store, link.sender_id)
            context = _chat_context(store, link, lines)
        context.update({"token": token, "error": error, "typed": typed})
        return page(request, "chat/chat.html", context, status)

    def _chat_context(store: Session, link: OpenedLink, lines: list[Line]) -> dict[str, Any]:
        preparation = store.get(Preparation, link.preparation_id)
        assert preparation is not None
        questionnaire = questionnaire_of(preparation)
        area = reply_area(lines, questionnaire, preparation)
        shown = [
            (line, _without_numbered_options(line.text, tuple(o for _, o in area["choices"])))
            if index == len(lines) - 1 and area["choices"]
            else (line, line.text)
            for index, line in enumerate(lines)
        ]
        copy = None
        if area["finished"] and preparation.status == PreparationStatus.COMPLETE:
            record = build_record(store, preparation.appointment_id, settings.timezone, False)
            copy = patient_copy(record) if record else None
        answered = max((n for n, line in enumerate(lines) if line.by_patient), default=-1)
        newest = lines[answered + 1] if answered + 1 < len(lines) else None
        return {
            "lines": shown,
            "last_id": lines[-1].event_id if lines else 0,
            "latest_id": newest.event_id if newest else None,
            "area": area,
            "copy": copy,
            "commands": COMMANDS,
            "practice": link.practice,
            "review": link.review,
        }

    @router.get("/{token}", response_class=HTMLResponse)
    def chat(request: Request, token: str) -> Response:
        """Open an invitation link: the date-of-birth check, then the conversation."""
        link = opened(token)
        if link.state is not LinkState.OPEN:
            return closed(request, link)
        if web_session(request).chat != link.preparation_id:
            return page(request, "chat/check.html", {"token": token, "review": link.review})
        return chat_page(request, token, link)

    @router.post("/{token}/check")
    def check(
        request: Request,
        token: str,
        csrf_token: str = Form(""),
        day: str = Form(""),
        month: str = Form(""),
        year: str = Form(""),
    ) -> Response:
        """Check the date of birth; three wrong ones lock the link and tell the practice."""
        if not form_from_this_site(request, csrf_token):
            return _forbidden(request)
        link = opened(token)
        if link.state is not LinkState.OPEN or link.preparation_id is None:
            return closed(request, link)
        with session_scope(settings.database_url) as store:
            tried = check_link_date_of_birth(store, link.preparation_id, day, month, year)
        context = {
            "token": token,
            "day": day[:4],
            "month": month[:4],
            "year": year[:6],
            "review": link.review,
        }
        if tried.check is None:
            return page(request, "chat/check.html", {**context, "error": tried.problem}, 400)
        if tried.check.locked:
            return page(request, "chat/locked.html", {"practice": link.practice}, 403)
        if not tried.check.confirmed:
            wrong = messages.identity_wrong(tried.check.tries_left)
            return page(request, "chat/check.html", {**context, "error": wrong}, 400)
        request.state.web = web_session(request).chatting_in(link.preparation_id)
        return RedirectResponse(f"/chat/{token}", status_code=303)

    @router.post("/{token}")
    def send(
        request: Request,
        token: str,
        csrf_token: str = Form(""),
        message: str = Form(""),
        typed: str = Form(""),
        choice: list[str] = NO_CHOICE,
        after: int = Form(0),
    ) -> Response:
        """Send the patient's reply: a button's value, the boxes ticked, or what they typed."""
        partial = PARTIAL in request.headers
        if not form_from_this_site(request, csrf_token):
            return _forbidden(request, partial)
        link = opened(token)
        if link.state is not LinkState.OPEN:
            return closed(request, link)
        if web_session(request).chat != link.preparation_id or link.sender_id is None:
            return RedirectResponse(f"/chat/{token}", status_code=303)
        ticked = [number for number in choice if number.isdigit()]
        text = (message or " ".join([*ticked, typed.strip()])).strip()
        problem, status = None, 400
        if not text:
            problem = "Type a reply, or choose one of the buttons."
        elif len(text) > MAX_MESSAGE:
            problem = (
                f"Your reply is {len(text):,} characters long. Please keep it under "
                f"{MAX_MESSAGE:,}: you could send it in two parts."
            )
        else:
            with session_scope(settings.database_url) as store:
                recent = messages_since(store, link.sender_id, clock() - timedelta(minutes=1))
            if recent >= PER_MINUTE:
                problem, status = (
                    "You have sent a lot of messages in the last minute. Please wait a "
                    "minute, then send your reply again. It is still in the box.",
                    429,
                )
        if problem is None:
            try:
                ask(link.sender_id, text)
            except RasaUnavailable as failure:
                log.warning("web chat: a reply could not be sent (%s)", failure)
                problem, status = messages_unavailable(), 503
        if problem is not None:
            if partial:
                return JSONResponse({"error": problem}, status_code=status)
            return chat_page(request, token, link, problem, typed or message, status)
        if not partial:
            return RedirectResponse(f"/chat/{token}#latest", status_code=303)
        with session_scope(settings.database_url) as store:
            lines = transcript(store, link.sender_id)
            context = _chat_context(store, link, lines)
        context.update(
            {"token": token, "csrf": web_session(request).csrf, "error": None, "typed": ""}
        )
        entries = templates.get_template("chat/_entries.html").render(
            {**context, "lines": [pair for pair in context["lines"] if pair[0].event_id > after]}
        )
        reply = templates.get_template("chat/_reply.html").render(context)
        return JSONResponse({"entries": entries, "reply": reply, "last_id": context["last_id"]})

    def _forbidden(request: Request, partial: bool = False) -> Response:
        problem = (
            "This page has expired or the form did not come from this site. "
            "Reload the page and try again."
        )
        if partial:
            return JSONResponse({"error": problem}, status_code=403)
        return page(request, "problem.html", {"status": 403, "detail": problem}, 403)

    return router


def messages_unavailable() -> str:
    """Say that a reply could not be sent, and that nothing typed is lost."""
    return (
        "Sorry, we could not send your reply just now. Nothing is lost: it is still in the "
        "box. Please try again in a minute. If you need help now, call NHS 111, or 999 in "
        "an emergency."
    )
