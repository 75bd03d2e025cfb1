"""Promise: a hostile MIME message cannot stall the API. Thousands of nested or sibling parts are read for their
headers only — the raw message is stored whole, the lead waits for a person with the reason — and requests
around it are served meanwhile."""

from __future__ import annotations

import threading
import time

import httpx
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.leads import get_raw_message
from lead_engine.core.settings import Settings

MIME = {"Content-Type": "message/rfc822"}


def nested(levels: int) -> bytes:
    head = b"From: Eva Kunde <eva@kunde.de>\r\nSubject: Anfrage tief\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (n, n) for n in range(levels)
    )
    closing = b"".join(b"--b%d--\r\n" % n for n in reversed(range(levels)))
    return head + opening + b"Content-Type: text/plain\r\n\r\nFirma: Kunde GmbH\r\n" + closing


def sibling(parts: int) -> bytes:
    head = b'From: eva@kunde.de\r\nSubject: Anfrage breit\r\nContent-Type: multipart/mixed; boundary="w"\r\n\r\n'
    body = b"".join(b"--w\r\nContent-Type: text/plain\r\n\r\nTeil %d\r\n" % n for n in range(parts))
    return head + body + b"--w--\r\n"


def test_deep_and_wide_messages_are_stored_whole_and_sent_to_review(
    client: httpx.Client, engine: Engine, settings: Settings
) -> None:
    served: list[int] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            served.append(client.get("/api/health").status_code)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        started = time.monotonic()
        replies = [client.post("/api/ingest", content=raw, headers=MIME) for raw in (nested(5000), sibling(10_000))]
        took = time.monotonic() - started
    finally:
        stop.set()
        asker.join()
    assert [reply.status_code for reply in replies] == [202, 202], [reply.text for reply in replies]
    assert served and set(served) == {200}
    print(
        f"5,000 nested and 10,000 sibling parts stored in {took * 1000:.0f} ms; {len(served)} health answers meanwhile"
    )

    run_due_jobs(engine, settings)
    for reply, raw in zip(replies, (nested(5000), sibling(10_000)), strict=True):
        lead_id = reply.json()["lead_id"]
        lead = client.get(f"/api/leads/{lead_id}").json()
        assert lead["status"] == "needs_review"
        assert any(reason.startswith("message too complex: more than 100 MIME parts") for reason in lead["reasons"])
        assert lead["subject"].startswith("Anfrage")
        with Session(engine) as session:
            stored = get_raw_message(session=session, lead_id=lead_id).body
        assert bytes(stored) == raw  # the original, whole
