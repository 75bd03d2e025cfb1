"""Test-connection checks for the outside services; each answers ok or failed with a readable message."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from dataclasses import dataclass

import httpx
import openai

from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

TIMEOUT = 5.0


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one connection check."""

    ok: bool
    message: str


def _failed(service: str, message: str) -> CheckResult:
    logger.info("connection check failed", extra={"action": "check.failed", "service": service})
    return CheckResult(False, message)


def _http_failure(exc: Exception) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time (timeout)"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


def check_company_explorer(settings: Settings, *, timeout: float = TIMEOUT) -> CheckResult:
    """Search the Company Explorer once with the configured token."""
    if not settings.company_explorer_url:
        return CheckResult(False, "not configured: set LEAD_ENGINE_COMPANY_EXPLORER_URL")
    headers = {}
    if settings.company_explorer_token is not None:
        headers["Authorization"] = f"Bearer {settings.company_explorer_token.get_secret_value()}"
    url = settings.company_explorer_url.rstrip("/") + "/api/companies"
    try:
        response = httpx.get(url, params={"name": "lead-engine-connection-test"}, headers=headers, timeout=timeout)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return _failed("company_explorer", _http_failure(exc))
    if response.status_code in (401, 403):
        return _failed("company_explorer", f"the token was refused (HTTP {response.status_code})")
    if response.is_error:
        return _failed("company_explorer", f"HTTP {response.status_code} from {url}")
    return CheckResult(True, f"reachable, search answered HTTP {response.status_code}")


def check_slack(settings: Settings, *, timeout: float = TIMEOUT) -> CheckResult:
    """Post a short test message to the Slack incoming webhook."""
    if not settings.slack_webhook_url:
        return CheckResult(False, "not configured: set LEAD_ENGINE_SLACK_WEBHOOK_URL")
    try:
        response = httpx.post(
            settings.slack_webhook_url, json={"text": "Lead Engine: connection test"}, timeout=timeout
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return _failed("slack", _http_failure(exc))
    if response.is_error:
        return _failed("slack", f"HTTP {response.status_code}: {response.text[:120]}")
    return CheckResult(True, "test message posted")


def check_imap(settings: Settings, *, timeout: float = TIMEOUT) -> CheckResult:
    """Log in to the IMAP server and open the configured folder read-only."""
    if not settings.imap_enabled or not settings.imap_host or not settings.imap_user:
        return CheckResult(False, "not configured: set LEAD_ENGINE_IMAP_HOST and LEAD_ENGINE_IMAP_USER")
    password = settings.imap_password.get_secret_value() if settings.imap_password else ""
    try:
        if settings.imap_ssl:
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                settings.imap_host, settings.imap_port, ssl_context=ssl.create_default_context(), timeout=timeout
            )
        else:
            client = imaplib.IMAP4(settings.imap_host, settings.imap_port, timeout=timeout)
        try:
            client.login(settings.imap_user, password)
            status, data = client.select(settings.imap_folder, readonly=True)
            if status != "OK":
                return _failed("imap", f"folder {settings.imap_folder!r} cannot be opened")
            count = data[0].decode() if data and data[0] else "?"
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()
    except imaplib.IMAP4.error as exc:
        message = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return _failed("imap", f"login refused: {message}")
    except TimeoutError:
        return _failed("imap", "no answer in time (timeout)")
    except (OSError, ssl.SSLError) as exc:
        return _failed("imap", f"cannot connect: {exc}")
    return CheckResult(True, f"logged in; {settings.imap_folder} holds {count} message(s)")


def check_llm(settings: Settings, *, timeout: float = TIMEOUT) -> CheckResult:
    """Ask the configured OpenAI-compatible model for a one-word answer."""
    if not settings.llm_enabled:
        return CheckResult(False, "not configured: set OPENAI_API_KEY or OPENAI_BASE_URL")
    api_key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "not-needed"
    client = openai.OpenAI(api_key=api_key, base_url=settings.openai_base_url, timeout=timeout, max_retries=0)
    try:
        with client:
            reply = client.chat.completions.create(
                model=settings.llm_model, messages=[{"role": "user", "content": "Answer with the single word OK."}]
            )
    except openai.AuthenticationError:
        return _failed("llm", "the API key was refused")
    except openai.APITimeoutError:
        return _failed("llm", "no answer in time (timeout)")
    except openai.APIConnectionError as exc:
        return _failed("llm", f"cannot connect: {exc}")
    except openai.APIStatusError as exc:
        return _failed("llm", f"HTTP {exc.status_code}: {exc.message[:120]}")
    except openai.OpenAIError as exc:
        return _failed("llm", f"{type(exc).__name__}: {exc}")
    return CheckResult(True, f"model {reply.model or settings.llm_model} answered")


CHECKS = {
    "Company Explorer": check_company_explorer,
    "Slack": check_slack,
    "IMAP": check_imap,
    "LLM": check_llm,
}
