"""One multilingual lexicon of form labels: which lead field a label such as "E-Mail-Adresse" or "Courriel" means.

Exact patterns first (German and English in full; French, Dutch, Spanish and Italian for the common fields), then
a fuzzy match against known label phrases for spellings nobody listed ("Emial", "Telefonnumer").
"""

from __future__ import annotations

import re
from functools import lru_cache

from rapidfuzz import fuzz, process

# Ordered: the first pattern that matches a label wins, so specific labels come before the words they contain
# ("Anfrage-ID" before "Anfrage", "Firmen-E-Mail" before "Firma", "Unternehmensgröße" before "Unternehmen").
# Besides canonical fields there are helper keys the parser merges or drops: first_name, last_name, postal_city,
# address (street, postcode and city in one value), house_number, sender, fax, job_title, subject and ignore.
_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^(?:nr|hausnr|hausnummer|house ?number|no|numéro|huisnummer)\.?$", "house_number"),
    (r"^(?:von|from|absender|sender|gesendet von|de|van)$", "sender"),
    # Lead-ad and booking metadata: names of things, not of people.
    (r"\b(?:ad|adset|ad set|campaign|kampagne|form|formular|page|event|veranstaltung|platform|plattform)"
     r" ?(?:name|id|type|typ)\b|^(?:created time|created at|is organic|lead source|utm \w+|source|quelle"
     r"|ip|remote ip|ip address|ip-adresse|user agent|page url|seiten-url|referrer|referer|powered by"
     r"|event type|event date.*|invitee time zone|time zone|zeitzone|datenschutz.*|privacy.*|consent.*"
     r"|einwilligung.*|dsgvo.*|gdpr.*|newsletter.*"
     r"|accept.*|acceptance|zustimmung.*|i agree.*|ich stimme.*|captcha|recaptcha|honeypot|submitted.*"
     r"|sent on|gesendet am|date submitted|keep me updated.*|halten sie mich.*|how did you (?:hear|find).*"
     r"|where did you hear.*|wie (?:sind|haben) sie (?:auf uns|von uns).*|wie bist du auf uns.*|woher kennen sie uns.*"
     r"|referral source|empfehlung durch|attachments?|anh(?:a|ä)nge?|dateien?|file upload|upload|dateiupload)$",
     "ignore"),
    (r"^(?:submission|entry|eintrags?|einsendungs?|enquiry|inquiry|anfrage|request)[- ]?(?:id|nr|nummer|number|no)$",
     "external_id"),
    (r"^(?:where is the (?:building|property|site|roof)|wo (?:steht|liegt) (?:das|ihr|dein) (?:gebäude|objekt|haus)"
     r"|project location|objektstandort|standort des objekts|objektadresse)$", "address"),
    (r"best number|number to reach|nummer für rückfragen|unter welcher nummer", "phone"),
    (r"anfrage[- ]?(?:id|nr|nummer)|anfragenummer|request[- ]?id|lead[- ]?id|referenz|reference|vorgangsnummer"
     r"|ticket[- ]?(?:id|nr)|auftragsnummer|inquiry[- ]?id|enquiry[- ]?id|anfrage-?code", "external_id"),
    (r"e-?mail|\bmail\b|mailadresse|courriel|\bmél\b|correo|posta elettronica|e-?post", "email"),
    (r"\bfax\b|telefax", "fax"),
    (r"\btelefon(?:nummer|nr)?\b|phone|\bmobil(?:nummer|telefon)?\b|\bhandy(?:nummer)?\b|\btel\b|rufnummer|\bfon\b"
     r"|\bmobile\b|\bcell\b|whatsapp|téléphone|telephone|telefoon|teléfono|telefono|\bportable\b|\bgsm\b"
     r"|rückruf|callback|phone number|durchwahl", "phone"),
    (r"website|webseite|homepage|internetseite|internet|\burl\b|\bweb\b|\bwww\b|\bdomain\b|site web|\bsito\b"
     r"|sitio web", "website"),
    (r"(?:plz|postleitzahl|zip|postal ?code|post ?code)\s*(?:/|,|und|&|and|\+)?\s*(?:ort|stadt|city|town)",
     "postal_city"),
    (r"^(?:ort|stadt|city)\s*(?:/|,|und|&|and)?\s*(?:plz|postleitzahl|zip)$", "postal_city"),
    (r"\bplz\b|postleitzahl|\bzip\b|postal ?code|post ?code|postcode|code postal|postcode|código postal|\bcap\b",
     "postal_code"),
    (r"^(?:field|feld|untitled|unbenannt|frage|question)(?: \d+)?$", "unlabelled"),
    (r"telefonisch|wie erreichen wir (?:dich|sie) (?:telefonisch|am telefon)", "phone"),
    (r"^(?:wo (?:ist|liegt|befindet sich) (?:dein|ihr|euer) (?:betrieb|unternehmen|firma|gebäude|objekt)"
     r"|where (?:is|are) (?:your|you)\b.*|deine adresse|ihre adresse|your address|business address"
     r"|objektadresse|adresse des objekts)$", "address"),
    (r"^(?:was hast du vor|was haben sie vor|was planst du|was planen sie|what are you planning.*"
     r"|what do you have in mind|noch etwas|sonst (?:noch )?etwas|gibt es sonst noch etwas.*|worum geht es"
     r"|what is (?:it|this) about|what do you need.*)$", "message"),
    (r"^(?:anschrift|adresse|address|postanschrift|firmenanschrift|company address|firmenadresse|standortadresse"
     r"|postal address|mailing address|adres|dirección|indirizzo)$", "address"),
    (r"stra(?:ß|ss)e|street|anschrift|adresse|address|\brue\b|straat|calle", "street"),
    (r"\bort\b|\bstadt\b|\bcity\b|\btown\b|wohnort|standort|\blocation\b|\bville\b|plaats|woonplaats|ciudad"
     r"|città|\bcitta\b", "city"),
    (r"\bland\b|country|\bstaat\b|\bpays\b|\bpaís\b|\bpaese\b", "country"),
    (r"bundesland|\bstate\b|region|kanton|province|provinz|county", "ignore"),
    (r"branche|industry|sector|\bsektor\b|geschäftsfeld|tätigkeitsbereich|secteur|industrie", "industry"),
    (r"mitarbeiter|beschäftigte|employees|company size|unternehmensgr(?:ö|oe)(?:ß|ss)e|firmengr(?:ö|oe)(?:ß|ss)e"
     r"|team size|headcount|anzahl der angestellten|number of staff|staff|salariés|medewerkers|effectif"
     r"|nombre d.employés|werknemers|empleados|dipendenti", "employees"),
    (r"budget|investitionsvolumen|projektvolumen|auftragsvolumen|preisrahmen|kostenrahmen|price range", "budget"),
    (r"vorname|first ?name|given name|forename|prénom|prenom|voornaam|nombre\b(?! de)|^nome$", "first_name"),
    (r"nachname|last ?name|surname|familienname|family name|\bnom\b(?! de)|achternaam|apellidos?|cognome",
     "last_name"),
    (r"^(?:anrede|salutation|title|titel|civilité|aanhef|tratamiento)$", "salutation"),
    (r"firma|firmenname|unternehmen|company|organi[sz]ation|\bbetrieb\b|arbeitgeber|institution|business name"
     r"|employer|société|societe|entreprise|bedrijf|empresa|azienda|ragione sociale|organisatie"
     r"|buyer company", "company"),
    (r"position|job ?title|funktion|\brolle\b|\brole\b|abteilung|department|fonction|functie|cargo|seniority",
     "job_title"),
    (r"ansprechpartner|ansprechperson|kontaktperson|contact person|\bname\b|^kontakt$|^contact$|wer sind sie"
     r"|who are you"
     r"|wie heißen sie|wie heißt du|dein name|your name"
     r"|what(?:'|’)?s your name|what is your name|anfragender|anfragesteller|interessent|invitee|attendee"
     r"|eingeladene[rn]?\b"
     r"|teilnehmer|buchende person"
     r"|booked by|\bnom\b|\bnaam\b|nombre|\bnome\b|contact name|contactpersoon",
     "contact_name"),
    (r"\b(?:betreff|subject|objet|onderwerp|asunto|oggetto)\b", "subject"),
    (r"nachricht|message|anfrage|anliegen|kommentar|comment|beschreibung|details|bemerkung|mitteilung"
     r"|ihre frage|your question|how can we help|wie können wir|was können wir|womit können wir"
     r"|what can we do|projekt|vorhaben|nachrichtentext|message body|additional notes|notes|notizen"
     r"|anmerkungen|request|enquiry|inquiry|bericht|opmerking|mensaje|messaggio|demande|your needs"
     r"|what would you like|worüber möchten|besprechen|what.*discuss|beschreiben sie|describe|anything else|sonst noch"
     r"|weitere (?:infos|informationen|hinweise|angaben)|additional information|tell us|erzähl", "message"),
    (r"^(?:betreff|subject|objet|onderwerp|asunto|oggetto|topic|thema)$", "subject"),
    (r"^(?:datum|date|uhrzeit|time|gesendet|sent|an|to|cc)$", "ignore"),
)  # fmt: skip
_COMPILED = tuple((re.compile(pattern), key) for pattern, key in _PATTERNS)
# Phrases for the fuzzy match: misspelt or unusual variants of the labels above.
_PHRASES: dict[str, str] = {
    "email": "email", "e mail adresse": "email", "emailadresse": "email", "your work email": "email",
    "telefonnummer": "phone", "telephone number": "phone", "phone number": "phone", "mobilnummer": "phone",
    "firmenname": "company", "company name": "company", "unternehmensname": "company", "organisation": "company",
    "ansprechpartner": "contact_name", "full name": "contact_name", "vollständiger name": "contact_name",
    "vorname": "first_name", "first name": "first_name", "nachname": "last_name", "last name": "last_name",
    "postleitzahl": "postal_code", "strasse": "street", "hausnummer": "house_number", "webseite": "website",
    "nachricht": "message", "ihre nachricht": "message", "your message": "message", "branche": "industry",
    "mitarbeiteranzahl": "employees", "anzahl mitarbeiter": "employees",
}  # fmt: skip
_FUZZY_CUTOFF = 88.0
# Sub-labels in brackets that mean more than the lexicon reads from them alone.
_SUB_LABELS = {
    "first": "first_name", "last": "last_name", "vorname": "first_name", "nachname": "last_name",
    "prefix": "salutation", "anrede": "salutation", "street address": "street", "address line 2": "ignore",
    "state / province / region": "ignore", "zip / postal code": "postal_code", "suffix": "ignore",
    "middle": "ignore",
}  # fmt: skip


