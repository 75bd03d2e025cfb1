"""One spreadsheet row as a lead: its mapped cells cleaned and normalised the way a parsed mail's are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lead_engine.core.domains import is_disposable
from lead_engine.core.lead_fields import FieldValue, ParsedLead
from lead_engine.core.models import Lead
from lead_engine.core.parsing.normalise import (
    PhoneEvidence,
    clean_value,
    normalize_country,
    normalize_email,
    normalize_employees,
    normalize_message,
    normalize_salutation,
    normalize_website,
    read_phone,
    region_of_domain,
    sanitise,
    split_address,
    split_contact_name,
    split_postal_city,
)

IMPORT_TEMPLATE = "import"
# The stored form of an imported row: what the lead was made of, enough to read it again ("Parse again").
IMPORT_ROW_TYPE = "application/vnd.lead-engine.import-row+json"
# A value that held markup is kept without it, but a person should look at it.
MARKUP_CONFIDENCE = 0.5
_LENGTHS = {name: getattr(column.type, "length", None) for name, column in Lead.__table__.c.items()}  # type: ignore[attr-defined]
_PLAIN = ("company", "industry", "budget", "external_id", "street", "postal_code", "city")


@dataclass(frozen=True)
class RowReading:
    """What a row makes: the lead's fields and doubts, or why the row cannot become a lead."""

    parsed: ParsedLead
    rejected: str | None = None


def mapped_values(header: list[str], cells: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """Each mapped field's text: the first non-empty column mapped to it (messages: all of them, joined)."""
    values: dict[str, str] = {}
    for name, cell in zip(header, cells, strict=True):
        target = mapping.get(name, "")
        if not target or not cell:
            continue
        if target not in values:
            values[target] = cell
        elif target == "message":
            values[target] = f"{values[target]}\n{name}: {cell}"
    return values


class _Reader:
    def __init__(self, values: dict[str, str]) -> None:
        self.raw = values
        self.parsed = ParsedLead(template=IMPORT_TEMPLATE)
        # Fields with a doubt (markup removed, cut short): never read with full confidence.
        self.doubted: set[str] = set()

    def text(self, name: str) -> str | None:
        """The cell without markup or invisible characters; a cell that held markup is a doubt."""
        value = self.raw.get(name)
        if not value:
            return None
        cleaned = sanitise(value)
        if cleaned.had_markup:
            self.parsed.reasons.append(f"{name.replace('_', ' ')} held markup, which was removed")
            self.doubted.add(name)
        return cleaned.text

    def put(self, name: str, value: str | None, confidence: float = 1.0) -> None:
        if not value or name in self.parsed.fields:
            return
        limit = _LENGTHS.get(name)
        if limit is not None and len(value) > limit:
            value, confidence = value[:limit].rstrip(), min(confidence, MARKUP_CONFIDENCE)
            self.parsed.reasons.append(f"{name.replace('_', ' ')} was longer than {limit} characters and was cut")
        if name in self.doubted or (name == "contact_name" and self.doubted & {"first_name", "last_name"}):
            confidence = min(confidence, MARKUP_CONFIDENCE)
        self.parsed.fields[name] = FieldValue(value, "import", confidence)

    def doubt(self, name: str, value: str, problem: str) -> None:
        self.parsed.reasons.append(f"{name} {value[:60]!r} {problem}")


def read_row(values: dict[str, str], *, country: str, disposable: bool = True) -> RowReading:
    """The lead a row's mapped values make (phones in E.164 with the row's country, else ``country``).

    A row is rejected when its e-mail address is invalid or a throw-away one, or when it has no way to reach
    anyone (neither an e-mail address nor a phone number).
    """
    reader = _Reader(values)
    put, text = reader.put, reader.text
    for name in _PLAIN:
        put(name, clean_value(text(name)))
    address = split_address(text("address")) if values.get("address") else None
    postal, city, prefix_country = split_postal_city(text("postal_city"))
    street = clean_value(text("street")) or (address.street if address else None)
    if street and (number := clean_value(text("house_number"))):
        street = f"{street} {number}"
    put("street", street)
    put("postal_code", postal or (address.postal_code if address else None))
    put("city", city or (address.city if address else None))
    row_country = None
    if stated := clean_value(text("country")):
        row_country = normalize_country(stated)
        if row_country is None:
            reader.doubt("country", stated, "is not a country the engine knows")
    row_country = row_country or prefix_country or (address.country if address else None)
    put("country", row_country)
    salutation, contact = _contact(text)
    put("salutation", normalize_salutation(text("salutation")) or salutation)
    put("contact_name", contact)
    put("employees", normalize_employees(text("employees")))
    put("message", normalize_message(text("message")))
    if given := clean_value(text("website")):
        website = normalize_website(given)
        put("website", website)
        if website is None:
            reader.doubt("website", given, "is not a web address")
    rejected: str | None = None
    email: str | None = None
    if given := clean_value(text("email")):
        email = normalize_email(given)
        if email is None:
            rejected = f"invalid e-mail address {given[:80]!r}"
        elif disposable and is_disposable(email):
            rejected = f"throw-away address ({email.rpartition('@')[2]})"
        put("email", email)
    phone_given = clean_value(text("phone"))
    if phone_given:
        regions = tuple(dict.fromkeys(filter(None, [row_country, region_of_domain(email)])))
        found = read_phone(phone_given, PhoneEvidence(regions=regions), country)
        if found is None:
            reader.doubt("phone number", phone_given, "is not a valid number")
        else:
            put("phone", found[0], found[1])
    parsed = reader.parsed
    if rejected is None and not (parsed.value("email") or parsed.value("phone")):
        rejected = "no contact data: neither an e-mail address nor a phone number"
        if phone_given:
            rejected += f" ({phone_given[:40]!r} is not a valid number)"
    parsed.needs_review = bool(parsed.reasons)
    return RowReading(parsed, rejected)


def _contact(text: Any) -> tuple[str | None, str | None]:
    """The salutation and name: first and last name joined as written, or a whole name split like a mail's."""
    first, last = clean_value(text("first_name")), clean_value(text("last_name"))
    if first or last:
        return None, " ".join(part for part in (first, last) if part)
    whole = clean_value(text("contact_name"))
    return split_contact_name(whole) if whole else (None, None)


def row_body(*, import_id: str, filename: str, row: int, values: dict[str, str], country: str) -> bytes:
    """The stored form of one imported row (``IMPORT_ROW_TYPE``)."""
    body = {"import": import_id, "file": filename, "row": row, "country": country, "values": values}
    return json.dumps(body, ensure_ascii=False).encode()


def read_row_body(body: bytes) -> ParsedLead:
    """An imported row read again from its stored form, as its import read it (rejections become doubts)."""
    stored = json.loads(body)
    reading = read_row(dict(stored.get("values", {})), country=str(stored.get("country", "DE")))
    if reading.rejected:
        reading.parsed.reasons.append(reading.rejected)
        reading.parsed.needs_review = True
    return reading.parsed
