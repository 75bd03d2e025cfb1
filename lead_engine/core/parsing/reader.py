"""Generic reading of labelled values by shape: "Label: value", "Label   value" and "Label" then the value below."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lead_engine.core.parsing.lexicon import bracketed_key, lookup, normalize_label

_EMPTY_VALUES = frozenset({"-", "--", "n/a", "na", "k.a.", "k. a.", "keine angabe", "none", "null", "/", "."})
_COLON_LINE = re.compile(r"^[*\s]*(?P<label>[^:\n]{1,60}?)[*\s]*:[*\s]*(?P<value>.*)$")
_TABLE_LINE = re.compile(r"^\s*(?P<label>\S(?:.{0,58}?\S)?)(?:\s{2,}|\t+)(?P<value>\S.*)$")
_SEPARATOR = re.compile(r"^\s*(?:--\s*|-{3,}.*|_{3,}.*|={3,}.*|\+[-=+]{3,}\+?)$")
_MAX_VALUE_LINES = 60
# "--- Kontaktdaten ---", "=== Ihre Nachricht ===": a block heading; one that names a field ("--- Name ---") labels
# the value below it.
_HEADING = re.compile(r"^\s*[-=*#_]{2,}[^-=*#_].*?[-=*#_]{2,}\s*$")
# German gender forms ("Mitarbeiter:innen") have a colon that separates nothing.
_GENDER_COLON = re.compile(r"(?<=\w):(?=innen\b|in\b)")
_MAX_ADDRESS_LINES = 6
# Values that run over several lines below their caption: an address block, a booking's list of attendees.
_BLOCK_KEYS = frozenset({"address", "attendees"})
_PROSE_CHARS = 40
_DATA_VALUE = re.compile(r"^[\d\s+()/.-]+$|^\S+@\S+$|.*\b\d{4,5}\s+\w")
_URL_START = re.compile(r"^[a-z]+://", re.IGNORECASE)
_COLUMNS = re.compile(r"\S(?:\t|\s{2,})\S")
_CELL_JOIN = re.compile(r"\s+\|\s+(?=[^|:\n]{1,40}:)")
_ANSWERED_QUESTION = re.compile(r"^\s*[^:?\n]{3,100}\?\s*:\s*\S")
_QUESTION_START = re.compile(
    r"^\W*(?:(?:in|unter|an|mit|auf|for|at|on|by|with|from|to)\s+)?(?:wie|was|welche[rsmn]?|wo|wann|wer|wen|wem"
    r"|warum|wieso|weshalb|haben|hast|sind|bist|ist|gibt|möchten|möchtest|können|kannst|what|which|how|where|when"
    r"|who|whom|why|do|does|are|is|have|has|can|could|would|will|should|anything)\b",
    re.IGNORECASE,
)
_DATA = re.compile(r"[\d@]|\.\w")


@dataclass
class LabelValues:
    """Raw values by field key, in the order they were first seen, plus the lines that held them."""

    values: dict[str, str] = field(default_factory=dict)
    used_lines: set[int] = field(default_factory=set)


def field_for_label(
    label: str, *, questions: bool = False, max_words: int = 5, overrides: Mapping[str, str] | None = None
) -> str | None:
    """The field key a label stands for, or None for text that is no known label.

    Questions ("Wie heißt Ihr Unternehmen?") count as labels only with ``questions``: in free text they are prose.
    ``overrides`` are a sender profile's own labels (normalised label → key), tried before the lexicon.
    """
    normalized = normalize_label(label)
    if overrides and normalized in overrides:
        return overrides[normalized]
    if "(" in label and (key := bracketed_key(label)):
        return key
    is_question = questions and label.rstrip().endswith("?")
    words = normalized.count(" ") + 1
    if not normalized or len(normalized) > (120 if is_question else 45) or words > (16 if is_question else max_words):
        return None
    return lookup(normalized)


def _split_line(
    line: str, questions: bool, max_words: int = 5, overrides: Mapping[str, str] | None = None
) -> tuple[str, str] | None:
    stripped = line.strip()
    if not stripped or _URL_START.match(stripped):
        return None
    if _HEADING.match(stripped):
        # "--- Name ---" (WPForms' plain-text mail) labels the value below; "--- Kontaktdaten ---" is a heading.
        key = field_for_label(stripped.strip("-=*#_ "), max_words=max_words, overrides=overrides)
        return (key, "") if key else None
    if ":in" in stripped:
        stripped = _GENDER_COLON.sub("", stripped)
    if stripped.startswith("|") and stripped.endswith("|") and stripped.count("|") == 3:
        stripped = "   ".join(cell.strip() for cell in stripped.strip("|").split("|"))  # "| email | a@b.de |"
    bare = stripped.rstrip(":").strip()
    # A line alone is a label when it ends in a colon, is a form question, or is a short caption ("Firma").
    # A tab or a run of spaces between words separates a label from its value: such a line is a row, not a caption.
    is_caption = (
        ":" not in bare
        and not _COLUMNS.search(bare.replace("*", ""))
        and (
            stripped.endswith(":")
            or (questions and bare.endswith("?"))
            or (bare.count(" ") < (6 if questions else 3) and not _DATA.search(bare) and bare[-1:] not in ".!")
        )
    )
    if is_caption and (key := field_for_label(bare, questions=questions, max_words=max_words, overrides=overrides)):
        return key, ""
    for pattern in (_COLON_LINE, _TABLE_LINE):
        match = pattern.match(stripped)
        if match and (key := field_for_label(match["label"], max_words=max_words, overrides=overrides)):
            return key, match["value"].strip()
    return None


def _is_empty(value: str) -> bool:
    return value.strip().lower() in _EMPTY_VALUES


def _is_label_below(line: str, questions: bool, labels: Mapping[str, str] | None, max_words: int = 5) -> bool:
    # A question is a label when it asks ("Wie heißt Ihr Unternehmen?"); an answer that ends in a question mark
    # ("… Interesse an einer Kooperation?") is the value of the caption above it.
    if _split_line(line, questions, max_words, labels) is None:
        return False
    return not line.rstrip().endswith("?") or bool(_QUESTION_START.match(line))


def _heading_follows(lines: list[str], index: int, questions: bool, labels: Mapping[str, str] | None) -> bool:
    # "Kontaktdaten des Einkäufers" / "Sender's contact details" after a blank line, then labelled lines: the
    # message is over.
    if index + 1 >= len(lines):
        return False
    heading = lines[index].strip()
    if not heading or heading.count(" ") > 4 or heading[-1:] in ".!?,":
        return False
    return _split_line(lines[index + 1], questions, overrides=labels) is not None


def extract_label_values(text: str, *, questions: bool = False, labels: Mapping[str, str] | None = None) -> LabelValues:
    """Read every "Label: value", "Label   value" and "Label⏎value" pair of a text; first occurrence wins.

    ``labels`` are a sender profile's own labels (normalised label → field key), tried before the lexicon.
    """
    found = LabelValues()
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        split = _split_line(lines[index], questions, overrides=labels)
        if split is None:
            index += 1
            continue
        key, value = split
        taken = [index]
        if key == "unlabelled" and len(value) > _PROSE_CHARS and not _DATA_VALUE.match(value):
            key = "message"  # a form field nobody named ("Field 3") holding prose is the visitor's message
        elif key == "unlabelled":
            key = f"unlabelled {index}"  # "Field", "Field 2", …: each is its own value
        if key == "message":
            body = [value] if value else []
            cursor = index + 1
            while cursor < len(lines) and len(body) < _MAX_VALUE_LINES:
                # Prose inside a message ("Wir haben drei Standorte: …") must not end it; real labels are short.
                if _SEPARATOR.match(lines[cursor]) or _is_label_below(lines[cursor], questions, labels, 3):
                    break
                # "How did you hear about us?: Podcast", or that question alone: the next field, not prose.
                if _ANSWERED_QUESTION.match(lines[cursor]) or _split_line(lines[cursor], True, 12, labels) == (
                    "ignore",
                    "",
                ):
                    break
                if not lines[cursor].strip() and _heading_follows(lines, cursor + 1, questions, labels):
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
            if following and not _is_label_below(following, questions, labels) and not _SEPARATOR.match(following):
                value = lines[cursor].strip()
                taken.append(cursor)
                index = cursor + 1
            else:
                index += 1
        else:
            index += 1
            value = _CELL_JOIN.split(value, maxsplit=1)[0]  # "1187 | Submitted: 03/06/2025": the first cell
        if key in _BLOCK_KEYS and value:
            # An address block runs over several lines: street, postcode and city, country.
            while index < len(lines) and len(taken) <= _MAX_ADDRESS_LINES:
                line = lines[index]
                if not line.strip() or _SEPARATOR.match(line) or _split_line(line, questions, overrides=labels):
                    break
                value += "\n" + line.strip()
                taken.append(index)
                index += 1
        # A one-line "Type of request: Request for quotation" gives way to the real message below it.
        longer = (
            key == "message" and "\n" not in found.values.get(key, "\n") and len(value) > 2 * len(found.values[key])
        )
        if value and not _is_empty(value) and (key not in found.values or longer):
            found.values[key] = value
            found.used_lines.update(taken)
    return found