def bracketed_key(label: str) -> str | None:
    """The field a sub-label names in brackets: "Name (First)", "Address (City)", "Adresse (PLZ)"."""
    inner = re.findall(r"\(([^)]{1,40})\)", label.lower())
    if not inner:
        return None
    word = " ".join(inner[-1].split())
    return _SUB_LABELS.get(word) or (lookup(word) if len(word) > 2 else None)


@lru_cache(maxsize=8192)
def normalize_label(label: str) -> str:
    """A label as the lexicon compares it: lower case, no brackets, stars, underscores or trailing punctuation."""
    label = re.sub(r"\[[^\]]*\]|\([^)]*\)", " ", label.lower()).replace("*", " ")
    return " ".join(label.replace("_", " ").split()).strip(" ?:.-")


@lru_cache(maxsize=8192)
def lookup(normalized: str) -> str | None:
    """The field key of a normalised label, or None when the label is none the lexicon knows."""
    for pattern, key in _COMPILED:
        if pattern.search(normalized):
            return key
    if len(normalized) < 5 or normalized.count(" ") > 3:
        return None
    found = process.extractOne(normalized, _PHRASES.keys(), scorer=fuzz.ratio, score_cutoff=_FUZZY_CUTOFF)
    return _PHRASES[found[0]] if found else None
