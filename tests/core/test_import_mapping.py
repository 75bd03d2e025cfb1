"""Suggesting which lead field a column holds, from the header names real exports use (German and English)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from lead_engine.core.imports.mapping import (
    check_mapping,
    column_samples,
    header_signature,
    remember_mapping,
    saved_mapping,
    suggest_field,
)
from lead_engine.core.imports.reading import read_table


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Firmenname", "company"),  # German CRM exports
        ("Company Name", "company"),  # HubSpot, LinkedIn Lead Gen
        ("Organisation", "company"),  # British spelling
        ("Organization 1 - Name", "company"),  # Google Contacts
        ("Account Name", "company"),  # Salesforce, Dynamics
        ("Firma", "company"),  # Outlook (German), trade-fair scanners
        ("Unternehmen", "company"),  # German web forms
        ("Vorname", "first_name"),  # joined with the last name into the contact
        ("First Name", "first_name"),
        ("Given Name", "first_name"),  # Google Contacts
        ("Nachname", "last_name"),
        ("Last Name", "last_name"),
        ("Family Name", "last_name"),  # Google Contacts
        ("Name", "contact_name"),  # a whole name in one column
        ("Ansprechpartner", "contact_name"),
        ("Anrede", "salutation"),
        ("Titel", ""),  # an academic title ("Dr."), not a salutation
        ("Weitere Vornamen", ""),  # Outlook's middle names: not the first name
        ("E-Mail", "email"),
        ("E-Mail-Adresse", "email"),  # Outlook
        ("Email Address", "email"),  # Mailchimp
        ("E-mail 1 - Value", "email"),  # Google Contacts
        ("Telefon", "phone"),
        ("Telefon geschäftlich", "phone"),  # Outlook
        ("Mobiltelefon", "phone"),
        ("Phone Number", "phone"),
        ("Business Phone", "phone"),  # Dynamics
        ("Website", "website"),
        ("Webseite", "website"),
        ("Straße", "street"),
        ("Straße geschäftlich", "street"),  # Outlook
        ("Street Address", "street"),
        ("Hausnummer", "house_number"),  # added to the street
        ("PLZ", "postal_code"),
        ("Postleitzahl geschäftlich", "postal_code"),  # Outlook
        ("Zip", "postal_code"),
        ("PLZ/Ort", "postal_city"),  # "80331 München" in one column
        ("Ort", "city"),
        ("Ort geschäftlich", "city"),  # Outlook
        ("City", "city"),
        ("Adresse", "address"),  # street, postcode and city in one column
        ("Land", "country"),
        ("Country/Region", "country"),  # HubSpot
        ("Land/Region geschäftlich", "country"),  # Outlook
        ("Branche", "industry"),
        ("Industry", "industry"),
        ("Mitarbeiter", "employees"),
        ("Company Size", "employees"),  # not the company's name
        ("Budget", "budget"),
        ("Notizen", "message"),  # Outlook
        ("Bemerkung", "message"),
        ("Notes", "message"),
        ("Interesse", "message"),  # trade-fair scanners
        ("Description", "message"),  # Zoho, Salesforce
        ("Record ID", "external_id"),  # HubSpot
        ("ID", "external_id"),
        ("Kundennummer", "external_id"),
        ("Job Title", ""),  # not a lead field: left out
        ("Position", ""),
        ("Abteilung", ""),
        ("Create Date", ""),
        ("Lead Status", ""),  # the source tool's own status, not ours
        ("Datum", ""),
        ("Messe", ""),  # which trade fair: no field for it
    ],
)
def test_header_names_suggest_their_field(header: str, field: str) -> None:
    assert suggest_field(header) == field


def test_samples_are_the_first_different_values_of_each_column() -> None:
    table = read_table(b"Firma,Ort\nA,Berlin\nB,\nA,Berlin\nC,Hamburg\nD,Bonn\n", max_bytes=10_000)
    assert column_samples(table, per_column=3) == {"Firma": ["A", "B", "C"], "Ort": ["Berlin", "Hamburg", "Bonn"]}


def test_a_mapping_is_offered_again_for_the_same_columns(engine: Engine) -> None:
    header = ["Firma", "Kontakt", "Mail"]
    with Session(engine) as session:
        assert saved_mapping(session=session, header=header) is None
        remember_mapping(session=session, header=header, mapping={"Firma": "company", "Mail": "email"})
        session.commit()
    with Session(engine) as session:
        # Spacing and case in the header do not make it another layout; other columns do.
        assert saved_mapping(session=session, header=["firma ", "KONTAKT", "Mail"]) == {
            "Firma": "company",
            "Mail": "email",
        }
        assert saved_mapping(session=session, header=["Firma", "Mail"]) is None
    assert header_signature(header) != header_signature(list(reversed(header)))


@pytest.mark.parametrize(
    ("mapping", "error"),
    [
        ({"Fax": "phone"}, "the file has no column Fax"),  # a column the file lacks
        ({"Firma": "companyname"}, "no lead field is called companyname"),  # a typo in the field
        ({"Firma": ""}, "no column is mapped"),  # nothing at all would be imported
    ],
)
def test_a_wrong_mapping_is_refused(mapping: dict[str, str], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        check_mapping(["Firma", "Mail"], mapping)
