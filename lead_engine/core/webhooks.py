"""Standard Webhooks: checking the signature of inbound requests and signing outbound callbacks."""

from __future__ import annotations

import binascii
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook, WebhookVerificationError

from lead_engine.core.errors import UnauthorizedError
from lead_engine.core.models import new_id
from lead_engine.core.settings import Settings

SIGNATURE_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def has_valid_token(settings: Settings, authorization: str | None) -> bool:
    """Whether the Authorization header carries the configured bearer token (constant-time compare)."""
    expected = settings.api_token.get_secret_value().encode() if settings.api_token else b""
    if not expected or not authorization:
        return False
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected)


def webhook_secrets(value: str) -> list[str]:
    """The secrets of a setting that may hold several (``whsec_new whsec_old`` while rotating), newest first."""
    return [part for part in value.replace(",", " ").split() if part]


def verify_signature(settings: Settings, headers: Mapping[str, str], body: bytes) -> None:
    """Accept the request only when it is signed with one of the configured secrets within the tolerance."""
    secrets = webhook_secrets(settings.webhook_secret.get_secret_value()) if settings.webhook_secret else []
    if not secrets:
        raise UnauthorizedError("webhook signatures are not enabled: send Authorization: Bearer <token>")
    signed = {name: headers.get(name, "") for name in SIGNATURE_HEADERS}
    problem: Exception | None = None
    for secret in secrets:
        try:
            Webhook(secret).verify(body, signed, json_parse=False)
            return
        except (WebhookVerificationError, ValueError, binascii.Error) as exc:
            problem = exc
    raise UnauthorizedError(f"invalid webhook signature: {problem}") from problem


def authorize(settings: Settings, headers: Mapping[str, str], body: bytes | None = None) -> None:
    """Bearer token, or (when a secret is set and a body is given) a Standard Webhooks signature."""
    if has_valid_token(settings, headers.get("authorization")):
        return
    if body is not None and headers.get("webhook-signature"):
        verify_signature(settings, headers, body)
        return
    raise UnauthorizedError("missing or invalid bearer token")


def signed_headers(secret: str, body: str, *, msg_id: str | None = None) -> dict[str, str]:
    """Standard Webhooks headers for an outbound body, signed with each configured secret (a receiver holding
    either the new or the old one accepts it while they rotate); ``msg_id`` stays the same on every retry."""
    msg_id, now = msg_id or f"msg_{new_id()}", datetime.now(UTC)
    signature = " ".join(Webhook(each).sign(msg_id, now, body) for each in webhook_secrets(secret))
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
