"""Reading and operating leads over the API: list, filter, page, correct with versions, act."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.settings import Settings


def _ingest(client: httpx.Client, subject: str, body: str, source: str = "email") -> str:
    response = client.post("/api/ingest", json={"source": source, "subject": subject, "raw_body": body})
    assert response.status_code == 202, response.text
    return str(response.json()["lead_id"])


@pytest.fixture
def three_leads(client: httpx.Client) -> list[str]:
    return [
        _ingest(client, "Anfrage Müller", "Firma: Müller AG\nE-Mail: a@mueller-ag.de", "tradingtwins"),
        _ingest(client, "Kontaktformular", "Firma: Schmidt KG\nE-Mail: b@schmidt-kg.de", "website"),
        _ingest(client, "Frage", "Hallo, was kostet das?", "website"),
    ]


def test_list_filters_searches_and_pages(client: httpx.Client, three_leads: list[str]) -> None:
    everything = client.get("/api/leads").json()
    assert everything["total"] == 3
    assert [item["id"] for item in everything["items"]] == list(reversed(three_leads))  # newest first
    assert client.get("/api/leads", params={"source": "website"}).json()["total"] == 2
    assert client.get("/api/leads", params={"status": "received"}).json()["total"] == 3
    assert client.get("/api/leads", params={"status": "synced"}).json()["total"] == 0
    found = client.get("/api/leads", params={"q": "müller"}).json()
    assert [item["id"] for item in found["items"]] == [three_leads[0]]
    page = client.get("/api/leads", params={"limit": 2, "offset": 2}).json()
    assert page["total"] == 3 and [item["id"] for item in page["items"]] == [three_leads[0]]
    assert client.get("/api/leads", params={"limit": 0}).status_code == 422


def test_list_sorts_the_whole_list_by_a_column(client: httpx.Client, three_leads: list[str]) -> None:
    def companies(order: str, **params: str) -> list[str | None]:
        found = client.get("/api/leads", params={"order": order, **params}).json()["items"]
        return [item["company"] for item in found]

    assert client.patch(f"/api/leads/{three_leads[1]}", json={"version": 1, "company": "Alpha"}).status_code == 200
    assert companies("company") == ["Alpha", None, None]  # the others are not parsed yet: empty sorts last …
    assert companies("-company") == ["Alpha", None, None]  # … either way
    assert companies("-received")[1] == "Alpha"
    assert companies("received", limit="1", offset="1") == ["Alpha"]
    for bad in ("score; drop table leads", "--score", "secret"):
        assert client.get("/api/leads", params={"order": bad}).status_code == 422


def test_a_correction_with_bad_values_names_each_field_and_saves_nothing(
    client: httpx.Client, three_leads: list[str]
) -> None:
    body = {"version": 1, "company": "Neu GmbH", "phone": "call me", "email": "x@", "country": "Atlantis"}
    refused = client.patch(f"/api/leads/{three_leads[0]}", json=body)
    assert refused.status_code == 422
    assert set(refused.json()["errors"]) == {"phone", "email", "country"}
    assert "not a valid phone number" in refused.json()["errors"]["phone"]
    lead = client.get(f"/api/leads/{three_leads[0]}").json()
    assert lead["version"] == 1 and lead["company"] != "Neu GmbH"


def test_unknown_lead_is_404(client: httpx.Client) -> None:
    assert client.get("/api/leads/nope").status_code == 404
    assert client.patch("/api/leads/nope", json={"version": 1, "company": "X"}).status_code == 404


def test_patch_marks_fields_operator_and_bumps_version(client: httpx.Client, three_leads: list[str]) -> None:
    lead_id = three_leads[2]
    response = client.patch(f"/api/leads/{lead_id}", json={"version": 1, "company": "  Frage GmbH "})
    assert response.status_code == 200, response.text
    assert response.json()["company"] == "Frage GmbH" and response.json()["version"] == 2
    lead = client.get(f"/api/leads/{lead_id}").json()
    assert lead["company"] == "Frage GmbH" and lead["version"] == 2
    assert lead["fields"]["company"]["provenance"] == "operator"
    corrected = [event for event in lead["events"] if event["action"] == "corrected"]
    assert corrected[0]["actor"] == "api"
    assert corrected[0]["detail"]["changes"]["company"] == {"old": None, "new": "Frage GmbH"}


def test_patch_with_stale_version_is_409(client: httpx.Client, three_leads: list[str]) -> None:
    lead_id = three_leads[0]
    assert client.patch(f"/api/leads/{lead_id}", json={"version": 1, "city": "Köln"}).status_code == 200
    stale = client.patch(f"/api/leads/{lead_id}", json={"version": 1, "city": "Bonn"})
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json()["detail"]
    assert client.get(f"/api/leads/{lead_id}").json()["city"] == "Köln"


def test_patch_of_unknown_field_or_missing_version_is_refused(client: httpx.Client, three_leads: list[str]) -> None:
    assert client.patch(f"/api/leads/{three_leads[0]}", json={"version": 1, "status": "synced"}).status_code == 422
    assert client.patch(f"/api/leads/{three_leads[0]}", json={"company": "X"}).status_code == 422


def test_resync_without_company_explorer_is_409(client: httpx.Client, three_leads: list[str]) -> None:
    response = client.post(f"/api/leads/{three_leads[0]}/resync")
    assert response.status_code == 409
    assert "LEAD_ENGINE_COMPANY_EXPLORER_URL" in response.json()["detail"]


def test_reparse_keeps_operator_corrections(
    client: httpx.Client, three_leads: list[str], engine: Engine, settings: Settings
) -> None:
    lead_id = three_leads[0]
    run_due_jobs(engine, settings)
    parsed = client.get(f"/api/leads/{lead_id}").json()
    assert parsed["company"] == "Müller AG" and parsed["fields"]["company"]["provenance"] == "rule"
    client.patch(f"/api/leads/{lead_id}", json={"version": parsed["version"], "company": "Müller Holding AG"})
    assert client.post(f"/api/leads/{lead_id}/reparse").status_code == 202
    assert run_due_jobs(engine, settings) == 1
    lead = client.get(f"/api/leads/{lead_id}").json()
    assert lead["company"] == "Müller Holding AG"
    assert lead["email"] == "a@mueller-ag.de"
    assert [event["action"] for event in lead["events"]].count("parsed") == 2


def test_approve_and_reject(client: httpx.Client, three_leads: list[str], engine: Engine, settings: Settings) -> None:
    run_due_jobs(engine, settings)
    doubtful = client.get(f"/api/leads/{three_leads[2]}").json()
    assert doubtful["status"] == "needs_review" and doubtful["reasons"]
    # Nothing to sync it by: refused with the reason instead of accepted and left to die.
    refused = client.post(f"/api/leads/{three_leads[2]}/approve", json={"version": doubtful["version"]})
    assert refused.status_code == 422 and "company" in refused.json()["detail"]
    assert client.get(f"/api/leads/{three_leads[2]}").json()["status"] == "needs_review"
    corrected = client.patch(
        f"/api/leads/{three_leads[2]}", json={"version": doubtful["version"], "company": "Frage AG"}
    )
    version = corrected.json()["version"]
    approved = client.post(f"/api/leads/{three_leads[2]}/approve", json={"version": version, "reason": "called back"})
    assert approved.status_code == 200 and approved.json()["status"] == "ready"
    assert approved.json()["reasons"] == ["approved by api: called back"]
    stale = client.post(f"/api/leads/{three_leads[2]}/reject", json={"version": version})
    assert stale.status_code == 409
    rejected = client.post(f"/api/leads/{three_leads[2]}/reject", json={"reason": "spam"})
    assert rejected.json()["status"] == "rejected"


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "message/rfc822" in spec["paths"]["/api/ingest"]["post"]["requestBody"]["content"]


def test_patch_brings_values_into_contract_form_or_refuses_them(client: httpx.Client, three_leads: list[str]) -> None:
    lead_id = three_leads[0]
    fixed = client.patch(
        f"/api/leads/{lead_id}",
        json={"version": 1, "phone": "0221 123 456 7", "country": "Deutschland", "email": " Anna@Kunde.DE "},
    )
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["phone"], fixed.json()["country"], fixed.json()["email"]) == (
        "+492211234567",
        "DE",
        "anna@kunde.de",
    )
    for field, value in (("phone", "call me maybe"), ("country", "Atlantis"), ("email", "nope"), ("city", "x" * 300)):
        refused = client.patch(f"/api/leads/{lead_id}", json={"version": 2, field: value})
        assert refused.status_code == 422, (field, refused.text)
        assert field in refused.json()["detail"]
    assert client.get(f"/api/leads/{lead_id}").json()["version"] == 2


def test_reparse_keeps_an_operator_approval(
    client: httpx.Client, three_leads: list[str], engine: Engine, settings: Settings
) -> None:
    run_due_jobs(engine, settings)
    doubtful = client.get(f"/api/leads/{three_leads[2]}").json()
    assert doubtful["status"] == "needs_review"
    client.patch(f"/api/leads/{three_leads[2]}", json={"version": doubtful["version"], "company": "Frage AG"})
    client.post(f"/api/leads/{three_leads[2]}/approve", json={})
    client.post(f"/api/leads/{three_leads[2]}/reparse")
    assert run_due_jobs(engine, settings) == 1
    lead = client.get(f"/api/leads/{three_leads[2]}").json()
    assert lead["status"] == "ready"
    assert [event["action"] for event in lead["events"]][-1] == "parsed"


@pytest.mark.parametrize(
    "params",
    [
        {"offset": "9223372036854775808"},  # one past the largest 64-bit integer: an OverflowError in the driver
        {"offset": "-1"},
        {"min_score": "99999999999999999999"},
        {"min_score": "-5"},
        {"limit": "0"},
    ],
)
def test_out_of_range_query_parameters_are_422_with_the_reason(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get("/api/leads", params=params)
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", next(iter(params))]
