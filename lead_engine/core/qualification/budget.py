"""Reading a budget out of what a lead wrote: "ca. 25.000 EUR", "£25k", "50,000 USD", "bis 5.000 €"."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SYMBOLS = {"€": "EUR", "$": "USD", "£": "GBP"}
_CODES = r"EUR|Euro|USD|US-?\$|Dollar|GBP|CHF|Fr\.|SFr\.?|€|\$|£"
_NUMBER = r"\d{1,3}(?:[.,' \u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_SCALE = r"k|K|Tsd\.?|tsd\.?|T€|Mio\.?|mio\.?|m|M|million|Millionen"
_AMOUNT = re.compile(
    rf"(?P<pre>{_CODES})?\s?(?P<number>{_NUMBER})\s?(?P<scale>{_SCALE})?\.?\s?(?P<post>{_CODES})?(?!\w)",
)
_CURRENCY_WORDS = {
    "euro": "EUR",
    "dollar": "USD",
    "us$": "USD",
    "us-$": "USD",
    "fr.": "CHF",
    "sfr.": "CHF",
    "sfr": "CHF",
}
_SCALES = {"k": 1_000, "tsd": 1_000, "t€": 1_000, "mio": 1_000_000, "m": 1_000_000, "million": 1_000_000}


@dataclass(frozen=True)
class Budget:
    """An amount with its currency code (ISO 4217)."""

    amount: float
    currency: str

    def in_eur(self, rates: dict[str, float]) -> float | None:
        """The amount in EUR at the given rates (EUR per unit), or None for a currency without a rate."""
        rate = rates.get(self.currency)
        return self.amount * rate if rate else None

    def __str__(self) -> str:
        return f"{self.amount:,.0f} {self.currency}".replace(",", " ")


def _currency(token: str | None) -> str | None:
    if not token:
        return None
    token = token.strip()
    return _SYMBOLS.get(token) or _CURRENCY_WORDS.get(token.lower()) or token.upper()


def _number(text: str) -> float:
    # "25.000" and "25,000" group thousands; "2,5" and "2.50" carry decimals (one or two digits after the mark).
    text = re.sub(r"[' \u00a0\u202f]", "", text)
    if re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", text):
        return float(re.sub(r"[.,]", "", text))
    head, _, tail = text.rpartition("," if "," in text[-3:] else ".")
    if head and len(tail) <= 2:
        return float(re.sub(r"[.,]", "", head) + "." + tail)
    return float(re.sub(r"[.,]", "", text))


def parse_budget(text: str | None, *, default_currency: str = "EUR") -> Budget | None:
    """The largest amount named with a currency (or in a budget field, any amount); None when there is none.

    ``default_currency`` applies only to a bare number, which counts only when the text says no currency at all
    (a budget field holding "25000").
    """
    if not text:
        return None
    best: Budget | None = None
    bare: list[float] = []
    for match in _AMOUNT.finditer(text[:5000]):
        try:
            amount = _number(match["number"])
        except ValueError:
            continue
        scale = (match["scale"] or "").lower().rstrip(".")
        amount *= _SCALES.get(scale.removesuffix("en").removesuffix("nen") if scale else "", 1)
        currency = _currency(match["pre"] or match["post"])
        if currency is None:
            bare.append(amount)
            continue
        if best is None or amount > best.amount:
            best = Budget(amount, currency)
    if best is None and bare and re.fullmatch(r"[\s\d.,'kKmM]*(?:Tsd\.?|Mio\.?)?\s*", text[:200]):
        best = Budget(max(bare), default_currency)
    return best
