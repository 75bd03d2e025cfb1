"""Candidate values per field, normalised and filtered against the operator's own data; the best one wins."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from lead_engine.core.domains import is_excluded_domain
from lead_engine.core.lead_fields import FieldValue, ParsedLead, Provenance
from lead_engine.core.parsing.normalise import (
    PhoneEvidence,
    clean_value,
    normalize_country,
    normalize_email,
    normalize_employees,
    normalize_message,
    normalize_phone,
    normalize_salutation,
    normalize_website,
    read_phone,
    region_of_domain,
    region_of_postal_code,
    sanitise,
    split_address,
    split_contact_name,
    split_postal_city,
)
from lead_engine.core.parsing.profiles import MACHINE_LOCAL_PARTS, is_vendor_name
from lead_engine.core.parsing.signature import find_phones, has_legal_form

_NOT_DIGIT = re.compile(r"\D+")
# The operator's company lines are looked for in the head of its text.
_MAX_OPERATOR_LINES = 300
_POSTAL_CODE = re.compile(r"^(?:[A-Z]{1,2}-)?[A-Z0-9][A-Z0-9 -]{2,9}$", re.IGNORECASE)
# Order of resolution: country first, because it is the region for reading phone numbers.
# Phone numbers last but one: the address, country and domains before them say which country they are in.
_ORDER = (
    "country", "company", "contact_name", "salutation", "email", "website", "street", "postal_code", "city",
    "phone", "industry", "employees", "budget", "message", "external_id",
)  # fmt: skip
# Longer than this, a value is a pasted text or an attack, not a name.
_MAX_NAME_CHARS = 150


@dataclass
class Exclusions:
    """The operator's and platforms' own data, which must never become the lead's."""

    domains: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    companies: set[str] = field(default_factory=set)
    # The operator's own text (forwarding colleagues, quoted mails, platform footers). Its phone numbers and
    # company lines are read only once a lead's value could be one of them: finding numbers is the dearest step
    # of a parse, and most leads' values appear nowhere in the operator's text.
    operator_text: str = ""
    operator_region: str = ""
    _numbers_read: bool = field(default=False, init=False, repr=False)
    _folded_text: str | None = field(default=None, init=False, repr=False)

    def excludes_phone(self, number: str) -> bool:
        """Whether an E.164 number is the operator's or a platform's."""
        if number in self.phones or self._numbers_read or not _may_hold_number(self.operator_text, number):
            return number in self.phones
        region = self.operator_region
        self.phones |= {
            found for raw in find_phones(self.operator_text, region=region) if (found := normalize_phone(raw, region))
        }
        self._numbers_read = True
        return number in self.phones

    def excludes_company(self, name: str) -> bool:
        """Whether a company is the operator's: named in ``companies`` or on a line of its text, with legal form."""
        folded = name.casefold()
        if folded in self.companies:
            return True
        if self._folded_text is None:
            self._folded_text = self.operator_text.casefold()
        if folded not in self._folded_text:  # casefolding goes character by character: a line's fold is in there
            return False
        lines = (line.strip() for line in self.operator_text.split("\n")[:_MAX_OPERATOR_LINES])
        return any(line.casefold() == folded and has_legal_form(line) for line in lines)

    def excludes_email(self, address: str) -> bool:
        """Whether an address is the operator's, a platform's or a machine's."""
        local, _, domain = address.rpartition("@")
        return (
            address in self.emails or is_excluded_domain(domain, self.domains) or bool(MACHINE_LOCAL_PARTS.match(local))
        )

    def excludes_website(self, url: str) -> bool:
        """Whether a site belongs to the operator or a platform."""
        host = url.split("://", 1)[-1]
        return is_excluded_domain(host, self.domains)


def _may_hold_number(text: str, number: str) -> bool:
    # A number read from a text ends in digits written there, whatever its prefix, spacing or national trunk
    # digit: when the last five are nowhere among the text's digits, no number in it can be this one.
    digits = _NOT_DIGIT.sub("", text)
    return not digits.isascii() or number[-5:] in digits


