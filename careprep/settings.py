"""One settings object, read from the environment, with defaults that run embedded."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///var/careprep.db"


@dataclass(frozen=True)
class Settings:
    """Everything careprep reads from its environment."""

    database_url: str
    public_url: str
    web_url: str
    secret_key: str
    var_dir: Path
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    twilio_from_number: str | None
    twilio_api_base_url: str | None
    timezone: str
    rasa_url: str = "http://127.0.0.1:5005"
    """Where the web app reaches the Rasa server's REST channel (never the browser)."""

    @property
    def twilio_configured(self) -> bool:
        """Whether outbound SMS can really be sent."""
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_from_number)


def _secret_key(var_dir: Path) -> str:
    """Return CAREPREP_SECRET_KEY, or a key generated once and kept under var/."""
    configured = os.environ.get("CAREPREP_SECRET_KEY")
    if configured:
        return configured
    key_file = var_dir / "secret_key"
    if not key_file.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        key_file.touch(mode=0o600)
        key_file.write_text(secrets.token_urlsafe(32))
    return key_file.read_text().strip()


def get_settings() -> Settings:
    """Read the settings from the environment."""
    var_dir = Path(os.environ.get("CAREPREP_VAR_DIR", "var"))
    return Settings(
        database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        public_url=os.environ.get("PUBLIC_URL", "http://localhost:5005").rstrip("/"),
        web_url=os.environ.get("CAREPREP_WEB_URL", "http://localhost:8000").rstrip("/"),
        secret_key=_secret_key(var_dir),
        var_dir=var_dir,
        twilio_account_sid=os.environ.get("TWILIO_ACCOUNT_SID") or None,
        twilio_auth_token=os.environ.get("TWILIO_AUTH_TOKEN") or None,
        twilio_from_number=os.environ.get("TWILIO_FROM_NUMBER") or None,
        twilio_api_base_url=os.environ.get("TWILIO_API_BASE_URL") or None,
        timezone=os.environ.get("CAREPREP_TIMEZONE", "Europe/London"),
        rasa_url=os.environ.get(
            "CAREPREP_RASA_URL", f"http://127.0.0.1:{os.environ.get('CAREPREP_RASA_PORT', '5005')}"
        ).rstrip("/"),
    )
