# ruff: noqa: E501 - the mails are data: their lines are kept as a reader finds them
"""Forty-odd lead mails a sales team would sort by hand, each pinned to the grade (or junk) it must land in.

Each mail goes the worker's way — parsed, checked for junk, scored under the shipped rules — so a change to the
parser or the rules that moves one of these is seen here. (The hold-out set in tests/fixtures/qualification is
never tuned against; bench/qualification_accuracy.py reports both figures.)
"""

from __future__ import annotations

import pytest

from lead_engine.core.lead_fields import InboundEmail
from lead_engine.core.qualification.assess import assess_email
from lead_engine.core.qualification.rules import load_rules
from lead_engine.core.settings import Settings

SETTINGS = Settings(_env_file=None, own_domains=["example-seller.de"])  # type: ignore[call-arg]
RULES = load_rules()
TT = "TradingTwins <noreply@tradingtwins.com>"
CF7 = "WordPress <wordpress@example-seller.de>"
HUBSPOT = "HubSpot <noreply@notifications.hubspot.com>"


def tradingtwins(fields: str, message: str) -> str:
    return f"Sie haben eine neue Anfrage erhalten.\n\n{fields}\nNachricht: {message}\n\nIhr tradingtwins Team"


def cf7(name: str, mail: str, fields: str, message: str) -> str:
    return (
        f"Von: {name} <{mail}>\n{fields}\nBetreff: Anfrage\n\nNachrichtentext:\n{message}\n\n--\n"
        "Diese E-Mail wurde von einem Kontaktformular von Example Seller (https://example-seller.de) gesendet"
    )


def hubspot(fields: str) -> str:
    return f"You have a new form submission on Contact us.\n\n{fields}\n\nView contact in HubSpot"


