"""Free-text search over leads as a salesperson types it: "Müller", "mueller" and "muller" find the same leads.

Each lead keeps its searched values folded into one column, ``search_text``: lower case, accents and umlauts
removed, ß as ss, and the German spellings ae/oe/ue read as a/o/u. A query is folded the same way and each of
its words must occur somewhere in it. SQLite answers from an FTS5 trigram index of that column (kept by
triggers); PostgreSQL from a pg_trgm index, where the extension can be created. Matches in the company name
rank before matches in the contact, the e-mail address and so on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, func, literal_column, text
from sqlalchemy.sql.elements import ColumnElement

# In this order: a match further left ranks higher.
SEARCHED = ("company", "contact_name", "email", "city", "subject", "external_id", "sender")
SEPARATOR = " | "
FTS_TABLE = "lead_search"  # SQLite only
# Letters that do not decompose into a base letter and a mark.
_LETTERS = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"})
_GERMAN_E = re.compile(r"(?<=[aou])e")
_WORD = re.compile(r"\S+")
MIN_INDEXED = 3  # the trigram index finds words of three characters or more; shorter ones are checked directly


def fold(value: str) -> str:
    """``value`` as it is searched: lower case, without accents, "ß" as "ss", "ae"/"oe"/"ue" as "a"/"o"/"u"."""
    decomposed = unicodedata.normalize("NFKD", value.casefold().translate(_LETTERS))
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _GERMAN_E.sub("", bare)


def search_text(values: Mapping[str, Any] | Any) -> str:
    """The folded searched values of a lead (a mapping or a Lead), most important first."""
    get = values.get if isinstance(values, Mapping) else lambda name: getattr(values, name, None)
    return SEPARATOR.join(fold(str(value)) for name in SEARCHED if (value := get(name)))


def query_words(q: str) -> list[str]:
    """The folded words of a query; each must occur in a lead's search text."""
    return list(dict.fromkeys(_WORD.findall(fold(q))))[:8]


def _like(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_condition(column: Any, q: str, dialect: str) -> ColumnElement[bool] | None:
    """The WHERE condition for a query on ``column`` (the leads' search text); None when it has no words."""
    words = query_words(q)
    if not words:
        return None
    conditions: list[ColumnElement[bool]] = [column.like(_like(word), escape="\\") for word in words]
    indexed = [word for word in words if len(word) >= MIN_INDEXED]
    if dialect == "sqlite" and indexed:
        # The index narrows the leads to a few candidates; the LIKE above confirms each (and checks short words).
        phrase = " AND ".join('"' + word.replace('"', '""') + '"' for word in indexed)
        candidates = text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :phrase").bindparams(phrase=phrase)
        conditions.insert(0, literal_column("leads.rowid").in_(candidates))
    return and_(*conditions)


def relevance(column: Any, q: str, dialect: str) -> tuple[Any, ...]:
    """ORDER BY for the best match first: where the query's first word occurs (the company comes first)."""
    words = query_words(q)
    if not words:
        return ()
    position = func.instr(column, words[0]) if dialect == "sqlite" else func.strpos(column, words[0])
    return (func.coalesce(func.nullif(position, 0), 1_000_000),)
