"""Domains for the whole project: the registrable part of a host, mailbox providers, throw-away addresses."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import tldextract
from disposable_email_domains import blocklist as _DISPOSABLE

# Mailbox providers: an address there says nothing about the company behind it.
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "gmx.de", "gmx.net", "gmx.at", "gmx.ch", "web.de", "t-online.de", "yahoo.com",
    "yahoo.de", "yahoo.co.uk", "ymail.com", "outlook.com", "outlook.de", "hotmail.com", "hotmail.de",
    "hotmail.co.uk", "live.com", "live.de", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "aol.de",
    "freenet.de", "posteo.de", "mail.de", "mailbox.org", "arcor.de", "1und1.de", "online.de", "bluewin.ch",
    "proton.me", "protonmail.com", "email.de", "kabelmail.de", "vodafonemail.de", "aon.at", "chello.at",
    "gmx.com", "mail.com", "zoho.com", "yandex.com", "orange.fr", "wanadoo.fr", "free.fr", "libero.it",
})  # fmt: skip


@lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # The public suffix list shipped with the package: never fetched over the network, no cache directory.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


@lru_cache(maxsize=4096)
def registrable_domain(value: str | None) -> str | None:
    """The registrable domain (``shop.acme.co.uk`` → ``acme.co.uk``) of a URL, host or address; None when none."""
    if not value or not value.strip():
        return None
    host = value.strip().lower().rsplit("@", 1)[-1].split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    parts = _extractor()(host.strip("."))
    domain = parts.top_domain_under_public_suffix
    if not domain or not parts.suffix:
        return None
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def split_host(host: str) -> tuple[str, str]:
    """A host's registrable name and its public suffix (``www.acme.co.uk`` → ``acme``, ``co.uk``)."""
    parts = _extractor()(host.strip().lower().strip("."))
    return parts.domain, parts.suffix


def is_excluded_domain(domain: str, excluded: Iterable[str]) -> bool:
    """Whether a host is one of the excluded domains or a subdomain of one."""
    domain = domain.lower().rstrip(".")
    return any(domain == item or domain.endswith("." + item) for item in excluded if item)


def is_free_mail(address: str | None) -> bool:
    """Whether an address (or domain) belongs to a mailbox provider such as gmail.com or web.de."""
    return bool(address) and (address or "").rsplit("@", 1)[-1].lower() in FREE_MAIL_DOMAINS


def is_disposable(address: str | None) -> bool:
    """Whether an address (or domain) is a throw-away mailbox, from the maintained disposable-domain list."""
    domain = (address or "").rsplit("@", 1)[-1].lower()
    return bool(domain) and (domain in _DISPOSABLE or (registrable_domain(domain) or "") in _DISPOSABLE)
