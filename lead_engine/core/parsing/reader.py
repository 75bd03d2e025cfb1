"""Generic "Label: value" reading with a German/English alias table; values on the same or the next line."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Ordered: the first pattern that matches a label wins, so specific labels come before the words they contain
# ("Anfrage-ID" before "Anfrage", "Firmen-E-Mail" before "Firma", "Unternehmensgröße" before "Unternehmen").
# Besides canonical fields there are helper keys: first_name, last_name, postal_city, house_number, sender,
# fax, job_title, subject and ignore; the parser merges or drops them.
_ALIASES: tuple[tuple[str, str], ...] = (
    (r"^(?:nr|hausnr|hausnummer|house ?number|no)\.?$", "house_number"),
    (r"^(?:von|from|absender|sender|gesendet von)$", "sender"),
    (r"anfrage[- ]?(?:id|nr|nummer)|anfragenummer|request[- ]?id|lead[- ]?id|referenz|reference|vorgangsnummer"
     r"|ticket[- ]?(?:id|nr)|auftragsnummer|inquiry[- ]?id", "external_id"),
    (r"e-?mail|\bmail\b|mailadresse", "email"),
    (r"\bfax\b|telefax", "fax"),
    (r"\btelefon(?:nummer|nr)?\b|phone|\bmobil(?:nummer|telefon)?\b|\bhandy(?:nummer)?\b|\btel\b|rufnummer|\bfon\b"
     r"|\bmobile\b|\bcell\b|whatsapp", "phone"),
    (r"website|webseite|homepage|internetseite|internet|\burl\b|\bweb\b|\bwww\b|domain", "website"),
    (r"(?:plz|postleitzahl|zip|postal ?code|post ?code)\s*(?:/|,|und|&|and|\+)?\s*(?:ort|stadt|city|town)",
     "postal_city"),
    (r"^(?:ort|stadt|city)\s*(?:/|,|und|&|and)?\s*(?:plz|postleitzahl|zip)$", "postal_city"),
    (r"\bplz\b|postleitzahl|\bzip\b|postal ?code|post ?code|postcode", "postal_code"),
    (r"stra(?:ß|ss)e|street|anschrift|adresse|address", "street"),
    (r"\bort\b|\bstadt\b|\bcity\b|\btown\b|wohnort|standort|\blocation\b", "city"),
    (r"bundesland|\bstate\b|region|kanton", "ignore"),
    (r"\bland\b|country|\bstaat\b", "country"),
    (r"branche|industry|sector|\bsektor\b|geschäftsfeld|tätigkeitsbereich", "industry"),
    (r"mitarbeiter|beschäftigte|employees|company size|unternehmensgr(?:ö|oe)(?:ß|ss)e|firmengr(?:ö|oe)(?:ß|ss)e"
     r"|team size|headcount|anzahl der angestellten", "employees"),
    (r"budget|investitionsvolumen|projektvolumen|auftragsvolumen", "budget"),
    (r"vorname|first ?name|given name", "first_name"),
    (r"nachname|last ?name|surname|familienname|family name", "last_name"),
    (r"^(?:anrede|salutation|title|titel)$", "salutation"),
    (r"firma|firmenname|unternehmen|company|organi[sz]ation|\bbetrieb\b|arbeitgeber|institution|business name",
     "company"),
    (r"position|job ?title|funktion|\brolle\b|\brole\b|abteilung|department", "job_title"),
    (r"ansprechpartner|kontaktperson|contact person|\bname\b|^kontakt$|^contact$|wer sind sie|who are you"
     r"|wie heißen sie",
     "contact_name"),
    (r"nachricht|message|anfrage|anliegen|kommentar|comment|beschreibung|details|bemerkung|mitteilung"
     r"|ihre frage|your question|how can we help|wie können wir|was können wir|womit können wir"
     r"|what can we do|projekt|vorhaben|nachrichtentext|message body",
     "message"),
    (r"^(?:betreff|subject)$", "subject"),
    (r"^(?:datum|date|uhrzeit|time|gesendet|sent|an|to|cc)$", "ignore"),
)  # fmt: skip
_COMPILED = tuple((re.compile(pattern), key) for pattern, key in _ALIASES)
_EMPTY_VALUES = frozenset({"-", "--", "n/a", "na", "k.a.", "k. a.", "keine angabe", "none", "null", "/", "."})
_COLON_LINE = re.compile(r"^[*\s]*(?P<label>[^:\n]{1,60}?)[*\s]*:[*\s]*(?P<value>.*)$")
_TABLE_LINE = re.compile(r"^\s*(?P<label>\S(?:.{0,58}?\S)?)(?:\s{2,}|\t+)(?P<value>\S.*)$")
_SEPARATOR = re.compile(r"^\s*(?:--\s*|-{3,}.*|_{3,}.*|={3,}.*)$")
_MAX_VALUE_LINES = 60
_DATA = re.compile(r"[\d@]|\.\w")


@dataclass
class LabelValues:
    """Raw values by field key, in the order they were first seen, plus the lines that held them."""

    values: dict[str, str] = field(default_factory=dict)
    used_lines: set[int] = field(default_factory=set)


def _normalize_label(label: str) -> str:
    label = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", label.lower()).replace("*", " ")
    return " ".join(label.replace("_", " ").split()).strip(" ?:.-")


def field_for_label(label: str, *, questions: bool = False, max_words: int = 5) -> str | None:
    """The field key a label stands for, or None for text that is no known label.

    Questions ("Wie heißt Ihr Unternehmen?") count as labels only with ``questions``: in free text they are prose.
    """
    normalized = _normalize_label(label)
    is_question = questions and label.rstrip().endswith("?")
    words = normalized.count(" ") + 1
    if not normalized or len(normalized) > (120 if is_question else 45) or words > (16 if is_question else max_words):
        return None
    for pattern, key in _COMPILED:
        if pattern.search(normalized):
            return key
    return None


def _split_line(line: str, questions: bool, max_words: int = 5) -> tuple[str, str] | None:
    stripped = line.strip()
    if not stripped or re.match(r"^[a-z]+://", stripped, re.IGNORECASE):
        return None
    bare = stripped.rstrip(":").strip()
    # A line alone is a label when it ends in a colon, is a form question, or is a short caption ("Firma").
    is_caption = ":" not in bare and (
        stripped.endswith(":")
        or (questions and bare.endswith("?"))
        or (bare.count(" ") < (6 if questions else 3) and not _DATA.search(bare))
    )
    if is_caption and (key := field_for_label(bare, questions=questions, max_words=max_words)):
        return key, ""
    for pattern in (_COLON_LINE, _TABLE_LINE):
        match = pattern.match(stripped)
        if match and (key := field_for_label(match["label"], max_words=max_words)):
            return key, match["value"].strip()
    return None


def _is_empty(value: str) -> bool:
    return value.strip().lower() in _EMPTY_VALUES


def extract_label_values(text: str, *, questions: bool = False) -> LabelValues:
    """Read every "Label: value", "Label   value" and "Label⏎value" pair of a text; first occurrence wins."""
    found = LabelValues()
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        split = _split_line(lines[index], questions)
        if split is None:
            index += 1
            continue
        key, value = split
        taken = [index]
        if key == "message":
            body = [value] if value else []
            cursor = index + 1
            while cursor < len(lines) and len(body) < _MAX_VALUE_LINES:
                # Prose inside a message ("Wir haben drei Standorte: …") must not end it; real labels are short.
                if _SEPARATOR.match(lines[cursor]) or _split_line(lines[cursor], questions, 3) is not None:
                    break
                body.append(lines[cursor])
                taken.append(cursor)
                cursor += 1
            value = "\n".join(body).strip()
            index = cursor
        elif not value:
            cursor = index + 1
            while cursor < len(lines) and not lines[cursor].strip():
                cursor += 1
            following = lines[cursor] if cursor < len(lines) else ""
            if following and _split_line(following, questions) is None and not _SEPARATOR.match(following):
                value = lines[cursor].strip()
                taken.append(cursor)
                index = cursor + 1
            else:
                index += 1
        else:
            index += 1
        if value and not _is_empty(value) and key not in found.values:
            found.values[key] = value
            found.used_lines.update(taken)
    return found
