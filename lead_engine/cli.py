"""Command line: python -m lead_engine api|worker|poller|ui|migrate|init-env|operator|info|serve|reparse|sync|rules|
import."""

from __future__ import annotations

import argparse
import gc
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlmodel import Session

from lead_engine.cli_import import add_import_parser, run_import_command
from lead_engine.core.db import get_engine, run_migrations
from lead_engine.core.env_file import (
    FIRST_OPERATOR,
    UI_USERS,
    ensure_env_file,
    read_operators,
    remove_operator,
    set_operator,
)
from lead_engine.core.logs import configure_logging
from lead_engine.core.settings import Settings, get_settings, parse_duration

GC_YOUNG_THRESHOLD = 20_000


def _api(settings: Settings) -> None:
    import uvicorn

    from lead_engine.api import create_app
    from lead_engine.http_deadlines import server_config

    app = create_app(settings)
    # Full garbage collections over the app's long-lived objects (SQLAlchemy, FastAPI, pydantic) stalled
    # ingest for ~50 ms at a time under load (p99 53 ms → 16 ms without them): keep everything that exists
    # at start-up out of collections, and collect the young generation less often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 50)
    import signal

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again for the handler it found: with this
    # one the API ends with exit status 0, like the other programs, instead of "terminated by SIGTERM".
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.Server(server_config(app, settings, host=settings.host, port=settings.api_port)).run()


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


def _check_rules(settings: Settings) -> None:
    from lead_engine.core.qualification.rules import RulesError, rules_source

    try:
        rules_source(settings.rules_file)
    except RulesError as exc:
        sys.exit(f"error: {exc}")


def _rules_check(settings: Settings, path: Path, since_seconds: float) -> str:
    from datetime import timedelta

    from lead_engine.core.db import read_session
    from lead_engine.core.qualification.backtest import backtest_rules
    from lead_engine.core.qualification.rules import load_rules

    candidate = load_rules(path)
    current = load_rules(settings.rules_file)
    since = datetime.now(UTC) - timedelta(seconds=since_seconds)
    engine = get_engine(settings.database_url)
    with read_session(engine) as session:
        result = backtest_rules(session=session, settings=settings, current=current, candidate=candidate, since=since)
    lines = [
        f"{path}: valid.",
        f"{result.leads} lead(s) received since {since:%Y-%m-%d %H:%M} UTC replayed (daily limit left out):",
        "",
        f"  {'route':<15}{'now':>6}{'new rules':>12}{'change':>9}",
    ]
    for route in ("auto-approved", "review", "rejected"):
        now, then = result.current[route], result.candidate[route]
        lines.append(f"  {route:<15}{now:>6}{then:>12}{then - now:>+9d}")
    if result.changes:
        lines += ["", "Leads that change route:"]
        lines += [f"  {old} → {new}: {count}" for (old, new), count in result.changes.most_common()]
    moves = result.biggest_moves()
    if moves:
        lines += ["", f"The {len(moves)} biggest score changes:"]
        for move in moves:
            route = f"{move.old_route} → {move.new_route}" if move.old_route != move.new_route else move.new_route
            company = move.company if len(move.company) <= 32 else move.company[:31] + "…"
            lines.append(f"  {move.lead_id}  {move.old_score:>3} → {move.new_score:>3}  {company:<32} {route}")
    else:
        lines += ["", "No lead's score or route changes."]
    return "\n".join(lines)


def _selected_leads(session: Session, lead_ids: list[str], since: datetime | None, limit: int) -> list[str]:
    from sqlalchemy import select
    from sqlmodel import col

    from lead_engine.core.leads import get_lead
    from lead_engine.core.models import Lead

    if lead_ids:
        return [get_lead(session=session, lead_id=lead_id).id for lead_id in lead_ids]  # NotFoundError if unknown
    query = select(col(Lead.id)).order_by(col(Lead.received_at).desc()).limit(limit)
    if since is not None:
        query = query.where(col(Lead.received_at) >= since)
    return list(session.scalars(query))


