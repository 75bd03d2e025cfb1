"""The Company Explorer client against the stand-in: requests, idempotency, and how failures are classified."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lead_engine.core.company_explorer import CompanyExplorerClient, parse_retry_after
from lead_engine.core.errors import PermanentError, RetryableError
from tests.support.company_explorer_server import TOKEN, ExplorerState
from tests.support.ready_leads import running_explorer
from tests.support.servers import free_port

COMPANY = {"name": "Muster GmbH", "domain": "muster.de", "source": "lead-engine"}


@pytest.fixture
def explorer() -> Iterator[tuple[ExplorerState, CompanyExplorerClient]]:
    with running_explorer() as (state, url), CompanyExplorerClient(url, token=TOKEN, timeout=0.5) as client:
        yield state, client


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),  # delta seconds
        ("1.5", 1.5),  # fractions are tolerated
        ("-3", 0.0),  # never negative
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),  # an HTTP date 30 s ahead
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # an HTTP date in the past
        ("soon", None),  # unreadable
        (None, None),  # absent
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)) == expected


def test_create_with_the_same_key_gives_one_company(explorer: tuple[ExplorerState, CompanyExplorerClient]) -> None:
    state, client = explorer
    first = client.create_company(COMPANY, idempotency_key="company-domain-muster.de")
    again = client.create_company({**COMPANY, "city": "Berlin"}, idempotency_key="company-domain-muster.de")
    assert first["id"] == again["id"] and len(state.companies) == 1
    assert client.find_companies(domain="muster.de") == [first]
    assert client.find_companies(name="Muster") == [first]


def test_contact_and_discovery_reach_the_company(explorer: tuple[ExplorerState, CompanyExplorerClient]) -> None:
    state, client = explorer
    company_id = client.create_company(COMPANY, idempotency_key="k")["id"]
    client.add_contact(company_id, {"name": "Max", "email": "max@muster.de"}, idempotency_key="c")
    client.add_contact(company_id, {"name": "Max", "email": "max@muster.de"}, idempotency_key="c")
    client.start_discovery(company_id, idempotency_key="d")
    client.start_discovery(company_id, idempotency_key="d")  # a repeat with the same key starts none
    assert [contact["name"] for contact in state.all_contacts()] == ["Max"]
    assert state.discoveries[company_id] == 1
    assert [r.idempotency_key for r in state.requests if r.path.endswith("/discovery")] == ["d", "d"]


@pytest.mark.parametrize(
    "status",
    [
        500,  # server error
        502,  # bad gateway
        503,  # unavailable
        408,  # request timeout
        425,  # too early
    ],
)
def test_passing_failures_are_retryable(explorer: tuple[ExplorerState, CompanyExplorerClient], status: int) -> None:
    state, client = explorer
    state.fail_next(1, status=status)
    with pytest.raises(RetryableError, match=str(status)):
        client.find_companies(domain="muster.de")
    assert client.find_companies(domain="muster.de") == []


def test_429_carries_retry_after(explorer: tuple[ExplorerState, CompanyExplorerClient]) -> None:
    state, client = explorer
    state.throttle_next(1, retry_after="7")
    with pytest.raises(RetryableError) as caught:
        client.create_company(COMPANY, idempotency_key="k")
    assert caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    "status",
    [
        400,  # bad request
        404,  # not found
        422,  # unprocessable
    ],
)
def test_other_4xx_are_permanent(explorer: tuple[ExplorerState, CompanyExplorerClient], status: int) -> None:
    state, client = explorer
    state.reject_company("Muster GmbH", status=status)
    with pytest.raises(PermanentError, match=str(status)):
        client.create_company(COMPANY, idempotency_key="k")


def test_a_wrong_token_is_permanent(explorer: tuple[ExplorerState, CompanyExplorerClient]) -> None:
    state, _client = explorer
    state.token = "another"
    with pytest.raises(PermanentError, match="401"):
        _client.find_companies(domain="muster.de")


def test_an_answer_past_the_timeout_is_retryable_and_the_retry_finds_the_company(
    explorer: tuple[ExplorerState, CompanyExplorerClient],
) -> None:
    state, client = explorer
    state.slow_next(1, seconds=1.5)
    with pytest.raises(RetryableError, match="timed out"):
        client.create_company(COMPANY, idempotency_key="k")
    deadline = time.monotonic() + 10
    while not state.requests[0].status and time.monotonic() < deadline:
        time.sleep(0.02)
    # The slow request was carried out: the retry with its key gets that company, not a second one.
    assert state.requests[0].status == 201
    again = client.create_company(COMPANY, idempotency_key="k")
    assert list(state.companies) == [again["id"]]


def test_connection_refused_is_retryable() -> None:
    client = CompanyExplorerClient(f"http://127.0.0.1:{free_port()}", token=TOKEN, timeout=0.5)
    with client, pytest.raises(RetryableError, match="ConnectError"):
        client.find_companies(domain="muster.de")


@pytest.mark.parametrize(
    "fault",
    [
        "500",  # an error answer
        "timeout",  # no answer in time
    ],
)
def test_errors_name_the_path_but_never_the_query(
    explorer: tuple[ExplorerState, CompanyExplorerClient], fault: str
) -> None:
    state, client = explorer
    if fault == "500":
        state.fail_next(1, status=500)
    else:
        state.slow_next(1, seconds=1.5)
    with pytest.raises(RetryableError) as caught:
        client.find_companies(domain="geheimkunde.de")
    assert str(caught.value).startswith("GET /api/companies ") and "geheimkunde" not in str(caught.value)
