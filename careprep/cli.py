"""The ``careprep`` command: set-up, appointments, records and the running system."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from careprep.clinic.appointments import (
    InputError,
    NewAppointment,
    add_appointment,
    add_practitioner,
    cancel_booking,
    describe_appointment,
    import_appointments,
    move_booking,
)
from careprep.clinic.audit import command_line_actor, record_access
from careprep.record import build_record, for_practice
from careprep.record.exports import FORMATS, export
from careprep.runtime import without_tensorflow
from careprep.safety.flags import handle_flag, open_flags
from careprep.settings import Settings, get_settings
from careprep.store import session_scope
from careprep.store.migrate import upgrade


class CliError(Exception):
    """A one-line reason to stop with a non-zero exit status."""


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Apply the migrations to DATABASE_URL."""
    upgrade(settings.database_url)
    print("database is up to date")
    return 0


def cmd_appointment_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add one appointment and print its id and invitation link as JSON."""
    with session_scope(settings.database_url) as session:
        appointment, created = add_appointment(
            session,
            NewAppointment(
                practice=args.practice,
                patient_name=args.patient_name,
                phone=args.phone,
                dob=args.dob,
                at=args.at,
                practitioner=args.practitioner,
            ),
            settings.timezone,
            invite_from=settings.web_url,
        )
        print(json.dumps(describe_appointment(appointment, settings.web_url, created)))
    return 0


def cmd_appointment_cancel(args: argparse.Namespace, settings: Settings) -> int:
    """Cancel an appointment and the messages still to go to the patient about it."""
    with session_scope(settings.database_url) as session:
        print(json.dumps(cancel_booking(session, args.appointment_id, args.reason)))
    return 0


def cmd_appointment_move(args: argparse.Namespace, settings: Settings) -> int:
    """Move an appointment; its invitation, nudge and review reminders move with it."""
    with session_scope(settings.database_url) as session:
        appointment = move_booking(
            session, args.appointment_id, args.at, settings.timezone, settings.web_url
        )
        print(json.dumps(describe_appointment(appointment, settings.web_url, created=False)))
    return 0


def cmd_appointment_import(args: argparse.Namespace, settings: Settings) -> int:
    """Add the good rows of a CSV file; report the bad ones with their line numbers."""
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    store = session_scope(settings.database_url)
    with path.open(newline="", encoding="utf-8-sig") as rows, store as session:
        result = import_appointments(session, rows, settings.web_url, settings.timezone)
    for added in result.added:
        print(json.dumps(added))
    for line, reason in result.rejected:
        print(f"{path.name} line {line}: {reason}", file=sys.stderr)
    print(f"{len(result.added)} rows imported, {len(result.rejected)} rejected", file=sys.stderr)
    return 1 if result.rejected else 0


def cmd_practitioner_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add a practitioner; the password is read from standard input."""
    password = sys.stdin.readline().rstrip("\r\n")
    with session_scope(settings.database_url) as session:
        practitioner = add_practitioner(session, args.practice, args.email, password, args.role)
        print(json.dumps({"practitioner_id": practitioner.id, "email": practitioner.email}))
    return 0


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Print the pre-consultation record of an appointment."""
    with session_scope(settings.database_url) as session:
        record = build_record(session, args.appointment_id, settings.timezone)
        if record is None:
            raise CliError(f"there is no appointment {args.appointment_id}")
        shown = for_practice(record)
        sys.stdout.write(export(shown, args.format))
        record_access(
            session, command_line_actor(), f"exported:{args.format}", record.appointment_id
        )
    return 0


def cmd_flags(args: argparse.Namespace, settings: Settings) -> int:
    """List the open safety and identity flags, newest first, or mark one handled."""
    with session_scope(settings.database_url) as session:
        if args.flags_command == "handle":
            flag = handle_flag(session, args.flag_id, args.by)
            print(f"flag {flag.id} handled by {flag.handled_by}")
            return 0
        flags = open_flags(session, args.practice)
        for flag in flags:
            appointment_id = flag.preparation.appointment_id if flag.preparation else None
            row = {
                "flag_id": flag.id,
                "level": flag.level,
                "raised_at": flag.raised_at.isoformat(),
                "appointment_id": appointment_id,
                "question_id": flag.question_id,
                "message": flag.message,
            }
            if args.format == "json":
                print(json.dumps(row, ensure_ascii=False))
            else:
                print(
                    f"#{flag.id}  {flag.raised_at:%Y-%m-%d %H:%M}  {flag.level.upper():13}  "
                    f"appointment {appointment_id}  {flag.message!r}"
                )
        if not flags and args.format == "text":
            print("no open flags")
    return 0


def cmd_practice_set(args: argparse.Namespace, settings: Settings) -> int:
    """Change a practice's messaging settings and print them all as JSON."""
    from careprep.clinic.practices import MessagingChange, describe_messaging, set_messaging

    change = MessagingChange(args.quiet_hours, args.invite_days, args.nudge_days, args.send_rate)
    with session_scope(settings.database_url) as session:
        practice = set_messaging(session, args.practice, change)
        print(json.dumps(describe_messaging(practice)))
    return 0


