"""Registrable domains, normalised names and name matching for finding a lead's company."""

from __future__ import annotations

import pytest

from lead_engine.core.company_matching import (
    best_name_match,
    company_key,
    lead_domain,
    normalise_name,
)
from lead_engine.core.domains import registrable_domain


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.muster-gmbh.de/kontakt", "muster-gmbh.de"),  # URL with www and path
        ("shop.example.co.uk", "example.co.uk"),  # two-label public suffix
        ("http://foo.bar.com.au:8080/x", "bar.com.au"),  # port and sub-domain
        ("max@vertrieb.muster.de", "muster.de"),  # e-mail address on a sub-domain
        ("WWW.Muster.DE", "muster.de"),  # case
        ("www.müller.de", "xn--mller-kva.de"),  # umlaut domain in its ASCII form
        ("localhost", None),  # no public suffix
        ("192.168.0.1", None),  # an IP address
        ("", None),  # nothing
    ],
)
def test_registrable_domain(value: str, expected: str | None) -> None:
    assert registrable_domain(value) == expected


@pytest.mark.parametrize(
    ("website", "email", "expected"),
    [
        ("https://www.muster.de", "max@gmail.com", "muster.de"),  # the website wins
        (None, "max@muster.de", "muster.de"),  # else the e-mail's domain
        (None, "max@gmail.com", None),  # never a free-mail domain
        (None, "anna@web.de", None),  # German free mail too
        (None, "info@t-online.de", None),
        ("gmx.de", None, None),  # not even as a website
        (None, "lead@own-company.de", None),  # the operator's own domain
        (None, None, None),
    ],
)
def test_lead_domain(website: str | None, email: str | None, expected: str | None) -> None:
    assert lead_domain(website=website, email=email, excluded=["own-company.de"]) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Muster GmbH", "muster"),  # GmbH
        ("Müller Maschinenbau GmbH & Co. KG", "mueller maschinenbau"),  # GmbH & Co. KG and an umlaut
        ("Schmidt e.K.", "schmidt"),  # sole trader
        ("Beispiel UG (haftungsbeschränkt)", "beispiel"),  # mini-GmbH
        ("Weiß & Söhne OHG", "weiss und soehne"),  # ß, ö and the ampersand
        ("ACME Ltd.", "acme"),  # English form
        ("  MUSTER   gmbh ", "muster"),  # spacing and case
        ("GmbH", "gmbh"),  # nothing but a legal form stays as it is
    ],
)
def test_normalise_name(name: str, expected: str) -> None:
    assert normalise_name(name) == expected


def test_best_name_match_folds_umlauts_and_legal_forms() -> None:
    candidates = [{"id": "1", "name": "Müller Bau AG"}, {"id": "2", "name": "Müller Maschinenbau GmbH"}]
    assert best_name_match("Mueller Maschinenbau", candidates) == candidates[1]


def test_best_name_match_needs_the_threshold() -> None:
    assert best_name_match("Muster Logistik GmbH", [{"id": "1", "name": "Muster Consulting GmbH"}]) is None


def test_best_name_match_ignores_a_company_with_another_domain() -> None:
    candidates = [{"id": "1", "name": "Muster GmbH", "domain": "muster-shop.de"}]
    assert best_name_match("Muster GmbH", candidates, domain="muster.de") is None
    assert best_name_match("Muster GmbH", candidates, domain="muster-shop.de") == candidates[0]


def test_company_key_is_the_same_for_every_spelling_of_a_company() -> None:
    assert company_key(domain="muster.de", name="Muster GmbH") == "company-domain-muster.de"
    assert company_key(domain=None, name="Müller GmbH") == company_key(domain=None, name="mueller")
    assert company_key(domain=None, name=None) is None
