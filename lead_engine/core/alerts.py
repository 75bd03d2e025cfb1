"""Operator alerts: raised once (one Slack message, one banner), cleared when the cause is gone."""

from __future__ import annotations

import logging

import httpx
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from lead_engine.core.errors import LeadEngineError
from lead_engine.core.models import OperatorAlert, utcnow
from lead_engine.core.notifications import post_to_slack
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)


def raise_alert(engine: Engine, key: str, message: str) -> bool:
    """Raise an alert unless it is already up; True when it was raised now."""
    with Session(engine) as session, session.begin():
        alert = session.get(OperatorAlert, key)
        if alert is not None and alert.cleared_at is None:
            return False
        now = utcnow()
        alert = alert or OperatorAlert(key=key, message=message)
        alert.message, alert.raised_at, alert.notified_at, alert.cleared_at = message, now, None, None
        session.add(alert)
        try:
            session.flush()
        except IntegrityError:  # another process raised it at the same moment
            return False
    logger.warning("alert: %s", message, extra={"action": "alert.raised", "key": key})
    return True


def clear_alert(engine: Engine, key: str) -> bool:
    """Clear an alert that is up; True when it was."""
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(OperatorAlert)
            .where(col(OperatorAlert.key) == key, col(OperatorAlert.cleared_at).is_(None))
            .values(cleared_at=utcnow())
        )
    cleared = bool(result.rowcount)  # type: ignore[attr-defined]
    if cleared:
        logger.info("alert over", extra={"action": "alert.cleared", "key": key})
    return cleared


def list_active_alerts(*, session: Session, prefix: str = "") -> list[OperatorAlert]:
    """The alerts that are up, oldest first."""
    query = select(OperatorAlert).where(col(OperatorAlert.cleared_at).is_(None)).order_by(col(OperatorAlert.raised_at))
    if prefix:
        query = query.where(col(OperatorAlert.key).startswith(prefix))
    return list(session.scalars(query))


def send_alerts(engine: Engine, settings: Settings, http: httpx.Client) -> int:
    """Post each alert that is up and not yet told to Slack, once; returns how many went out."""
    if not settings.slack_webhook_url:
        return 0
    with Session(engine) as session:
        pending = [alert.key for alert in list_active_alerts(session=session) if alert.notified_at is None]
    sent = 0
    for key in pending:
        with Session(engine) as session, session.begin():
            # Claimed before sending, so two processes never post the same alert.
            claimed = session.execute(
                update(OperatorAlert)
                .where(col(OperatorAlert.key) == key, col(OperatorAlert.notified_at).is_(None))
                .values(notified_at=utcnow())
                .returning(col(OperatorAlert.message))
            ).first()
        if claimed is None:
            continue
        try:
            post_to_slack(settings.slack_webhook_url, f":warning: {claimed[0]}", http=http)
            sent += 1
        except LeadEngineError as exc:
            logger.warning("alert not sent: %s", exc, extra={"action": "alert.send_failed", "key": key})
            with Session(engine) as session, session.begin():
                session.execute(update(OperatorAlert).where(col(OperatorAlert.key) == key).values(notified_at=None))
    return sent