def cmd_up(args: argparse.Namespace, settings: Settings) -> int:
    """Start the Rasa server, the action server, the web app and the worker (N of each)."""
    if args.instances < 1:
        raise CliError("--instances must be at least 1")
    if args.instances > 1:
        from careprep.scaleout import ScaleOutError, require_postgres, run_cluster

        try:
            require_postgres(settings.database_url)
            return run_cluster(settings, args.instances)
        except ScaleOutError as problem:
            raise CliError(str(problem)) from problem
    from careprep.supervisor import run_everything

    return run_everything(settings)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Send the messages that are due."""
    from careprep.messaging.worker import SEND_LEASE, Dispatch, run_worker
    from integrations.sms.sender import SmsSender

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.lease is not None and args.lease < 1:
        raise CliError("--lease must be at least 1 second")
    dispatch = Dispatch(
        zone=settings.timezone,
        web_url=settings.web_url,
        rate_limited=not args.no_rate_limit,
        lease=timedelta(seconds=args.lease) if args.lease else SEND_LEASE,
    )
    return run_worker(settings.database_url, SmsSender(settings), once=args.once, dispatch=dispatch)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every careprep command."""
    parser = argparse.ArgumentParser(prog="careprep", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="start everything")
    up.add_argument(
        "--instances",
        type=int,
        default=1,
        metavar="N",
        help="N of each process behind nginx, with a Redis lock store (N > 1 needs PostgreSQL)",
    )
    up.set_defaults(run=cmd_up)

    db = commands.add_parser("db", help="the careprep store").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply migrations").set_defaults(run=cmd_db_upgrade)

    appointment = commands.add_parser("appointment", help="appointments").add_subparsers(
        dest="appointment_command", required=True
    )
    add = appointment.add_parser("add", help="add one appointment")
    add.add_argument("--practice", required=True)
    add.add_argument("--patient-name", required=True)
    add.add_argument("--phone", required=True, help="the patient's mobile, e.g. 07700 900123")
    add.add_argument("--dob", required=True, help="date of birth, YYYY-MM-DD")
    add.add_argument("--at", required=True, help="ISO 8601 time, e.g. 2026-12-01T10:30")
    add.add_argument("--practitioner", help="email of the practitioner")
    add.set_defaults(run=cmd_appointment_add)
    cancel = appointment.add_parser("cancel", help="cancel an appointment and its messages")
    cancel.add_argument("appointment_id", type=int)
    cancel.add_argument("--reason", default="", help="why (kept with the appointment)")
    cancel.set_defaults(run=cmd_appointment_cancel)
    move = appointment.add_parser("move", help="move an appointment to a new time")
    move.add_argument("appointment_id", type=int)
    move.add_argument("--at", required=True, help="the new time, ISO 8601")
    move.set_defaults(run=cmd_appointment_move)
    bulk = appointment.add_parser("import", help="add appointments from a CSV file")
    bulk.add_argument("file", help="columns: practice,patient_name,phone,dob,at[,practitioner]")
    bulk.set_defaults(run=cmd_appointment_import)

    practitioner = commands.add_parser("practitioner", help="practitioners").add_subparsers(
        dest="practitioner_command", required=True
    )
    padd = practitioner.add_parser("add", help="add a practitioner (password on stdin)")
    padd.add_argument("--practice", required=True)
    padd.add_argument("--email", required=True)
    padd.add_argument("--role", default="clinician", choices=("clinician", "admin"))
    padd.set_defaults(run=cmd_practitioner_add)

    practice = commands.add_parser("practice", help="practices").add_subparsers(
        dest="practice_command", required=True
    )
    pset = practice.add_parser("set", help="set a practice's messaging settings")
    pset.add_argument("--practice", required=True)
    pset.add_argument(
        "--quiet-hours", help="no messages between these local times, HH:MM-HH:MM, or none"
    )
    pset.add_argument("--invite-days", type=int, help="days before the appointment to invite")
    pset.add_argument("--nudge-days", type=int, help="days before to nudge an unfinished one")
    pset.add_argument("--send-rate", type=int, help="messages a second at most")
    pset.set_defaults(run=cmd_practice_set)

    export = commands.add_parser("export", help="print a pre-consultation record")
    export.add_argument("appointment_id", type=int)
    export.add_argument("--format", choices=FORMATS, default="text")
    export.set_defaults(run=cmd_export)

    flags = commands.add_parser("flags", help="open safety and identity flags, newest first")
    flags.add_argument("--practice", help="only this practice's flags")
    flags.add_argument("--format", choices=("text", "json"), default="text")
    flags.set_defaults(run=cmd_flags, flags_command=None)
    handle = flags.add_subparsers(dest="flags_command").add_parser(
        "handle", help="mark a flag handled"
    )
    handle.add_argument("flag_id", type=int)
    handle.add_argument("--by", required=True, help="email of who handled it")

    worker = commands.add_parser("worker", help="send due messages")
    worker.add_argument("--once", action="store_true", help="send what is due, then exit")
    worker.add_argument(
        "--lease",
        type=int,
        metavar="SECONDS",
        help="how long a claim holds before another worker takes the message back (600)",
    )
    worker.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="ignore the practices' send rates (only for benchmarks against a local endpoint)",
    )
    worker.set_defaults(run=cmd_worker)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a careprep command; a bad input ends with a one-line reason and status 2."""
    without_tensorflow()
    args = build_parser().parse_args(argv)
    settings = get_settings()
    try:
        if args.command not in ("db", "up"):
            upgrade(settings.database_url)
        return int(args.run(args, settings))
    except (InputError, CliError) as problem:
        print(f"careprep: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