CASES = [
    # --- hot: a concrete, near-term request from a reachable company ---
    pytest.param(
        TT,
        "Neue Anfrage: Gabelstapler",
        tradingtwins(
            "Firma: Brandl Logistik GmbH\nAnsprechpartner: Josef Brandl\nE-Mail: j.brandl@brandl-logistik.de\n"
            "Telefon: 089 1234567\nPLZ / Ort: 80331 München",
            "Wir benötigen dringend ein Angebot für 3 Elektro-Gabelstapler, Budget ca. 60.000 EUR, Lieferung bis Ende März.",
        ),
        "hot",
        id="tt_de_quote_urgent_budget",
    ),  # marketplace, quote, urgent, budget, deadline
    pytest.param(
        TT,
        "Neue Anfrage: Regalsystem",
        tradingtwins(
            "Firma: Hofer Metallbau GmbH\nAnsprechpartner: Anna Hofer\nE-Mail: a.hofer@hofer-metall.at\n"
            "Telefon: +43 1 5123456\nPLZ / Ort: 1010 Wien",
            "Bitte um ein Angebot für ein Palettenregal, 400 Stellplätze. Projektstart nächsten Monat.",
        ),
        "hot",
        id="tt_at_quote_timeline",
    ),  # Austrian company, quote with a start date
    pytest.param(
        TT,
        "Neue Anfrage: Reinigung",
        tradingtwins(
            "Firma: Kessler Pharma AG\nAnsprechpartner: Dr. Lukas Kessler\nE-Mail: l.kessler@kessler-pharma.ch\n"
            "Telefon: +41 44 123 45 67",
            "Ausschreibung Gebäudereinigung für 3 Standorte, Angebote bis zum 15.01. erbeten.",
        ),
        "hot",
        id="tt_ch_tender_deadline",
    ),  # tender with a deadline, Swiss pharma
    pytest.param(
        CF7,
        "Kontaktformular",
        cf7(
            "Petra Vogel",
            "p.vogel@vogel-maschinenbau.de",
            "Firma: Vogel Maschinenbau GmbH\nTelefon: 0711 987654",
            "Wir suchen kurzfristig einen Partner für 20 CNC-Frästeile. Budget bis 15.000 €. Bitte senden Sie uns ein "
            "Angebot.",
        ),
        "hot",
        id="cf7_de_quote_budget_short_notice",
    ),  # web form, quote, budget, short notice
    pytest.param(
        "Martin Krause <m.krause@krause-bau.de>",
        "Angebot Containeranlage",
        (
            "Guten Tag,\n\nwir benötigen schnellstmöglich ein Angebot über eine Bürocontaineranlage mit 6 Modulen für "
            "unsere Baustelle in Leipzig. Start ist ab März.\n\nMit freundlichen Grüßen\nMartin Krause\nGeschäftsführer\n"
            "Krause Bau GmbH\nHauptstraße 5\n04109 Leipzig\nTel. 0341 2233445"
        ),
        "hot",
        id="free_de_md_quote_asap",
    ),  # decision maker, quote, as soon as possible
    pytest.param(
        HUBSPOT,
        "New form submission",
        hubspot(
            "First Name: Sarah\nLast Name: Collins\nEmail: sarah.collins@northwind-logistics.de\n"
            "Company: Northwind Logistics GmbH\nPhone Number: +49 40 5566778\nMessage: We'd like a demo of your fleet "
            "software next week; budget approx. 40,000 EUR."
        ),
        "hot",
        id="hubspot_en_demo_budget_next_week",
    ),  # English form, demo next week with a budget
    pytest.param(
        "James Porter <james.porter@porter-engineering.de>",
        "Quotation request",
        (
            "Hello,\n\nplease send us a quotation for 12 industrial dehumidifiers. This is urgent, we need them within 4 "
            "weeks.\n\nBest regards\nJames Porter\nHead of Operations\nPorter Engineering GmbH\n+49 69 1234 5678"
        ),
        "hot",
        id="free_en_quote_urgent",
    ),  # English, quote, urgent, timeline, head of operations
    pytest.param(
        TT,
        "Neue Anfrage: Verpackung",
        tradingtwins(
            "Firma: Lindner Lebensmittel GmbH\nAnsprechpartner: Eva Lindner\nE-Mail: eva.lindner@lindner-food.de\n"
            "Telefon: 030 44556677\nBudget: 25.000 EUR",
            "Angebot für eine Verpackungsmaschine gewünscht.",
        ),
        "hot",
        id="tt_de_quote_budget_field",
    ),  # budget in its own field, food industry
    pytest.param(
        "Calendly <notifications@calendly.com>",
        "New Event: Beratungsgespräch",
        (
            "Hi,\n\nA new event has been scheduled.\n\nEvent Type:\nBeratungsgespräch 30 Min\n\nInvitee:\nThomas Berger\n\n"
            "Invitee Email:\nt.berger@berger-automotive.de\n\nQuestions:\nFirma\nBerger Automotive GmbH\n"
            "Worum geht es?\nAngebot für die Wartung unserer Förderanlagen, gerne kurzfristig."
        ),
        "hot",
        id="calendly_de_booked_quote",
    ),  # booked a meeting about a quote
    pytest.param(
        TT,
        "Neue Anfrage: Transport",
        tradingtwins(
            "Firma: Wagner Chemie GmbH\nAnsprechpartner: Klaus Wagner\nE-Mail: k.wagner@wagner-chemie.de\n"
            "Telefon: 0621 3344556",
            "Wir brauchen eilig ein Angebot für 10 Gefahrguttransporte pro Monat.",
        ),
        "hot",
        id="tt_de_hazmat_urgent",
    ),  # chemicals, urgent quote
    # --- warm: a real enquiry worth a call, less concrete ---
    pytest.param(
        TT,
        "Neue Anfrage: Druckluft",
        tradingtwins(
            "Firma: Seidel Kunststoff GmbH\nAnsprechpartner: Frank Seidel\nE-Mail: f.seidel@seidel-kunststoff.de\n"
            "Telefon: 0911 223344",
            "Was kostet ein Schraubenkompressor mit 15 kW?",
        ),
        "warm",
        id="tt_de_price_question",
    ),  # a price question through a marketplace
    pytest.param(
        CF7,
        "Kontaktformular",
        cf7(
            "Julia Neumann",
            "j.neumann@neumann-handel.de",
            "Firma: Neumann Handel GmbH\nTelefon: 0221 556677",
            "Welche Konditionen bieten Sie für Rahmenverträge?",
        ),
        "warm",
        id="cf7_de_conditions",
    ),  # conditions for a framework contract, no timeline
    pytest.param(
        HUBSPOT,
        "New form submission",
        hubspot(
            "First Name: Daniel\nLast Name: Fischer\nEmail: daniel.fischer@fischer-it.de\nCompany: Fischer IT GmbH\n"
            "Message: What does your pricing look like for 50 users?"
        ),
        "warm",
        id="hubspot_en_pricing_no_phone",
    ),  # pricing question, no phone
    pytest.param(
        "Sandra Roth <sandra.roth@roth-elektro.de>",
        "Frage zu Ihren Leistungen",
        (
            "Hallo,\n\nbieten Sie auch Wartungsverträge für USV-Anlagen an? Wir hätten Interesse an einem Termin.\n\n"
            "Viele Grüße\nSandra Roth\nRoth Elektrotechnik GmbH\nTel. 0201 778899"
        ),
        "warm",
        id="free_de_service_meeting",
    ),  # interested in a meeting, no urgency
    pytest.param(
        TT,
        "Neue Anfrage",
        tradingtwins("Firma: Albrecht Möbel GmbH\nE-Mail: info@albrecht-moebel.de", "Angebot für Büromöbel gewünscht."),
        "warm",
        id="tt_de_quote_thin_contact",
    ),  # a quote request but no person and no phone
    pytest.param(
        "Oliver Hart <oliver@hartmann-consulting.co.uk>",
        "Your services",
        (
            "Hi there,\n\nwe are a consultancy in London looking for a partner for logistics in Germany. Could you send "
            "your rates?\n\nThanks,\nOliver Hart\nHartmann Consulting Ltd\n+44 20 7946 0958"
        ),
        "warm",
        id="free_en_uk_rates",
    ),  # UK company, rates, outside DACH
    pytest.param(
        CF7,
        "Kontaktformular",
        cf7(
            "Michael Brandt",
            "michael.brandt@gmx.de",
            "Firma: Brandt Gartenbau\nTelefon: 0171 2345678",
            "Ich hätte gerne ein Angebot für die Pflege unserer Außenanlagen.",
        ),
        "warm",
        id="cf7_de_freemail_quote",
    ),  # small company on free mail, but a quote request with phone
    pytest.param(
        "LinkedIn <leads-noreply@linkedin.com>",
        "New lead from your Lead Gen Form",
        (
            "You have a new lead.\n\nFirst Name: Laura\nLast Name: Schulz\nEmail: laura.schulz@schulz-gmbh.de\n"
            "Company Name: Schulz GmbH\nJob Title: Einkaufsleiterin\nPhone Number: +49 511 123456"
        ),
        "warm",
        id="linkedin_de_lead_ad_buyer",
    ),  # lead ad from a buyer, no request text
    pytest.param(
        TT,
        "Neue Anfrage: Etiketten",
        tradingtwins(
            "Firma: Baumann Druck GmbH\nAnsprechpartner: Heike Baumann\nE-Mail: h.baumann@baumann-druck.de",
            "Preisanfrage für 100.000 Etiketten.",
        ),
        "warm",
        id="tt_de_price_no_phone",
    ),  # a price request, no phone
    pytest.param(
        "Peter Kolb <p.kolb@kolb-technik.de>",
        "Rückruf",
        ("Bitte rufen Sie mich zurück wegen einer Anlage.\n\nPeter Kolb\nKolb Technik GmbH\n0791 445566"),
        "warm",
        id="free_de_call_back",
    ),  # asks for a call back, little detail
    # --- cold: vague, private or off-profile ---
    pytest.param(
        CF7,
        "Kontaktformular",
        cf7("Max Meier", "max.meier@web.de", "", "Bitte senden Sie mir Informationen."),
        "cold",
        id="cf7_de_private_info",
    ),  # a private person wants information
    pytest.param(
        "anna.private@gmail.com",
        "Info",
        "Hallo, schicken Sie mir bitte Ihre Broschüre. Danke",
        "cold",
        id="free_de_brochure_freemail",
    ),  # free mail, brochure, nobody named
    pytest.param(
        HUBSPOT,
        "New form submission",
        hubspot("First Name: Bob\nLast Name: Smith\nEmail: bob.smith@yahoo.com\nMessage: more info please"),
        "cold",
        id="hubspot_en_more_info_freemail",
    ),  # free mail, "more info"
    pytest.param(
        "Chen Wei <chen.wei@shenzhen-trading.cn>",
        "Cooperation",
        (
            "Dear Sir,\n\nwe are a trading company and want to introduce our products to you.\n\nChen Wei\n"
            "Shenzhen Trading Co., Ltd.\nChina"
        ),
        "cold",
        id="free_en_cn_supplier_pitch",
    ),  # a supplier pitching, not a buyer
    pytest.param(
        TT, "Neue Anfrage", tradingtwins("E-Mail: kontakt@t-online.de", "Info"), "cold", id="tt_de_only_freemail"
    ),  # nothing but a free-mail address
    pytest.param(
        CF7, "Kontaktformular", cf7("Lisa", "lisa123@gmx.net", "", ""), "cold", id="cf7_de_empty_message"
    ),  # a first name and an address, no request
    pytest.param(
        "John Doe <john@doe-family.com>",
        "question",
        "Do you ship to Texas?\n\nJohn",
        "cold",
        id="free_en_us_private_question",
    ),  # a private question from the US
    pytest.param(
        HUBSPOT,
        "New form submission",
        hubspot(
            "First Name: Maria\nLast Name: Lopez\nEmail: maria.lopez@hotmail.com\nMessage: Just browsing, send details."
        ),
        "cold",
        id="hubspot_en_browsing",
    ),  # "just browsing"
    # --- junk: not an enquiry ---
    pytest.param(
        "Thomas Weber <t.weber@weber-gmbh.de>",
        "Abwesenheitsnotiz: Ihre Anfrage",
        (
            "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich 12.01. nicht im Büro und habe keinen Zugriff auf "
            "meine E-Mails."
        ),
        "junk",
        id="ooo_de_subject",
    ),  # German out-of-office
    pytest.param(
        "Karen Miles <k.miles@miles-co.com>",
        "Automatic reply: Your offer",
        ("I am out of the office until Monday with limited access to e-mail."),
        "junk",
        id="ooo_en_subject",
    ),  # English out-of-office
    pytest.param(
        "Mail Delivery Subsystem <MAILER-DAEMON@mail.example-seller.de>",
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host mail.example-seller.de.\n\nI'm sorry to have to inform you that your message "
        "could not be delivered to one or more recipients.",
        "junk",
        id="bounce_mailer_daemon",
    ),  # a bounce
    pytest.param(
        "Info <info@mailinator.com>",
        "Anfrage",
        ("Firma: Test GmbH\nE-Mail: info@mailinator.com\nNachricht: Angebot bitte"),
        "junk",
        id="disposable_mailinator",
    ),  # throw-away address
    pytest.param(
        "Best Deals <deals@cheap-offers.biz>",
        "Great offers",
        (
            "http://cheap-offers.biz/a http://cheap-offers.biz/b http://cheap-offers.biz/c "
            "http://cheap-offers.biz/d http://cheap-offers.biz/e http://cheap-offers.biz/f buy now"
        ),
        "junk",
        id="link_farm",
    ),  # many links, hardly any words
    pytest.param(
        "Peter Lang <p.lang@lang-ag.de>",
        "Re: Angebot",
        "Danke, ich melde mich nach meinem Urlaub.",
        "warm",
        id="free_de_short_reply_not_ooo",
    ),  # a person's reply to our offer is no auto-reply: follow it up
    pytest.param(
        "wlw <anfrage@wlw.de>",
        "Neue Anfrage über wlw",
        (
            "Sie haben eine neue Anfrage über wlw erhalten.\n\nFirma: Sommer Antriebstechnik GmbH\nAnsprechpartner: "
            "Jens Sommer\nE-Mail: j.sommer@sommer-antriebe.de\nTelefon: 0231 9988776\nNachricht: Bitte um Angebot "
            "für 200 Getriebemotoren, Liefertermin bis spätestens KW 12."
        ),
        "hot",
        id="wlw_de_quote_deadline",
    ),  # marketplace, quote, latest delivery date
    pytest.param(
        "Typeform <notifications@typeform.io>",
        "New response: Project enquiry",
        (
            "Your typeform Project enquiry has a new response.\n\nWhat's your name?\nEmily Carter\n\nWhat's your "
            "work email?\nemily.carter@carter-energy.de\n\nCompany?\nCarter Energy GmbH\n\nWhat do you need?\n"
            "A quote for a 500 kW storage system, budget 50,000 USD, start next month."
        ),
        "hot",
        id="typeform_en_quote_usd_budget",
    ),  # question/answer layout, quote with a dollar budget
    pytest.param(
        "Facebook <leads@facebookmail.com>",
        "Neuer Lead: Frühjahrsaktion",
        (
            "Neuer Lead aus Ihrem Formular Frühjahrsaktion\n\nVollständiger Name: Ralf Ebert\nE-Mail: "
            "ralf.ebert@ebert-logistik.de\nTelefonnummer: +49 421 556677\nUnternehmen: Ebert Logistik GmbH"
        ),
        "warm",
        id="meta_de_lead_ad_no_text",
    ),  # a lead ad: reachable company, no request text
    pytest.param(
        "Nina Graf <nina.graf@graf-holz.ch>",
        "Interest in your product",
        (
            "Hello,\n\nwe are interested in your drying systems. Could you tell us the price range?\n\nKind regards\n"
            "Nina Graf\nGraf Holzbau AG\n+41 31 123 45 67"
        ),
        "warm",
        id="free_en_ch_price_range",
    ),  # Swiss company in English, a price question
    pytest.param(
        "Kevin Schuster <kevin.schuster91@gmail.com>",
        "Bewerbung als Lagerist",
        ("Sehr geehrte Damen und Herren,\n\nhiermit bewerbe ich mich als Lagerist.\n\nKevin Schuster\n0176 12345678"),
        "cold",
        id="free_de_job_application",
    ),  # a job application is no sales lead
    pytest.param(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        "Address not found\n\nYour message wasn't delivered to info@kunde.de because the address couldn't be found.",
        "junk",
        id="bounce_gmail_dsn",
    ),  # Gmail's bounce
    pytest.param(
        "Ute Brenner <u.brenner@brenner-kg.de>",
        "Re: Ihre Anfrage",
        (
            "Guten Tag,\n\nich befinde mich im Urlaub und bin ab dem 20.01. wieder erreichbar. In dringenden Fällen "
            "wenden Sie sich an info@brenner-kg.de."
        ),
        "junk",
        id="ooo_de_body_only",
    ),  # out-of-office said only in the body
]


