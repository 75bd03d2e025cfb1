"""Turning raw extracted strings into the canonical forms: E.164 phones, ISO countries, clean names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
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
# "80331 München", "D-80331 München", "8001 Zürich", Dutch "2675 KB Honselersdijk".
_POSTAL_CITY = re.compile(
    r"^(?:(?P<prefix>[A-Za-z]{1,2})\s*-\s*)?(?P<postal>\d{4}\s?[A-Z]{2}(?=\s)|\d{4,5})\s+(?P<city>\D.*)$"
)
# A plain ASCII address: dot-atoms of letters, digits and the usual signs; host labels without edge hyphens, a
# letter TLD. Anything else (quotes, Unicode, odd signs) is left to email-validator.
_PLAIN_ADDRESS = re.compile(
    r"^[a-z0-9_%+-]+(?:\.[a-z0-9_%+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)
_EMPLOYEE_WORDS = re.compile(r"(?i)\b(mitarbeiter(?:innen)?|mitarbeitende|beschäftigte|employees|staff|ma)\b\.?")


@lru_cache(maxsize=1)
def _name_constants() -> Constants:
    constants = Constants()
    constants.titles.add(*_SALUTATIONS.keys())
    # Austrian and German academic titles nameparser does not know ("DI Gerhard Pichlmayr", "Mag. Eva Leitner").
    constants.titles.add("di", "dipl.-ing", "dipl-ing", "ing", "mag", "dkfm", "dipl.-kfm", "dipl.-kff", "msc", "bsc")
    return constants


# Markup and invisible characters in a form value: tags (with what <script>/<style> hold), markdown links,
# control characters, zero-width and bidi controls, emoji with their joiners and modifiers.
_SCRIPT = re.compile(r"(?is)<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)")
_TAG = re.compile(r"(?s)<!--.*?(?:-->|$)|</?[a-zA-Z][a-zA-Z0-9-]{0,30}(?:[\s/][^<>]{0,2000})?>")
_MARKDOWN_LINK = re.compile(r"!?\[([^\]\n]{0,200})\]\([^)\n]{0,2000}\)")
_SYMBOL_BLOCKS = re.compile("[\u2000-\u2bff\u3000-\u303f\ufe00-\ufe0f\U0001f000-\U0010ffff]")
# Controls, format characters (zero-width joiners, bidi overrides), private use, unassigned, enclosing marks.
_INVISIBLE = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Me"})


@dataclass(frozen=True)
class Sanitised:
    """A value with markup and invisible characters removed, and whether there was any to remove."""

    text: str
    had_markup: bool
    had_invisible: bool


def _dropped(ch: str, keep_symbols: bool) -> bool:
    if ch in "\n\t":
        return False
    code = ord(ch)
    # Variation selectors and skin-tone modifiers belong to the emoji before them.
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0x1F3FB <= code <= 0x1F3FF:
        return True
    category = unicodedata.category(ch)
    return category in _INVISIBLE or (category == "So" and not keep_symbols)


def sanitise(value: str, *, keep_symbols: bool = False) -> Sanitised:
    """Strip markup, control and invisible characters (and emoji, unless ``keep_symbols``) from one value.

    An emoji goes with its joiners and modifiers, so none is left half-removed.
    """
    text = _MARKDOWN_LINK.sub(r"\1", value) if "](" in value else value
    if "<" in text:
        text = _TAG.sub(" ", _SCRIPT.sub(" ", text))
    had_markup = text != value
    # Most values hold nothing to drop: printable, and no character from the blocks emoji and joiners live in.
    if text.replace("\n", "").replace("\t", "").isprintable() and not _SYMBOL_BLOCKS.search(text):
        return Sanitised(text, had_markup, False)
    text = unicodedata.normalize("NFC", text)
    kept = "".join(ch for ch in text if not _dropped(ch, keep_symbols))
    return Sanitised(kept, had_markup, kept != text)


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
    lowered = value.lower()
    plain = _PLAIN_ADDRESS.match(lowered) and len(lowered) <= 254 and lowered.index("@") <= 64
    if plain and "--" not in lowered.partition("@")[2] and lowered.rsplit(".", 1)[1] not in SPECIAL_USE_DOMAIN_NAMES:
        return lowered  # what email-validator answers for a plain ASCII address, at a tenth of the cost
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


# A national number in the North American shape: (312) 555-0147, 206-642-5913, 415.555.0199.
_NANP_SHAPE = re.compile(r"^(?:\+?1[\s.-]?)?\(?[2-9]\d{2}\)?[\s.-]?[2-9]\d{2}[\s.-]\d{4}$")
# Country-code top-level domains that name no country in practice.
_GENERIC_CCTLDS = frozenset({"io", "co", "me", "tv", "ai", "app", "cc", "fm", "ly", "to", "ws", "eu", "gg", "sh"})
_UK_POSTCODE = re.compile(r"^[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}$", re.IGNORECASE)
# Confidence factors for a phone number's region: a guess between two countries is not a fact.
AMBIGUOUS_REGION = 0.45


@dataclass(frozen=True)
class PhoneEvidence:
    """What a mail says about where the lead is, for numbers written without a country code."""

    regions: tuple[str, ...] = ()
    english: bool = False


def region_of_domain(domain: str | None) -> str | None:
    """The country a domain's country-code TLD names ("acme.co.uk" → "GB"), None for .com, .io and the like."""
    if not domain:
        return None
    tld = domain.rsplit("@", 1)[-1].rstrip(".").rsplit(".", 1)[-1].lower()
    if tld == "uk":
        return "GB"
    if len(tld) != 2 or tld in _GENERIC_CCTLDS or tld.upper() not in phonenumbers.SUPPORTED_REGIONS:
        return None
    return tld.upper()


