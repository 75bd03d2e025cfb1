"""Imports over the API, the way a script or an n8n HTTP node brings a spreadsheet, with the real worker running it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from lead_engine.api import create_app
from lead_engine.core.settings import Settings
from lead_engine.worker import run_worker
from tests.conftest import API_TOKEN
from tests.support.servers import serve_app
from tests.support.spreadsheets import HEADER, csv_bytes, lead_rows

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


@pytest.fixture
def worker(settings: Settings, engine: Engine) -> Iterator[None]:
    """The real worker loop in a thread, as supervisord runs it in its own process."""
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(settings, stop), daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=60)


def wait_for(client: httpx.Client, import_id: str, *statuses: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body = client.get(f"/api/imports/{import_id}").json()
        if body["status"] in statuses:
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"import {import_id} is still {body['status']}")


def test_upload_check_import_report_and_undo(client: httpx.Client, worker: None) -> None:
    data = (FIXTURES / "hubspot_contacts.csv").read_bytes()
    uploaded = client.post("/api/imports", files={"file": ("hubspot.csv", data, "text/csv")})
    assert uploaded.status_code == 201, uploaded.text
    body = uploaded.json()
    assert (body["filename"], body["status"], body["rows_total"], body["encoding"]) == (
        "hubspot.csv", "uploaded", 5, "utf-8",
    )  # fmt: skip
    columns = {column["name"]: column for column in body["columns"]}
    assert columns["Company Name"]["field"] == "company" and columns["Job Title"]["field"] == ""
    assert columns["First Name"]["samples"] == ["Anna", "James", "Lukas"]
    import_id = body["id"]

    assert client.post(f"/api/imports/{import_id}/run", json={"dry_run": True}).status_code == 202
    checked = wait_for(client, import_id, "checked")
    # Every row is a lead: two complete ones qualify for approval without review, three need a person.
    assert checked["counts"] == {"new": 5, "ready": 2, "needs_review": 3}
    assert client.get("/api/leads").json()["total"] == 0

    run = client.post(f"/api/imports/{import_id}/run", json={"dry_run": False, "country": "DE"})
    assert run.status_code == 202
    done = wait_for(client, import_id, "done")
    assert done["counts"] == checked["counts"]
    rows = client.get(f"/api/imports/{import_id}/rows", params={"outcome": "new", "limit": 2, "offset": 1}).json()
    assert rows["total"] == 5 and [item["row"] for item in rows["items"]] == [3, 4]
    assert all(item["lead_id"] for item in rows["items"])
    assert client.get(f"/api/imports/{import_id}/rows", params={"outcome": "rejected"}).json()["total"] == 0
    leads = {lead["email"] or lead["phone"]: lead for lead in client.get("/api/leads").json()["items"]}
    assert leads["j.carter@northwind-tools.co.uk"]["phone"] == "+442079460321"  # a British number, from the row
    assert leads["lukas@brandt-metall.at"]["phone"] == "+43662871234"  # Austrian, from the row's country
    assert leads["+41446681800"]["company"] == "Keller Präzision AG"  # no e-mail, reachable by phone
    assert leads["anna.schmidt@schmidt-logistik.de"]["external_id"] == "5101"

    report = client.get(f"/api/imports/{import_id}/report.csv")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    lines = report.text.splitlines()
    assert lines[0].startswith("Row,Outcome,Reason,Lead,Record ID,First Name")
    assert len(lines) == 6

    undone = client.post(f"/api/imports/{import_id}/undo")
    assert undone.status_code == 200 and undone.json()["undo"]["removed"] == 5
    assert client.get("/api/leads").json()["total"] == 0


def test_a_raw_body_upload_names_its_file_in_the_query(client: httpx.Client) -> None:
    data = csv_bytes(HEADER, lead_rows(2), encoding="cp1252")
    answer = client.post("/api/imports", params={"filename": "messe.csv"}, content=data,
                         headers={"content-type": "text/csv"})  # fmt: skip
    assert answer.status_code == 201
    body = answer.json()
    assert (body["filename"], body["encoding"], body["delimiter"]) == ("messe.csv", "cp1252", ";")
    listed = client.get("/api/imports").json()["items"]
    assert [item["id"] for item in listed] == [answer.json()["id"]]


@pytest.mark.parametrize(
    ("upload", "code", "detail"),
    [
        ({"content": b""}, 422, "the file is empty"),  # nothing sent
        ({"content": b"\x89PNG\r\n\x1a\n\x00\x00"}, 422, "not a spreadsheet"),  # a picture
        ({"files": {"document": ("a.csv", b"a,b\n1,2\n")}}, 422, 'send it as the field "file"'),  # a wrong form field
        ({"content": b"Firma\n"}, 422, "no data rows"),  # a header only
    ],
)
def test_uploads_that_are_no_spreadsheet_get_a_reason(
    client: httpx.Client, upload: dict[str, Any], code: int, detail: str
) -> None:
    answer = client.post("/api/imports", **upload)
    assert answer.status_code == code
    assert detail in answer.json()["detail"]


def test_a_file_over_the_limit_gets_413(settings: Settings, engine: Engine) -> None:
    small = settings.model_copy(update={"import_max_mb": 0.01})
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    with serve_app(create_app(small)) as url, httpx.Client(base_url=url, headers=auth) as client:
        answer = client.post("/api/imports", content=b"a,b\n" + b"1,2\n" * 20_000)
    assert answer.status_code == 413


def test_runs_are_refused_when_they_cannot_go(client: httpx.Client, worker: None) -> None:
    import_id = client.post("/api/imports", content=b"Firma;E-Mail\nA GmbH;a@a.de\n").json()["id"]
    wrong = client.post(f"/api/imports/{import_id}/run", json={"mapping": {"Firma": "firm"}})
    assert wrong.status_code == 422 and "no lead field is called firm" in wrong.json()["detail"]
    assert client.post(f"/api/imports/{import_id}/run", json={"dedup": "phone"}).status_code == 422
    assert client.post(f"/api/imports/{import_id}/run", json={"country": "Atlantis"}).status_code == 422
    assert client.post(f"/api/imports/{import_id}/undo").status_code == 409  # nothing imported yet
    assert client.post(f"/api/imports/{import_id}/run", json={}).status_code == 202
    wait_for(client, import_id, "done")
    again = client.post(f"/api/imports/{import_id}/run", json={})
    assert again.status_code == 409 and "already imported" in again.json()["detail"]
    assert client.get("/api/imports/nope").status_code == 404
    assert httpx.get(f"{client.base_url}/api/imports").status_code == 401