# A street value that goes on with a postcode: "Industriestraße 5, 73728 Esslingen".
MARKUP_CONFIDENCE = 0.4
_ORGANIZER = re.compile(r"organi[sz]er|organisator|veranstalter|\bhost\b|gastgeber", re.IGNORECASE)
_PHONE_SHAPE = re.compile(r"^\+?[\d\s()/.-]{7,25}$")


def _unlabelled_field(value: str) -> str | None:
    # What a value is when its label says nothing ("Field 2"): an address, a phone number, an e-mail or prose.
    if "@" in value and " " not in value.strip():
        return "email"
    if _PHONE_SHAPE.match(value.strip()):
        return "phone"
    if split_address(value).postal_code:
        return "address"
    return "message" if len(value) > 40 else None


@dataclass
class Candidates:
    """Raw values per field in order of trust, before normalisation."""

    by_field: dict[str, list[tuple[str, float, Provenance]]] = field(default_factory=dict)
    rejected: list[str] = field(default_factory=list)
    # Values that had markup or invisible characters removed: (field, cleaned value) → what was removed.
    doubts: dict[tuple[str, str], str] = field(default_factory=dict)
    # Producers of a field's least trusted values, run only when every value before them is unusable.
    deferred: dict[str, list[Callable[[], None]]] = field(default_factory=dict)

    def defer(self, name: str, produce: Callable[[], None]) -> None:
        """Offer a field's further values later: ``produce`` adds them if the ones offered so far all fail."""
        self.deferred.setdefault(name, []).append(produce)

    def offered(self, name: str) -> Iterator[tuple[str, float, Provenance]]:
        """A field's values in order of trust, running deferred producers once the values before are used up."""
        index = 0
        while True:
            values = self.by_field.get(name, [])
            if index < len(values):
                yield values[index]
                index += 1
            elif self.deferred.get(name):
                self.deferred[name].pop(0)()
            else:
                return

    def add(self, name: str, value: str | None, confidence: float, provenance: Provenance = "rule") -> None:
        """Offer a value for a field; helper keys are spread over the canonical fields they contain."""
        if not value:
            return
        cleaned = sanitise(value, keep_symbols=name == "message")
        value = cleaned.text.strip()
        if not value:
            return
        if cleaned.had_markup and name != "message":
            # A value that came wrapped in markup is not taken at face value.
            confidence = min(confidence, MARKUP_CONFIDENCE)
            self.doubts[(name, clean_value(value) or value)] = "had markup in it, which was removed"
        if name == "attendees":
            self._add_attendees(value, confidence, provenance)
            return
        if name.startswith("unlabelled"):
            found = _unlabelled_field(value)
            if found is None:
                return
            name = found
        address = (
            split_address(value)
            if name == "address" or (name == "street" and ("," in value or "\n" in value))
            else None
        )
        if name == "street" and address and not (address.postal_code or address.city):
            address = None  # "Unit 7, Ashcroft Trading Estate" is a street on its own
        if address is not None:
            self.add("street", address.street, confidence, provenance)
            self.add("postal_code", address.postal_code, confidence, provenance)
            self.add("city", address.city, confidence, provenance)
            self.add("country", address.country, confidence * 0.9, provenance)
        elif name == "postal_city":
            postal, city, country = split_postal_city(value)
            self.add("postal_code", postal, confidence, provenance)
            self.add("city", city, confidence, provenance)
            self.add("country", country, confidence * 0.9, provenance)
        elif name == "sender":
            self.add_sender(value, confidence, provenance)
        elif name == "city" and re.match(r"^\s*(?:[A-Z]{1,2}-)?\d{4,5}\s", value):
            self.add("postal_city", value, confidence, provenance)
        elif name == "city" and "," in value:
            # "Denver, CO", "Zürich, Switzerland": the city, then a state or a country.
            city, _, rest = value.partition(",")
            self.add("city", city, confidence, provenance)
            self.add("country", rest if len(rest.strip()) > 2 else None, confidence * 0.9, provenance)
        else:
            self.by_field.setdefault(name, []).append((value, confidence, provenance))

    def _add_attendees(self, block: str, confidence: float, provenance: Provenance) -> None:
        # A booking's "Who": name lines, each followed by an address; the organizer is the operator.
        name = ""
        for line in block.split("\n"):
            if "@" not in line:
                name = line
            elif name and not _ORGANIZER.search(name):
                self.add("email", line, confidence, provenance)
                self.add("contact_name", name, confidence, provenance)
                name = ""

    def add_sender(self, sender: str, confidence: float, provenance: Provenance = "rule") -> None:
        """Offer the name and address of a From-style header ("Anna Schmidt <anna@…>")."""
        name, address = email.utils.parseaddr(sender)
        if "@" not in address:
            name, address = sender, ""
        self.add("email", address, confidence, provenance)
        name = name.strip(" \"'")
        if name and "@" not in name and not has_legal_form(name) and " " in name.replace(",", " ").strip():
            self.add("contact_name", name, confidence * 0.95, provenance)


