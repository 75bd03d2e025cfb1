"""POST /api/ingest: durable, idempotent, authenticated."""

from __future__ import annotations

import base64
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session
from standardwebhooks import Webhook

from lead_engine.core.leads import get_raw_message
from lead_engine.core.settings import Settings
from lead_engine.core.webhooks import signed_headers

TRADINGTWINS = {
    "source": "tradingtwins",
    "subject": "Neue Anfrage über tradingtwins: Verpackungsmaschine",
    "raw_body": "Firma: Muster GmbH\nAnsprechpartner: Herr Max Muster\nE-Mail: max@muster.de\n",
    "sender": "noreply@tradingtwins.com",
}


def test_ingest_returns_202_and_the_lead_is_readable(client: httpx.Client) -> None:
    response = client.post("/api/ingest", json=TRADINGTWINS)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["duplicate"] is False and body["status"] == "received"
    lead = client.get(f"/api/leads/{body['lead_id']}").json()
    assert lead["source"] == "tradingtwins"
    assert lead["subject"] == TRADINGTWINS["subject"]
    assert [event["action"] for event in lead["events"]] == ["received"]


def test_ingest_repeat_with_same_key_returns_first_lead(client: httpx.Client) -> None:
    first = client.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": "k1"})
    again = client.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 200
    assert again.json() == {**first.json(), "duplicate": True}


def test_ingest_same_email_with_new_key_maps_to_first_lead(client: httpx.Client) -> None:
    first = client.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": "a"}).json()
    retried = client.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": "b"}).json()
    no_key = client.post("/api/ingest", json={**TRADINGTWINS, "raw_body": TRADINGTWINS["raw_body"] + "  \n"}).json()
    assert retried["lead_id"] == no_key["lead_id"] == first["lead_id"]
    # The second key now belongs to the lead as well.
    other = client.post("/api/ingest", json={"subject": "other", "raw_body": "x"}, headers={"Idempotency-Key": "b"})
    assert other.status_code == 422
    assert client.get("/api/leads").json()["total"] == 1


def test_ingest_same_key_with_other_body_is_422(client: httpx.Client) -> None:
    client.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": "k"})
    response = client.post("/api/ingest", json={**TRADINGTWINS, "subject": "changed"}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]


def test_the_same_json_written_differently_under_one_key_is_a_repeat(client: httpx.Client) -> None:
    first = client.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": "k"}).json()
    # Other key order and spacing, as another JSON library (or an n8n expression) would write it.
    rewritten = json.dumps(dict(reversed(list(TRADINGTWINS.items()))), indent=2, ensure_ascii=True)
    again = client.post(
        "/api/ingest",
        content=rewritten.encode(),
        headers={"Idempotency-Key": "k", "Content-Type": "application/json"},
    )
    assert again.status_code == 200, again.text
    assert again.json() == {**first, "duplicate": True}


@pytest.mark.parametrize(
    ("header", "length", "expected"),
    [
        ("Idempotency-Key", 255, 202),  # the longest key Stripe takes
        ("Idempotency-Key", 256, 400),  # one more is refused, never cut
        ("webhook-id", 256, 400),
    ],
)
def test_a_key_over_255_characters_is_refused_with_the_reason(
    client: httpx.Client, header: str, length: int, expected: int
) -> None:
    response = client.post("/api/ingest", json=TRADINGTWINS, headers={header: "k" * length})
    assert response.status_code == expected, response.text
    if expected == 400:
        assert response.json()["detail"] == f"{header} is {length} characters long; at most 255 are allowed"


def test_long_keys_with_a_common_prefix_are_two_keys(client: httpx.Client) -> None:
    prefix = "n8n-execution-" + "x" * 230
    first = client.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": prefix + "-1"})
    other = {**TRADINGTWINS, "subject": "another enquiry"}
    second = client.post("/api/ingest", json=other, headers={"Idempotency-Key": prefix + "-2"})
    assert (first.status_code, second.status_code) == (202, 202), second.text
    assert first.json()["lead_id"] != second.json()["lead_id"]


def test_a_long_message_id_still_finds_its_repeat(client: httpx.Client) -> None:
    message_id = "<" + "a" * 400 + "@mail.example>"
    mail = {**TRADINGTWINS, "message_id": message_id}
    first = client.post("/api/ingest", json=mail).json()
    again = client.post("/api/ingest", json={**mail, "raw_body": "edited on the way, same Message-ID"}).json()
    assert again == {**first, "duplicate": True}


def test_ingest_50_concurrent_identical_posts_give_one_lead(client: httpx.Client, api_url: str) -> None:
    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=api_url, headers=client.headers, timeout=60) as own:
            return own.post("/api/ingest", json=TRADINGTWINS, headers={"Idempotency-Key": "same"})

    with ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(post, range(50)))
    assert sorted({response.status_code for response in responses}) in ([200, 202], [202])
    assert [response.status_code for response in responses].count(202) == 1
    assert len({response.json()["lead_id"] for response in responses}) == 1
    assert client.get("/api/leads").json()["total"] == 1


def test_ingest_message_id_identifies_a_repeat(client: httpx.Client) -> None:
    first = client.post("/api/ingest", json={**TRADINGTWINS, "message_id": "<abc@example.com>"}).json()
    changed = {**TRADINGTWINS, "subject": "WG: " + TRADINGTWINS["subject"], "message_id": "<abc@example.com>"}
    assert client.post("/api/ingest", json=changed).json()["lead_id"] == first["lead_id"]


