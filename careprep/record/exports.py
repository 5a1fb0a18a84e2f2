"""The export formats of a record: one place names them, for the CLI and the portal alike."""

from __future__ import annotations

import json
from collections.abc import Callable

from careprep.record import Record, fhir, to_json, to_text


def _json(data: object) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


WRITERS: dict[str, Callable[[Record], str]] = {
    "text": to_text,
    "json": lambda record: _json(to_json(record)),
    "fhir": lambda record: _json(fhir.questionnaire_response(record)),
    "fhir-bundle": lambda record: _json(fhir.bundle(record)),
}
FORMATS = tuple(WRITERS)
MEDIA_TYPES = {
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
    "fhir": "application/fhir+json",
    "fhir-bundle": "application/fhir+json",
}
FILE_SUFFIXES = {"text": "txt", "json": "json", "fhir": "fhir.json", "fhir-bundle": "bundle.json"}


def export(record: Record, format_name: str) -> str:
    """Return the record written in one of ``FORMATS`` (KeyError for any other)."""
    return WRITERS[format_name](record)


def file_name(record: Record, format_name: str) -> str:
    """Return the name a download of this record is saved under (no patient name in it)."""
    return f"careprep-record-{record.appointment_id}.{FILE_SUFFIXES[format_name]}"
