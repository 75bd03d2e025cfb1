"""Turning raw extracted strings into the canonical forms: E.164 phones, ISO countries, clean names."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from nameparser import HumanName
from nameparser.config import Constants

from lead_engine.core.domains import split_host

# German and English names and abbreviations of the countries leads come from; anything else must be ISO.
_COUNTRY_NAMES = {
    "deutschland": "DE", "germany": "DE", "d": "DE", "brd": "DE", "bundesrepublik deutschland": "DE",
    "österreich": "AT", "oesterreich": "AT", "austria": "AT", "a": "AT",
    "schweiz": "CH", "switzerland": "CH", "suisse": "CH", "svizzera": "CH",
    "liechtenstein": "LI", "luxemburg": "LU", "luxembourg": "LU",
    "niederlande": "NL", "netherlands": "NL", "the netherlands": "NL", "holland": "NL",
    "belgien": "BE", "belgium": "BE", "frankreich": "FR", "france": "FR",
    "italien": "IT", "italy": "IT", "spanien": "ES", "spain": "ES", "polen": "PL", "poland": "PL",
    "tschechien": "CZ", "czech republic": "CZ", "czechia": "CZ", "dänemark": "DK", "denmark": "DK",
    "schweden": "SE", "sweden": "SE", "norwegen": "NO", "norway": "NO", "finnland": "FI", "finland": "FI",
    "vereinigtes königreich": "GB", "united kingdom": "GB", "großbritannien": "GB", "great britain": "GB",
    "england": "GB", "uk": "GB", "irland": "IE", "ireland": "IE", "portugal": "PT",
    "usa": "US", "vereinigte staaten": "US", "united states": "US", "united states of america": "US",
}  # fmt: skip
# Postal-code prefixes on letters ("D-80331 München").
_POSTAL_PREFIX_COUNTRY = {"d": "DE", "de": "DE", "a": "AT", "at": "AT", "ch": "CH", "fl": "LI", "l": "LU"}
_SALUTATIONS = {
    "herr": "Herr", "hr": "Herr", "frau": "Frau", "fr": "Frau", "mr": "Mr", "mister": "Mr",
    "mrs": "Mrs", "ms": "Ms", "miss": "Ms", "divers": "Divers",
}  # fmt: skip
_POSTAL_CITY = re.compile(r"^(?:(?P<prefix>[A-Za-z]{1,2})\s*-\s*)?(?P<postal>\d{4,5})\s+(?P<city>\D.*)$")
_EMPLOYEE_WORDS = re.compile(r"(?i)\b(mitarbeiter(?:innen)?|mitarbeitende|beschäftigte|employees|staff|ma)\b\.?")


@lru_cache(maxsize=1)
def _name_constants() -> Constants:
    constants = Constants()
    constants.titles.add(*_SALUTATIONS.keys())
    return constants


def clean_value(value: str | None) -> str | None:
    """Collapse whitespace and strip decoration; None for nothing left."""
    if value is None:
        return None
    cleaned = " ".join(value.replace("\xa0", " ").split()).strip(" \t*_|:;,-–")
    return cleaned or None


def normalize_email(value: str | None) -> str | None:
    """A syntactically valid e-mail address in lower case (no DNS lookup), else None."""
    value = clean_value((value or "").strip("<>()[]\"' ").removeprefix("mailto:"))
    if not value:
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def normalize_phone(value: str | None, region: str) -> str | None:
    """A phone number in E.164, read with the lead's country as region, else None."""
    value = clean_value(value)
    if not value or sum(ch.isdigit() for ch in value) < 6:
        return None
    try:
        number = phonenumbers.parse(value, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_website(value: str | None) -> str | None:
    """A website as "https://host" (lower case, path dropped) when the host has a public suffix, else None."""
    value = clean_value(value)
    if not value or "@" in value or " " in value:
        return None
    scheme = "http" if value.lower().startswith("http://") else "https"
    host = re.sub(r"(?i)^[a-z][a-z0-9+.-]*://", "", value).split("/")[0].split("?")[0].split("#")[0]
    host = host.split(":")[0].strip(".").lower()
    name, suffix = split_host(host)
    if not suffix or not name:
        return None
    return f"{scheme}://{host}"


def normalize_country(value: str | None) -> str | None:
    """An ISO 3166-1 alpha-2 code from a code or a German/English country name, else None."""
    value = clean_value(value)
    if not value:
        return None
    lowered = value.lower()
    if lowered in _COUNTRY_NAMES:
        return _COUNTRY_NAMES[lowered]
    upper = value.upper()
    if len(upper) == 2 and upper in phonenumbers.SUPPORTED_REGIONS:
        return upper
    return None


def split_contact_name(value: str | None) -> tuple[str | None, str | None]:
    """Split "Herr Dr. Thomas Müller" into salutation "Herr" and name "Thomas Müller"; titles are dropped."""
    value = clean_value(value)
    if not value or "@" in value or sum(ch.isdigit() for ch in value) > 0:
        return None, None
    name = HumanName(value, constants=_name_constants())
    name.capitalize(force=False)
    salutation = None
    for word in name.title.replace(".", " ").split():
        salutation = salutation or _SALUTATIONS.get(word.lower())
    parts = [name.first, name.middle, name.last]
    full = " ".join(part for part in parts if part).strip()
    if name.suffix and name.suffix.lower() not in {"phd", "ph.d.", "msc", "mba"}:
        full = f"{full} {name.suffix}"
    return salutation, clean_value(full)


def normalize_salutation(value: str | None) -> str | None:
    """Map "Hr.", "frau", "Mr." and friends to Herr / Frau / Mr / Mrs / Ms / Divers."""
    value = clean_value(value)
    if not value:
        return None
    return _SALUTATIONS.get(value.lower().rstrip(".").split(" ")[0])


def split_postal_city(value: str | None) -> tuple[str | None, str | None, str | None]:
    """Split "D-80331 München" into postal code, city and the country the prefix implies."""
    value = clean_value(value)
    if not value:
        return None, None, None
    match = _POSTAL_CITY.match(value)
    if not match:
        return (value, None, None) if value.isdigit() else (None, value, None)
    country = _POSTAL_PREFIX_COUNTRY.get((match["prefix"] or "").lower())
    return match["postal"], clean_value(match["city"]), country


def normalize_employees(value: str | None) -> str | None:
    """A head count or range such as "50" or "11-50", without the word "Mitarbeiter"."""
    value = clean_value(_EMPLOYEE_WORDS.sub("", value or ""))
    if not value:
        return None
    value = re.sub(r"\s*[–—-]\s*", "-", value)
    return re.sub(r"(?<=\d)[.,](?=\d{3}\b)", "", value)


def normalize_message(value: str | None, limit: int = 5000) -> str | None:
    """A free-text message with tidy line breaks, cut at a sane length."""
    if not value:
        return None
    lines = [" ".join(line.split()) for line in value.replace("\r", "").split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text[:limit].rstrip() or None