def region_of_postal_code(postal_code: str | None) -> str | None:
    """The country a postcode's shape alone gives away (British "L3 4BB"); None for digits-only codes."""
    return "GB" if postal_code and _UK_POSTCODE.match(postal_code.strip()) else None


def _valid_in(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def read_phone(value: str | None, evidence: PhoneEvidence, default: str) -> tuple[str, float] | None:
    """A phone number in E.164 and how far its country can be trusted (1.0 sure, 0.45 a guess between two).

    Evidence first: an explicit "+"/"00" prefix, then the countries the mail names (stated country, address,
    the lead's domain), then the number's own shape (North American 3-3-4); the default country is the last
    resort, and a number valid both there and in the United Kingdom of an English mail is marked as a guess.
    """
    cleaned = clean_value(value)
    if not cleaned or sum(ch.isdigit() for ch in cleaned) < 6:
        return None
    default = default.upper() or "DE"
    if cleaned.lstrip("( ").startswith(("+", "00")):
        e164 = normalize_phone(cleaned, default)
        return (e164, 1.0) if e164 else None
    for region in evidence.regions:
        if number := _valid_in(cleaned, region):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), 1.0
    if _NANP_SHAPE.match(cleaned) and (number := _valid_in(cleaned, "US")):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), 0.95
    at_home = _valid_in(cleaned, default)
    if evidence.regions and default not in evidence.regions and at_home is not None:
        # The mail points abroad, the number only reads as a domestic one: a doubt, not a fact.
        return phonenumbers.format_number(at_home, phonenumbers.PhoneNumberFormat.E164), AMBIGUOUS_REGION
    british = _valid_in(cleaned, "GB") if evidence.english and default != "GB" else None
    if british is not None:
        factor = AMBIGUOUS_REGION if at_home is not None else 0.8
        return phonenumbers.format_number(at_home or british, phonenumbers.PhoneNumberFormat.E164), factor
    if at_home is not None:
        return phonenumbers.format_number(at_home, phonenumbers.PhoneNumberFormat.E164), 1.0
    e164 = normalize_phone(cleaned, default)
    return (e164, 0.8) if e164 else None


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