def test_ingest_accepts_raw_rfc822(client: httpx.Client) -> None:
    message = (
        b"From: Anna <anna@kunde.de>\r\nSubject: =?utf-8?q?Anfrage_M=C3=BCller?=\r\nMessage-ID: <m1@kunde.de>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nFirma: M\xc3\xbcller AG\r\n"
    )
    response = client.post("/api/ingest", content=message, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 202, response.text
    lead = client.get(f"/api/leads/{response.json()['lead_id']}").json()
    assert lead["subject"] == "Anfrage Müller" and lead["sender"] == "Anna <anna@kunde.de>"
    as_json = {"raw_mime_b64": base64.b64encode(message).decode(), "source": "imap"}
    assert client.post("/api/ingest", json=as_json).json()["lead_id"] == response.json()["lead_id"]


def test_ingest_keeps_unknown_keys_in_the_raw_message(client: httpx.Client, engine: Engine) -> None:
    payload = {**TRADINGTWINS, "n8n_execution": "4711"}
    lead_id = client.post("/api/ingest", json=payload).json()["lead_id"]
    with Session(engine) as session:
        raw = get_raw_message(session=session, lead_id=lead_id)
    assert json.loads(raw.body) == payload
    assert raw.content_type == "application/json"


def test_ingest_without_token_is_401(api_url: str) -> None:
    assert httpx.post(f"{api_url}/api/ingest", json=TRADINGTWINS).status_code == 401
    wrong = httpx.post(f"{api_url}/api/ingest", json=TRADINGTWINS, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert httpx.get(f"{api_url}/api/leads").status_code == 401
    assert httpx.get(f"{api_url}/api/health").status_code == 200


def _signed(secret: str, body: bytes, *, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign("msg_1", at, body.decode())
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def test_ingest_accepts_standard_webhooks_signature(settings: Settings, engine: object) -> None:
    from lead_engine.api import create_app
    from tests.support.servers import serve_app

    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    signed_settings = settings.model_copy(update={"webhook_secret": SecretStr(secret)})
    body = json.dumps(TRADINGTWINS).encode()
    with serve_app(create_app(signed_settings)) as url:
        ok = httpx.post(f"{url}/api/ingest", content=body, headers=_signed(secret, body))
        assert ok.status_code == 202, ok.text
        tampered = httpx.post(f"{url}/api/ingest", content=body + b" ", headers=_signed(secret, body))
        assert tampered.status_code == 401
        old = _signed(secret, body, at=datetime(2020, 1, 1, tzinfo=UTC))
        assert httpx.post(f"{url}/api/ingest", content=body, headers=old).status_code == 401
        # The webhook-id is an idempotency key too.
        again = httpx.post(f"{url}/api/ingest", content=body, headers=_signed(secret, body))
        assert again.status_code == 200 and again.json()["lead_id"] == ok.json()["lead_id"]


def test_two_api_instances_racing_on_one_email_give_one_lead(settings: Settings, engine: object) -> None:
    from lead_engine.api import create_app
    from tests.support.servers import serve_app

    headers = {"Authorization": "Bearer test-token"}
    with serve_app(create_app(settings)) as first, serve_app(create_app(settings)) as second:

        def post(number: int) -> httpx.Response:
            url = (first, second)[number % 2]
            return httpx.post(f"{url}/api/ingest", json=TRADINGTWINS, headers=headers, timeout=60)

        with ThreadPoolExecutor(max_workers=40) as pool:
            responses = list(pool.map(post, range(40)))
        assert {response.status_code for response in responses} <= {200, 202}
        assert len({response.json()["lead_id"] for response in responses}) == 1
        total = httpx.get(f"{first}/api/leads", headers=headers).json()["total"]
    assert total == 1


def test_empty_token_setting_never_lets_an_empty_bearer_in(
    settings: Settings, engine: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lead_engine.api import create_app
    from lead_engine.core.settings import Settings as FreshSettings
    from tests.support.servers import serve_app

    monkeypatch.setenv("LEAD_ENGINE_API_TOKEN", "")
    monkeypatch.setenv("OPENAI_API_KEY", "")
    from_env = FreshSettings(_env_file=None)  # type: ignore[call-arg]
    assert from_env.api_token is None and not from_env.llm_enabled
    empty = settings.model_copy(update={"api_token": SecretStr("")})
    with serve_app(create_app(empty)) as url:
        for header in ("Bearer", "bearer"):
            response = httpx.post(f"{url}/api/ingest", json=TRADINGTWINS, headers={"Authorization": header})
            assert response.status_code == 401, header
            assert httpx.get(f"{url}/api/leads", headers={"Authorization": header}).status_code == 401


def test_a_rotating_webhook_secret_accepts_the_new_and_the_old_one(settings: Settings, engine: object) -> None:
    from lead_engine.api import create_app
    from tests.support.servers import serve_app

    new, old, other = (
        "whsec_" + base64.b64encode(seed * 32).decode() for seed in (b"n", b"o", b"x")
    )  # fmt: skip
    rotating = settings.model_copy(update={"webhook_secret": SecretStr(f"{new} {old}")})
    with serve_app(create_app(rotating)) as url:
        for number, secret in enumerate((new, old)):
            body = json.dumps({**TRADINGTWINS, "subject": f"Anfrage {number}"}).encode()
            answer = httpx.post(f"{url}/api/ingest", content=body, headers=_signed(secret, body))
            assert answer.status_code in (200, 202), answer.text  # accepted (the same webhook-id is a repeat)
        body = json.dumps({**TRADINGTWINS, "subject": "Anfrage x"}).encode()
        assert httpx.post(f"{url}/api/ingest", content=body, headers=_signed(other, body)).status_code == 401
    # Outbound: signed with both, so a receiver still on the old secret and one already on the new accept it.
    headers = signed_headers(f"{new} {old}", '{"event": "lead.synced"}', msg_id="msg_7")
    for secret in (new, old):
        Webhook(secret).verify('{"event": "lead.synced"}', headers)
