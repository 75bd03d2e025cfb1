"""The lead's event trail as sentences a salesperson reads: who did what, and the detail that matters."""

from __future__ import annotations

from typing import Any

from lead_engine.core.models import LeadEvent
from lead_engine.ui_pages.widgets import FIELD_LABELS

NOTICE_WORDS = {"synced": "that it synced", "dead": "that it could not sync", "needs_review": "that it needs review"}
CHANNEL_WORDS = {"slack": "Slack", "n8n": "n8n"}
WHO_WORDS = {
    "system": "Lead Engine", "cli": "command line", "api": "API", "imap": "mailbox poller",
    "reconciliation": "mailbox check",
}  # fmt: skip


def _quoted(value: Any) -> str:
    return f"“{value}”"


def _field(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def _change(name: str, change: dict[str, Any]) -> str:
    old, new = change.get("old"), change.get("new")
    if old in (None, ""):
        return f"{_field(name)} set to {_quoted(new)}"
    if new in (None, ""):
        return f"{_field(name)} cleared (was {_quoted(old)})"
    return f"{_field(name)} changed from {_quoted(old)} to {_quoted(new)}"


def _changes(changes: dict[str, Any]) -> str:
    return "; ".join(_change(name, change) for name, change in changes.items() if isinstance(change, dict))


def _because(detail: dict[str, Any]) -> str:
    reason = str(detail.get("reason") or "").strip()
    return f": {reason}" if reason else ""


def _parsed(detail: dict[str, Any]) -> str:
    changed = [_field(name) for name in detail.get("changed", [])]
    grade = f" ({detail['grade']})" if detail.get("grade") else ""
    found = f"; read {', '.join(changed)}" if changed else "; no value changed"
    return f"Read the e-mail: score {detail.get('score')}{grade}{found}."


def _synced(detail: dict[str, Any]) -> str:
    matched = {"domain": "found by its website", "name": "found by its name", "created": "created"}
    how = matched.get(str(detail.get("matched_by")), "")
    record = detail.get("company_explorer_id")
    return f"Synced to the Company Explorer (record {record}{', ' + how if how else ''})."


def _notice(detail: dict[str, Any], done: str) -> str:
    channel = CHANNEL_WORDS.get(str(detail.get("channel")), str(detail.get("channel")))
    what = NOTICE_WORDS.get(str(detail.get("event")), str(detail.get("event")))
    return f"{done} {channel} {what}."


def what_happened(event: LeadEvent) -> str:
    """The event as one sentence (without who did it)."""
    detail: dict[str, Any] = dict(event.detail)
    error = str(detail.get("error") or "")
    sentences = {
        "received": lambda: (
            f"Received from {detail.get('source') or 'an unknown source'}."
            + (f" Recovered {detail['recovered']}." if detail.get("recovered") else "")
        ),
        "parsed": lambda: _parsed(detail),
        "auto_approved": lambda: f"Approved by the rules{_because(detail)}.",
        "approved": lambda: f"Approved{_because(detail)}.",
        "rejected": lambda: ("Rejected as junk" if detail.get("junk") else "Rejected") + f"{_because(detail)}.",
        "restored": lambda: "Restored to review.",
        "corrected": lambda: f"Corrected: {_changes(detail.get('changes', {}))}.",
        "resync_requested": lambda: "Asked to sync it again.",
        "sync_requested": lambda: "Asked to sync it.",
        "reparse_requested": lambda: "Asked to parse the e-mail again.",
        "sync_started": lambda: f"Sync started (attempt {detail.get('attempt')}).",
        "sync_retrying": lambda: f"Sync attempt {detail.get('attempt')} failed, will try again: {error}",
        "sync_dead": lambda: f"Could not sync after {detail.get('attempt')} attempts: {error}",
        "sync_skipped": lambda: f"Sync skipped: {detail.get('reason') or 'nothing to do'}.",
        "synced": lambda: _synced(detail),
        "processing_failed": lambda: f"Could not read the e-mail: {error}",
        "notified": lambda: _notice(detail, "Told"),
        "notification_skipped": lambda: _notice(detail, "Did not tell"),
        "notification_failed": lambda: _notice(detail, "Could not tell") + (f" ({error})" if error else ""),
        "import_merged": lambda: (
            f"Updated from row {detail.get('row')} of {detail.get('file')}"
            + (f": {_changes(detail['changes'])}." if detail.get("changes") else ".")
        ),
        "import_undone": lambda: "The import's changes were undone.",
    }
    sentence = sentences.get(event.action)
    if sentence is not None:
        return sentence()
    rest = "; ".join(f"{key}: {value}" for key, value in detail.items() if value not in (None, "", [], {}))
    return event.action.replace("_", " ").capitalize() + (f": {rest}" if rest else ".")


def who(event: LeadEvent) -> str:
    """Who did it, in words."""
    return WHO_WORDS.get(event.actor, event.actor)
