"""Telling the team: Slack messages and the signed n8n callback when a lead is synced or goes dead, as jobs."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.company_explorer import USER_AGENT, send_request
from lead_engine.core.errors import PermanentError, RetryableError
from lead_engine.core.leads import record_event
from lead_engine.core.models import Lead, new_id, utcnow
from lead_engine.core.outbound import outbound_http
from lead_engine.core.outbox import ClaimedJob, enqueue_job
from lead_engine.core.retry import CircuitBreaker, RetryPolicy, schedule_until
from lead_engine.core.settings import Settings
from lead_engine.core.webhooks import signed_headers

logger = logging.getLogger(__name__)

EVENTS = ("synced", "dead")
CHANNELS = ("slack", "n8n")
SERVICE_NAMES = {"slack": "Slack", "n8n": "n8n"}
# n8n answers 404 while it restarts and registers its webhooks, or while a workflow is being re-activated:
# for this long after the event a 404/410 is worth another try, later it means the webhook is gone.
WEBHOOK_MISSING_GRACE_SECONDS = 1800.0
MISSING_STATUSES = frozenset({404, 410})


def notify_kind(channel: str, event: str) -> str:
    """The job kind for one channel and event; a kind per event so "dead" is not dropped while "synced" waits."""
    return f"notify_{channel}_{event}"


@dataclass(frozen=True)
class LeadNotice:
    """What happened to a lead, frozen when it happened; the job payload of every notification."""

    id: str
    event: str
    lead_id: str
    status: str
    occurred_at: str
    company: str | None = None
    contact_name: str | None = None
    email: str | None = None
    company_explorer_id: str | None = None
    error: str | None = None

    @classmethod
    def from_lead(cls, lead: Lead, event: str, error: str | None = None) -> LeadNotice:
        """The notice for a lead that just reached ``event``."""
        return cls(
            id=f"evt_{new_id()}",
            event=event,
            lead_id=lead.id,
            status=lead.status,
            occurred_at=utcnow().isoformat(),
            company=lead.company,
            contact_name=lead.contact_name,
            email=lead.email,
            company_explorer_id=lead.company_explorer_id,
            error=error[:1000] if error else None,
        )

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> LeadNotice:
        """The notice stored in a job's payload."""
        return cls(**{name: payload.get(name) for name in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def age_seconds(self) -> float:
        """Seconds since the event happened."""
        return (utcnow() - datetime.fromisoformat(self.occurred_at)).total_seconds()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(notice: LeadNotice) -> str:
    """The Slack message a person reads: company, contact, lead id, and the Company Explorer id or the error."""
    who = _slack_escape(notice.company or "(no company)")
    contact = ", ".join(_slack_escape(part) for part in (notice.contact_name, notice.email) if part)
    subject = f"*{who}*" + (f" — {contact}" if contact else "")
    if notice.event == "synced":
        ids = f"lead `{notice.lead_id}`, Company Explorer id `{notice.company_explorer_id}`"
        return f":white_check_mark: Lead synced to the Company Explorer: {subject} ({ids})"
    error = _slack_escape((notice.error or "unknown error")[:500])
    return (
        f":rotating_light: Lead could not be synced: {subject} (lead `{notice.lead_id}`)\n"
        f"Last error: {error}\nFix the cause, then resync the lead."
    )


def n8n_body(notice: LeadNotice) -> dict[str, Any]:
    """The n8n callback body (CONTRACT.md): event, lead_id, company_explorer_id, status and the details."""
    details = {key: value for key, value in asdict(notice).items() if key not in ("event", "id")}
    return {"event": f"lead.{notice.event}", "id": notice.id, **details}


class Notifier(Protocol):
    """Delivers one notice somewhere; raises RetryableError or PermanentError when it cannot."""

    def send(self, notice: LeadNotice) -> None:
        """Deliver the notice."""
        ...


def post_to_slack(url: str, text: str, *, http: httpx.Client) -> None:
    """Post one message to a Slack incoming webhook; its URL is a secret, so errors name only its host."""
    send_request(http, "POST", url, reveal_path=False, json={"text": text}, headers={"User-Agent": USER_AGENT})


class SlackNotifier:
    """A Slack incoming webhook for lead notices."""

    def __init__(self, url: str, *, http: httpx.Client) -> None:
        self._url, self._http = url, http

    def send(self, notice: LeadNotice) -> None:
        """Post the human-readable message."""
        post_to_slack(self._url, slack_text(notice), http=self._http)


class N8nNotifier:
    """The n8n callback webhook, signed with Standard Webhooks when a secret is configured; errors name its host."""

    def __init__(self, url: str, *, http: httpx.Client, secret: str | None = None) -> None:
        self._url, self._http, self._secret = url, http, secret

    def send(self, notice: LeadNotice) -> None:
        """Post the event as UTF-8 JSON; its id (and webhook-id) stays the same on every retry so n8n can drop repeats.

        A 404/410 soon after the event is retried: n8n answers so while it restarts.
        """
        body = json.dumps(n8n_body(notice), separators=(",", ":"), ensure_ascii=False)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Idempotency-Key": notice.id}
        if self._secret:
            headers.update(signed_headers(self._secret, body, msg_id=notice.id))
        missing = MISSING_STATUSES if notice.age_seconds() < WEBHOOK_MISSING_GRACE_SECONDS else frozenset()
        send_request(
            self._http,
            "POST",
            self._url,
            reveal_path=False,
            retry_statuses=missing,
            content=body.encode("utf-8"),
            headers=headers,
        )


def notifier_for(channel: str, settings: Settings) -> Notifier | None:
    """The configured notifier of a channel, or None when that channel is not configured."""
    if channel == "slack" and settings.slack_webhook_url:
        return SlackNotifier(settings.slack_webhook_url, http=outbound_http(settings, timeout=settings.notify_timeout))
    if channel == "n8n" and settings.n8n_callback_url:
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        return N8nNotifier(
            settings.n8n_callback_url, http=outbound_http(settings, timeout=settings.notify_timeout), secret=secret
        )
    return None


def enqueue_notifications(
    *, session: Session, settings: Settings, lead: Lead, event: str, error: str | None = None
) -> list[str]:
    """Queue a notification per configured channel in the caller's transaction; returns the kinds queued."""
    notice = LeadNotice.from_lead(lead, event, error)
    kinds = []
    for channel in CHANNELS:
        if notifier_for(channel, settings) is None:
            continue
        kind = notify_kind(channel, event)
        enqueue_job(
            session=session,
            lead_id=lead.id,
            kind=kind,
            idempotency_key=f"{kind}-{notice.id}",
            max_attempts=notify_policy(settings).max_attempts,
            payload=asdict(notice),
        )
        kinds.append(kind)
    return kinds


def notify_policy(settings: Settings) -> RetryPolicy:
    """Notifications are retried on `notify_retry_schedule`, its last wait repeated, for `notify_retry_hours`."""
    steps = tuple(settings.notify_retry_schedule)
    return RetryPolicy(schedule=schedule_until(settings.notify_retry_hours * 3600, steps))


class NotifyHandler:
    """Runs the notification jobs of one channel; a failure here never changes the lead's status."""

    io_bound = True

    def __init__(self, channel: str, settings: Settings, breaker: CircuitBreaker | None = None) -> None:
        self.channel, self.settings, self.breaker = channel, settings, breaker
        self.policy = notify_policy(settings)

    def prepare(self, engine: Engine, jobs: list[ClaimedJob]) -> dict[int, LeadNotice]:
        """The notice each job carries."""
        return {job.id: LeadNotice.from_payload(job.payload) for job in jobs}

    def work(self, job: ClaimedJob, notice: LeadNotice) -> str:
        """Send the notice; "notified", or "notification_skipped" when the channel is no longer configured."""
        notifier = notifier_for(self.channel, self.settings)
        if notifier is None:
            return "notification_skipped"
        try:
            notifier.send(notice)
        except RetryableError as exc:
            hours = self.settings.notify_retry_hours
            if notice.age_seconds() >= hours * 3600:
                raise PermanentError(f"not delivered within {hours:g} h of the event: {exc}") from exc
            raise
        logger.info(
            "notification sent",
            extra={"action": f"notify.{self.channel}", "lead_id": job.lead_id, "event": notice.event},
        )
        return "notified"

    def record(self, session: Session, job: ClaimedJob, action: str) -> None:
        """Record that it went out (or was skipped)."""
        event = str(job.payload.get("event"))
        record_event(session=session, lead_id=job.lead_id, action=action, channel=self.channel, event=event)

    def on_retry(self, session: Session, job: ClaimedJob, error: str, delay: float) -> None:
        """Nothing to record: the job's own last_error shows the failure until it is delivered."""

    def on_dead(self, session: Session, job: ClaimedJob, error: str) -> None:
        """Keep the undelivered notification in the lead's audit trail."""
        event = str(job.payload.get("event"))
        record_event(
            session=session,
            lead_id=job.lead_id,
            action="notification_failed",
            channel=self.channel,
            event=event,
            error=error[:500],
        )


def notify_handlers(settings: Settings) -> dict[str, NotifyHandler]:
    """A handler per channel and event; both events of a channel share that service's breaker."""
    handlers = {}
    for channel in CHANNELS:
        breaker = CircuitBreaker.for_service(SERVICE_NAMES[channel], settings)
        for event in EVENTS:
            handlers[notify_kind(channel, event)] = NotifyHandler(channel, settings, breaker)
    return handlers
