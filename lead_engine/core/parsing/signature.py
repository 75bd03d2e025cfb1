"""Contact details from a free-text e-mail: the signature block at the bottom and addresses in the text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from cleanco.classify import typesources
from cleanco.clean import normalized, strip_tail

from lead_engine.core.parsing.normalise import UNIT, clean_value, normalize_country, split_address, split_postal_city
from lead_engine.core.parsing.replies import read_replies

# mail-parser-reply's signature regexes scan the whole text; a lead's signature is within this head.
MAX_SIGNATURE_SCAN = 20_000
_CLOSING = re.compile(
    r"^(?:mit )?(?:freundliche[n]?|beste[n]?|herzliche[n]?|viele|liebe|sonnige|schöne|solare)?\s*"
    r"gr(?:ü|ue)(?:ß|ss)(?:e|en)?\b"
    r"|^(?:mfg|vg|lg|bg)\b|^(?:best|kind|warm|many)?\s*(?:regards|thanks)\b|^best\b|^cheers\b|^thanks?\b"
    r"|^thank you\b|^danke\b|^sincerely\b|^yours\b|^all the best\b|^met vriendelijke groet|^cordialement\b"
    r"|^bien cordialement|^saludos\b|^cordiali saluti|^--\s*$",
    re.IGNORECASE,
)
# cleanco knows international legal forms but misses a few German ones.
_GERMAN_FORMS = re.compile(
    r"\b(?:e\.\s?K(?:fm|fr)?\.|eG|e\.\s?V\.|gGmbH|mbH|PartG(?:\s?mbB)?|KGaA|GbR|OHG|oHG|UG|SE)(?=\s|$|,|\))"
)
# cleanco's classifier matches a legal form when one whitespace-separated word of a name, normalised, equals a
# one-word form ("GmbH", "Ltd.", "S.A."): the same test on a precomputed set, without renormalising every form.
_LEGAL_TOKENS = frozenset(normalized(term) for _, term in typesources() if " " not in normalized(term))
_STREET = re.compile(
    r"^(?P<street>[^\d,:@|]{3,60}?\s\d{1,4}\s?[a-zA-Z]?(?:\s?[-/]\s?\d{1,4}[a-zA-Z]?)?)(?:\s*,\s*(?P<rest>.+))?$"
    r"|^(?P<en>\d{1,5}[a-zA-Z]?\s+[A-Za-z][^,@|]*\b(?:street|road|lane|avenue|way|drive|close|st|rd|ave)\.?)"
    r"(?:\s*,\s*(?P<enrest>.+))?$",
    re.IGNORECASE,
)
_POSTAL_LINE = re.compile(r"^(?:[A-Za-z]{1,2}\s?-\s?)?\d{4,5}\s+[^\d@|]{2,40}$")
_LABELLED = re.compile(r"^(?:tel|telefon|phone|fon|fax|mobil|mobile|handy|e-?mail|web|www|http|ust|hrb|amtsgericht)",
                       re.IGNORECASE)  # fmt: skip
_NAME_WORD = re.compile(r"^(?:[A-ZÄÖÜ][\w'’.-]*|von|van|de|der|den|zu|du|da|di|le|la|el)$")
# Bounded repeats: unbounded ones make a long run of letters without "@" quadratic.
_EMAIL = re.compile(r"[\w.+'-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")
_MAX_DOMAIN_CHARS = 63 + 8 * 64  # the longest domain part _EMAIL matches
_WEBSITE = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"'()\[\]|,;]+")
_SENT_FROM = re.compile(
    r"^\s*(?:von meinem \S+ gesendet|gesendet von (?:meinem )?\S+.*|sent from my \S+.*|get outlook for \S+.*)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_SELF_INTRODUCTION = re.compile(
    r"(?:\bwe(?:'|’)re|\bwe are|\bthis is|\bi(?:'|’)m \w+ (?:from|at)|\bi work (?:at|for)|\bhere at"
    r"|\bwir von (?:der|dem|den)|\bwir sind (?:die|der|das)?|\bich bin \w+ (?:von|bei) (?:der)?|\bhier ist (?:die|der)?"
    r"|\bbei (?:der|uns,? der)|\b(?:one of the )?(?:owners?|founders?|co-founder|ceo|director|manager) (?:of|at)"
    r"|\bon behalf of|\bim (?:namen|auftrag) (?:der|von)|\b(?:inhaber|geschäftsführer)(?:in)? (?:der|von))"
    r"\s+(?P<rest>[^\n]{3,120})",
    re.IGNORECASE,
)
_ABROAD = r"(?:\(?[2-9]\d{2}\)?[\s.-][2-9]\d{2}[\s.-]\d{4}|0\d{2,4}\s\d{3,4}\s?\d{3,4})"
_ABROAD_SHAPE = re.compile(f"^{_ABROAD}$")
_ABROAD_IN_LINE = re.compile(_ABROAD)
_DOTTED_FORM = re.compile(r"\b(?:co|inc|ltd|corp|bros)\.$", re.IGNORECASE)
_DIGIT_RUN = re.compile(r"\d[\d \t./()\-–]{4,}\d")
_SPLITTER = re.compile(r"\s+[|·•]\s+|\s*\|\s*|\s+[–—]\s+")


@dataclass
class SignatureFacts:
    """What a free-text e-mail says about its writer, before normalisation."""

    message: str = ""
    contact_name: str | None = None
    company: str | None = None
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None
    signature: str = ""


def has_legal_form(line: str) -> bool:
    """Whether a line names a company by its legal form (GmbH, AG, Ltd, Inc, e.K., …)."""
    line = line.strip()
    if not line or len(line) > 80 or "@" in line:
        return False
    if _GERMAN_FORMS.search(line):
        return True
    return any(_normalized_word(word) in _LEGAL_TOKENS for word in strip_tail(line).split())


def ends_with_legal_form(line: str) -> bool:
    """Whether a name ends in its legal form ("Elektro Brandl GmbH"), not merely contains a word like one."""
    words = strip_tail(line.strip()).split()
    return bool(words) and (bool(_GERMAN_FORMS.search(words[-1])) or _normalized_word(words[-1]) in _LEGAL_TOKENS)


@lru_cache(maxsize=16384)
def _normalized_word(word: str) -> str:
    return word.casefold() if word.isascii() else normalized(word)


def looks_like_name(line: str) -> bool:
    """Whether a line is a person's name alone (\"Jonas Reuter\", \"Dr. Anna von Berg\")."""
    words = line.replace(",", " ").split()
    if not 2 <= len(words) <= 5 or has_legal_form(line) or _LABELLED.match(line):
        return False
    words = [word for word in words if word.lower().rstrip(".") not in {"dr", "prof", "dipl.-ing", "herr", "frau"}]
    return len(words) >= 2 and all(_NAME_WORD.match(word) for word in words)


