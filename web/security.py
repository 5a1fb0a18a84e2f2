"""What every page of the web app shares: signed session cookies, CSRF tokens and headers.

The session lives in one cookie signed with ``CAREPREP_SECRET_KEY`` (itsdangerous): who is
signed in, the CSRF token of their forms and when they were last seen. Nothing is kept
on the server, so any number of web app processes can serve one practitioner. After
``IDLE`` without a request the next page signs them out. Signing in starts a new
session (a new CSRF token), so a session fixed before sign-in is worth nothing.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeSerializer

from careprep.clinic.auth import SignedIn

COOKIE = "careprep_session"
IDLE = timedelta(minutes=30)
SIGNED_OUT_IDLE = (
    "You were signed out because nothing happened for 30 minutes. Please sign in again."
)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
"""Sent with every response. Same-origin referrers keep invitation links out of other sites' logs
(and let a form post say its Origin, which the CSRF check reads)."""


@dataclass
class WebSession:
    """One browser's session: its CSRF token, who is signed in, a one-off notice.

    ``chat`` is the preparation whose web chat this browser may show: set once the
    date of birth matched here, whatever was checked by SMS or on another device.
    """

    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    who: SignedIn | None = None
    seen: float = 0.0
    notice: str | None = None
    chat: int | None = None

    def signed_in_as(self, who: SignedIn) -> WebSession:
        """Return a new session for someone who has just signed in (a new CSRF token)."""
        return WebSession(who=who, seen=self.seen, chat=self.chat)

    def chatting_in(self, preparation_id: int) -> WebSession:
        """Return a new session that shows this preparation's chat (a new CSRF token)."""
        return WebSession(who=self.who, seen=self.seen, chat=preparation_id)


class Sessions:
    """Reads and writes the signed session cookie."""

    def __init__(self, secret_key: str, secure: bool, clock: Callable[[], datetime]) -> None:
        """Sign with this key; mark the cookie Secure when the site is served over https."""
        self.serializer = URLSafeSerializer(secret_key, salt="careprep-session")
        self.secure = secure
        self.clock = clock

    def load(self, request: Request) -> WebSession:
        """Return the request's session: a new one if there is none or its signature is wrong."""
        now = self.clock().timestamp()
        raw = request.cookies.get(COOKIE)
        if not raw:
            return WebSession(seen=now)
        try:
            data: dict[str, Any] = self.serializer.loads(raw)
            who = SignedIn(**data["who"]) if data.get("who") else None
            chat = int(data["chat"]) if data.get("chat") is not None else None
            session = WebSession(data["csrf"], who, float(data["seen"]), data.get("notice"), chat)
        except (BadSignature, KeyError, TypeError, ValueError):
            return WebSession(seen=now)
        if session.who is not None and now - session.seen > IDLE.total_seconds():
            # A practitioner's idle timeout; a patient's chat has no time limit.
            return WebSession(seen=now, notice=SIGNED_OUT_IDLE, chat=session.chat)
        return replace(session, seen=now)

    def save(self, response: Response, session: WebSession) -> None:
        """Write the session to the response's cookie."""
        data = {
            "csrf": session.csrf,
            "who": vars(session.who) if session.who else None,
            "seen": session.seen,
            "notice": session.notice,
            "chat": session.chat,
        }
        response.set_cookie(
            COOKIE,
            self.serializer.dumps(data),
            httponly=True,
            samesite="lax",
            secure=self.secure,
            path="/",
        )


def csrf_ok(session: WebSession, token: str | None) -> bool:
    """Whether a form's token is this session's (compared in constant time)."""
    return bool(token) and hmac.compare_digest(session.csrf, str(token))


def web_session(request: Request) -> WebSession:
    """Return the session the middleware loaded for this request (saved with its response)."""
    session: WebSession = request.state.web
    return session


def form_from_this_site(request: Request, token: str | None) -> bool:
    """Whether a form post carries this session's CSRF token and comes from this site."""
    return same_origin(request) and csrf_ok(web_session(request), token)


def same_origin(request: Request) -> bool:
    """Whether a post comes from this site: an Origin header, when sent, must be ours."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    ours = urlsplit(str(request.base_url))
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) == (ours.scheme, ours.netloc)


def add_security_headers(response: Response, private: bool) -> None:
    """Add the security headers; private pages are never stored by a browser or a proxy."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if private:
        response.headers["Cache-Control"] = "no-store"
