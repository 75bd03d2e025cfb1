"""The one error hierarchy of the engine; only the API maps it to HTTP status codes."""

from __future__ import annotations


class LeadEngineError(Exception):
    """Base of every error the engine raises on purpose."""


class BadRequestError(LeadEngineError):
    """The request is malformed in a way its sender must fix (a header longer than allowed)."""


class UnprocessableError(LeadEngineError):
    """The request cannot be used: unreadable, carries nothing to parse, or contradicts an earlier one."""


class FieldErrors(UnprocessableError):
    """Values that cannot be used, each with its reason: ``errors`` maps a field to what is wrong with it."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {reason}" for name, reason in errors.items()))
        self.errors = errors


class UnsupportedMediaTypeError(LeadEngineError):
    """The request body is neither JSON nor an RFC 822 message."""


class PayloadTooLargeError(LeadEngineError):
    """The request body is larger than the configured limit."""


class UnauthorizedError(LeadEngineError):
    """Neither a valid bearer token nor a valid webhook signature."""


class IngestUnavailableError(LeadEngineError):
    """The request could not be stored now (database or ingest writer down); nothing was kept, retry later."""


class NotFoundError(LeadEngineError):
    """The lead (or other record) does not exist."""


class ConflictError(LeadEngineError):
    """The record changed since the caller read it (stale version) or the action is not allowed now."""


class RetryableError(LeadEngineError):
    """A job failed for a passing reason (outage, timeout, 429/5xx); run it again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(LeadEngineError):
    """A job failed for a reason that another attempt cannot fix (a final 4xx)."""
