"""The tables behind the Workways sandbox population: names, places, companies, options.

French, Belgian and Irish, with the accents and apostrophes real data has.
"""

from __future__ import annotations

from dataclasses import dataclass


def _pipe(text: str) -> tuple[str, ...]:
    """A compact table: "a|b|c" -> ("a", "b", "c")."""
    return tuple(text.split("|"))


@dataclass(frozen=True)
class Country:
    code: str
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    languages: tuple[str | None, ...]
    mail_domains: tuple[str, ...]
    titles: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    legal_forms: tuple[str, ...]


FR = Country(
    "fr",
    _pipe(
        "Jean|Hélène|François|Zoë|Anaïs|Loïc|Maëlle|Benoît|Cécile|Jérôme|Gaëlle|Marie|Thomas"
        "|Camille|Noël|Léa|Aurélien|Inès|Étienne|Joséphine|Raphaël|Chloé|Mathis|Océane"
    ),
    _pipe(
        "Dupont|Lefèvre|D'Artagnan|Bélanger|De la Tour|Lemaître|Girard|Martin|Moreau|Fontaine"
        "|Rousseau|Château|L'Hermite|Dubois|Mercier|Bonnet|Lambert|Faure|Chevalier|Muñoz"
        "|Da Silva|Nguyễn"
    ),
    ("fr", "fr", "fr", "en", None),
    _pipe("gmail.com|orange.fr|free.fr|laposte.net|hotmail.fr|outlook.com"),
    _pipe(
        "Directeur Commercial|Chargée de communication|Développeur|Responsable RH|Gérant"
        "|Architecte d'intérieur|Comptable|Chef de projet|Consultante"
    ),
    _pipe("75002 Paris|75014 Paris|69003 Lyon|59000 Lille|33000 Bordeaux"),
    _pipe(
        "rue de l'Église|avenue des Champs-Élysées|rue du Faubourg Saint-Honoré"
        "|boulevard Haussmann|quai de l'Hôtel de Ville|rue Émile Zola"
    ),
    ("SAS", "SARL", "SA"),
)
BE = Country(
    "be",
    _pipe(
        "Wouter|Anneleen|Sébastien|Lotte|Pieter-Jan|Noémie|Jef|Aurélie|Thibault|Elke|Amélie"
        "|Koen|Géraldine|Bram|Zoë|Frédéric"
    ),
    _pipe(
        "Van den Broeck|Dubois|Peeters|Janssens|D'Hondt|Vermeulen|Lejeune|De Smet|Maes"
        "|Wauters|Goossens|Leclercq|D'Ursel|Dewaële"
    ),
    ("fr", "nl", "nl", "en", None),
    _pipe("skynet.be|telenet.be|gmail.com|proximus.be|hotmail.com"),
    _pipe(
        "Zaakvoerder|Projectleider|Gérante|Office Manager|Juriste|Ingénieur système|Accountmanager"
    ),
    _pipe("1050 Bruxelles|4000 Liège|9000 Gent|1000 Bruxelles"),
    _pipe("Avenue Louise|Rue de la Loi|Chaussée d'Ixelles|Korenmarkt|Boulevard d'Avroy"),
    ("SRL", "BV", "SA"),
)
IE = Country(
    "ie",
    _pipe(
        "Siobhán|Seán|Aoife|Niamh|Ciarán|Pádraig|Róisín|Eoin|Orla|Cian|Méabh|Darragh|Saoirse"
        "|Conor|Éabha"
    ),
    _pipe(
        "O'Brien|O'Sullivan|Ní Bhriain|Mac Giolla|Ó Ceallaigh|McCarthy|Murphy|Kelly|O'Neill"
        "|Byrne|Ryan|Ó Súilleabháin|Fitzgerald"
    ),
    ("en", "en", "en", "ga", None),
    _pipe("gmail.com|eircom.net|outlook.ie|yahoo.ie|icloud.com"),
    _pipe(
        "Office Manager|Software Engineer|Head of Operations|CEO|Solicitor|Product Designer"
        "|Financial Controller"
    ),
    _pipe("Dublin 2, D02 X285|Cork, T12 RW26|Dublin 4, D04 V1W8|Galway, H91 E3T2"),
    _pipe(
        "Grand Canal Quay|St. Stephen's Green|O'Connell Street|Lapps Quay|Sir John Rogerson's Quay"
    ),
    ("Ltd", "DAC", "Teo."),
)
COUNTRIES = (FR, FR, BE, IE)  # France is twice as likely
COUNTRY_BY_CODE = {"fr": FR, "be": BE, "ie": IE}
TLD = {"fr": ".fr", "be": ".be", "ie": ".ie"}

SITES = tuple(
    (name, country)
    for country, names in (
        ("fr", "Paris Bourse|Paris Montparnasse|Lyon Part-Dieu|Lille Euralille"),
        ("be", "Bruxelles Louise|Liège Guillemins|Gent Dampoort"),
        ("ie", "Dublin Docklands|Cork Lapps Quay"),
    )
    for name in (f"Workways {n}" for n in _pipe(names))
)
ORG_WORDS = _pipe(
    "Hélios|Boréal|Émeraude|Lumière|Océane|Cèdre|Kerry|Liffey|Shannon|Brabant|Meuse|Vauban"
    "|Atlas|Nova|Castor|Épicéa|Zéphyr|Ardenne|Connacht|Mistral|Orée|Pléiade|Quartz|Saule"
)
ORG_PATTERNS = _pipe(
    "{w} Conseil|L'Atelier {w}|Studio {w}|{w} & Associés|Groupe {w}|{w} Digital|Cabinet {l}"
    "|{l} & Fils|{w} Technologies|Maison {w}|{w} Labs|{l} Architectes|D'Artagnan {w}"
    "|{w} Consulting"
)
DESCRIPTIONS = _pipe(
    "Technology solutions company|Cabinet d'expertise comptable|Agence de communication"
    "|Bureau d'études|Software consultancy|Start-up en phase d'amorçage|Ontwerpbureau"
    "|Société d'édition"
)
# key:French name:default monthly price
OPTION_CATALOG = tuple(
    (key, name, int(price))
    for key, name, price in (
        entry.split(":")
        for entry in _pipe(
            "parking:Place de parking:150|bike_garage:Garage vélo sécurisé:30"
            "|meeting_room_package:Forfait réservation de salles:200"
            "|tv_rental:Location téléviseur:30|fridge_rental:Location réfrigérateur:25"
            "|phonebooth_rental:Location phonebooth:180|furniture_rental:Location meuble:40"
            "|cleaning_service:Extra ménage régulier:120|private_wifi:Réseau privé WIFI:60"
            "|ev_charger:Recharge véhicule électrique:90"
            "|access_card:Carte d'accès supplémentaire:15"
            "|service_by_month:Autre service mensuel:100"
        )
    )
)
OPTION_KEYS = frozenset(
    _pipe(
        "parking|bike_garage|meeting_room_package|tv_rental|fridge_rental|phonebooth_rental"
        "|appliance_rental|furniture_rental|food_service|garbage_service|cleaning_service"
        "|private_network|private_wifi|ev_charger|access_card|additional_member"
        "|additional_member_temp|service_by_month|service_by_month_prepaid|credit_fixed"
        "|credit_percent|invoice_line"
    )
)
UNIQUE_OPTION_KEYS = frozenset(
    _pipe(
        "parking|bike_garage|meeting_room_package|food_service|garbage_service|cleaning_service"
        "|private_network|private_wifi"
    )
)
ROLES = ("admin", "user", "user", "user", "user", "temp")
