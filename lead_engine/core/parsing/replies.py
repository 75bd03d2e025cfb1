"""mail-parser-reply's split of a mail into replies, signatures and disclaimers, for German and English mails.

The library builds and compiles its three patterns for every message and runs each one over every text; here they
are built once, and skipped on texts they cannot match. The answers are the library's own.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage, EmailReply

# Letters a case-blind pattern takes for a word's letter although str.lower() does not turn them into it.
_CASE_TWINS = (("ı", "i"), ("ſ", "s"), ("ᲂ", "о"), ("ᲃ", "с"))


def fold_case(text: str) -> str:
    """Text lower-cased the way a case-blind pattern compares letters: one by one ("İ" is an "i")."""
    folded = (text.replace("İ", "i") if "İ" in text else text).lower()
    for twin, letter in _CASE_TWINS:
        if twin in folded:
            folded = folded.replace(twin, letter)
    return folded


_LANGUAGES = tuple(EmailReplyParser(languages=["de", "en"]).languages)
_TEMPLATE = EmailMessage(text="", languages=list(_LANGUAGES))
_HEADERS = _TEMPLATE.HEADER_REGEX
_DISCLAIMERS = _TEMPLATE.DISCLAIMERS_REGEX
_SIGNATURES = _TEMPLATE.SIGNATURE_REGEX
_NEVER = re.compile(r"(?!)")
# The signature pattern ends in "(.|\s)*": the rest of the text, one character at a time. The match always runs
# to the end of the text, so where it starts is all the pattern says, and the pattern without that tail says it.
_TAIL = r"(.|\s)*)"
_SIGNATURE_START = (
    re.compile(_SIGNATURES.pattern[1 : -len(_TAIL)], _SIGNATURES.flags)
    if _SIGNATURES.pattern.startswith("(") and _SIGNATURES.pattern.endswith(_TAIL)
    else None
)


class _Message(EmailMessage):
    """An EmailMessage with the shared patterns."""

    def __post_init__(self) -> None:
        super().__post_init__()
        # Every header the library knows ends in a colon ("Von:", "… wrote:") or is a "-----Original Message-----".
        has_header = ":" in self.text or "-----" in self.text
        self._header_regex = _HEADERS if has_header else _NEVER
        self._disclaimers_regex = _DISCLAIMERS
        self._signature_regex = _SIGNATURES

    def _process_signatures_disclaimers(self, text: str) -> tuple[list[str], str]:
        # Every disclaimer pattern ends in a run of words that holds "mail".
        disclaimers = self.DISCLAIMERS_REGEX.findall(text) if "mail" in fold_case(text) else []
        if _SIGNATURE_START is None:  # a library version with another pattern: ask it the slow way
            found = self.SIGNATURE_REGEX.search(text)
            return disclaimers, found.group() if found else ""
        start = _SIGNATURE_START.search(text)
        return disclaimers, text[start.start() :] if start else ""


def read_replies(text: str) -> list[EmailReply]:
    """The replies of a mail text, newest first, as ``EmailReplyParser(languages=["de", "en"]).read`` gives them."""
    return _Message(text=text, languages=list(_LANGUAGES)).read().replies
