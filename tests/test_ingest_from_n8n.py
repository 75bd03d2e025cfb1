"""What n8n's Email Trigger really hands on reaches the engine as the same lead as the raw message would."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lead_engine.core.inbound import read_inbound
from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.mime import email_input_from_mime
from lead_engine.core.parsing.parser import parse_email
from lead_engine.core.settings import Settings
from tests.support.n8n_shapes import resolved_item, simple_item, simple_request

FIXTURES = Path(__file__).parent / "fixtures" / "emails"
# These test the MIME structure itself (a lost boundary, an attached message, no body), which n8n's own
# mail parser resolves before the engine sees any field.
MIME_ONLY = {"broken_boundary.eml", "forward_as_attachment.eml", "empty_body.eml"}
EMAILS = sorted(path for path in FIXTURES.glob("*.eml") if path.name not in MIME_ONLY)
JSON = {"Content-Type": "application/json"}
# Items a real n8n 2.41 Email Trigger handed on for fixture mails delivered to dovecot, as it sent them.
CAPTURED = sorted((Path(__file__).parent / "fixtures" / "n8n").glob("*.json"))


@pytest.fixture(scope="module")
def operator_settings() -> Settings:
    return Settings(_env_file=None, own_domains="mustersolar.de", default_country="DE")  # type: ignore[call-arg]


def _fields(body: dict[str, Any], settings: Settings) -> dict[str, str | None]:
    lead = parse_email(read_inbound("application/json", json.dumps(body).encode()), settings=settings)
    return {name: lead.value(name) for name in CANONICAL_FIELDS}


@pytest.mark.parametrize("path", EMAILS, ids=[path.name for path in EMAILS])
def test_n8n_formats_parse_like_the_raw_message(path: Path, operator_settings: Settings) -> None:
    raw = path.read_bytes()
    from_mime = parse_email(email_input_from_mime(raw), settings=operator_settings)
    want = {name: from_mime.value(name) for name in CANONICAL_FIELDS}

    # Simple through the shipped workflow's mapping (CRLF text, RFC 2822 date), and Resolved sent as it is.
    assert _fields(simple_request(simple_item(raw)), operator_settings) == want
    assert _fields(resolved_item(raw), operator_settings) == want


@pytest.mark.parametrize("path", CAPTURED, ids=[path.name for path in CAPTURED])
def test_captured_n8n_items_parse_like_the_raw_message(path: Path, operator_settings: Settings) -> None:
    item = json.loads(path.read_text(encoding="utf-8"))
    raw = (FIXTURES / f"{path.name.split('.')[0]}.eml").read_bytes()
    from_mime = parse_email(email_input_from_mime(raw), settings=operator_settings)
    want = {name: from_mime.value(name) for name in CANONICAL_FIELDS}
    body = simple_request(item) if path.name.endswith(".simple.json") else item
    assert _fields(body, operator_settings) == want


def test_simple_item_is_stored_with_its_date_and_message_id(client: httpx.Client) -> None:
    raw = (FIXTURES / "tt_plain_standard.eml").read_bytes()
    item = simple_item(raw)
    item["date"] = "Tue, 01 Dec 2026 11:38:06 -0000"

    response = client.post("/api/ingest", json=simple_request(item, "tradingtwins"))

    assert response.status_code == 202, response.text
    lead = client.get(f"/api/leads/{response.json()['lead_id']}").json()
    assert datetime.fromisoformat(lead["received_at"]) == datetime(2026, 12, 1, 11, 38, 6, tzinfo=UTC)
    # The same mail again, sent whole as n8n's Resolved item: the Message-ID makes it a repeat.
    again = client.post("/api/ingest", json=resolved_item(raw))
    assert again.status_code == 200 and again.json()["lead_id"] == response.json()["lead_id"]


def test_whole_items_of_either_format_are_accepted(client: httpx.Client) -> None:
    plain_only = (FIXTURES / "cf7_de_default.eml").read_bytes()
    resolved = resolved_item(plain_only)
    assert resolved["html"] is False
    assert client.post("/api/ingest", json=resolved).status_code == 202
    simple = simple_item((FIXTURES / "tt_swiss_html_preferred.eml").read_bytes())
    assert client.post("/api/ingest", json=simple).status_code == 202


@pytest.mark.parametrize(
    ("body", "words"),
    [
        # the README's old mapping in the Simple format: every body expression was undefined and dropped
        ({"source": "email", "subject": "Neue Anfrage", "sender": "a@b.de"}, ["raw_body", "sender, source, subject"]),
        ({"subject": "x", "raw_body": None, "html_body": False, "text": ""}, ["textPlain", "had: subject"]),
        ({}, ["html_body", "no fields"]),
    ],
)
def test_a_request_without_mail_text_is_422_naming_the_fields(
    client: httpx.Client, body: dict[str, Any], words: list[str]
) -> None:
    response = client.post("/api/ingest", json=body)
    assert response.status_code == 422
    assert all(word in response.json()["detail"] for word in words), response.json()["detail"]
    assert client.get("/api/leads").json()["total"] == 0


def test_a_message_without_headers_is_422(client: httpx.Client) -> None:
    # n8n's "Raw" format: the body without its header block, still quoted-printable.
    headerless = b"Firma: B=E4ckerei M=FCller\r\nAnsprechpartner: Herr M=FCller\r\n\r\nBitte um ein Angebot.\r\n"
    response = client.post("/api/ingest", content=headerless, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 422 and "no mail headers" in response.json()["detail"]
    b64 = {"raw_mime_b64": base64.b64encode(headerless).decode()}
    assert client.post("/api/ingest", json=b64).status_code == 422
    assert client.get("/api/leads").json()["total"] == 0


@pytest.mark.parametrize(
    "date",
    [
        "Tue, 01 Dec 2026 11:38:06 -0000",  # RFC 2822, as n8n's Simple format passes the Date header on
        "2026-12-01T11:38:06.000Z",  # ISO 8601, as its Resolved format gives it
        "Tue, 1 Dec 2026 12:38:06 +0100 (CET)",  # a header with a comment
    ],
)
def test_received_at_takes_iso_and_rfc_2822_dates(client: httpx.Client, date: str) -> None:
    response = client.post("/api/ingest", json={"subject": "Anfrage", "raw_body": "Firma: A GmbH", "received_at": date})
    assert response.status_code == 202, response.text
    lead = client.get(f"/api/leads/{response.json()['lead_id']}").json()
    assert datetime.fromisoformat(lead["received_at"]) == datetime(2026, 12, 1, 11, 38, 6, tzinfo=UTC)
