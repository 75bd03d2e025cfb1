"""Known lead senders as data: one TOML file per family in this folder says how to recognise its mails, which
labels it uses, where its footer starts and which names and domains are its own (never a lead's).

A profile only sharpens the generic reader; an e-mail no profile matches is read as free text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lead_engine.core.parsing.lexicon import normalize_label

# Mail tooling and link hosts that appear in lead mails without being anyone's lead; profiles add their own.
_TOOLING_DOMAINS = (
    "wordpress.com", "mailchimp.com", "sendgrid.net", "mailgun.org", "amazonses.com", "xing.com",
    "facebook.com", "instagram.com", "twitter.com", "x.com", "youtube.com", "google.com", "goo.gl", "bit.ly",
    "w3.org", "schema.org", "gstatic.com", "googleusercontent.com",
)  # fmt: skip
# Mailbox names that are machines, not people.
MACHINE_LOCAL_PARTS = re.compile(
    r"^(?:no-?reply|do-?not-?reply|donotreply|mailer-daemon|postmaster|wordpress|notifications?|"
    r"notification|bounce[s]?|info-noreply|system|daemon|forms?|typeform|leads?-?noreply)\b",
    re.IGNORECASE,
)
_FLAGS = re.IGNORECASE | re.MULTILINE


@dataclass(frozen=True)
class SenderProfile:
    """How one family of lead e-mails is read."""

    name: str
    sender_pattern: re.Pattern[str] | None = None
    text_pattern: re.Pattern[str] | None = None
    footer_pattern: re.Pattern[str] | None = None
    questions: bool = False
    label_confidence: float = 0.9
    labels: dict[str, str] = field(default_factory=dict)
    vendor_names: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    order: int = 50

    def matches(self, *, sender: str, subject: str, text: str) -> bool:
        """Whether an e-mail looks like this profile's."""
        if self.sender_pattern and self.sender_pattern.search(sender):
            return True
        head = subject + "\n" + text[:4000]
        return bool(self.text_pattern and self.text_pattern.search(head))


def _pattern(value: object, flags: int = _FLAGS) -> re.Pattern[str] | None:
    return re.compile(str(value), flags) if value else None


def load_profile(path: Path) -> SenderProfile:
    """One profile from its TOML file; a broken file fails loudly at start, naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return SenderProfile(
            name=str(data["name"]),
            sender_pattern=_pattern(data.get("sender"), re.IGNORECASE),
            text_pattern=_pattern(data.get("text")),
            footer_pattern=_pattern(data.get("footer")),
            questions=bool(data.get("questions", False)),
            label_confidence=float(data.get("label_confidence", 0.9)),
            labels={normalize_label(label): str(key) for label, key in data.get("labels", {}).items()},
            vendor_names=tuple(str(name) for name in data.get("vendor_names", [])),
            domains=tuple(str(domain).lower() for domain in data.get("domains", [])),
            order=int(data.get("order", 50)),
        )
    except (KeyError, ValueError, TypeError, re.error, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"sender profile {path.name} is invalid: {exc}") from exc


@cache
def profiles() -> tuple[SenderProfile, ...]:
    """Every shipped profile, in the order they are tried."""
    loaded = [load_profile(path) for path in sorted(Path(__file__).parent.glob("*.toml"))]
    return tuple(sorted(loaded, key=lambda profile: (profile.order, profile.name)))


# Labels in prose ("Tel.: …") are mostly right, but prose can look like a label too.
FREE_TEXT = SenderProfile(name="free_text", label_confidence=0.8)
# A form mail from a tool no profile knows: labelled fields from the top, questions with answers below.
GENERIC_FORM = SenderProfile(name="form", questions=True, label_confidence=0.85)
PLATFORM_DOMAINS: tuple[str, ...] = (*_TOOLING_DOMAINS, *(domain for p in profiles() for domain in p.domains))
_VENDOR_NAMES = sorted({name for profile in profiles() for name in profile.vendor_names}, key=len, reverse=True)
VENDOR_NAME = re.compile(r"^\W*(?:" + "|".join(map(re.escape, _VENDOR_NAMES)) + r")\b", re.IGNORECASE)


def is_vendor_name(value: str) -> bool:
    """Whether a company value is a lead platform or form tool itself ("HubSpot, Inc.", "tradingtwins GmbH")."""
    return bool(VENDOR_NAME.match(value))


def detect_profile(*, sender: str, subject: str, text: str) -> SenderProfile:
    """The profile an e-mail matches, first by sender, then by subject and text; free text otherwise."""
    for profile in profiles():
        if profile.sender_pattern and profile.sender_pattern.search(sender):
            return profile
    for profile in profiles():
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
