"""Which lead field each spreadsheet column holds: suggested from its header, adjusted by a person, remembered."""

from __future__ import annotations

import hashlib

from sqlmodel import Session

from lead_engine.core.imports.reading import Table
from lead_engine.core.lead_fields import CANONICAL_FIELDS
from lead_engine.core.models import ImportMapping, utcnow
from lead_engine.core.parsing.lexicon import lookup, normalize_label

# Besides the lead's own fields a column may hold a part of one: first and last name (joined into the contact),
# a whole address or "postcode city" (split), a house number (added to the street).
PARTS = ("first_name", "last_name", "address", "postal_city", "house_number")
TARGETS: tuple[str, ...] = (*CANONICAL_FIELDS, *PARTS)
# What the operator reads in the mapping table.
TARGET_LABELS = {
    "company": "Company", "contact_name": "Contact name", "salutation": "Salutation", "email": "E-mail",
    "phone": "Phone", "website": "Website", "street": "Street", "postal_code": "Postcode", "city": "City",
    "country": "Country", "industry": "Industry", "employees": "Employees", "budget": "Budget",
    "message": "Message / notes", "external_id": "External ID", "first_name": "First name",
    "last_name": "Last name", "address": "Address (street, postcode, city)", "postal_city": "Postcode and city",
    "house_number": "House number",
}  # fmt: skip
# Column names spreadsheets use that mail forms do not (the form lexicon knows the rest).
_SPREADSHEET_NAMES = {
    "id": "external_id", "kundennummer": "external_id", "kunden nr": "external_id", "customer id": "external_id",
    "crm id": "external_id", "record id": "external_id", "datensatz id": "external_id", "debitor": "external_id",
    "interesse": "message", "interest": "message", "produktinteresse": "message", "notiz": "message",
    "gesprächsnotiz": "message", "firma 1": "company", "account": "company", "account name": "company",
    "organisation name": "company", "mobiltelefon": "phone", "telefon geschäftlich": "phone",
    "business phone": "phone", "e mail 1": "email", "e-mail 1": "email", "description": "message",
    # An academic title ("Dr."), not a salutation; further given names are not the first name.
    "titel": "", "title": "", "weitere vornamen": "", "middle name": "", "middle names": "",
}  # fmt: skip


def suggest_field(header: str) -> str:
    """The lead field a column's header names ("Firmenname" → company, "Vorname" → first_name), else ""."""
    label = normalize_label(header)
    key = _SPREADSHEET_NAMES[label] if label in _SPREADSHEET_NAMES else lookup(label)
    return key if key in TARGETS else ""


def suggest_mapping(header: list[str]) -> dict[str, str]:
    """A field for every column the header names recognisably; the others are left out ("")."""
    return {name: suggest_field(name) for name in header}


def header_signature(header: list[str]) -> str:
    """The same for two files with the same columns, whatever their order of rows or spelling of spaces."""
    names = "\x1f".join(normalize_label(name) for name in header)
    return hashlib.sha256(names.encode()).hexdigest()


def column_samples(table: Table, *, per_column: int = 3) -> dict[str, list[str]]:
    """Up to ``per_column`` different non-empty values of each column, from the first rows that have one."""
    samples: dict[str, list[str]] = {name: [] for name in table.header}
    for row in table.rows[:2000]:
        for name, cell in zip(table.header, row, strict=True):
            found = samples[name]
            if cell and len(found) < per_column and cell not in found:
                found.append(cell[:80])
        if all(len(found) >= per_column for found in samples.values()):
            break
    return samples


def saved_mapping(*, session: Session, header: list[str]) -> dict[str, str] | None:
    """The mapping last used for a file with these columns, or None."""
    saved = session.get(ImportMapping, header_signature(header))
    return dict(saved.mapping) if saved is not None else None


def remember_mapping(*, session: Session, header: list[str], mapping: dict[str, str]) -> None:
    """Keep the mapping for files with these columns (in the caller's transaction)."""
    signature = header_signature(header)
    saved = session.get(ImportMapping, signature) or ImportMapping(signature=signature)
    saved.header, saved.mapping, saved.updated_at = list(header), dict(mapping), utcnow()
    session.add(saved)


def check_mapping(header: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """The mapping for exactly these columns (missing ones left out); ValueError for an unknown column or field."""
    unknown_columns = set(mapping) - set(header)
    if unknown_columns:
        raise ValueError(f"the file has no column {', '.join(sorted(unknown_columns))}")
    unknown_fields = {field for field in mapping.values() if field and field not in TARGETS}
    if unknown_fields:
        raise ValueError(f"no lead field is called {', '.join(sorted(unknown_fields))}")
    checked = {name: mapping.get(name, "") for name in header}
    if not any(checked.values()):
        raise ValueError("no column is mapped to a lead field")
    return checked
