"""Realistic spreadsheets of leads (a trade-fair list, a CRM export) for import tests and the import benchmark."""

from __future__ import annotations

import csv
import io
import random

FIRST = ["Anna", "Jörg", "Katrin", "Stefan", "Özgür", "Sofia", "James", "Petra", "Lukas", "Marie", "Jürgen", "Emma"]
LAST = [
    "Müller",
    "Schmidt",
    "Weiß",
    "Groß",
    "Vogel",
    "Koch",
    "Keller",
    "Brandt",
    "Carter",
    "Lang",
    "Bäcker",
    "Hoffmann",
]
KINDS = ["Logistik", "Metallbau", "Elektro", "Holzbau", "Druck", "Maschinenbau", "Präzision", "Lager", "Kühltechnik"]
FORMS = ["GmbH", "GmbH & Co. KG", "AG", "KG", "e.K.", "Ltd", "UG (haftungsbeschränkt)"]
CITIES = [("80331", "München", "089"), ("20095", "Hamburg", "040"), ("50667", "Köln", "0221"),
          ("01067", "Dresden", "0351"), ("70173", "Stuttgart", "0711"), ("28195", "Bremen", "0421")]  # fmt: skip
NOTES = ["Interesse an Hallenbau, ca. 1.500 m²", "Bitte Angebot für 3 Regalanlagen", "Rückruf erbeten",
         "Messe-Gespräch: Budget 50.000 €, Start im Frühjahr", "", "Kein Bedarf vor 2027"]  # fmt: skip
HEADER = ["Firma", "Anrede", "Vorname", "Nachname", "E-Mail", "Telefon", "Straße", "PLZ", "Ort", "Website", "Notiz"]


def lead_rows(count: int, *, seed: int = 7, start: int = 0) -> list[list[str]]:
    """``count`` rows of distinct leads (row ``i`` is always the same lead for a seed), in ``HEADER``'s order."""
    rows = []
    for number in range(start, start + count):
        pick = random.Random(seed * 1_000_003 + number)
        first, last = pick.choice(FIRST), pick.choice(LAST)
        company = f"{last} {pick.choice(KINDS)} {pick.choice(FORMS)}"
        domain = f"{last.lower().translate(str.maketrans({'ü': 'ue', 'ö': 'oe', 'ä': 'ae', 'ß': 'ss'}))}-{number}.de"
        postal, city, area = pick.choice(CITIES)
        salutation = "Frau" if first in {"Anna", "Katrin", "Sofia", "Petra", "Marie", "Emma"} else "Herr"
        phone = f"{area} {pick.randint(100000, 9999999)}"
        street = f"Industriestraße {pick.randint(1, 120)}"
        email = f"{first.lower()[:1]}.{number}@{domain}"
        rows.append([company, salutation, first, last, email, phone, street, postal, city, f"www.{domain}",
                     pick.choice(NOTES)])  # fmt: skip
    return rows


def csv_bytes(header: list[str], rows: list[list[str]], *, delimiter: str = ";", encoding: str = "utf-8") -> bytes:
    """A CSV file as the tool writes it (German Excel: semicolons and CRLF)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)