@pytest.mark.parametrize(("sender", "subject", "body", "expected"), CASES)
def test_lead_lands_in_its_grade(sender: str, subject: str, body: str, expected: str) -> None:
    email = InboundEmail(sender=sender, subject=subject, text=body)
    assessment = assess_email(email, settings=SETTINGS, rules=RULES)
    shown = [(item.points, item.reason) for item in assessment.verdict.components]
    assert assessment.outcome == expected, (assessment.verdict.score, assessment.junk, shown)


def test_the_table_covers_every_grade_in_both_languages() -> None:
    outcomes = [case.values[3] for case in CASES]
    assert len(CASES) >= 40
    assert {outcome: outcomes.count(outcome) >= 5 for outcome in ("hot", "warm", "cold", "junk")} == dict.fromkeys(
        ("hot", "warm", "cold", "junk"), True
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"auto-submitted": "auto-replied"}, "junk"),  # RFC 3834 auto-reply
        ({"x-autoreply": "yes"}, "junk"),  # common vacation responders
        ({"content-type": "multipart/report; report-type=delivery-status; boundary=x"}, "junk"),  # a DSN
        ({"auto-submitted": "auto-generated"}, "hot"),  # a marketplace notification is machine-made: still a lead
        ({"precedence": "bulk"}, "hot"),  # bulk headers on a form notification do not make it junk
    ],
)
def test_headers_tell_machines_from_people(headers: dict[str, str], expected: str) -> None:
    sender, subject, body = CASES[0].values[:3]
    email = InboundEmail(sender=str(sender), subject=str(subject), text=str(body), headers=headers)
    assert assess_email(email, settings=SETTINGS, rules=RULES).outcome == expected
