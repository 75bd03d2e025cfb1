"""Configuration from the environment (prefix ``LEAD_ENGINE_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds from '90', '90s', '5m', '2h' or '1d'."""
    value = text.strip().lower()
    unit = _UNITS.get(value[-1:])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError(f"{text.strip()!r} is not a duration like 90s, 5m, 2h or 1d") from None
    if seconds < 0:
        raise ValueError(f"{text.strip()!r} is negative")
    return seconds


class Settings(BaseSettings):
    """Every setting the engine reads; tests build it directly."""

    model_config = SettingsConfigDict(
        env_prefix="LEAD_ENGINE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `LEAD_ENGINE_API_TOKEN=` (say, an unset variable in a compose file) means "not set", never "empty".
        env_ignore_empty=True,
    )

    database_url: str = "sqlite:///./data/leads.db"
    api_token: SecretStr | None = None
    webhook_secret: SecretStr | None = None
    max_body_bytes: int = 1024 * 1024
    # A request's headers must arrive within this many seconds of the connection (or of the previous
    # request), its body within this many after the headers; else 408 and the connection is closed.
    request_header_timeout: float = Field(default=10.0, gt=0)
    request_body_timeout: float = Field(default=30.0, gt=0)

    company_explorer_url: str | None = None
    company_explorer_token: SecretStr | None = None
    company_explorer_timeout: float = 10.0
    # Where a person opens a company in the Company Explorer, "{id}" standing for its id; unset shows the id.
    company_explorer_record_url: str | None = None
    slack_webhook_url: str | None = None
    n8n_callback_url: str | None = None
    notify_timeout: float = 10.0
    notify_retry_hours: float = 24.0

    ui_password: SecretStr | None = None
    # Named operators: "name:pbkdf2_sha256$iterations$salt$hash" entries, comma-separated.
    ui_users: SecretStr | None = None
    ui_refresh_seconds: float = 15.0
    # How long a browser stays signed in (reloads and links in new tabs included).
    ui_session_hours: float = Field(default=12.0, gt=0)
    embedded_api: bool = True
    host: str = "127.0.0.1"
    api_port: int = 8000
    ui_port: int = 8501
    log_level: str = "INFO"
    access_log: bool = False

    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "LEAD_ENGINE_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "LEAD_ENGINE_OPENAI_BASE_URL")
    )
    llm_model: str = "gpt-4o-mini"
    llm_timeout: float = 30.0

    imap_host: str | None = None
    imap_port: int = 993
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_folder: str = "INBOX"
    imap_ssl: bool = True
    imap_poll_seconds: float = 30.0
    imap_processed_folder: str | None = None
    # "poll" reads unseen mail and marks it read; "reconcile" runs beside n8n and only fills in missing leads.
    imap_mode: Literal["poll", "reconcile"] = "poll"
    imap_reconcile_days: int = 7
    imap_reconcile_after_seconds: float = 300.0

    own_domains: Annotated[list[str], NoDecode] = []
    default_country: str = "DE"
    # Weights, ideal customer profile, thresholds and junk rules; the shipped defaults without a file.
    rules_file: str | None = None
    # A qualified lead is approved without a person when every key field was read at least this surely …
    auto_approve_confidence: float = Field(default=0.7, ge=0, le=1)
    # … and fewer than this many were approved automatically today (business time zone); 0: a person approves all.
    auto_approve_daily_limit: int = Field(default=100, ge=0)
    # A lead waiting this long for review is overdue: it goes to the top of the review queue, flagged.
    approval_expiry_hours: float = Field(default=24.0, gt=0)
    # A source that usually delivers and is quiet this long (at least) in business hours raises one alert.
    quiet_alert_floor_hours: float = 4.0
    business_timezone: str = "Europe/Berlin"

    # Waits between sync attempts; after the last one fails the lead is dead (about 21 hours by default).
    sync_retry_schedule: Annotated[list[float], NoDecode] = [10, 60, 300, 1800, 7200, 21600, 43200]
    # Within one attempt, a call that fails for a passing reason is tried again this often, waiting
    # `sync_call_backoff` seconds (then four times that), or what Retry-After asks up to its bound.
    sync_call_retries: int = 3
    sync_call_backoff: float = 0.5
    sync_call_retry_after_max: float = 10.0
    # An outside service failing this many attempts in a row counts as down: only probes go out until it answers.
    breaker_failures: int = 5
    breaker_down_seconds: float = 10.0
    breaker_probe_seconds: float = 5.0
    breaker_max_probe_seconds: float = 60.0
    # Waits between notification attempts; the last one repeats until `notify_retry_hours` have passed.
    notify_retry_schedule: Annotated[list[float], NoDecode] = [10, 60, 300, 900, 1800]
    # Spreadsheets larger than this (in MB) are refused; an import holds its worker's lease this long per batch.
    import_max_mb: float = Field(default=50.0, gt=0)
    job_lease_seconds: float = 300.0
    worker_batch_size: int = 20
    worker_concurrency: int = 8
    worker_poll_seconds: float = 0.5

    @field_validator("own_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower().lstrip("@") for part in value.split(",") if part.strip()]
        return value

    @field_validator("sync_retry_schedule", "notify_retry_schedule", mode="before")
    @classmethod
    def _split_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            value = [parse_duration(part) for part in value.split(",") if part.strip()]
        if isinstance(value, list) and not value:
            raise ValueError("give at least one wait, e.g. 10s,1m,5m")
        return value

    @property
    def sync_enabled(self) -> bool:
        """Sync runs only when the Company Explorer is configured."""
        return bool(self.company_explorer_url)

    @property
    def llm_enabled(self) -> bool:
        """The LLM extractor runs only when an OpenAI-compatible endpoint is configured."""
        return self.openai_api_key is not None or bool(self.openai_base_url)

    @property
    def imap_enabled(self) -> bool:
        """The built-in poller runs only when an IMAP host and user are configured."""
        return bool(self.imap_host and self.imap_user)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
