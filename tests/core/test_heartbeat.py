"""Source heartbeats: one alert when a source that usually delivers goes quiet in business hours, cleared after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, col

from lead_engine.core.alerts import list_active_alerts, send_alerts
from lead_engine.core.db import read_session
from lead_engine.core.heartbeat import business_seconds, check_heartbeats
from lead_engine.core.models import LeadEvent
from lead_engine.core.outbound import outbound_http
from lead_engine.core.settings import Settings
from tests.support.ready_leads import add_ready_lead
from tests.support.sink_server import SinkState

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 11, 2, 9, 0, tzinfo=BERLIN)  # a Monday, 09:00 in Berlin


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (MONDAY, MONDAY + timedelta(hours=3), 3.0),  # inside one working day
        (MONDAY + timedelta(hours=8), MONDAY + timedelta(hours=24), 2.0),  # 17:00 to 09:00 next day: 1 h + 1 h
        (MONDAY + timedelta(days=4, hours=8), MONDAY + timedelta(days=7), 2.0),  # Friday 17:00 to Monday 09:00
        (MONDAY + timedelta(days=5), MONDAY + timedelta(days=6, hours=8), 0.0),  # Saturday to Sunday: nobody works
    ],
)
def test_business_seconds_count_weekdays_eight_to_six(start: datetime, end: datetime, hours: float) -> None:
    assert business_seconds(start, end, BERLIN) == hours * 3600


def arrivals(engine: Engine, settings: Settings, source: str, times: list[datetime]) -> None:
    """Leads of one source that arrived at the given moments."""
    for at in times:
        lead_id = add_ready_lead(engine, settings, queue=False, source=source, email=f"{at.timestamp()}@kunde.de")
        with Session(engine) as session, session.begin():
            session.add(LeadEvent(lead_id=lead_id, at=at.astimezone(UTC), actor="api", action="received", detail={}))


def hourly(start: datetime, days: int) -> list[datetime]:
    """One lead per business hour on the weekdays of ``days`` days."""
    return [
        start + timedelta(days=day, hours=hour)
        for day in range(days)
        if (start + timedelta(days=day)).weekday() < 5
        for hour in range(9)
    ]


def test_a_regular_source_gone_quiet_raises_one_alert_and_one_slack_message(
    engine: Engine, settings: Settings, sink: tuple[SinkState, str]
) -> None:
    cfg = settings.model_copy(update={"slack_webhook_url": f"{sink[1]}/slack"})
    arrivals(engine, cfg, "tradingtwins", hourly(MONDAY, 14))  # two weeks, every business hour
    arrivals(engine, cfg, "rare-form", [MONDAY, MONDAY + timedelta(days=3)])  # no habit yet
    last = MONDAY + timedelta(days=11, hours=8)  # Friday of the second week, 17:00
    http = outbound_http(cfg, timeout=5.0)

    # The weekend and Monday's first hour are not "quiet": nobody sends leads then.
    assert check_heartbeats(engine, cfg, last + timedelta(days=2, hours=17)) == []
    # Monday 14:00: five business hours without a lead from a source that delivers every hour.
    quiet_at = last + timedelta(days=3, hours=5)
    assert check_heartbeats(engine, cfg, quiet_at) == ["tradingtwins"]
    assert check_heartbeats(engine, cfg, quiet_at + timedelta(minutes=1)) == []  # once, not per check
    assert send_alerts(engine, cfg, http) == 1 and send_alerts(engine, cfg, http) == 0
    [message] = sink[0].on("/slack")
    assert "No lead from source 'tradingtwins' for" in message.json["text"]
    with read_session(engine) as session:
        [alert] = list_active_alerts(session=session)
    assert alert.key == "quiet:tradingtwins"

    arrivals(engine, cfg, "tradingtwins", [quiet_at + timedelta(minutes=5)])
    check_heartbeats(engine, cfg, quiet_at + timedelta(minutes=10))
    with read_session(engine) as session:
        assert list_active_alerts(session=session) == []


def test_an_alert_slack_refused_is_sent_again_later(
    engine: Engine, settings: Settings, sink: tuple[SinkState, str]
) -> None:
    cfg = settings.model_copy(update={"slack_webhook_url": f"{sink[1]}/slack", "quiet_alert_floor_hours": 1.0})
    arrivals(engine, cfg, "web", hourly(MONDAY, 7))
    assert check_heartbeats(engine, cfg, MONDAY + timedelta(days=7, hours=5)) == ["web"]
    sink[0].fail_next(1, 503)
    assert send_alerts(engine, cfg, outbound_http(cfg, timeout=5.0)) == 0
    assert send_alerts(engine, cfg, outbound_http(cfg, timeout=5.0)) == 1
    assert len(sink[0].on("/slack")) == 1


def test_the_floor_keeps_a_busy_source_from_alarming_after_a_short_pause(engine: Engine, settings: Settings) -> None:
    minutes = [MONDAY + timedelta(minutes=5 * n) for n in range(50)]  # every five minutes until 13:05
    arrivals(engine, settings, "busy", minutes)
    assert check_heartbeats(engine, settings, minutes[-1] + timedelta(hours=3)) == []  # floor: 4 business hours
    assert check_heartbeats(engine, settings, minutes[-1] + timedelta(hours=4, minutes=1)) == ["busy"]


def test_old_history_is_forgotten(engine: Engine, settings: Settings) -> None:
    arrivals(engine, settings, "gone", hourly(MONDAY, 5))
    with Session(engine) as session, session.begin():
        session.execute(update(LeadEvent).where(col(LeadEvent.action) == "received").values(at=datetime(2020, 1, 1)))
    assert check_heartbeats(engine, settings, MONDAY + timedelta(days=8)) == []
