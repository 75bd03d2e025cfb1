"""parse_email: one inbound e-mail to a clean lead; rules first, an LLM for what the rules missed or doubt."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from email.utils import getaddresses, parseaddr

from lead_engine.core.domains import FREE_MAIL_DOMAINS, is_excluded_domain, registrable_domain
from lead_engine.core.lead_fields import (
    FIELD_WORDS,
    NO_COMPANY_OR_EMAIL,
    NO_CONTACT,
    FieldValue,
    InboundEmail,
    ParsedLead,
)
from lead_engine.core.mime import TOO_COMPLEX
from lead_engine.core.parsing.candidates import Candidates, Exclusions, resolve_candidates
from lead_engine.core.parsing.html_text import bare_text, html_to_text
from lead_engine.core.parsing.llm import ExtractionError, Extractor, OpenAIExtractor, ground_values
from lead_engine.core.parsing.normalise import normalize_email, split_address
from lead_engine.core.parsing.profiles import (
    FREE_TEXT,
    GENERIC_FORM,
    PLATFORM_DOMAINS,
    SenderProfile,
    detect_profile,
    split_footer,
)
from lead_engine.core.parsing.reader import extract_label_values
from lead_engine.core.parsing.signature import (
    ends_with_legal_form,
    extract_signature_facts,
    find_emails,
    find_phones,
    find_websites,
    has_legal_form,
    looks_like_name,
)
from lead_engine.core.parsing.thread import MailThread, address_domain, locate_lead_text
from lead_engine.core.settings import Settings

logger = logging.getLogger(__name__)

# Fields worth an LLM call when the rules did not find them.
LLM_FIELDS: tuple[str, ...] = (
    "company", "contact_name", "salutation", "email", "phone", "website", "street", "postal_code", "city",
    "country", "industry", "employees", "budget", "message",
)  # fmt: skip
_CORE_FIELDS = ("company", "contact_name", "email", "phone")
# A lead e-mail's data sits in its first pages; the rest of a giant body only costs time.
MAX_PARSE_CHARS = 100_000
MAX_LINE_CHARS = 2_000
_LLM_CONFIDENCE = 0.6
_UNLABELLED_CONFIDENCE = 0.6
# A doubtful value the LLM read the same way from the same text.
_CONFIRMED_CONFIDENCE = 0.7
# A key field below this confidence goes to a person (or the LLM): calibrated on the fixture corpus, where
# values under it were right too rarely to sync unseen (see docs/BENCHMARKS.md, "Parse accuracy").
REVIEW_BELOW = 0.5
_ENGLISH = frozenset({
    "the", "and", "we", "our", "you", "your", "for", "with", "would", "please", "are", "is", "this", "of", "to",
    "in", "hello", "hi", "regards",
})  # fmt: skip
_GERMAN = frozenset({
    "der", "die", "das", "und", "wir", "unser", "sie", "ihr", "für", "mit", "bitte", "ist", "ein", "eine", "zu",
    "im", "hallo", "grüße", "gruß",
})  # fmt: skip
_EXTRACTORS: dict[tuple[str, str, str, float], OpenAIExtractor] = {}


def parse_email(email: InboundEmail, *, settings: Settings, extractor: Extractor | None = None) -> ParsedLead:
    """Parse one e-mail into canonical lead fields; never raises, marks doubtful leads for review."""
    try:
        return _parse(email, settings, extractor)
    except Exception as exc:  # the parser's promise: any input gives a lead, never an exception
        logger.exception("parser failed", extra={"action": "parse.failed", "message_id": email.message_id})
        return ParsedLead(needs_review=True, reasons=[f"the parser failed on this e-mail ({type(exc).__name__})"])


def choose_body_text(email: InboundEmail) -> str:
    """The text to parse: the plain part, or the rendered HTML when the plain part is missing or a stub."""
    text = email.text or ""
    if text.lstrip()[:1] == "<" and "</" in text:
        text = html_to_text(text)
    if not email.html:
        return text.strip()
    # Many senders put "view this mail in a browser" in the plain part; the HTML then holds the lead. Rendering
    # is the dear part, so a plain part long enough beside the HTML's bare text settles it without one.
    if len(text.strip()) >= 0.4 * len(bare_text(email.html[: MAX_PARSE_CHARS * 5])):
        return text.strip()
    rendered = html_to_text(email.html)
    return (text if len(text.strip()) >= 0.4 * len(rendered.strip()) else rendered).strip()


def _bounded(text: str) -> str:
    return "\n".join(line[:MAX_LINE_CHARS] for line in text[:MAX_PARSE_CHARS].split("\n"))


def _recipient_domains(email: InboundEmail) -> set[str]:
    recipients = str(email.extra.get("to", "") or "")
    domains = {address.rpartition("@")[2].lower() for _, address in getaddresses([recipients])}
    return {domain for domain in domains if domain and domain not in FREE_MAIL_DOMAINS}


def _exclusions(email: InboundEmail, thread: MailThread, operator_text: str, settings: Settings) -> Exclusions:
    """Operator data: own domains, platforms, whoever forwarded or was quoted, and what they wrote."""
    region = settings.default_country
    exclusions = Exclusions(domains={*settings.own_domains, *PLATFORM_DOMAINS})
    exclusions.emails = {found for raw in find_emails(operator_text) if (found := normalize_email(raw))}
    exclusions.operator_text, exclusions.operator_region = operator_text, region
    operator_domains = {address.rpartition("@")[2] for address in exclusions.emails}
    operator_domains |= {address_domain(sender) for sender in thread.operator_senders}
    # Mail sent to us names us as recipient; mail we sent (a colleague's reply) names the lead instead.
    if not is_excluded_domain(address_domain(email.sender), settings.own_domains):
        operator_domains |= _recipient_domains(email)
    exclusions.domains |= {
        registrable_domain(domain) or domain for domain in operator_domains if domain
    } - FREE_MAIL_DOMAINS
    exclusions.domains.discard("")
    return exclusions


def _is_operator(sender: str, exclusions: Exclusions) -> bool:
    address = normalize_email(parseaddr(sender)[1])
    return address is not None and exclusions.excludes_email(address)


def _add_unlabelled_head(candidates: Candidates, text: str, used: set[int]) -> None:
    # Form builders print a field without a label as its bare value (Elementor): above the first labelled
    # line, a name alone or a whole address is the visitor's.
    first = min(used, default=0)
    for line in text.split("\n")[:first]:
        line = line.strip()
        if looks_like_name(line):
            candidates.add("contact_name", line, _UNLABELLED_CONFIDENCE)
        elif split_address(line).postal_code and "," in line:
            candidates.add("address", line, _UNLABELLED_CONFIDENCE)


def _swap_name_and_company(lead: ParsedLead) -> None:
    # "Name: Elektro Brandl GmbH" and "Firma: Josef Brandl": the visitor filled the fields the other way round.
    person, company = lead.fields.get("contact_name"), lead.fields.get("company")
    if not (person and company) or has_legal_form(company.value) or not ends_with_legal_form(person.value):
        return
    if looks_like_name(company.value):
        lead.fields["contact_name"] = FieldValue(company.value, company.provenance, company.confidence)
        lead.fields["company"] = FieldValue(person.value, person.provenance, person.confidence)


def _collect_candidates(
    email: InboundEmail,
    thread: MailThread,
    profile: SenderProfile,
    lead_text: str,
    exclusions: Exclusions,
    region: str,
) -> Candidates:
    candidates = Candidates()
    found = extract_label_values(lead_text, questions=profile.questions, labels=profile.labels)
    labels = found.values
    if profile.name in {"contact_form", GENERIC_FORM.name} and "message" not in labels:
        # Form mailers often send the visitor's text without a label, next to the labelled fields.
        rest = [line for number, line in enumerate(lead_text.split("\n")) if number not in found.used_lines]
        labels["message"] = "\n".join(rest).strip()
    trust = profile.label_confidence
    first, last = labels.pop("first_name", ""), labels.pop("last_name", "")
    if first or last:
        candidates.add("contact_name", f"{first} {last}".strip(), trust)
    if labels.get("house_number") and labels.get("street"):
        labels["street"] = f"{labels['street']} {labels.pop('house_number')}"
    for name, value in labels.items():
        candidates.add(name, value, trust)
    if profile.questions and not {"contact_name", "street", "address"} & set(labels):
        _add_unlabelled_head(candidates, lead_text, found.used_lines)
    reply_to = str(email.extra.get("reply_to", "") or "")
    if reply_to and thread.kind == "direct" and not _is_operator(reply_to, exclusions):
        candidates.add_sender(reply_to, 0.85 if profile.name == "contact_form" else 0.75)
    # A form mailer or a colleague's address names the operator, not the lead.
    if not _is_operator(thread.lead_sender, exclusions):
        candidates.add_sender(thread.lead_sender, 0.8 if profile is FREE_TEXT else 0.6)
    # Free text has its contact data in the signature; a form's message field can carry one too.
    free_text = lead_text if profile is FREE_TEXT else labels.get("message", "")
    facts = extract_signature_facts(free_text)
    confidence = 0.7 if profile is FREE_TEXT else 0.6
    if profile is FREE_TEXT:
        candidates.add("message", facts.message, confidence)
    for name in ("contact_name", "company", "street", "postal_code", "city", "country"):
        candidates.add(name, getattr(facts, name), confidence)

    def offer_phones() -> None:
        # One search for numbers over the whole lead text, the signature's first; the dearest step of a parse,
        # so it runs only when no labelled number could be used.
        phones = find_phones(lead_text, region=region)
        for phone in (raw for raw in phones if raw in facts.signature):
            candidates.add("phone", phone, confidence)
        for phone in phones:
            candidates.add("phone", phone, 0.5)

    candidates.defer("phone", offer_phones)
    # Links elsewhere in a mail are newsletters, tracking and the operator's own pages; only signatures count.
    for site in find_websites(facts.signature):
        candidates.add("website", site, confidence)
    for address in find_emails(lead_text):
        candidates.add("email", address, 0.5)
    return candidates


def _default_extractor(settings: Settings) -> Extractor | None:
    if not settings.llm_enabled:
        return None
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
    cache_key = (settings.openai_base_url or "", key, settings.llm_model, settings.llm_timeout)
    # One client per endpoint keeps its connection pool alive across e-mails.
    if cache_key not in _EXTRACTORS:
        _EXTRACTORS[cache_key] = OpenAIExtractor(settings)
    return _EXTRACTORS[cache_key]


def _ask_llm(
    extractor: Extractor, lead: ParsedLead, *, text: str, subject: str, fields: Sequence[str], region: str
) -> Candidates:
    candidates = Candidates()
    try:
        values = extractor.extract(text=text, subject=subject, fields=list(fields))
    except ExtractionError as exc:
        lead.needs_review = True
        lead.reasons.append(f"LLM extraction failed, rule results kept: {exc}")
        return candidates
    except Exception as exc:  # noqa: BLE001 - any Extractor implementation may fail; the lead must still come out
        lead.needs_review = True
        lead.reasons.append(f"LLM extraction failed, rule results kept: {type(exc).__name__}")
        return candidates
    kept, reasons = ground_values({k: v for k, v in values.items() if k in fields}, text, region=region)
    if reasons:
        lead.needs_review = True
        lead.reasons += reasons
    for name, value in kept.items():
        candidates.add(name, value, _LLM_CONFIDENCE, "llm")
    return candidates


def looks_like_form(text: str) -> bool:
    """Whether a text no profile knows is a form mail: several labelled fields, starting in its first half.

    A signature's "Tel.: / E-Mail: / Web:" lines sit at the end of a mail and do not make it a form.
    """
    found = extract_label_values(text[:20_000])
    lines = text.count("\n") + 1
    return len(found.values) >= 4 and min(found.used_lines) < lines / 2


def is_english(text: str) -> bool:
    """Whether a text reads as English rather than German, by its commonest words."""
    words = text[:3000].lower().split()
    english = sum(word in _ENGLISH for word in words)
    return english > 2 and english > 2 * sum(word in _GERMAN for word in words)


def _review(lead: ParsedLead, candidates: Candidates, text: str) -> None:
    if not text.strip():
        lead.reasons.append("the e-mail has no readable text")
    if not lead.value("company") and not lead.value("email"):
        lead.reasons.append(NO_COMPANY_OR_EMAIL)
    elif not lead.value("email") and not lead.value("phone"):
        lead.reasons.append(NO_CONTACT)
    lead.reasons += [reason for reason in candidates.rejected if reason not in lead.reasons]
    for name, words in FIELD_WORDS.items():
        found = lead.fields.get(name)
        if found is None:
            continue
        if doubt := candidates.doubts.get((name, found.value)):
            lead.reasons.append(f"the {words} {doubt}: please check it")
        elif found.confidence < REVIEW_BELOW:
            lead.reasons.append(f"not sure about the {words} '{found.value}': please check it")
    if lead.reasons:
        lead.needs_review = True


def _parse(email: InboundEmail, settings: Settings, extractor: Extractor | None) -> ParsedLead:
    body = _bounded(choose_body_text(email))
    thread = locate_lead_text(body, sender=email.sender, subject=email.subject, own_domains=settings.own_domains)
    profile = detect_profile(sender=thread.lead_sender, subject=thread.subject, text=thread.lead_text)
    lead_text, footer = split_footer(thread.lead_text, profile)
    if profile is FREE_TEXT and looks_like_form(lead_text):
        profile = GENERIC_FORM
    exclusions = _exclusions(email, thread, thread.operator_text + "\n" + footer, settings)
    region = settings.default_country
    candidates = _collect_candidates(email, thread, profile, lead_text, exclusions, region)
    lead = ParsedLead(template=profile.name)
    english = is_english(lead_text)
    resolve_candidates(candidates, lead, exclusions=exclusions, default_country=region, english=english)
    _swap_name_and_company(lead)
    missing = [name for name in LLM_FIELDS if name not in lead.fields]
    doubtful = [name for name in _CORE_FIELDS if name in lead.fields and lead.fields[name].confidence < REVIEW_BELOW]
    extractor = extractor or _default_extractor(settings)
    if extractor is not None and lead_text.strip() and (doubtful or any(name in missing for name in _CORE_FIELDS)):
        region = lead.value("country") or region
        # A doubtful key field is asked again: the LLM is a second reader, and only agreement removes the doubt.
        held = {name: lead.fields.pop(name) for name in doubtful}
        fields = [*missing, *doubtful]
        llm = _ask_llm(extractor, lead, text=lead_text, subject=thread.subject, fields=fields, region=region)
        resolve_candidates(llm, lead, exclusions=exclusions, default_country=region, english=english)
        for name, ours in held.items():
            second = lead.fields.get(name)
            agreed = second is not None and second.value == ours.value
            lead.fields[name] = FieldValue(ours.value, ours.provenance, _CONFIRMED_CONFIDENCE) if agreed else ours
            if second is not None and not agreed:
                lead.reasons.append(f"the LLM read the {FIELD_WORDS[name]} as '{second.value}'")
    _review(lead, candidates, body)
    defects = email.extra.get("mime_defects")
    for defect in defects if isinstance(defects, list) else []:
        if str(defect).startswith(TOO_COMPLEX):
            lead.needs_review = True
            lead.reasons.append(f"{defect}: open the original to see what it holds")
    logger.debug("e-mail parsed", extra={"action": "parse.done", "profile": profile.name, "kind": thread.kind})
    return lead
