"""The canonical lead fields and the value types the parser and the operator exchange."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

CANONICAL_FIELDS: tuple[str, ...] = (
    "company",
    "contact_name",
    "salutation",
    "email",
    "phone",
    "website",
    "street",
    "postal_code",
    "city",
    "country",
    "industry",
    "employees",
    "budget",
    "message",
    "external_id",
)

# The key fields in words, as reasons name them ("not sure about the phone number '…'").
FIELD_WORDS: dict[str, str] = {
    "company": "company", "contact_name": "contact name", "email": "e-mail address", "phone": "phone number",
}  # fmt: skip
NO_CONTACT = "no e-mail address or phone number to reach the lead"
NO_COMPANY_OR_EMAIL = "no company and no e-mail address found"

# Headers that tell a machine-sent mail (auto-reply, bounce, bulk) from a person's; kept with lower-case names.
AUTOMATION_HEADERS: tuple[str, ...] = (
    "auto-submitted", "x-autoreply", "x-autorespond", "precedence", "content-type", "x-failed-recipients",
)  # fmt: skip

Provenance = Literal["rule", "llm", "operator", "import"]


@dataclass(frozen=True)
class FieldValue:
    """One extracted value with where it came from and how sure we are (0..1)."""

    value: str
    provenance: Provenance
    confidence: float


@dataclass
class InboundEmail:
    """An e-mail as the parser sees it, whatever way it arrived (JSON fields or raw MIME)."""

    source: str = "email"
    subject: str = ""
    sender: str = ""
    text: str = ""
    html: str = ""
    message_id: str | None = None
    received_at: datetime | None = None
    raw_mime: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)


@dataclass
class ParsedLead:
    """What the parser made of one e-mail: values per canonical field, and why it may need a human."""

    fields: dict[str, FieldValue] = field(default_factory=dict)
    needs_review: bool = False
    reasons: list[str] = field(default_factory=list)
    # The mail family the parser recognised ("tradingtwins", "hubspot", "form", "free_text" …).
    template: str = "free_text"

    def value(self, name: str) -> str | None:
        """The value of one field, or None when it was not found."""
        found = self.fields.get(name)
        return found.value if found else None
