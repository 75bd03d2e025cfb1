"""Reading spreadsheets: encodings, delimiters, quoting, Excel workbooks, and clear errors for what is none."""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lead_engine.core.errors import LeadEngineError, PayloadTooLargeError, UnprocessableError
from lead_engine.core.imports.mapping import TARGETS
from lead_engine.core.imports.reading import read_table
from lead_engine.core.imports.rows import read_row

FIXTURES = Path(__file__).parents[1] / "fixtures" / "imports"
LIMIT = 10_000_000


def read(data: bytes) -> tuple[list[str], list[list[str]], str, str]:
    table = read_table(data, max_bytes=LIMIT)
    return table.header, table.rows, table.encoding, table.delimiter


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Firma,Ort\nMüller GmbH,Köln\n".encode(), "utf-8"),  # the default everywhere but Excel
        ("Firma,Ort\nMüller GmbH,Köln\n".encode("utf-8-sig"), "utf-8-sig"),  # Excel's "CSV UTF-8"
        ("Firma,Ort\nMüller GmbH,Köln\n".encode("cp1252"), "cp1252"),  # Excel's plain "CSV" on German Windows
        ("Firma,Ort\nMüller GmbH,Köln\n".encode("latin-1"), "cp1252"),  # ISO-8859-1: the same bytes for letters
        ("Firma,Ort\nMüller GmbH,Köln\n".encode("utf-16"), "utf-16"),  # Excel's "Unicode text"
    ],
)
def test_every_common_encoding_reads_umlauts(data: bytes, encoding: str) -> None:
    header, rows, found, _ = read(data)
    assert header == ["Firma", "Ort"]
    assert rows == [["Müller GmbH", "Köln"]]
    assert found == encoding


def test_windows_1252_keeps_the_euro_sign() -> None:
    _, rows, encoding, _ = read("Budget\n5.000 €\n".encode("cp1252"))
    assert (rows, encoding) == ([["5.000 €"]], "cp1252")


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),  # plain CSV
        ("a;b;c\n1;2,5;3\n", ";"),  # German Excel: semicolons, decimal commas inside cells
        ("a\tb\tc\n1\t2\t3\n", "\t"),  # tab-separated (Excel's "Unicode text", copied tables)
        ("a|b|c\n1|2|3\n", "|"),  # pipe-separated exports
    ],
)
def test_the_delimiter_is_detected(text: str, delimiter: str) -> None:
    header, rows, _, found = read(text.encode())
    assert found == delimiter
    assert header == ["a", "b", "c"]
    assert len(rows[0]) == 3


def test_quoted_cells_keep_newlines_delimiters_and_quotes() -> None:
    text = 'Firma;Notiz\n"Müller; Söhne";"Rückruf erbeten,\nam liebsten ""vormittags"""\nB;x\n'
    _, rows, _, delimiter = read(text.encode())
    assert delimiter == ";"
    assert rows == [["Müller; Söhne", 'Rückruf erbeten,\nam liebsten "vormittags"'], ["B", "x"]]


def test_rows_are_numbered_as_the_spreadsheet_shows_them() -> None:
    table = read_table(b'a,b\n"1\n2",x\n\n,\n3,y\n', max_bytes=LIMIT)
    # The header is row 1; a quoted newline stays in its row; empty rows are left out but counted.
    assert table.numbers == [2, 5]
    assert table.rows == [["1\n2", "x"], ["3", "y"]]


def test_short_and_long_rows_fit_the_header_and_names_are_unique() -> None:
    header, rows, _, _ = read(b"Telefon,Telefon,\n1,2,3,4\n5\n")
    assert header == ["Telefon", "Telefon (2)", "Column 3"]
    assert rows == [["1", "2", "3"], ["5", "", ""]]


def test_the_fixture_files_read_as_their_tools_wrote_them() -> None:
    cp1252 = read_table((FIXTURES / "excel_semicolon_cp1252.csv").read_bytes(), max_bytes=LIMIT)
    assert (cp1252.encoding, cp1252.delimiter) == ("cp1252", ";")
    assert cp1252.rows[1][-1] == "Rückruf erbeten;\r\nam liebsten vormittags"
    assert cp1252.rows[2][3] == "Weiß"
    utf16 = read_table((FIXTURES / "excel_unicode_text_utf16.txt").read_bytes(), max_bytes=LIMIT)
    assert (utf16.encoding, utf16.delimiter, utf16.rows[0][0]) == ("utf-16", "\t", "Petra Lang")
    bom = read_table((FIXTURES / "utf8_bom_quoted_comma.csv").read_bytes(), max_bytes=LIMIT)
    assert bom.header[0] == "Company" and bom.rows[0][0] == "Acme, Inc."


def test_an_excel_workbook_reads_its_first_sheet_with_numbers_as_written() -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Firma", "Telefon", "PLZ", "Umsatz"])
    sheet.append(["Müller GmbH", 4989123456, 1067, 1234.5])
    sheet.append([None, None, None, None])
    sheet.append(["Groß KG", "+49 351 445566", "01067", None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    header, rows, encoding, _ = read(buffer.getvalue())
    assert header == ["Firma", "Telefon", "PLZ", "Umsatz"]
    # A phone number typed as a number keeps its digits (no "4989123456.0"); text cells stay as typed.
    assert rows == [["Müller GmbH", "4989123456", "1067", "1234.5"], ["Groß KG", "+49 351 445566", "01067", ""]]
    assert encoding == "binary"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),  # nothing at all
        (b"  \r\n\n", "the file is empty"),  # only blank lines
        (b"Firma,Name\n", "a header row but no data rows"),  # a header only
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a spreadsheet"),  # a picture
        (b"PK\x03\x04 not really a workbook", "not a spreadsheet"),  # a zip that is no workbook
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "not a spreadsheet"),  # a broken old .xls
    ],
)
def test_what_is_no_spreadsheet_gets_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(UnprocessableError, match=message):
        read_table(data, max_bytes=LIMIT)


def test_a_file_over_the_limit_is_refused_with_both_sizes() -> None:
    with pytest.raises(PayloadTooLargeError, match=r"the file is 2\.0 MB; files up to 1 MB can be imported"):
        read_table(b"a\n" * 1_000_000, max_bytes=1_000_000)


def test_too_many_columns_are_refused() -> None:
    with pytest.raises(UnprocessableError, match="301 columns"):
        read_table((",".join(f"c{i}" for i in range(301)) + "\n" + "x," * 300 + "x\n").encode(), max_bytes=LIMIT)


def test_other_code_pages_are_left_to_the_detector() -> None:
    _, rows, encoding, _ = read("Фирма,Город\nООО Ромашка,Москва\n".encode("cp1251"))
    assert (rows, encoding) == ([["ООО Ромашка", "Москва"]], "cp1251")


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_read_as_a_table_or_fail_with_a_reason(data: bytes) -> None:
    try:
        table = read_table(data, max_bytes=LIMIT)
    except LeadEngineError:
        return
    assert table.header and all(len(row) == len(table.header) for row in table.rows)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(TARGETS), st.text(max_size=300), max_size=len(TARGETS)))
def test_any_cells_make_a_lead_or_a_rejection_never_an_error(values: dict[str, str]) -> None:
    reading = read_row(values, country="DE")
    assert reading.rejected or reading.parsed.value("email") or reading.parsed.value("phone")
    for found in reading.parsed.fields.values():
        assert found.value == found.value.strip() and "\x00" not in found.value
