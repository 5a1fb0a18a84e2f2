"""The practitioner portal under /clinic: sign in, the appointment list, records, admin pages.

Each handler checks who is signed in and reads only their practice: another practice's
appointment or flag, guessed by id, is answered exactly as an unknown one (404). Every
form carries the session's CSRF token; every reading, print and download of a record is
written to the audit trail.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from careprep.clinic import messages, worklist
from careprep.clinic.appointments import InputError, add_practitioner, import_appointments
from careprep.clinic.audit import record_access, trail
from careprep.clinic.auth import (
    ROLES,
    SignedIn,
    authenticate,
    practitioners,
    set_active,
    sign_out,
    still_allowed,
)
from careprep.record import build_record, for_practice
from careprep.record.exports import FORMATS, MEDIA_TYPES, export, file_name
from careprep.safety.flags import handle_flag
from careprep.settings import Settings
from careprep.store import session_scope
from careprep.store.models import Appointment, Practice, SafetyFlag
from web.security import WebSession, form_from_this_site, web_session

SIGN_IN_FAILED = (
    "The e-mail address or password is not right, or the account is locked for a while "
    "after too many tries. Check them and try again, or ask your practice admin."
)
MAX_UPLOAD_BYTES = 1_000_000


class SignInNeeded(Exception):
    """Raised when a page needs someone signed in and nobody is."""


def clinic_routes(
    settings: Settings, templates: Jinja2Templates, clock: Callable[[], datetime]
) -> APIRouter:
    """Return the portal's routes for a store and its settings."""
    router = APIRouter(prefix="/clinic")

    def page(
        request: Request, name: str, context: dict[str, Any] | None = None, status: int = 200
    ) -> Response:
        session = web_session(request)
        notice, session.notice = session.notice, None
        values = {
            "who": session.who,
            "csrf": session.csrf,
            "notice": notice,
            "zone": settings.timezone,
            **(context or {}),
        }
        return templates.TemplateResponse(request, name, values, status_code=status)

    def go(request: Request, path: str, notice: str | None = None) -> RedirectResponse:
        if notice:
            web_session(request).notice = notice
        return RedirectResponse(path, status_code=303)

    def signed_in(request: Request, store: Session, admin: bool = False) -> SignedIn:
        who = web_session(request).who
        current = still_allowed(store, who) if who else None
        if current is None:
            web_session(request).who = None
            raise SignInNeeded
        if admin and not current.is_admin:
            raise HTTPException(403, "Only a practice admin can open this page.")
        return current

    def checked(request: Request, csrf_token: str) -> None:
        if not form_from_this_site(request, csrf_token):
            raise HTTPException(
                403,
                "This form has expired or did not come from this site. "
                "Go back, reload the page and try again.",
            )

    @router.get("")
    def start(request: Request) -> Response:
        """Show the sign-in form, or the appointment list to someone signed in."""
        if web_session(request).who:
            return go(request, "/clinic/appointments")
        return page(request, "clinic/sign_in.html")

    @router.post("/login")
    def sign_in_page(
        request: Request,
        email: str = Form(""),
        password: str = Form(""),
        csrf_token: str = Form(""),
    ) -> Response:
        """Sign in; the same answer for every reason it fails."""
        checked(request, csrf_token)
        with session_scope(settings.database_url) as store:
            who = authenticate(store, email[:320], password[:1000], clock())
        if who is None:
            return page(
                request, "clinic/sign_in.html", {"error": SIGN_IN_FAILED, "email": email[:320]}, 200
            )
        request.state.web = web_session(request).signed_in_as(who)
        return go(request, "/clinic/appointments")

    @router.post("/logout")
    def sign_out_page(request: Request, csrf_token: str = Form("")) -> Response:
        """Sign out here and everywhere else: a new, empty session."""
        checked(request, csrf_token)
        who = web_session(request).who
        if who is not None:
            with session_scope(settings.database_url) as store:
                sign_out(store, who, clock())
        request.state.web = WebSession(seen=clock().timestamp())
        return go(request, "/clinic", "You have signed out.")

    @router.get("/appointments")
    def appointments(
        request: Request, show: str = "", when: str = "upcoming", sort: str = "time"
    ) -> Response:
        """List the practice's appointments: who prepared, who has not, who raised a concern."""
        show_value = show if show in worklist.SHOWS else None
        when = when if when in worklist.WHEN else "upcoming"
        sort = sort if sort in worklist.SORTS else "time"
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store)
            practice = store.get(Practice, who.practice_id)
            everything = worklist.worklist(
                store, who.practice_id, settings.timezone, clock(), None, when
            )
            rows = worklist.worklist(
                store, who.practice_id, settings.timezone, clock(), show_value, when, sort
            )
            context = {
                "practice": practice.name if practice else "",
                "rows": rows,
                "counts": worklist.counts(everything),
                "show": show_value or "",
                "when": when,
                "sort": sort,
            }
        return page(request, "clinic/appointments.html", context)

    def record_for(store: Session, who: SignedIn, appointment_id: int) -> Any:
        appointment = worklist.appointment_of_practice(store, who.practice_id, appointment_id)
        if appointment is None:
            raise HTTPException(404, "There is no such appointment at your practice.")
        record = build_record(store, appointment_id, settings.timezone)
        return for_practice(record) if record else None

    @router.get("/appointments/{appointment_id}")
    def record_page(request: Request, appointment_id: int) -> Response:
        """Show the record: the summary first, then flags and the patient's words."""
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store)
            record = record_for(store, who, appointment_id)
            texts = messages.of_patient(
                store, store.get(Appointment, appointment_id), settings.timezone
            )
            record_access(store, who.email, "viewed", appointment_id)
        context = {"record": record, "formats": FORMATS, "messages": texts}
        return page(request, "clinic/record.html", context)

    @router.get("/appointments/{appointment_id}/print")
    def print_page(request: Request, appointment_id: int) -> Response:
        """Show the record laid out for A4 paper."""
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store)
            record = record_for(store, who, appointment_id)
            record_access(store, who.email, "printed", appointment_id)
        return page(request, "clinic/print.html", {"record": record, "printed_at": clock()})

    @router.get("/appointments/{appointment_id}/export")
    def download(request: Request, appointment_id: int, format: str = "text") -> Response:
        """Send the record as a download in one of the export formats."""
        if format not in FORMATS:
            raise HTTPException(404, "There is no such export format.")
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store)
            record = record_for(store, who, appointment_id)
            record_access(store, who.email, f"exported:{format}", appointment_id)
            body = export(record, format)
        return Response(
            body,
            media_type=MEDIA_TYPES[format],
            headers={"Content-Disposition": f'attachment; filename="{file_name(record, format)}"'},
        )

    @router.post("/appointments/{appointment_id}/read")
    def mark_read(request: Request, appointment_id: int, csrf_token: str = Form("")) -> Response:
        """Record that the signed-in practitioner has read the record."""
        checked(request, csrf_token)
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store)
            appointment = worklist.appointment_of_practice(store, who.practice_id, appointment_id)
            if appointment is None:
                raise HTTPException(404, "There is no such appointment at your practice.")
            worklist.mark_read(store, appointment, who.email, clock())
            record_access(store, who.email, "marked_read", appointment_id)
        return go(request, f"/clinic/appointments/{appointment_id}", "Marked as read.")

    @router.post("/flags/{flag_id}/handle")
    def handle(request: Request, flag_id: int, csrf_token: str = Form("")) -> Response:
        """Mark a safety flag handled by the signed-in practitioner."""
        checked(request, csrf_token)
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store)
            flag = store.get(SafetyFlag, flag_id)
            if flag is None or flag.practice_id != who.practice_id:
                raise HTTPException(404, "There is no such flag at your practice.")
            appointment_id = flag.preparation.appointment_id if flag.preparation else None
            notice = "Flag marked as handled."
            try:
                handle_flag(store, flag_id, who.email)
                record_access(store, who.email, "handled_flag", appointment_id, detail=str(flag_id))
            except InputError as problem:
                notice = f"Not changed: {problem}."
        target = (
            f"/clinic/appointments/{appointment_id}" if appointment_id else "/clinic/appointments"
        )
        return go(request, target, notice)

    @router.get("/upload")
    def upload_form(request: Request) -> Response:
        """Show the form to upload a practice's appointments as CSV (admins)."""
        with session_scope(settings.database_url) as store:
            signed_in(request, store, admin=True)
        return page(request, "clinic/upload.html")

    @router.post("/upload")
    async def upload(request: Request, file: UploadFile, csrf_token: str = Form("")) -> Response:
        """Add the good rows of an uploaded CSV file; list each bad row and why (admins)."""
        checked(request, csrf_token)
        data = await file.read(MAX_UPLOAD_BYTES + 1)
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store, admin=True)
            practice = store.get(Practice, who.practice_id)
            assert practice is not None
            error = None
            result = None
            if len(data) > MAX_UPLOAD_BYTES:
                error = "The file is over 1 MB. Please split it into smaller files."
            else:
                try:
                    text = data.decode("utf-8-sig")
                    result = import_appointments(
                        store, io.StringIO(text), settings.web_url, settings.timezone, practice.name
                    )
                    record_access(
                        store,
                        who.email,
                        "uploaded_appointments",
                        detail=f"{len(result.added)} added, {len(result.rejected)} refused",
                        practice_id=who.practice_id,
                    )
                except UnicodeDecodeError:
                    error = "The file is not text (UTF-8 CSV). Save it as CSV and try again."
                except InputError as problem:
                    error = f"The file could not be read: {problem}."
        status = 400 if error else 200
        return page(request, "clinic/upload.html", {"error": error, "result": result}, status)

    @router.get("/practitioners")
    def practitioner_list(request: Request) -> Response:
        """List the practice's practitioners, with a form to add one (admins)."""
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store, admin=True)
            people = practitioners(store, who.practice_id)
            return page(request, "clinic/practitioners.html", {"people": people, "roles": ROLES})

    @router.post("/practitioners")
    def practitioner_add(
        request: Request,
        email: str = Form(""),
        password: str = Form(""),
        role: str = Form("clinician"),
        csrf_token: str = Form(""),
    ) -> Response:
        """Add a practitioner to the admin's own practice."""
        checked(request, csrf_token)
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store, admin=True)
            practice = store.get(Practice, who.practice_id)
            assert practice is not None
            if role not in ROLES:
                role = "clinician"
            try:
                with store.begin_nested():
                    added = add_practitioner(store, practice.name, email, password, role).email
                record_access(
                    store,
                    who.email,
                    "added_practitioner",
                    detail=added,
                    practice_id=who.practice_id,
                )
            except InputError as problem:
                people = practitioners(store, who.practice_id)
                context = {
                    "people": people,
                    "roles": ROLES,
                    "error": f"Not added: {problem}.",
                    "email": email,
                }
                return page(request, "clinic/practitioners.html", context, 400)
        return go(request, "/clinic/practitioners", f"Added {added}.")

    @router.post("/practitioners/{practitioner_id}/active")
    def practitioner_active(
        request: Request, practitioner_id: int, active: str = Form(""), csrf_token: str = Form("")
    ) -> Response:
        """Let a practitioner sign in again, or stop them (admins; never themselves)."""
        checked(request, csrf_token)
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store, admin=True)
            if practitioner_id == who.practitioner_id:
                return go(request, "/clinic/practitioners", "You cannot stop your own account.")
            changed = set_active(store, who.practice_id, practitioner_id, active == "yes")
            if changed is None:
                raise HTTPException(404, "There is no such practitioner at your practice.")
            action = "enabled_practitioner" if active == "yes" else "disabled_practitioner"
            record_access(
                store, who.email, action, detail=changed.email, practice_id=who.practice_id
            )
            email = changed.email
        return go(
            request,
            "/clinic/practitioners",
            f"{email} can {'now' if active == 'yes' else 'no longer'} sign in.",
        )

    @router.get("/messages")
    def message_counts(request: Request) -> Response:
        """Count this week's texts: went out, delivered, failed, waiting, cancelled (admins)."""
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store, admin=True)
            week = messages.this_week(store, who.practice_id, settings.timezone, clock())
        return page(request, "clinic/messages.html", {"week": week})

    @router.get("/audit")
    def audit(request: Request) -> Response:
        """Show who read, printed or exported which record, and when (admins)."""
        with session_scope(settings.database_url) as store:
            who = signed_in(request, store, admin=True)
            events = trail(store, who.practice_id)
            return page(request, "clinic/audit.html", {"events": events, "zone": settings.timezone})

    return router
