"""Leads as CSV: the whole filtered list in order, and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io

from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.exports import leads_csv, spreadsheet_safe
from lead_engine.core.models import Lead, RawMessage


def test_formula_starts_are_made_inert() -> None:
    for hostile in ('=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(hostile) == "'" + hostile
    assert spreadsheet_safe("Müller GmbH") == "Müller GmbH"
    assert spreadsheet_safe(None) == "" and spreadsheet_safe(42) == "42"


def test_the_export_holds_every_matching_lead_in_the_order_asked(engine: Engine) -> None:
    with Session(engine) as session:
        for number in range(1203):
            raw = RawMessage(content_type="application/json", body=b"{}")
            session.add(raw)
            session.flush()
            company = "=cmd|' /C calc'!A0" if number == 8 else f"Firma {number:04d}"
            status = "rejected" if number % 2 else "needs_review"
            session.add(Lead(raw_message_id=raw.id, company=company, status=status, score=number % 100))
        session.commit()
        rows = list(csv.reader(io.StringIO(leads_csv(session=session, order="-score", status="needs_review"))))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["Lead id", "Status", "Received (UTC)", "Source", "Company"]
    assert len(body) == 602  # every page of the filtered list, not one
    scores = [int(row[header.index("Score")]) for row in body]
    assert scores == sorted(scores, reverse=True)
    assert {row[1] for row in body} == {"needs_review"}
    assert "'=cmd|' /C calc'!A0" in [row[4] for row in body]
