"""Known lead senders (TradingTwins, contact forms, Typeform, LinkedIn) and what each means for parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Addresses and sites of lead platforms and mail tooling: never a lead's own contact data.
PLATFORM_DOMAINS: tuple[str, ...] = (
    "tradingtwins.com", "tradingtwins.de", "typeform.com", "typeform.io", "linkedin.com", "licdn.com",
    "wordpress.com", "wpforms.com", "contactform7.com", "hubspot.com", "mailchimp.com", "sendgrid.net",
    "xing.com", "facebook.com", "instagram.com", "twitter.com", "x.com", "youtube.com", "google.com",
    "goo.gl", "bit.ly", "w3.org", "schema.org",
)  # fmt: skip
# Mailbox names that are machines, not people.
MACHINE_LOCAL_PARTS = re.compile(
    r"^(?:no-?reply|do-?not-?reply|donotreply|mailer-daemon|postmaster|wordpress|notifications?|"
    r"notification|bounce[s]?|info-noreply|system|daemon|forms?|typeform|leads?-?noreply)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SenderProfile:
    """How one kind of lead e-mail is read."""

    name: str
    sender_pattern: re.Pattern[str] | None
    text_pattern: re.Pattern[str] | None
    footer_pattern: re.Pattern[str] | None
    questions: bool = False
    label_confidence: float = 0.9

    def matches(self, *, sender: str, subject: str, text: str) -> bool:
        """Whether an e-mail looks like this profile's."""
        if self.sender_pattern and self.sender_pattern.search(sender):
            return True
        head = subject + "\n" + text[:4000]
        return bool(self.text_pattern and self.text_pattern.search(head))


_TRADINGTWINS = SenderProfile(
    name="tradingtwins",
    sender_pattern=re.compile(r"tradingtwins\.(?:com|de)", re.IGNORECASE),
    text_pattern=re.compile(r"tradingtwins", re.IGNORECASE),
    footer_pattern=re.compile(
        r"^\s*(?:--\s*$|_{5,}|Ihr tradingtwins|Ihr Team von tradingtwins|Mit freundlichen Grü(?:ß|ss)en,?\s*$"
        r"|tradingtwins GmbH|Diese E-Mail wurde|Sie erhalten diese|Impressum|Abmelden)",
        re.IGNORECASE | re.MULTILINE,
    ),
    label_confidence=0.95,
)
_LINKEDIN = SenderProfile(
    name="linkedin",
    sender_pattern=re.compile(r"linkedin\.com", re.IGNORECASE),
    text_pattern=re.compile(r"lead gen|leadgen|lead-gen-formular|linkedin", re.IGNORECASE),
    footer_pattern=re.compile(
        r"^\s*(?:This email was intended for|Diese E-Mail ist für|Diese E-Mail war für|©\s*\d{4} LinkedIn"
        r"|LinkedIn Corporation|LinkedIn Ireland|Unsubscribe|Abbestellen|Abmelden|View lead|Lead ansehen)",
        re.IGNORECASE | re.MULTILINE,
    ),
    questions=True,
)
_TYPEFORM = SenderProfile(
    name="typeform",
    sender_pattern=re.compile(r"typeform\.(?:com|io)", re.IGNORECASE),
    text_pattern=re.compile(r"typeform", re.IGNORECASE),
    footer_pattern=re.compile(
        r"^\s*(?:Powered by Typeform|Sent (?:from|by) Typeform|Typeform S\.?L|View (?:all )?responses"
        r"|Alle Antworten ansehen|Antworten ansehen|Unsubscribe)",
        re.IGNORECASE | re.MULTILINE,
    ),
    questions=True,
)
_CONTACT_FORM = SenderProfile(
    name="contact_form",
    sender_pattern=re.compile(r"^(?:.*<)?\s*(?:wordpress|no-?reply|formular|forms?|kontaktformular)@", re.IGNORECASE),
    text_pattern=re.compile(
        r"contact form|kontaktformular|kontakt-formular|webformular|web form|anfrageformular|website-formular",
        re.IGNORECASE,
    ),
    footer_pattern=re.compile(
        r"^\s*(?:--\s*$|Diese E-Mail wurde von einem Kontaktformular|This e-mail was sent from a contact form"
        r"|Diese Nachricht wurde (?:über|von)|This message was sent (?:from|via))",
        re.IGNORECASE | re.MULTILINE,
    ),
    questions=True,
)
# Labels in prose ("Tel.: …") are mostly right, but prose can look like a label too.
FREE_TEXT = SenderProfile(
    name="free_text", sender_pattern=None, text_pattern=None, footer_pattern=None, label_confidence=0.8
)
PROFILES: tuple[SenderProfile, ...] = (_TRADINGTWINS, _LINKEDIN, _TYPEFORM, _CONTACT_FORM)


def detect_profile(*, sender: str, subject: str, text: str) -> SenderProfile:
    """The profile an e-mail matches, first by sender, then by subject and text; free text otherwise."""
    for profile in PROFILES:
        if profile.sender_pattern and profile.sender_pattern.search(sender):
            return profile
    for profile in PROFILES:
        if profile.matches(sender="", subject=subject, text=text):
            return profile
    return FREE_TEXT


def split_footer(text: str, profile: SenderProfile) -> tuple[str, str]:
    """Cut a platform's footer off the lead text; returns (lead part, footer) and keeps the footer for exclusion."""
    if profile.footer_pattern is None:
        return text, ""
    # A footer marker in the first line is a heading, not a footer.
    stripped = text.lstrip()
    skip = len(text) - len(stripped) + (stripped.find("\n") + 1 if "\n" in stripped else len(stripped))
    match = profile.footer_pattern.search(text, skip)
    if not match:
        return text, ""
    return text[: match.start()], text[match.start() :]