def _split_body(text: str) -> tuple[str, str]:
    head = _SENT_FROM.sub("", text[:MAX_SIGNATURE_SCAN])
    try:
        reply = read_replies(head)[0]
        body, signature = reply.body, reply.signatures
    except Exception:  # noqa: BLE001 - no split found is a valid answer
        body, signature = head, ""
    if not signature:
        # No closing phrase: a short last paragraph with contact data is still a signature.
        paragraphs = head.strip().split("\n\n")
        last = paragraphs[-1] if len(paragraphs) > 1 else ""
        contact_data = re.search(r"\d{4,}|@|www\.", last) or has_legal_form(last)
        # "Cheers,\nTom": a closing and a first name are a signature too.
        closing = _CLOSING.match(last.strip()) and last.strip().count("\n") < 3
        if last and last.count("\n") < 10 and (contact_data or closing):
            body, signature = "\n\n".join(paragraphs[:-1]), last
    return body.strip(), signature.strip()


def _signature_lines(signature: str) -> list[str]:
    lines: list[str] = []
    for line in signature.split("\n"):
        lines += [part.strip() for part in _SPLITTER.split(line.strip(" >")) if part.strip()]
    return lines


def _without_closing(body: str) -> str:
    # "Freundliche Grüße aus Salzburg", "Many thanks," left at the end of the body belong to the signature.
    lines = body.rstrip().split("\n")
    for index in range(len(lines) - 1, max(len(lines) - 4, 0) - 1, -1):
        if index and _CLOSING.match(lines[index].strip()) and len(lines[index]) < 60:
            return "\n".join(lines[:index]).rstrip()
    return body


def extract_signature_facts(text: str) -> SignatureFacts:
    """Split body and signature, then read name, company and address from the signature."""
    body, signature = _split_body(text)
    body = _without_closing(body)
    facts = SignatureFacts(message=body, signature=signature)
    lines = _signature_lines(signature)
    after_closing = [line for line in lines if not _CLOSING.match(line)]
    for line in after_closing[:3]:
        if facts.contact_name is None and looks_like_name(line):
            facts.contact_name = line
    for line in after_closing:
        if facts.company is None and has_legal_form(line) and not _LABELLED.match(line):
            facts.company = _company_part(line)
        _read_address_line(line, facts)
    facts.company = facts.company or company_in_prose(body)
    return facts


def _company_part(line: str) -> str | None:
    # "Head of Facilities, Evans Foods Ltd": the part that carries the legal form is the company.
    parts = [part for part in line.split(", ") if part.strip()]
    if len(parts) > 1:
        named = [index for index, part in enumerate(parts) if has_legal_form(part)]
        if len(named) == 1:
            index = named[0]
            # "Cascadia Outdoor Gear, Inc.": a legal form alone belongs to the name before it.
            if index and len(parts[index].split()) == 1:
                return clean_value(f"{parts[index - 1]}, {parts[index]}")
            return clean_value(parts[index])
    return clean_value(line)


