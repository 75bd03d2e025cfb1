"""Configuration from the environment (prefix ``LEAD_ENGINE_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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

    company_explorer_url: str | None = None
    company_explorer_token: SecretStr | None = None
    company_explorer_timeout: float = 10.0
    slack_webhook_url: str | None = None
    n8n_callback_url: str | None = None
    notify_timeout: float = 10.0
    notify_retry_hours: float = 24.0

    ui_password: SecretStr | None = None
    # Named operators: "name:pbkdf2_sha256$iterations$salt$hash" entries, comma-separated.
    ui_users: SecretStr | None = None
    ui_refresh_seconds: float = 15.0
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
    qualify_threshold: int = 50
    # A source that usually delivers and is quiet this long (at least) in business hours raises one alert.
    quiet_alert_floor_hours: float = 4.0
    business_timezone: str = "Europe/Berlin"

    sync_max_attempts: int = 8
    sync_backoff_base: float = 2.0
    sync_backoff_max: float = 600.0
    job_lease_seconds: float = 300.0
    worker_concurrency: int = 8
    worker_poll_seconds: float = 0.5

    @field_validator("own_domains", mode="before")
    @classmethod
    def _split_domains(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower().lstrip("@") for part in value.split(",") if part.strip()]
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