def _info(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in {"0.0.0.0", "::", ""} else settings.host
    sign_in = (
        "your name and password (python -m lead_engine operator add NAME)"
        if settings.ui_users is not None
        else "the password LEAD_ENGINE_UI_PASSWORD in .env"
    )
    return (
        f"  API:  http://{host}:{settings.api_port}/docs   bearer token: LEAD_ENGINE_API_TOKEN in .env\n"
        f"  UI:   http://{host}:{settings.ui_port}        sign in with {sign_in}\n"
        "  Ports: LEAD_ENGINE_API_PORT and LEAD_ENGINE_UI_PORT, in .env or the environment."
    )


def _init_env(path: Path) -> None:
    """Write what .env lacks and say so, with where the first operator's password is."""
    added = ensure_env_file(path)
    print(f"{'wrote' if added else 'using'} {path}" + (f" (generated {', '.join(added)})" if added else ""), flush=True)
    if UI_USERS in added:
        print(f"  first sign-in: name {FIRST_OPERATOR}, password in {path} (the comment above its line)", flush=True)


def _operator_command(args: argparse.Namespace) -> None:
    """Add (or give a new password to), remove or list the named operators in .env."""
    path = Path(args.path).resolve()
    if args.action != "list" and not args.name.strip():
        sys.exit(f"name the operator: python -m lead_engine operator {args.action} NAME")
    if args.action == "list":
        print("\n".join(read_operators(path)) or f"no named operators in {path}")
        return
    if args.action == "remove":
        if not remove_operator(path, args.name):
            sys.exit(f"there is no operator {args.name!r} in {path}")
        print(f"removed {args.name}; restart Lead Engine to end their sessions")
        return
    given = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    try:
        password = set_operator(path, args.name, given)
    except ValueError as exc:
        sys.exit(str(exc))
    told = "the password you gave" if given else f"this password: {password}"
    print(f"{args.name} signs in with {told}\nRestart Lead Engine (or its UI) for it to take effect.")


def _reparse(settings: Settings, args: argparse.Namespace) -> None:
    from lead_engine.core.leads import reparse_lead
    from lead_engine.core.processing import preview_reparse

    engine = get_engine(settings.database_url)
    run_migrations(engine)
    with Session(engine) as session:
        lead_ids = _selected_leads(session, args.lead_ids, args.since, args.limit)
        if not args.dry_run:
            for lead_id in lead_ids:
                reparse_lead(session=session, lead_id=lead_id, actor="cli")
            print(f"queued {len(lead_ids)} lead(s) for reparse; the worker picks them up")
            return
        preview = preview_reparse(session=session, settings=settings, lead_ids=lead_ids)
    print(f"parsed {preview.leads} stored lead(s) again with today's parser; nothing was written")
    print(f"{len(preview.changed_leads)} lead(s) would change (fields an operator corrected never do)")
    if preview.by_field:
        print(f"  {'field':<14}{'leads':>6}  example")
        for name, changes in sorted(preview.by_field.items(), key=lambda item: -len(item[1])):
            lead_id, old, new = changes[0]
            print(f"  {name:<14}{len(changes):>6}  {lead_id}: {_short(old)} → {_short(new)}")
    if preview.unreadable:
        print(f"{len(preview.unreadable)} lead(s) have no readable stored e-mail: {', '.join(preview.unreadable[:5])}")
    if preview.changed_leads:
        print(f"apply with: python -m lead_engine reparse {' '.join(_selection_args(args))}".rstrip())


def _short(value: str | None) -> str:
    text = "(empty)" if value is None else " ".join(value.split())
    return repr(text[:40] + "…" if len(text) > 40 else text) if value is not None else text


def _selection_args(args: argparse.Namespace) -> list[str]:
    if args.lead_ids:
        return list(args.lead_ids)
    return ([f"--since {args.since:%Y-%m-%d}"] if args.since else []) + [f"--limit {args.limit}"]


def _day(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value).replace(tzinfo=UTC) if "T" not in value else datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {value!r} (use YYYY-MM-DD)") from exc


def _sync(settings: Settings, lead_id: str) -> None:
    from lead_engine.core.errors import LeadEngineError
    from lead_engine.core.leads import get_lead
    from lead_engine.core.sync import run_sync

    engine = get_engine(settings.database_url)
    run_migrations(engine)
    with Session(engine) as session:
        get_lead(session=session, lead_id=lead_id)  # an unknown id is "not found", whatever the settings say
    try:
        status = run_sync(lead_id, settings=settings)
    except LeadEngineError as exc:
        sys.exit(f"lead {lead_id}: not synced: {exc}")
    with Session(engine) as session:
        lead = get_lead(session=session, lead_id=lead_id)
    if status == "synced":
        print(f"lead {lead_id}: synced (Company Explorer id {lead.company_explorer_id})")
        return
    if status == "retrying":
        sys.exit(f"lead {lead_id}: retrying, the worker tries again on the sync schedule: {lead.last_error}")
    sys.exit(f"lead {lead_id}: {status}: {lead.last_error or 'see the lead events'}")


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the chosen command."""
    parser = argparse.ArgumentParser(
        prog="python -m lead_engine", description="Lead Engine: turn inbound lead e-mails into synced company records."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("api", help="serve the HTTP API")
    commands.add_parser("worker", help="run queued jobs (parse, sync, notify)")
    commands.add_parser("poller", help="read unseen mails from the IMAP mailbox into leads")
    commands.add_parser("ui", help="serve the Streamlit operator app")
    commands.add_parser("migrate", help="create or upgrade the database schema")
    init = commands.add_parser("init-env", help="write .env with a generated API token and a first operator, admin")
    init.add_argument("--path", default=".env", help="the file to write or complete (default: .env)")
    operator = commands.add_parser("operator", help="add, remove or list the people who sign in to the UI")
    operator.add_argument("action", choices=("add", "remove", "list"))
    operator.add_argument("name", nargs="?", default="", help="the operator's name, recorded on every change")
    operator.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    operator.add_argument("--path", default=".env", help="the .env file (default: .env)")
    commands.add_parser("info", help="where the API and the UI answer, and where their secrets are")
    serve = commands.add_parser("serve", help="write .env if needed, then run every program under supervisord")
    serve.add_argument("--config", default="supervisord.conf", help="the supervisord configuration to run")
    reparse = commands.add_parser(
        "reparse", help="parse stored e-mails again with today's parser (the most recent ones without ids)"
    )
    reparse.add_argument("lead_ids", nargs="*", help="leads to parse again")
    reparse.add_argument("--dry-run", action="store_true", help="show per field how many leads would change")
    reparse.add_argument("--since", type=_day, help="only leads received on or after this day (YYYY-MM-DD)")
    reparse.add_argument("--limit", type=int, default=500, help="at most this many leads, newest first")
    sync = commands.add_parser(
        "sync", help="sync one lead to the Company Explorer now; retries due within a minute are waited for"
    )
    sync.add_argument("lead_id")
    rules = commands.add_parser("rules", help="check a qualification rules file against the stored leads")
    rules_commands = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_commands.add_parser(
        "check", help="validate a rules file and show how the leads of a period would be routed under it"
    )
    check.add_argument("rules_file", help="the candidate rules file (TOML)")
    check.add_argument("--since", type=parse_duration, default=30 * 86400, help="how far back, e.g. 7d (default 30d)")
    add_import_parser(commands)
    args = parser.parse_args(argv)

    if args.command == "serve":
        from lead_engine.container import run_supervisord

        _init_env(Path(".env").resolve())
        sys.exit(run_supervisord(args.config))
    if args.command == "init-env":
        _init_env(Path(args.path).resolve())
        return
    if args.command == "operator":
        _operator_command(args)
        return
    settings = get_settings()
    configure_logging(settings.log_level)
    if args.command in ("api", "worker", "ui"):
        _check_rules(settings)
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
    elif args.command == "info":
        print(_info(settings))
    elif args.command == "import":
        run_import_command(settings, args)
    elif args.command == "migrate":
        run_migrations(get_engine(settings.database_url))
        print(f"database ready: {get_engine(settings.database_url).url.render_as_string(hide_password=True)}")
    else:
        _lead_command(settings, args)


def _lead_command(settings: Settings, args: argparse.Namespace) -> None:
    from lead_engine.core.errors import LeadEngineError

    try:
        if args.command == "reparse":
            _reparse(settings, args)
        elif args.command == "rules":
            print(_rules_check(settings, Path(args.rules_file), args.since))
        else:
            _sync(settings, args.lead_id)
    except LeadEngineError as exc:
        sys.exit(f"error: {exc}")
