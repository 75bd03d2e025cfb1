"""Command line: ``python -m lead_engine api|worker|poller|ui|migrate|init-env|reparse|sync``."""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

from sqlmodel import Session

from lead_engine.core.db import get_engine, run_migrations
from lead_engine.core.env_file import ensure_env_file
from lead_engine.core.logs import configure_logging
from lead_engine.core.settings import Settings, get_settings

GC_YOUNG_THRESHOLD = 20_000


def _api(settings: Settings) -> None:
    import uvicorn

    from lead_engine.api import create_app

    app = create_app(settings)
    # Full garbage collections over the app's long-lived objects (SQLAlchemy, FastAPI, pydantic) stalled
    # ingest for ~50 ms at a time under load (p99 53 ms → 16 ms without them): keep everything that exists
    # at start-up out of collections, and collect the young generation less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 50)
    import os

    if os.environ.get("PIN"):
        os.sched_setaffinity(0, {0})
    uvicorn.run(app, host=settings.host, port=settings.api_port, log_config=None, access_log=settings.access_log)


def _ui(settings: Settings) -> None:
    from streamlit.web import cli as streamlit_cli

    from lead_engine.embedded_api import start_embedded_api

    # Streamlit runs ui.py only when a browser connects; starting the embedded API here makes it answer
    # from the start. ui.py's own call then finds it running (once per process).
    start_embedded_api(settings)
    sys.argv = [
        "streamlit", "run", str(Path(__file__).with_name("ui.py")),
        "--server.headless", "true", "--server.address", settings.host, "--server.port", str(settings.ui_port),
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
    ]  # fmt: skip
    sys.exit(streamlit_cli.main())


def _reparse(settings: Settings, lead_ids: list[str]) -> None:
    from lead_engine.core.leads import list_leads, reparse_lead

    engine = get_engine(settings.database_url)
    with Session(engine) as session:
        if not lead_ids:
            lead_ids = [lead.id for lead in list_leads(session=session, limit=500)[0]]
        for lead_id in lead_ids:
            reparse_lead(session=session, lead_id=lead_id, actor="cli")
    print(f"queued {len(lead_ids)} lead(s) for reparse; the worker picks them up")


def _sync(settings: Settings, lead_id: str) -> None:
    from lead_engine.core.errors import LeadEngineError
    from lead_engine.core.leads import get_lead
    from lead_engine.core.sync import run_sync

    engine = get_engine(settings.database_url)
    run_migrations(engine)
    try:
        status = run_sync(lead_id, settings=settings)
    except LeadEngineError as exc:
        sys.exit(f"lead {lead_id}: not synced: {exc}")
    with Session(engine) as session:
        lead = get_lead(session=session, lead_id=lead_id)
    if status == "synced":
        print(f"lead {lead_id}: synced (Company Explorer id {lead.company_explorer_id})")
        return
    sys.exit(f"lead {lead_id}: {status}: {lead.last_error or 'see the lead events'}")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(prog="python -m lead_engine", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("api", help="serve the HTTP API")
    commands.add_parser("worker", help="run queued jobs (parse, sync, notify)")
    commands.add_parser("poller", help="read unseen mails from the IMAP mailbox into leads")
    commands.add_parser("ui", help="serve the Streamlit operator app")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    init = commands.add_parser("init-env", help="write .env with a generated API token and UI password")
    init.add_argument("--path", default=".env")
    reparse = commands.add_parser("reparse", help="parse stored e-mails again (all recent ones without ids)")
    reparse.add_argument("lead_ids", nargs="*")
    sync = commands.add_parser("sync", help="sync one lead to the Company Explorer now, retrying until synced or dead")
    sync.add_argument("lead_id")
    args = parser.parse_args(argv)

    if args.command == "init-env":
        path = Path(args.path).resolve()
        added = ensure_env_file(path)
        print(f"{'wrote' if added else 'using'} {path}" + (f" (generated {', '.join(added)})" if added else ""))
        return
    settings = get_settings()
    configure_logging(settings.log_level)
    if args.command == "api":
        _api(settings)
    elif args.command == "worker":
        from lead_engine.worker import main as worker_main

        worker_main(settings)
    elif args.command == "poller":
        from lead_engine.poller import main as poller_main

        poller_main(settings)
    elif args.command == "ui":
        _ui(settings)
    elif args.command == "migrate":
        run_migrations(get_engine(settings.database_url))
        print(f"database ready: {get_engine(settings.database_url).url.render_as_string(hide_password=True)}")
    elif args.command == "reparse":
        _reparse(settings, args.lead_ids)
    elif args.command == "sync":
        _sync(settings, args.lead_id)
