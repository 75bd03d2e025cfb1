"""API routes for spreadsheet imports: upload, map and start (dry or for real), follow, report, undo."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.formparsers import MultiPartParser

from lead_engine.api_deps import NO_NUL, Actor, ReadDep, SettingsDep, WriteDep
from lead_engine.api_ingest import read_limited_body
from lead_engine.core.errors import BadRequestError, UnprocessableError
from lead_engine.core.imports.dedup import DedupKey, OnMatch, Outcome
from lead_engine.core.imports.lifecycle import create_import, get_import, import_as_dict, list_imports, start_import
from lead_engine.core.imports.report import report_csv, report_rows
from lead_engine.core.imports.undo import undo_import

router = APIRouter(prefix="/api/imports", tags=["imports"])
ImportId = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="an import's id")]
Column = Annotated[str, Field(max_length=500, pattern=NO_NUL)]


class RunBody(BaseModel):
    """How to run an import: dry (report only) or for real, with the mapping and options to use."""

    dry_run: bool = False
    # Column → lead field ("" leaves a column out); the upload's suggestion when not given.
    mapping: dict[Column, Annotated[str, Field(max_length=32)]] | None = None
    dedup: DedupKey | None = None
    on_match: OnMatch | None = None
    country: Annotated[str, Field(max_length=60, pattern=NO_NUL)] | None = None


async def _one(body: bytes) -> AsyncGenerator[bytes, None]:
    yield body


async def read_upload(request: Request, limit: int) -> tuple[bytes, str]:
    """The uploaded file and its name: a multipart form's ``file`` field, or the whole body (``?filename=``)."""
    body = await read_limited_body(request.receive, limit, request.headers.get("content-length", ""))
    if body is None:
        raise BadRequestError("the upload was cut off")
    name = request.query_params.get("filename", "")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return body, name
    form = await MultiPartParser(request.headers, _one(body), max_part_size=limit).parse()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise UnprocessableError('the form has no file: send it as the field "file"')
    return await upload.read(), name or upload.filename or ""


@router.post("", status_code=201)
async def upload(request: Request, actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
    """Upload a spreadsheet (CSV, .xlsx, .xls, .ods); answers with its columns, samples and suggested mapping."""
    data, name = await read_upload(request, int(cfg.import_max_mb * 1_000_000) + 64_000)
    record = create_import(session=session, settings=cfg, filename=name, data=data, actor=actor)
    return import_as_dict(record)


@router.get("")
def imports(_actor: Actor, session: ReadDep) -> dict[str, Any]:
    """The latest imports, newest first."""
    return {"items": [import_as_dict(record) for record in list_imports(session=session)]}


@router.get("/{import_id}")
def one_import(import_id: ImportId, _actor: Actor, session: ReadDep) -> dict[str, Any]:
    """An import's state: status, rows done of rows total, counts per outcome, what its undo did."""
    return import_as_dict(get_import(session=session, import_id=import_id))


@router.post("/{import_id}/run", status_code=202)
def run(import_id: ImportId, body: RunBody, _actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
    """Queue a dry run or the import for the worker; follow it with GET /api/imports/{id}."""
    options = {
        name: value for name, value in body.model_dump(include={"dedup", "on_match", "country"}).items() if value
    }
    record = start_import(
        session=session, settings=cfg, import_id=import_id, dry_run=body.dry_run, mapping=body.mapping,
        options=options,
    )  # fmt: skip
    return import_as_dict(record)


@router.get("/{import_id}/rows")
def rows(
    import_id: ImportId,
    _actor: Actor,
    session: ReadDep,
    outcome: Outcome | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """What each row became (of the last pass: the dry run or the import), in file order."""
    get_import(session=session, import_id=import_id)
    items, total = report_rows(session=session, import_id=import_id, outcome=outcome, limit=limit, offset=offset)
    return {"items": [item.model_dump(mode="json", exclude={"import_id"}) for item in items], "total": total}


@router.get("/{import_id}/report.csv", response_class=Response)
def report(import_id: ImportId, _actor: Actor, session: ReadDep) -> Response:
    """The per-row report as CSV: row, outcome, reason, lead, then the row's own cells."""
    record = get_import(session=session, import_id=import_id)
    disposition = f'attachment; filename="report-{record.id}.csv"'
    return Response(report_csv(session=session, record=record), media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": disposition})  # fmt: skip


@router.post("/{import_id}/undo")
def undo(import_id: ImportId, actor: Actor, session: WriteDep, cfg: SettingsDep) -> dict[str, Any]:
    """Remove the leads the import made and restore the fields it merged; what a person changed since stays."""
    return import_as_dict(undo_import(session=session, settings=cfg, import_id=import_id, actor=actor))
