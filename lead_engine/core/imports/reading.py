"""Reading a spreadsheet into a header and rows: CSV with its encoding and delimiter detected, or Excel/ODS."""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time

from charset_normalizer import from_bytes

from lead_engine.core.errors import PayloadTooLargeError, UnprocessableError

DELIMITERS = (",", ";", "\t", "|")
WESTERN_ACCENTED_SHARE = 0.2
MAX_COLUMNS = 300
# Signs besides the accented letters that Western European text holds (Windows-1252 reads ISO-8859-1's letters
# alike; the two differ only in 0x80–0x9F, where ISO-8859-1 has no printable characters).
_WESTERN_SIGNS = frozenset("€„“”‚‘’–—…•·°²³µ§©®«»½¼¾£¥¢¿¡ªº±\xa0")
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0"
NOT_A_SPREADSHEET = "this is not a spreadsheet: CSV, .xlsx, .xls and .ods files can be imported"


@dataclass(frozen=True)
class Table:
    """A sheet's header and data rows (cells as text), where each row sits in the file, and how it was read."""

    header: list[str]
    rows: list[list[str]]
    # The spreadsheet row number of each data row (the header is row 1 when it is the first line).
    numbers: list[int]
    encoding: str
    delimiter: str


def decode_text(data: bytes) -> tuple[str, str]:
    """The file's text and the encoding it was written in (UTF-8 with or without BOM, UTF-16, Windows-1252 …)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    if b"\x00" in data[:8192]:
        raise UnprocessableError(f"{NOT_A_SPREADSHEET} (it looks like a binary file)")
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    if _reads_as_western(data):
        return data.decode("cp1252"), "cp1252"
    best = from_bytes(data[:1_000_000]).best()
    if best is None:
        return data.decode("latin-1"), "iso-8859-1"
    name = codecs.lookup(best.encoding).name
    return data.decode(name, errors="replace"), name


def _reads_as_western(data: bytes) -> bool:
    """Whether Windows-1252 turns every non-ASCII byte into a letter or sign of Western European text.

    Detectors guess poorly on a few umlauts (a short German file reads as Ukrainian to charset-normalizer);
    a file whose every such byte reads as "ä", "ß", "é" or "€", among mostly plain letters, is what Excel
    wrote on a German or English PC.
    """
    try:
        text = data[:1_000_000].decode("cp1252")
    except UnicodeDecodeError:
        return False
    high = [ch for ch in text if ord(ch) > 0x7F]
    if not all(ch in _WESTERN_SIGNS or ("\xc0" <= ch <= "\xff" and ch not in "\xd7\xf7") for ch in high):
        return False
    # Cyrillic or Greek in their Windows code pages also reads as accented letters, but nearly every letter is
    # one; in German, French or Spanish few are.
    letters = sum(ch.isalpha() for ch in text)
    return len(high) <= WESTERN_ACCENTED_SHARE * max(letters, 1)


def detect_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most columns, the same number on every line."""
    sample = text[:64_000]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = [row for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if any(row)][:20]
        except csv.Error:
            continue
        if len(rows) > 1 and not sample.endswith("\n"):
            rows = rows[:-1]  # the sample may cut the last line short
        widths = [len(row) for row in rows]
        if not widths or max(widths) < 2:
            continue
        consistent = sum(width == widths[0] for width in widths)
        score = (consistent, widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        # Excel keeps phone numbers and postcodes typed as numbers as floats: 4989123456.0 is "4989123456".
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes") if value.time() != time() else value.date().isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _sheet_rows(data: bytes) -> list[list[str]]:
    from python_calamine import CalamineWorkbook

    try:
        sheet = CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
        return [[_cell(value) for value in row] for row in sheet.to_python(skip_empty_area=True)]
    except Exception as exc:  # calamine raises its own errors for anything it cannot read
        raise UnprocessableError(f"{NOT_A_SPREADSHEET} (the workbook could not be read: {str(exc)[:120]})") from exc


def _header_names(cells: list[str]) -> list[str]:
    names: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = " ".join(cell.split()) or f"Column {index}"
        if name in names:
            name = f"{name} ({sum(existing.split(' (')[0] == name for existing in names) + 1})"
        names.append(name)
    return names


def read_table(data: bytes, *, max_bytes: int) -> Table:
    """The first sheet (or the CSV) as a header and its data rows; a clear UnprocessableError for anything else."""
    if len(data) > max_bytes:
        size, limit = len(data) / 1_000_000, max_bytes / 1_000_000
        raise PayloadTooLargeError(f"the file is {size:.1f} MB; files up to {limit:g} MB can be imported")
    if not data.strip():
        raise UnprocessableError("the file is empty")
    if data.startswith((_ZIP, _OLE)):
        encoding, delimiter = "binary", ""
        records = _sheet_rows(data)
    else:
        text, encoding = decode_text(data)
        delimiter = detect_delimiter(text)
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error as exc:
            raise UnprocessableError(f"the CSV file could not be read: {exc}") from exc
    numbered = [(number, row) for number, row in enumerate(records, start=1) if any(cell.strip() for cell in row)]
    if not numbered:
        raise UnprocessableError("the file has no rows")
    header_cells = numbered[0][1]
    if len(header_cells) > MAX_COLUMNS:
        raise UnprocessableError(f"the file has {len(header_cells)} columns; at most {MAX_COLUMNS} can be imported")
    header = _header_names(header_cells)
    width = len(header)
    rows = [[cell.strip() for cell in row[:width]] + [""] * (width - len(row)) for _, row in numbered[1:]]
    if not rows:
        raise UnprocessableError("the file has a header row but no data rows")
    return Table(header, rows, [number for number, _ in numbered[1:]], encoding, delimiter)
