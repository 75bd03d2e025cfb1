"""Finding the lead's own words in forwarded and replied e-mails, and the operator's words to ignore."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass, field

import quotequail

from lead_engine.core.domains import is_excluded_domain
from lead_engine.core.parsing.replies import fold_case, read_replies

# Colleagues forward forwards; past this depth it is a loop, not a lead.
MAX_UNWRAP = 4
# quotequail and mail-parser-reply scan line by line with regexes; the head of a long mail is where leads are.
MAX_THREAD_CHARS = 60_000
MAX_UNWRAP_LINES = 400
_SUBJECT_PREFIX = re.compile(r"^\s*(?:(?:re|aw|wg|fw|fwd|antw|wtr|tr|sv|vs)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE)
# Every marker quotequail and mail-parser-reply act on: quoted lines, "On … wrote:" in the languages they know,
# forward banners, Outlook's underscore line and header blocks. A mail with none of them is not a thread.
# The words are looked for in the lower-cased text: one case-blind pattern over them all costs more than the rest
# of the check.
_QUOTING_WORDS = (
    "wrote:", "schrieb", "a écrit", "escribió", "написал", "skrev", "escreveu", "schreef", "geschreven", "forwarded",
    "weitergeleitet", "réexpédié", "reenviado", "vidarebefordrat", "doorgestuurd", "original", "ursprüngliche",
    "transféré", "пересылаемое", "_" * 20,
)  # fmt: skip
_QUOTING_MARKS = (
    re.compile(r"^\s*>", re.MULTILINE),
    re.compile(
        r"^[ \t*]*(?:from|von|de|van|från|от кого|sent|gesendet|envoyé|enviado)[ \t*]*:", re.IGNORECASE | re.MULTILINE
    ),
    re.compile(r"\d{4}/\d{1,2}/\d{1,2} .*<.*@.*>"),
)
_HEADER_START = re.compile(r"^[ \t>*]*(?:von|from|de|van)[ \t*]*:", re.IGNORECASE | re.MULTILINE)


@dataclass
class MailThread:
    """The part of an e-mail that came from the lead, and the parts written on the operator's side."""

    lead_text: str
    lead_sender: str
    subject: str
    operator_text: str = ""
    kind: str = "direct"
    operator_senders: list[str] = field(default_factory=list)


def may_be_quoted(text: str) -> bool:
    """Whether a text holds any marker of a forward, a reply or a quote (see ``_QUOTING_WORDS``)."""
    folded = fold_case(text)
    return any(word in folded for word in _QUOTING_WORDS) or any(mark.search(text) for mark in _QUOTING_MARKS)


def strip_subject_prefixes(subject: str) -> str:
    """Drop "AW:", "WG:", "Fwd:" and similar prefixes, however many."""
    return _SUBJECT_PREFIX.sub("", subject).strip()


def address_domain(sender: str) -> str:
    """The domain of the address in a From-style header, lower case; "" when there is none."""
    _, address = email.utils.parseaddr(sender)
    return address.rpartition("@")[2].lower() if "@" in address else ""


def _unwrap(text: str) -> dict[str, str] | None:
    # quotequail is quadratic in header-like lines ("Firma: …"), so it only sees the head; the forwarded
    # or quoted message runs to the end, so the tail joins whichever part ends the head.
    lines = text.split("\n")
    head, tail = "\n".join(lines[:MAX_UNWRAP_LINES]), "\n".join(lines[MAX_UNWRAP_LINES:])
    try:
        found = quotequail.unwrap(head)
    except Exception:  # noqa: BLE001 - a quoting heuristic failing only means "not a forward"
        return None
    if found:
        _restore_dropped_lines(head, found)
    if found and tail:
        last = "text_bottom" if found.get("text_bottom") else "text"
        found[last] = found.get(last, "") + "\n" + tail
    return found


def _restore_dropped_lines(text: str, found: dict[str, str]) -> None:
    # quotequail takes "Label: value" lines right below a forwarded header ("Firma: …", a form mailer's own
    # "From: …") for more header and drops them; the forwarded body starts at the blank line after the header.
    inner = (found.get("text") or "").strip()
    if found.get("type") != "forward" or not inner:
        return
    top = (found.get("text_top") or "").strip()[-200:]
    start = text.find(top) + len(top) if top and top in text else 0
    header = _HEADER_START.search(text, start)
    blank = text.find("\n\n", header.end()) if header else -1
    if blank < 0:
        return
    body = text[blank:].strip()
    position = body.find(inner[:200])
    if position > 0:
        found["text"] = body[:position] + inner


def _split_with_reply_parser(text: str) -> dict[str, str] | None:
    """Outlook header blocks quotequail misses (mid-text "Von: … Gesendet: …") are found by mail-parser-reply."""
    try:
        replies = read_replies(text)
    except Exception:  # noqa: BLE001 - same as above: no split found
        return None
    if len(replies) < 2 or not replies[1].headers:
        return None
    sender = ""
    for line in replies[1].headers.split("\n"):
        name, _, value = line.strip(" *>").partition(":")
        if name.strip().lower() in {"von", "from"}:
            sender = value.strip(" *")
    return {
        "type": "forward",
        "text_top": replies[0].content,
        "text": replies[1].full_body,
        "from": sender,
    }


def _is_form_header(found: dict[str, str]) -> bool:
    # Form mailers (Contact Form 7's default mail) open with "Von: Name <mail>" and "Betreff:" lines; a forwarded
    # message names its date or its recipient as well, or has the forwarding colleague's words above it.
    return found["type"] == "forward" and not (found.get("date") or found.get("to") or found.get("text_top"))


def locate_lead_text(text: str, *, sender: str, subject: str, own_domains: list[str]) -> MailThread:
    """Follow forwards and replies to the message the lead wrote; the rest is the operator's."""
    thread = MailThread(lead_text=text, lead_sender=sender, subject=strip_subject_prefixes(subject))
    operator_parts: list[str] = []
    for _ in range(MAX_UNWRAP):
        current = thread.lead_text[:MAX_THREAD_CHARS]
        if not may_be_quoted(current):
            break  # nothing quotequail or mail-parser-reply could unwrap: most lead mails, and the cheap answer
        found = _unwrap(current) or _split_with_reply_parser(current)
        if not found or not found.get("text") or _is_form_header(found):
            break
        outer_is_operator = is_excluded_domain(address_domain(thread.lead_sender), own_domains)
        inner_is_operator = is_excluded_domain(address_domain(found.get("from", "")), own_domains)
        # Outlook quotes a mail it replies to under a header block, just as it forwards one: a lead's answer
        # to our own mail is a reply, whatever the header looks like.
        answers_us = inner_is_operator and not outer_is_operator and bool(found.get("text_top", "").strip())
        if (found["type"] == "forward" and not answers_us) or outer_is_operator:
            operator_parts += [found.get("text_top", ""), found.get("text_bottom", "")]
            thread.operator_senders.append(thread.lead_sender)
            thread.lead_text = found["text"]
            thread.lead_sender = found.get("from", "")
            thread.subject = strip_subject_prefixes(found.get("subject", "")) or thread.subject
            thread.kind = "forward" if found["type"] == "forward" else "reply"
            continue
        # The lead answered us: their words are on top, our quoted mail below is ours.
        if found.get("text_top"):
            operator_parts.append(found["text"])
            thread.operator_senders.append(found.get("from", ""))
            thread.lead_text = found["text_top"] + ("\n" + found["text_bottom"] if found.get("text_bottom") else "")
            thread.kind = "reply"
        break
    thread.operator_text = "\n".join(part for part in operator_parts if part)
    return thread
