"""HTML bodies to plain text that keeps the layout: table rows stay "Label   Value" lines."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig

# Past this size an HTML body is a newsletter or an attack, not a lead; the head holds the data.
MAX_HTML_CHARS = 500_000

_MARKUP = re.compile(r"(?is)<(script|style|head)\b.*?</\1\s*>|<[^>]*>|&\w+;")


def bare_text(html: str) -> str:
    """The words of an HTML body with tags and entities dropped: cheap, for measuring it, not for reading it."""
    return " ".join(_MARKUP.sub(" ", html).split())


_CONFIG = ParserConfig(css=CSS_PROFILES["strict"], display_links=False, display_images=False)
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template", "noscript"})
_BLOCK_TAGS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "hr"})


class _TextCollector(HTMLParser):
    """Flat, non-recursive text extraction for markup that lxml refuses (e.g. nesting past its depth limit)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")
        elif tag in {"td", "th"}:
            self.parts.append("   ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS and self._skipping:
            self._skipping -= 1

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _collect_text(html: str) -> str:
    collector = _TextCollector()
    try:
        collector.feed(html)
        collector.close()
    except Exception:  # noqa: BLE001 - last-resort reader: whatever was collected is better than nothing
        pass
    return "".join(collector.parts)


def html_to_text(html: str) -> str:
    """Render an HTML body as layout-aware text; never raises, falls back to a flat reader."""
    if not html or not html.strip():
        return ""
    html = html[:MAX_HTML_CHARS].replace("\x00", "")
    try:
        text = get_text(html, _CONFIG)
    except Exception:  # noqa: BLE001 - hostile markup can break lxml or inscriptis in many ways
        text = ""
    if not text.strip():
        text = _collect_text(html)
    return _tidy_text(text)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r", "").replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
