"""Promise: no request a client can make gets a 5xx or a server traceback. Schemathesis generates requests from
the API's own OpenAPI document — valid, invalid and hostile — for every operation on its own (stateless) and as
sequences that follow the links it infers between operations (stateful), against the real app with real leads."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
QUIET = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}


@pytest.fixture
def api_schema(client: httpx.Client, engine: Engine, settings: Settings, api_url: str) -> Any:
    """The API's schema, with a few real leads behind it for the generated requests to find."""
    for body in ("Firma: Muster GmbH\nE-Mail: a@muster.de", "Hallo, was kostet das?", "Firma: Spam\nhttp://x.y"):
        client.post("/api/ingest", json={"subject": "Anfrage", "sender": "noreply@tradingtwins.com", "raw_body": body})
    run_due_jobs(engine, settings)
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json")


def server_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.exc_info or record.levelno >= logging.CRITICAL]


def test_no_single_request_gets_a_server_error(api_schema: Any, caplog: pytest.LogCaptureFixture) -> None:
    failures: list[str] = []
    answers: Counter[int] = Counter()
    operations = 0
    for result in api_schema.get_all_operations():
        operations += 1

        @given(case=result.ok().as_strategy())
        @settings(max_examples=40, **QUIET)
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=AUTH, timeout=30)
            answers[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:200]}")

        with caplog.at_level(logging.ERROR):
            run()
    assert operations >= 12 and sum(answers.values()) >= operations * 20
    assert failures == [] and server_errors(caplog) == [], (failures[:5], server_errors(caplog)[:5])


def test_no_sequence_of_requests_gets_a_server_error(api_schema: Any, caplog: pytest.LogCaptureFixture) -> None:
    answers: Counter[tuple[str, int]] = Counter()

    # Sequences over leads: the import operations (which need an uploaded file to get anywhere) would take most
    # of the steps; each of them is covered on its own above and by the import tests.
    leads_only = api_schema.exclude(path_regex="^/api/imports")

    class Scenario(leads_only.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"headers": AUTH, "timeout": 30}

        def validate_response(self, response: Any, case: schemathesis.Case, **_kwargs: Any) -> None:
            answers[(case.path, response.status_code)] += 1
            assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])

    with caplog.at_level(logging.ERROR):
        # Derandomized: which links a run follows is chance, and a run that never reaches a lead proves nothing.
        Scenario.run(settings=settings(max_examples=60, stateful_step_count=6, derandomize=True, **QUIET))
    reached = {path for (path, status), _ in answers.items() if status < 400 and "{lead_id}" in path}
    assert reached, answers  # the scenarios got to real leads, not only 404s
    assert server_errors(caplog) == []