def _normalize(name: str, value: str, region: str) -> str | None:
    if name == "email":
        return normalize_email(value)
    if name == "website":
        return normalize_website(value)
    if name == "country":
        return normalize_country(value)
    if name == "salutation":
        return normalize_salutation(value)
    if name == "employees":
        return normalize_employees(value)
    if name == "message":
        return normalize_message(value)
    if name == "postal_code":
        cleaned = clean_value(value)
        return cleaned if cleaned and _POSTAL_CODE.match(cleaned) and any(ch.isdigit() for ch in cleaned) else None
    if name == "company":
        cleaned = clean_value(value)
        unusable = not cleaned or len(cleaned) > _MAX_NAME_CHARS or "@" in cleaned or is_vendor_name(cleaned)
        return None if unusable else cleaned
    cleaned = clean_value(value)
    return cleaned[:500] if cleaned else None


def _is_excluded(name: str, value: str, exclusions: Exclusions) -> bool:
    if name == "email":
        return exclusions.excludes_email(value)
    if name == "website":
        return exclusions.excludes_website(value)
    if name == "phone":
        return exclusions.excludes_phone(value)
    if name == "company":
        return exclusions.excludes_company(value)
    return False


def phone_evidence(lead: ParsedLead, *, english: bool) -> PhoneEvidence:
    """Where the lead's values say it is: stated country, the country of its domains, its postcode's shape."""
    found = (
        lead.value("country"),
        region_of_domain(lead.value("email")),
        region_of_domain(lead.value("website")),
        region_of_postal_code(lead.value("postal_code")),
    )
    return PhoneEvidence(regions=tuple(dict.fromkeys(region for region in found if region)), english=english)


def resolve_candidates(
    candidates: Candidates, lead: ParsedLead, *, exclusions: Exclusions, default_country: str, english: bool = False
) -> None:
    """Pick the first usable candidate per field into the lead, noting values that could not be read.

    ``english`` says the lead wrote in English: a national phone number is then not simply read as a German one.
    """
    for name in _ORDER:
        if name in lead.fields:
            continue
        region = lead.value("country") or default_country
        for raw, confidence, provenance in candidates.offered(name):
            if name == "contact_name":
                salutation, value = split_contact_name(raw)
                if value and len(value) > _MAX_NAME_CHARS:
                    value = None
                if salutation and "salutation" not in lead.fields:
                    lead.fields["salutation"] = FieldValue(salutation, provenance, confidence)
            elif name == "phone":
                read = read_phone(raw, phone_evidence(lead, english=english), default_country)
                value, confidence = (read[0], confidence * read[1]) if read else (None, confidence)
            else:
                value = _normalize(name, raw, region)
            if value is None:
                if name in {"email", "phone"} and confidence >= 0.85:
                    candidates.rejected.append(f"{name} '{clean_value(raw)}' could not be read")
                continue
            if _is_excluded(name, value, exclusions):
                continue
            lead.fields[name] = FieldValue(value, provenance, round(confidence, 2))
            break
