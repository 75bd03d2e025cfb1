"""Reading inbound requests: the content hash that maps a re-sent e-mail to its first lead."""

from __future__ import annotations

import json

import pytest

from lead_engine.core.inbound import content_hash, read_inbound
from lead_engine.core.lead_fields import InboundEmail


def test_content_hash_of_stored_leads_never_changes() -> None:
    # Leads stored by earlier versions keep these keys: a re-sent e-mail must still find them.
    spaced = InboundEmail(
        source="tradingtwins",
        subject="  Neue\u00a0Anfrage:\tVerpackung \n",
        sender="Max Muster <Max@Muster.DE>",
        text="Firma:\u2003Muster GmbH\r\n\r\n  Ansprechpartner: Herr Max\x1c Muster ",
    )
    html_only = InboundEmail(source="web", html="<p>Hallo</p>")
    assert content_hash(spaced) == "60c99ae35baf09e4d390a917fafafd60c2431df4a450aa1c4a82c098784acfb1"
    assert content_hash(html_only) == "5c7951221e720f3bde2ce95a59e7579aa09bcb7c29bb60842ad4b552b86b1b50"


def test_content_hash_ignores_case_spacing_and_display_name() -> None:
    first = InboundEmail(source="web", subject="Anfrage", sender="Max <max@kunde.de>", text="Firma: Kunde GmbH")
    again = InboundEmail(source="web", subject=" anfrage ", sender="max@kunde.de", text="FIRMA:  Kunde\nGmbH\n")
    other = InboundEmail(source="web", subject="Anfrage", sender="max@kunde.de", text="Firma: Andere GmbH")
    assert content_hash(first) == content_hash(again) != content_hash(other)


@pytest.mark.parametrize(
    "payload",
    [
        {"raw_body": "Hallo", "reply_to": "Anna Berg <anna@berg.de>"},  # the shipped workflow's field
        {"textPlain": "Hallo", "metadata": {"reply-to": "Anna Berg <anna@berg.de>"}},  # a Simple item as it is
        {"text": "Hallo", "replyTo": {"text": "Anna Berg <anna@berg.de>", "value": [{"address": "anna@berg.de"}]}},
    ],
)
def test_reply_to_is_read_from_every_n8n_shape(payload: dict[str, object]) -> None:
    email = read_inbound("application/json", json.dumps(payload).encode())

    assert email.extra["reply_to"] == "Anna Berg <anna@berg.de>"