# A given name and a family name, each capitalised, maybe double-barrelled ("Anna-Lena Schmidt-Weber").
_PLAIN_NAME_WORD = re.compile(r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?")


@lru_cache(maxsize=1)
def _name_vocabulary() -> frozenset[str]:
    # Every word nameparser treats as more than a plain name: titles, prefixes ("von"), suffixes, conjunctions.
    constants = _name_constants()
    sets = (
        constants.titles, constants.first_name_titles, constants.conjunctions, constants.prefixes,
        constants.non_first_name_prefixes, constants.bound_first_names, constants.suffix_acronyms,
        constants.suffix_acronyms_ambiguous, constants.suffix_not_acronyms, constants.capitalization_exceptions,
    )  # fmt: skip
    return frozenset(str(word).lower() for words in sets for word in words)


def _is_plain_name(value: str) -> bool:
    """Whether a name is two plain capitalised words that nameparser would read as first and last name."""
    words = value.split(" ")
    if len(words) != 2 or not all(_PLAIN_NAME_WORD.fullmatch(word) for word in words):
        return False
    vocabulary = _name_vocabulary()
    return not any(part.lower() in vocabulary for word in words for part in (word, *word.split("-")))


def split_contact_name(value: str | None) -> tuple[str | None, str | None]:
    """Split "Herr Dr. Thomas Müller" into salutation "Herr" and name "Thomas Müller"; titles are dropped."""
    value = clean_value(value)
    if not value or "@" in value or sum(ch.isdigit() for ch in value) > 0:
        return None, None
    # What nameparser answers for "Anna Schmidt" and "Herr Thomas Schmidt", at a fiftieth of the cost.
    first, _, rest = value.partition(" ")
    if (salutation := _SALUTATIONS.get(first.lower().removesuffix("."))) and _is_plain_name(rest):
        return salutation, rest
    if _is_plain_name(value):
        return None, value
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


# "IL 62704", "Baden-Württemberg 69117", "ZH 8800": a state or canton before the postcode, after the city.
_US_STATE_ZIP = re.compile(r"^(?:[^\d,]{2,40}\s+)?(?P<zip>\d{5}(?:-\d{4})?|(?<=\s)\d{4})$")
_CITY_UK_POSTCODE = re.compile(r"^(?P<city>\D+?)\s+(?P<postal>[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2})$", re.IGNORECASE)
_HAS_NUMBER = re.compile(r"\d")
# The second part of a street: "Suite 410", "Unit 4", "Floor 2".
UNIT = re.compile(r"^(?:suite|ste|unit|floor|fl|apt|building|bldg|#)\.?\s*\w{1,6}$", re.IGNORECASE)
_UK_COUNTY = re.compile(
    r"^(?:(?:east|west|north|south)\s+)?(?:\w+shire|sussex|kent|surrey|essex|devon|cornwall|norfolk|suffolk"
    r"|middlesex|midlands|cumbria|durham|northumberland|merseyside|tyne and wear|greater manchester|glamorgan"
    r"|lothian|fife|powys|gwynedd|county \w+|co\.? \w+)$",
    re.IGNORECASE,
)
_STREET_FIRST = re.compile(
    r"^\d{1,5}[a-z]?\s+(?:[NSEW]\.?\s+)?[A-Za-z].*\b(?:st|street|rd|road|ave|avenue|blvd|lane|ln|way|drive|dr"
    r"|court|ct|place|pl|close|square|sq|terrace|parkway|pkwy|highway|hwy)\b\.?$",
    re.IGNORECASE,
)


@dataclass
class Address:
    """Street, postcode, city and country read from one combined address value."""

    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None


def split_address(value: str | None) -> Address:
    """Split "Industriestraße 5, 73728 Esslingen", "Bahnhofstrasse 10, 8001 Zürich, Schweiz",
    "42 Dock Road, Liverpool L3 4BB" or "1 Main St, Springfield, IL 62704" into their parts."""
    address = Address()
    parts = [part for raw in re.split(r"\s*[,\n;]\s*", value or "") if (part := clean_value(raw))]
    for index, part in enumerate(parts):
        if address.street and index == 1 and UNIT.match(part):
            address.street = f"{address.street}, {part}"  # "1120 NW Couch St, Suite 410"
        elif index == 0 and len(parts) > 1 and _STREET_FIRST.match(part):
            address.street = part  # "2150 W Fulton St, Chicago, IL 60612": a house number, not a postcode
        elif address.postal_code is None and (match := _POSTAL_CITY.match(part)):
            address.postal_code, address.city = match["postal"], clean_value(match["city"])
            address.country = address.country or _POSTAL_PREFIX_COUNTRY.get((match["prefix"] or "").lower())
        elif address.postal_code is None and (match := _CITY_UK_POSTCODE.match(part)):
            address.city, address.postal_code = clean_value(match["city"]), match["postal"].upper()
            if index and _UK_COUNTY.match(match["city"]) and not _HAS_NUMBER.search(parts[index - 1]):
                address.city = parts[index - 1]  # "Hove, East Sussex BN3 6HP": the county is not the town
        elif address.postal_code is None and index and (match := _US_STATE_ZIP.match(part)):
            address.postal_code = match["zip"]
            before = parts[index - 1]
            address.city = address.city or (None if _HAS_NUMBER.search(before) else before)
        elif (country := normalize_country(part)) and len(part) > 2:
            address.country = country
        elif address.street is None and _HAS_NUMBER.search(part):
            address.street = part
        elif address.street is not None and address.city is None and index == len(parts) - 2:
            address.city = part  # "1 Main St, Springfield, IL 62704": the city before the state and ZIP
    if address.street is None and parts and address.postal_code is None and len(parts) == 1:
        address.street = parts[0]
    if address.city and address.street == address.city:
        address.street = None
    return address


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
