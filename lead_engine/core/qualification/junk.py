"""Junk: auto-replies, bounces, bulk mail, throw-away addresses, link farms and mails with no contact at all."""

from __future__ import annotations

import re
from email.utils import parseaddr

from lead_engine.core.domains import is_disposable
from lead_engine.core.lead_fields import InboundEmail, ParsedLead
from lead_engine.core.parsing.html_text import bare_text
from lead_engine.core.parsing.profiles import MACHINE_LOCAL_PARTS
from lead_engine.core.qualification.rules import Junk

_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_]{2,}")
_CONTACT = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|\+?\d[\d ()/.-]{6,}\d")
_MACHINE_SENDER = re.compile(r"^(?:mailer-daemon|postmaster)@", re.IGNORECASE)
# A form or marketplace notification is machine-made by nature; only a free-text mail can be an auto-reply.
_FORM_TEMPLATES_MAY_BE_AUTOMATED = frozenset({"free_text"})


def _header_verdict(headers: dict[str, str]) -> str | None:
    auto = headers.get("auto-submitted", "").strip().lower()
    # RFC 3834: "auto-replied" answers a mail (out of office); "auto-generated" is any machine mail, forms too.
    if auto.startswith("auto-replied"):
        return "auto-reply (Auto-Submitted: auto-replied)"
    for name in ("x-autoreply", "x-autorespond"):
        if headers.get(name, "").strip().lower() not in ("", "no", "false"):
            return f"auto-reply ({name.title()} header)"
    if "report-type=delivery-status" in headers.get("content-type", "").replace(" ", "").lower():
        return "bounce (a delivery status notification)"
    if headers.get("x-failed-recipients"):
        return "bounce (X-Failed-Recipients header)"
    return None


def detect_junk(email: InboundEmail, parsed: ParsedLead, *, template: str, rules: Junk) -> str | None:
    """Why the mail is not an enquiry (an auto-reply, a bounce …), or None when it may be one."""
    if reason := _header_verdict(email.headers):
        return reason
    if _MACHINE_SENDER.match(parseaddr(email.sender)[1]):
        return "bounce (sent by the mail system)"
    automated = template in _FORM_TEMPLATES_MAY_BE_AUTOMATED
    if automated and rules.subjects and (found := rules.subjects.search(email.subject)):
        return f"auto-reply or bounce (subject says “{found.group(0)}”)"
    # The plain part, else the HTML with its tags dropped: rendering it properly costs more than the whole check.
    text = email.text if email.text.strip() else bare_text(email.html[:200_000])
    head = text[:3000]
    if automated and rules.phrases and (found := rules.phrases.search(head)):
        return f"auto-reply or bounce (“{found.group(0)}”)"
    if automated and email.headers.get("precedence", "").strip().lower() in {"bulk", "junk", "list"}:
        return f"bulk mail (Precedence: {email.headers['precedence'].strip()})"
    address = parsed.value("email")
    if rules.disposable and address and is_disposable(address):
        return f"throw-away address ({address.rpartition('@')[2]})"
    links = len(_LINK.findall((email.text if email.text.strip() else email.html)[:50_000]))
    words = len(_WORD.findall(_LINK.sub(" ", text[:20_000])))
    if links >= rules.link_farm_links and words < links * rules.link_farm_words_per_link:
        return f"link farm ({links} links in {words} words)"
    anyone = any(parsed.value(name) for name in ("email", "phone", "company", "contact_name"))
    # A person's sender address is a contact even when the parser took nothing from it; without any sender the
    # request was likely mapped wrong (n8n): a person should see it, not the junk pile.
    machine = MACHINE_LOCAL_PARTS.match(parseaddr(email.sender)[1])
    if not anyone and machine and text.strip() and not _CONTACT.search(text[:20_000]):
        return "no way to reach anyone: no e-mail address, phone number, company or name in the mail"
    return None
