"""Reading raw RFC 822 bytes into the parser's input, whatever state they arrive in."""

from __future__ import annotations

import base64
import random

import pytest

from lead_engine.core.mime import decode_bytes, email_input_from_mime, read_message


def test_rfc2047_headers_and_reply_to_are_decoded() -> None:
    raw = (
        b"From: =?iso-8859-1?q?J=FCrgen_Wei=DF?= <jw@example-lead.de>\r\n"
        b"Reply-To: =?utf-8?b?w4RybmUgS3LDvGdlcg==?= <ak@example-lead.de>\r\n"
        b"Subject: =?utf-8?q?Anfrage_=C3=BCber?= tradingtwins\r\n"
        b"Message-ID: <abc@x>\r\nDate: Tue, 04 Mar 2025 09:14:27 +0100\r\n\r\nHallo\r\n"
    )
    inbound = email_input_from_mime(raw, source="imap")
    assert inbound.sender == "Jürgen Weiß <jw@example-lead.de>"
    assert inbound.subject == "Anfrage über tradingtwins"
    assert inbound.extra["reply_to"] == "Ärne Krüger <ak@example-lead.de>"
    assert inbound.message_id == "<abc@x>" and inbound.source == "imap"
    assert inbound.received_at is not None and inbound.received_at.year == 2025


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("Grüße €".encode("cp1252"), "iso-8859-1", "Grüße €"),  # Windows-1252 labelled as Latin-1
        ("Grüße".encode(), "us-ascii", "Grüße"),  # UTF-8 labelled as ASCII
        ("Grüße".encode(), "x-unknown-charset", "Grüße"),  # unknown label
        ("Grüße".encode("latin-1"), "utf-8", "Grüße"),  # Latin-1 labelled as UTF-8
        (b"\x81\x8d\x8f", None, "\x81\x8d\x8f"),  # bytes no text codec defines
        ("Grüße".encode(), "rot13", "Grüße"),  # a codec that is not a text encoding
    ],
)
def test_decode_bytes_is_lenient(data: bytes, charset: str | None, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


def test_base64_and_quoted_printable_parts_are_decoded() -> None:
    body = base64.encodebytes("Firma: Bäcker GmbH".encode())
    raw = (
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body + b"--b\r\n"
        b"Content-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"<p>Gr=FC=DFe aus M=FCn=\r\nchen</p>\r\n--b--\r\n"
    )
    content = read_message(raw)
    assert content.text.strip() == "Firma: Bäcker GmbH"
    assert content.html.strip() == "<p>Grüße aus München</p>"


def test_broken_base64_keeps_what_it_can() -> None:
    raw = (
        b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"RmlybWE6IEFDTUU=!!!@@@\r\n"
    )
    assert "Firma: ACME" in read_message(raw).text


def test_boundary_that_never_appears_is_recovered() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="declared"\r\n\r\n--actual\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nE-Mail: a@b.de\r\n--actual--\r\n"
    )
    content = read_message(raw)
    assert content.text.strip() == "E-Mail: a@b.de"
    assert "multipart body without usable boundary" in content.defects


def test_attached_message_becomes_a_forward_block() -> None:
    inner = b"From: Lead <lead@example-lead.de>\r\nSubject: Anfrage\r\n\r\nFirma: Lead GmbH\r\n"
    raw = (
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nSiehe Anhang\r\n'
        b"--m\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n" + inner + b"\r\n--m--\r\n"
    )
    text = read_message(raw).text
    assert text.index("Siehe Anhang") < text.index("---------- Forwarded message ---------")
    assert "From: Lead <lead@example-lead.de>" in text and "Firma: Lead GmbH" in text


def test_attachments_are_not_body_text() -> None:
    raw = (
        b'Content-Type: multipart/mixed; boundary="m"\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nHallo\r\n'
        b'--m\r\nContent-Type: text/plain; name="liste.csv"\r\nContent-Disposition: attachment\r\n\r\n'
        b"a;b;c\r\n--m--\r\n"
    )
    assert read_message(raw).text.strip() == "Hallo"


def test_random_bytes_never_raise() -> None:
    generator = random.Random(20250304)
    seeds = [b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n", b"Subject: =?utf-8?q?", b"\r\n\r\n", b""]
    for index in range(300):
        raw = seeds[index % len(seeds)] + bytes(generator.getrandbits(8) for _ in range(generator.randint(0, 400)))
        inbound = email_input_from_mime(raw)
        assert inbound.raw_mime == raw
