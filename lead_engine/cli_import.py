"""The ``import`` command: bring a spreadsheet in from the command line, dry or for real, or undo an import."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path

from sqlmodel import Session

from lead_engine.core.db import get_engine, run_migrations
from lead_engine.core.errors import LeadEngineError
from lead_engine.core.imports.dedup import DedupKey, OnMatch
from lead_engine.core.imports.lifecycle import claim_import, create_import, get_import, start_import
from lead_engine.core.imports.mapping import TARGET_LABELS
from lead_engine.core.imports.report import report_csv
from lead_engine.core.imports.runner import run_import
from lead_engine.core.imports.undo import undo_import
from lead_engine.core.models import LeadImport
from lead_engine.core.settings import Settings

ORDER = ("new", "merged", "skipped", "rejected", "ready", "needs_review")


def add_import_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The command's arguments."""
    parser = commands.add_parser(
        "import", help="import a spreadsheet (CSV, .xlsx, .xls, .ods) as leads; --dry-run first shows what it would do"
    )
    parser.add_argument("file", nargs="?", help="the spreadsheet")
    parser.add_argument("--mapping", type=Path, help='a JSON file {"column": "field"}; default: suggested from headers')
    parser.add_argument("--dry-run", action="store_true", help="report what each row would become; write no lead")
    parser.add_argument("--dedup", choices=[key.value for key in DedupKey], default="email", help="what makes a repeat")
    parser.add_argument(
        "--on-match", choices=[action.value for action in OnMatch], default="skip", help="what a repeat row does"
    )
    parser.add_argument("--country", help="country of phone numbers without a country code (default: the setting)")
    parser.add_argument("--report", type=Path, help="write the per-row report (CSV) to this file")
    parser.add_argument("--undo", metavar="IMPORT_ID", help="undo a finished import instead")


def run_import_command(settings: Settings, args: argparse.Namespace) -> None:
    """Run the command; errors end it with a message and exit status 1."""
    engine = get_engine(settings.database_url)
    run_migrations(engine)
    try:
        with Session(engine, expire_on_commit=False) as session:
            if args.undo:
                record = undo_import(session=session, settings=settings, import_id=args.undo, actor="cli")
                print(_undo_summary(record))
                return
            if not args.file:
                sys.exit("error: give the spreadsheet to import, or --undo IMPORT_ID")
            record = _start(session, settings, args)
        worker = f"cli-{socket.gethostname()}-{os.getpid()}"
        with Session(engine) as session:
            if claim_import(session=session, worker=worker, lease_seconds=settings.job_lease_seconds) != record.id:
                sys.exit("error: a worker is running another import; this one waits in its queue")
        run_import(engine, settings, record.id, worker=worker, progress=_progress)
        with Session(engine) as session:
            record = get_import(session=session, import_id=record.id)
            print(file=sys.stderr)
            print(_summary(record))
            if args.report:
                args.report.write_text(report_csv(session=session, record=record), encoding="utf-8")
                print(f"report written to {args.report}")
    except (LeadEngineError, OSError, ValueError) as exc:
        sys.exit(f"error: {exc}")


def _start(session: Session, settings: Settings, args: argparse.Namespace) -> LeadImport:
    path = Path(args.file)
    record = create_import(session=session, settings=settings, filename=path.name, data=path.read_bytes(), actor="cli")
    mapping = json.loads(args.mapping.read_text(encoding="utf-8")) if args.mapping else None
    options = {"dedup": args.dedup, "on_match": args.on_match, "country": args.country or settings.default_country}
    record = start_import(
        session=session, settings=settings, import_id=record.id, dry_run=args.dry_run, mapping=mapping, options=options
    )
    print(f"{path.name}: {record.rows_total} row(s), {record.encoding}, import {record.id}")
    for column, field in record.mapping.items():
        print(f"  {column:<28} → {TARGET_LABELS.get(field, '(left out)') if field else '(left out)'}")
    return record


def _progress(record: LeadImport) -> None:
    print(f"\r  {record.rows_done}/{record.rows_total} rows", end="", file=sys.stderr, flush=True)


def _summary(record: LeadImport) -> str:
    verb = "would become" if record.dry_run else "became"
    counts = ", ".join(f"{record.counts[key]} {key.replace('_', ' ')}" for key in ORDER if record.counts.get(key))
    if record.status == "failed":
        return f"import {record.id} failed after {record.rows_done} row(s): {record.error}"
    lines = [f"{record.rows_done} row(s) {verb}: {counts or 'nothing'}"]
    if record.dry_run:
        lines.append(
            "nothing was written: run the same command without --dry-run to import (--report FILE keeps the report)"
        )
    else:
        lines.append(f"undo with: python -m lead_engine import --undo {record.id}")
    return "\n".join(lines)


def _undo_summary(record: LeadImport) -> str:
    undo = record.undo
    lines = [
        f"import {record.id} undone: {undo['removed']} lead(s) removed, {undo['restored']} merged lead(s) restored"
    ]
    if undo["kept"]:
        lines.append(f"{undo['kept']} lead(s) it made were kept:")
        lines += [f"  row {item['row']}: lead {item['lead_id']} ({item['why']})" for item in undo["kept_leads"][:20]]
    if undo["not_restored"]:
        lines.append(f"{undo['not_restored']} merged field(s) were changed since and left as they are:")
        lines += [
            f"  row {item['row']}: lead {item['lead_id']} {item['field']}" for item in undo["not_restored_fields"][:20]
        ]
    return "\n".join(lines)
