"""Search as a salesperson types it, through the API over real stored leads: umlauts, ß and accents folded,
every word required, the best match first, and the index kept in step with parsing, corrections and imports."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.job_handlers import run_due_jobs
from lead_engine.core.leads import correct_lead, get_lead, list_leads
from lead_engine.core.search import fold, query_words, search_text
from lead_engine.core.settings import Settings
from tests.conftest import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
MAILS = {
    "mueller": "Firma: Müller Metallbau GmbH\nAnsprechpartner: Jörg Weiß\nE-Mail: info@mueller-metall.de\nOrt: Köln",
    "muller": "Firma: Muller Consulting\nAnsprechpartner: Anna Muller\nE-Mail: anna@muller-consulting.fr",
    "mueller_plain": "Firma: Mueller Logistik AG\nAnsprechpartner: Tom Mueller\nE-Mail: tom@mueller-logistik.ch",
    "jose": "Firma: Café José S.L.\nAnsprechpartner: José Núñez\nE-Mail: jose@cafe-jose.es\nOrt: Málaga",
    "mention": "Firma: Nord Werft GmbH\nAnsprechpartner: Piet Nord\nE-Mail: p.mueller@nordwerft.de",
    "other": "Firma: Schmidt Bau GmbH\nAnsprechpartner: Eva Schmidt\nE-Mail: eva@schmidt-bau.de\nOrt: Berlin",
}


@pytest.mark.parametrize(
    ("typed", "folded"),
    [("Müller", "muller"), ("MUELLER", "muller"), ("Straße", "strasse"), ("José Núñez", "jose nunez"),
     ("Øresund", "oresund"), ("Ærø", "aro"), ("Ｋｕｎｄｅ", "kunde")],
)  # fmt: skip
def test_fold_reads_every_spelling_the_same(typed: str, folded: str) -> None:
    assert fold(typed) == folded


@pytest.fixture
def stored(client: httpx.Client, engine: Engine, settings: Settings) -> dict[str, str]:
    """The mails ingested and parsed as in production; their lead ids by name."""
    ids = {}
    for name, body in MAILS.items():
        answer = client.post("/api/ingest", json={"subject": "Anfrage", "sender": "web@form.example", "raw_body": body})
        ids[name] = answer.json()["lead_id"]
    run_due_jobs(engine, settings)
    return ids


def found(client: httpx.Client, q: str, **params: str) -> list[str]:
    answer = client.get("/api/leads", params={"q": q, **params}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def test_umlaut_and_plain_spellings_find_the_same_leads(client: httpx.Client, stored: dict[str, str]) -> None:
    expected = {stored["mueller"], stored["muller"], stored["mueller_plain"], stored["mention"]}
    assert {typed: set(found(client, typed)) for typed in ("Müller", "mueller", "muller", "MÜLLER")} == dict.fromkeys(
        ("Müller", "mueller", "muller", "MÜLLER"), expected
    )
    assert found(client, "weiss") == found(client, "Weiß") == [stored["mueller"]]
    assert found(client, "jose nunez") == found(client, "José Núñez") == [stored["jose"]]
    assert found(client, "malaga") == [stored["jose"]]


def test_every_word_must_match_anywhere(client: httpx.Client, stored: dict[str, str]) -> None:
    assert found(client, "müller köln") == [stored["mueller"]]  # company and city
    assert found(client, "müller berlin") == []
    assert found(client, "ch") != []  # two letters: checked without the index
    assert stored["mueller_plain"] in found(client, "ch")


def test_the_best_match_comes_first(client: httpx.Client, stored: dict[str, str]) -> None:
    # "muller" is in the company name of three leads and only in the e-mail address of the fourth.
    ranked = found(client, "muller", order="relevance")
    assert set(ranked[:3]) == {stored["mueller"], stored["muller"], stored["mueller_plain"]}
    assert ranked[3:] == [stored["mention"]]
    assert found(client, "schmidt", order="relevance") == [stored["other"]]


@pytest.mark.parametrize(
    "hostile", ['"', "%", "_", "*", "qqa AND qqb", "NEAR(qqx qqy)", "qqx OR", "\\", "'; DROP TABLE leads"]
)
def test_search_syntax_in_a_query_is_just_text(client: httpx.Client, stored: dict[str, str], hostile: str) -> None:
    assert found(client, hostile) == []
    assert len(found(client, "")) == len(MAILS)


def test_a_correction_moves_the_lead_in_search(
    client: httpx.Client, stored: dict[str, str], engine: Engine, settings: Settings
) -> None:
    lead_id = stored["other"]
    with Session(engine) as session:
        version = get_lead(session=session, lead_id=lead_id).version
        correct_lead(
            session=session, settings=settings, lead_id=lead_id, version=version,
            changes={"company": "Schröder Solar KG"}, actor="anna",
        )  # fmt: skip
    assert found(client, "schroeder") == [lead_id]
    assert found(client, "schmidt gmbh") == []  # the old name is gone (the contact is still Eva Schmidt)
    assert found(client, "eva schmidt") == [lead_id]


def test_at_most_eight_words_are_searched() -> None:
    assert len(query_words(" ".join(f"w{n}" for n in range(20)))) == 8


def test_every_way_a_lead_is_written_keeps_its_search_text(
    stored: dict[str, str], engine: Engine, settings: Settings
) -> None:
    from tests.core.test_import_runs import BASIC, import_file, leads  # an import bulk-inserts its new leads

    import_file(engine, settings, BASIC.encode())
    written = leads(engine)
    assert {lead.source for lead in written} == {"email", "import"} and len(written) == len(MAILS) + 2
    assert [lead.search_text for lead in written] == [search_text(lead) for lead in written]
    with Session(engine) as session:
        imported = list_leads(session=session, q="james northwind")[0]
    assert [lead.company for lead in imported] == ["Northwind Ltd"]
