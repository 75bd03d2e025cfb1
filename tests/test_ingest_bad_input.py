"""Bad input to POST /api/ingest: a 4xx with a reason, and the server stays healthy."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.leads import get_raw_message
from tests.conftest import API_TOKEN

OK_JSON = {"Content-Type": "application/json"}

CASES = [
    # (body, headers, expected status, words the reason must contain)
    (b'{"subject": "x", ', OK_JSON, 422, "malformed JSON"),  # truncated JSON
    (b"not json at all", OK_JSON, 422, "malformed JSON"),  # plain text sent as JSON
    (b'[{"subject": "x"}]', OK_JSON, 422, "JSON object"),  # an array, not an object
    (b"{}", OK_JSON, 422, "nothing to parse"),  # an empty object
    (b'{"source": "web"}', OK_JSON, 422, "nothing to parse"),  # no subject, body or MIME
    (b'"just a string"', OK_JSON, 422, "JSON object"),  # a JSON scalar
    (b'{"subject": "caf\xe9"}', OK_JSON, 422, "UTF-8"),  # Latin-1 byte in a JSON body
    (b'{"subject": "a\\u0000b"}', OK_JSON, 422, "NUL"),  # escaped NUL character
    (b'{"subject": "a\x00b"}', OK_JSON, 422, "malformed JSON"),  # raw NUL byte
    (b'{"raw_body": "\\ud800 hi"}', OK_JSON, 422, "lone surrogate"),  # unpaired UTF-16 surrogate
    (b'{"subject": "x", "received_at": "0001-01-01T00:00:00+05:00"}', OK_JSON, 422, "out of range"),  # year 0 in UTC
    (b'{"subject": 42}', OK_JSON, 422, "must be a string"),  # wrong type for a known field
    (b'{"subject": "x", "received_at": "yesterday"}', OK_JSON, 422, "ISO 8601"),  # unreadable date
    (b'{"raw_mime_b64": "%%%"}', OK_JSON, 422, "base64"),  # broken base64
    (b"subject=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "unsupported content type"),
    (b'{"subject": "x"}', {"Content-Type": "text/plain"}, 415, "unsupported content type"),  # JSON as text/plain
    (b'{"subject": "x"}', {}, 415, "unsupported content type"),  # no content type at all
    (b"", {"Content-Type": "message/rfc822"}, 422, "empty"),  # empty MIME body
    (b"x" * (2 * 1024 * 1024), OK_JSON, 413, "limit"),  # 2 MiB body with Content-Length
]


@pytest.mark.parametrize(("body", "headers", "status", "reason"), CASES, ids=lambda value: None)
def test_bad_input_gets_a_clear_4xx(
    client: httpx.Client, body: bytes, headers: dict[str, str], status: int, reason: str
) -> None:
    response = client.post("/api/ingest", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert reason.lower() in response.json()["detail"].lower()
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/leads").json()["total"] == 0


def test_huge_chunked_body_without_length_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"raw_body": "'
        for _ in range(40):
            yield b"a" * 65536
        yield b'"}'

    response = client.post("/api/ingest", content=chunks(), headers=OK_JSON)
    assert response.status_code == 413
    assert client.get("/api/health").status_code == 200


def test_body_just_under_the_limit_is_accepted(client: httpx.Client) -> None:
    filler = "a" * (1024 * 1024 - 100)
    response = client.post("/api/ingest", json={"subject": "big", "raw_body": filler})
    assert response.status_code == 202, response.text


def test_broken_mime_is_stored_not_refused(client: httpx.Client) -> None:
    broken = b'Subject: =?utf-8?b?broken\r\nContent-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\nno end'
    response = client.post("/api/ingest", content=broken, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 202, response.text


def test_hostile_html_is_stored_as_data(client: httpx.Client, engine: Engine) -> None:
    html = "<script>alert(1)</script><img src=x onerror=alert(1)>" + "<div>" * 5000
    response = client.post("/api/ingest", json={"subject": "hi", "html_body": html})
    assert response.status_code == 202
    lead_id = response.json()["lead_id"]
    assert client.get(f"/api/leads/{lead_id}").json()["status"] == "received"
    with Session(engine) as session:
        raw = get_raw_message(session=session, lead_id=lead_id)
    assert json.loads(raw.body)["html_body"] == html


def test_odd_mime_headers_and_long_source_are_stored(client: httpx.Client) -> None:
    raw = (
        b"From: M\xfcller <m@kunde.de>\r\nSubject: Anfrage \xff\xfe\r\nDate: Mon, 1 Jan 0001 00:00:00 +0500\r\n"
        b"Content-Type: text/plain\r\n\r\nFirma: M\xfcller GmbH\r\n"
    )
    response = client.post(
        "/api/ingest", content=raw, params={"source": "s" * 300}, headers={"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 202, response.text
    lead = client.get(f"/api/leads/{response.json()['lead_id']}").json()
    assert lead["source"] == "s" * 64
    assert lead["subject"].startswith("Anfrage")


def test_other_methods_on_ingest_are_405(client: httpx.Client) -> None:
    response = client.get("/api/ingest")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_ingest_with_a_trailing_slash_is_the_same_endpoint(client: httpx.Client) -> None:
    response = client.post("/api/ingest/", json={"subject": "slash", "raw_body": "x"})
    assert response.status_code == 202, response.text


def test_source_query_names_a_mime_lead(client: httpx.Client) -> None:
    raw = b"From: a@kunde.de\r\nSubject: Anfrage\r\nContent-Type: text/plain\r\n\r\nFirma: Kunde GmbH\r\n"
    response = client.post("/api/ingest?source=web%20form", content=raw, headers={"Content-Type": "message/rfc822"})
    assert response.status_code == 202, response.text
    assert client.get(f"/api/leads/{response.json()['lead_id']}").json()["source"] == "web form"


def test_client_leaving_mid_body_stores_nothing(client: httpx.Client, api_url: str) -> None:
    host, port = api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + API_TOKEN.encode() + b"\r\nContent-Length: 1000\r\n\r\n" + b'{"subject": "x'
        )
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/leads").json()["total"] == 0


def test_a_signature_header_without_a_webhook_secret_is_refused_before_the_body(api_url: str) -> None:
    host, port = api_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # A body is announced but never sent: only an answer that needs no body can come back.
        sock.sendall(
            b"POST /api/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"webhook-id: msg_1\r\nwebhook-timestamp: 1\r\nwebhook-signature: v1,AAAA\r\nContent-Length: 100000\r\n\r\n"
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"bearer token" in answer