def company_in_prose(text: str) -> str | None:
    """A company a writer names for themselves ("We're Acme Ltd and …", "wir von der Müller GmbH …")."""
    for match in _SELF_INTRODUCTION.finditer(text[:5000]):
        words = match["rest"].split()
        for end in range(min(len(words), 8), 0, -1):
            candidate = " ".join(words[:end]).rstrip(",;:!)")
            if not _DOTTED_FORM.search(candidate):  # "… Co." keeps its dot, a sentence's full stop goes
                candidate = candidate.rstrip(".")
            if has_legal_form(candidate) and all(
                word[:1].isupper() or word[:1] in "&+-" or has_legal_form(word) for word in candidate.split()
            ):
                return candidate
    return None


def _read_address_line(line: str, facts: SignatureFacts) -> None:
    if _LABELLED.match(line):
        return
    street = _STREET.match(line)
    if street and facts.street is None and not has_legal_form(line):
        facts.street = clean_value(street["street"] or street["en"])
        line = street["rest"] or street["enrest"] or ""
        # "1840 W Fulton St, Suite 300", "Unit 4, Cross Green Industrial Estate": one street in two parts.
        first, _, after = line.partition(",")
        joins = UNIT.match(first.strip()) or (UNIT.match(facts.street or "") and not re.search(r"\d", first))
        if first.strip() and joins:
            facts.street, line = f"{facts.street}, {first.strip()}", after.strip()
    if _POSTAL_LINE.match(line.strip()) and facts.postal_code is None:
        facts.postal_code, facts.city, prefix_country = split_postal_city(line)
        facts.country = facts.country or prefix_country
    elif facts.postal_code is None and len(line) < 60 and (address := split_address(line)).postal_code:
        # "Chicago, IL 60607", "Manchester M19 1BB": the postcode after the city.
        facts.postal_code, facts.city = address.postal_code, address.city
        facts.country = facts.country or address.country
    # Two letters alone ("Me", "To") are words in a signature, not country codes.
    elif facts.country is None and 2 < len(clean_value(line) or "") < 40 and (country := normalize_country(line)):
        facts.country = country


def find_phones(text: str, *, region: str) -> list[str]:
    """Phone numbers in a text in order of appearance, skipping fax lines; raw strings as written."""
    phones: list[str] = []
    for line in text.split("\n")[:400]:
        # A phone number is a run of six digits at least, maybe spaced; the matcher is slow, most lines have none.
        if any(sum(ch.isdigit() for ch in run) >= 6 for run in _DIGIT_RUN.findall(line)):
            phones += _phones_in_line(line[:500], region)
    return phones


def _phones_in_line(line: str, region: str) -> tuple[str, ...]:
    if re.search(r"(?i)\bfax\b|telefax", line) and not re.search(r"(?i)\btel\b|telefon|phone|mobil", line):
        return ()
    # "Tel. 030 … | Fax 030 …": a number right after "fax" is the fax.
    return tuple(
        match.raw_string
        for match in _match_phones(line, region)
        if not re.search(r"fax\W*$", line[: match.start].lower())
    )


def _match_phones(line: str, region: str) -> list[phonenumbers.PhoneNumberMatch]:
    # A number valid only abroad ("(312) 555-0147", "0117 496 0123") is still a number: the region is read later.
    try:
        matches = list(phonenumbers.PhoneNumberMatcher(line, region))
        if matches or not _ABROAD_IN_LINE.search(line):
            return matches
        # Only numbers written the way those countries write them: "(312) 555-0147", "0117 496 0123".
        abroad = list(phonenumbers.PhoneNumberMatcher(line, "US")) + list(phonenumbers.PhoneNumberMatcher(line, "GB"))
    except Exception:  # noqa: BLE001 - phonenumbers is defensive, but a lead must not fail on one line
        return []
    return [match for match in abroad if _ABROAD_SHAPE.match(match.raw_string)]


def find_emails(text: str) -> list[str]:
    """E-mail addresses in a text in order of appearance."""
    # What ``_EMAIL.findall`` finds, without trying the pattern at every position of the text: an address has
    # its "@" at most 64 characters after its start, so each search starts just before the next "@".
    text = text[:200_000]
    found: list[str] = []
    position = 0
    while (at := text.find("@", position)) >= 0:
        match = _EMAIL.search(text, max(position, at - 64), at + 1 + _MAX_DOMAIN_CHARS)
        if match is None or match.start() > at:
            position = at + 1
            continue
        found.append(match.group().strip(".'"))
        position = match.end()
    return found


def find_websites(text: str) -> list[str]:
    """Links and www-addresses in a text in order of appearance."""
    return [match.rstrip(".:") for match in _WEBSITE.findall(text[:200_000])]
