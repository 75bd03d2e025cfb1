"""Promise: whatever a client sends to /api/ingest is a 2xx (stored) or a 4xx with a reason, never a 5xx; and
every stored request goes through the worker to a lead a person can see, never a crash. Hypothesis writes the
requests: arbitrary JSON objects with the contract's fields and hostile values, and arbitrary mail bytes."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlmodel import Session, col

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.models import Lead
from lead_engine.core.settings import Settings

FIELDS = ("source", "subject", "raw_body", "body", "text", "html_body", "sender", "from", "message_id", "received_at")
HOSTILE = st.sampled_from(
    ["", "\x00", "\ud800", "<script>alert(1)</script>", "=?utf-8?b?////?=", "9" * 400, "\u202e\u200d", "𝔘𝔫𝔦"]
)
TEXT = st.one_of(st.text(max_size=300), HOSTILE)
VALUE = st.one_of(
    TEXT, st.integers(), st.booleans(), st.none(), st.lists(TEXT, max_size=3), st.dictionaries(TEXT, TEXT, max_size=2)
)
PAYLOAD = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=20)), VALUE, max_size=8)
MAIL = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        lambda head, body: (
            b"From: a@b.de\r\nSubject: " + head + b"\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" + body
        ),
        st.binary(max_size=100),
        st.binary(max_size=1500),
    ),
)
QUIET = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)


def _answered(response: httpx.Response, stored: list[str]) -> None:
    assert response.status_code < 500, response.text
    if response.status_code in (200, 202):
        stored.append(response.json()["lead_id"])
    else:
        assert 400 <= response.status_code < 500 and response.json()["detail"], response.text


def test_any_json_or_mail_is_stored_or_refused_with_a_reason(
    client: httpx.Client, engine: Engine, settings: Settings
) -> None:
    stored: list[str] = []

    @given(payload=PAYLOAD)
    @QUIET
    def json_requests(payload: dict[str, Any]) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")
        _answered(client.post("/api/ingest", content=body, headers={"Content-Type": "application/json"}), stored)

    @given(raw=MAIL)
    @QUIET
    def mail_requests(raw: bytes) -> None:
        _answered(client.post("/api/ingest", content=raw, headers={"Content-Type": "message/rfc822"}), stored)

    json_requests()
    mail_requests()
    assert stored, "nothing was stored: the generated requests proved only the refusals"
    run_due_jobs(engine, settings)
    with Session(engine) as session:
        left = session.scalar(select(func.count()).where(col(Lead.id).in_(stored), col(Lead.status) == "received"))
    assert left == 0, "a stored request did not become a lead a person can see"
