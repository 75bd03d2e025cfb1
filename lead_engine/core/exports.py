"""Leads as a CSV file for spreadsheets, with cells that a spreadsheet would run as formulas made inert."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlmodel import Session

from lead_engine.core.leads import iter_leads
from lead_engine.core.models import Lead

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
LEAD_COLUMNS = (
    ("id", "Lead id"), ("status", "Status"), ("received_at", "Received (UTC)"), ("source", "Source"),
    ("company", "Company"), ("contact_name", "Contact"), ("email", "E-mail"), ("phone", "Phone"),
    ("website", "Website"), ("street", "Street"), ("postal_code", "Postal code"), ("city", "City"),
    ("country", "Country"), ("score", "Score"), ("grade", "Grade"), ("subject", "Subject"),
    ("message", "Message"), ("company_explorer_id", "Company Explorer id"),
)  # fmt: skip


def spreadsheet_safe(value: Any) -> str:
    """A cell as text that a spreadsheet shows and never evaluates."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def write_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """CSV text with every cell made spreadsheet-safe."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([spreadsheet_safe(name) for name in header])
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return out.getvalue()


def leads_csv(*, session: Session, order: str = "newest", **filters: Any) -> str:
    """Every lead that matches the filters (not one page), in the order asked for."""

    def row(lead: Lead) -> list[Any]:
        values = [getattr(lead, name) for name, _ in LEAD_COLUMNS]
        values[2] = lead.received_at.strftime("%Y-%m-%d %H:%M:%S")
        return values

    leads = iter_leads(session=session, order=order, **filters)
    return write_csv([label for _, label in LEAD_COLUMNS], (row(lead) for lead in leads))
