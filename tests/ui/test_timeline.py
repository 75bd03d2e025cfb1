"""The lead's timeline reads as sentences: who did what, with values in quotes and no field names or JSON."""

from __future__ import annotations

from typing import Any

import pytest

from lead_engine.core.models import LeadEvent
from lead_engine.ui_pages.timeline import what_happened, who


def event(action: str, actor: str = "system", **detail: Any) -> LeadEvent:
    return LeadEvent(lead_id="x", action=action, actor=actor, detail=detail)


@pytest.mark.parametrize(
    ("happened", "sentence"),
    [
        (
            event("corrected", changes={"company": {"old": None, "new": "X GmbH"}}),
            "Corrected: Company set to “X GmbH”.",
        ),
        (
            event(
                "corrected",
                changes={"contact_name": {"old": "Max", "new": "Max Muster"}, "city": {"old": "B", "new": ""}},
            ),
            "Corrected: Contact changed from “Max” to “Max Muster”; City cleared (was “B”).",
        ),
        (
            event("parsed", score=40, grade="cold", changed=["company", "email"]),
            "Read the e-mail: score 40 (cold); read Company, E-mail.",
        ),
        (
            event("synced", company_explorer_id="c-1", matched_by="domain"),
            "Synced to the Company Explorer (record c-1, found by its website).",
        ),
        (
            event("sync_dead", attempt=8, error="POST /api/companies answered 400 Bad Request"),
            "Could not sync after 8 attempts: POST /api/companies answered 400 Bad Request",
        ),
        (event("notified", channel="slack", event="synced"), "Told Slack that it synced."),
        (event("rejected", reason="auto-reply", junk=True), "Rejected as junk: auto-reply."),
        (event("approved"), "Approved."),
        (event("something_new", count=3), "Something new: count: 3"),
    ],
)
def test_events_read_as_sentences(happened: LeadEvent, sentence: str) -> None:
    assert what_happened(happened) == sentence


def test_who_is_named_in_words() -> None:
    assert [who(event("x", actor)) for actor in ("system", "api", "anna")] == ["Lead Engine", "API", "anna"]
