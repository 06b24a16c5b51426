"""Deterministic population for the Workways sandbox: sites, rooms, organizations, users.

Everything is drawn from ``random.Random`` instances seeded from the one ``seed``, so
the same ``(seed, users, orgs, today)`` always yields the same records, ids included.
Organizations, users and ids use separate streams: the organizations of a seed do not
change when only the number of users does.

The data is deliberately awkward, the way real data is: French, Belgian and Irish
names with accents and apostrophes (Hélène, O'Brien, D'Artagnan, Zoë), empty last
names, null titles and phones, users without an organization, archived users and
organizations, mixed-case e-mails ("Jean.Dupont@Acme.com") and e-mails with
surrounding whitespace. E-mails are unique once stripped and lower-cased. The first
records of each kind carry these traits for certain, so even tiny populations have
them; the rest are random.

Records are API-shaped dicts. A user's ``organizationName`` and
``isOrganizationArchived`` are not stored: the store derives them from the
organization when serving.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from syncworker_sandbox.population_data import (
    COUNTRIES,
    COUNTRY_BY_CODE,
    DESCRIPTIONS,
    FR,
    OPTION_CATALOG,
    ORG_PATTERNS,
    ORG_WORDS,
    ROLES,
    SITES,
    TLD,
)

JsonDict = dict[str, Any]

OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}\Z")


class IdFactory:
    """ObjectId-like ids (timestamp, machine, counter), increasing, from a seed."""

    def __init__(self, seed: str) -> None:
        rng = random.Random(seed)
        self._ts = 0x5E000000 + rng.getrandbits(24)
        self._machine = rng.getrandbits(40)
        self._counter = rng.getrandbits(12)

    def next(self) -> str:
        self._counter += 1
        ts = self._ts + self._counter * 61
        return f"{ts:08x}{self._machine:010x}{self._counter & 0xFFFFFF:06x}"


_fold_cache: dict[str, str] = {}


def fold(text: str) -> str:
    """ASCII, lower-case, letters and digits only: "D'Artagnan" -> "dartagnan"."""
    cached = _fold_cache.get(text)
    if cached is None:
        decomposed = unicodedata.normalize("NFKD", text)
        ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").lower()
        cached = "".join(ch for ch in ascii_text if ch.isalnum() or ch == "-")
        _fold_cache[text] = cached
    return cached


def iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _past(rng: random.Random, today: dt.date, max_days: int, min_days: int = 1) -> dt.date:
    return today - dt.timedelta(days=rng.randint(min_days, max_days))


def _digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


def phone(rng: random.Random, country: str, mobile: bool) -> str:
    """A phone number in the country's style; now and then in national format."""
    if country == "fr":
        head = rng.choice("67") if mobile else rng.choice("12345")
        pairs = " ".join(_digits(rng, 2) for _ in range(4))
        return f"0{head} {pairs}" if rng.random() < 0.1 else f"+33 {head} {pairs}"
    if country == "be":
        if mobile:
            return f"+32 4{_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}"
        return f"+32 2 {_digits(rng, 3)} {_digits(rng, 2)} {_digits(rng, 2)}"
    if mobile:
        return f"+353 8{rng.choice('35679')} {_digits(rng, 3)} {_digits(rng, 4)}"
    return f"+353 1 {_digits(rng, 3)} {_digits(rng, 4)}"


def org_domain(org: JsonDict) -> str:
    """The e-mail domain of an organization, derived from its name and country."""
    words = [fold(w) for w in str(org.get("name") or "org").split()]
    slug = "-".join(w for w in words[:2] if w and w not in ("associes", "fils")) or "org"
    country = org.get("principalSiteCountry") or "fr"
    return slug + TLD.get(str(country), ".com")


@dataclass
class Population:
    sites: list[JsonDict]  # {_id, name, country}
    rooms: list[JsonDict]  # {_id, name, siteId, price}
    organizations: list[JsonDict]
    users: list[JsonDict]
    user_ids: IdFactory
    org_ids: IdFactory


def make_sites(seed: int) -> list[JsonDict]:
    ids = IdFactory(f"{seed}:site-ids")
    return [{"_id": ids.next(), "name": name, "country": c} for name, c in SITES]


def make_rooms(seed: int, sites: list[JsonDict], per_site: int) -> list[JsonDict]:
    rng = random.Random(f"{seed}:rooms")
    ids = IdFactory(f"{seed}:room-ids")
    rooms = []
    for site in sites:
        for n in range(per_site):
            floor, letter = 1 + n // 26, chr(ord("A") + n % 26)
            if site["country"] == "ie":
                name = f"Office {floor}.{n % 26 + 1:02d}"
            else:
                label = rng.choice(("Bureau", "Bureau", "Bureau Premium", "Espace"))
                name = f"{label} {letter}{floor}{n % 10}"
            price = rng.randrange(250, 3000, 10)
            rooms.append({"_id": ids.next(), "name": name, "siteId": site["_id"], "price": price})
    return rooms


def principal_site(org: JsonDict, sites_by_id: dict[str, JsonDict]) -> JsonDict | None:
    """The site with the most allocated rooms; else the first accessible site."""
    counts: dict[str, int] = {}
    for room in org["allocatedRooms"]:
        if room.get("siteId") in sites_by_id:
            counts[room["siteId"]] = counts.get(room["siteId"], 0) + 1
    if counts:
        best = max(counts.values())
        current = str(org.get("principalSiteId"))
        if counts.get(current) == best:
            return sites_by_id[current]
        return sites_by_id[next(s for s, n in counts.items() if n == best)]
    for site in org["accessibleSites"]:
        if site["_id"] in sites_by_id:
            return sites_by_id[site["_id"]]
    return None


def refresh_sites(org: JsonDict, sites_by_id: dict[str, JsonDict]) -> None:
    """Recompute the derived principal-site fields and ``sitesCount``."""
    present = {s["_id"] for s in org["accessibleSites"]}
    for room in org["allocatedRooms"]:
        site = sites_by_id.get(room.get("siteId") or "")
        if site and site["_id"] not in present:
            present.add(site["_id"])
            org["accessibleSites"].append(dict(site))
    site = principal_site(org, sites_by_id)
    org["principalSiteId"] = site["_id"] if site else None
    org["principalSiteName"] = site["name"] if site else None
    org["principalSiteCountry"] = site["country"] if site else None
    org["sitesCount"] = len(org["accessibleSites"])


def make_option(rng: random.Random, option_id: int, start: dt.date) -> JsonDict:
    key, name, price = rng.choice(OPTION_CATALOG)
    return {
        "id": option_id,
        "name": name,
        "key": key,
        "quantity": rng.choice((1, 1, 1, 2, 3)),
        "price": price if rng.random() < 0.6 else None,
        "pricePromo": None if rng.random() < 0.85 else price // 2,
        "startDate": start.isoformat(),
        "endDate": "",
    }


def make_organization(
    rng: random.Random,
    oid: str,
    sites: list[JsonDict],
    today: dt.date,
    free_rooms: dict[str, list[JsonDict]] | None = None,
    index: int = -1,
) -> JsonDict:
    """One organization; ``free_rooms`` (per site id) is consumed for allocations."""
    home = rng.choice(sites)
    country = COUNTRY_BY_CODE[home["country"]]
    others = [s for s in sites if s is not home]
    access = [home, *rng.sample(others, rng.choice((0, 0, 0, 1, 1, 2)))]
    minimal = index == 2 or rng.random() < 0.05
    rooms: list[JsonDict] = []
    if not minimal and free_rooms is not None:
        for site in access[: rng.choice((1, 1, 2))]:
            pool = free_rooms.get(site["_id"], [])
            for _ in range(min(len(pool), rng.choice((0, 1, 1, 2, 3)))):
                rooms.append(pool.pop())
    word, last = rng.choice(ORG_WORDS), rng.choice(country.last_names)
    name = rng.choice(ORG_PATTERNS).format(w=word, l=last)
    start = _past(rng, today, 1500, 30)
    end = None if rng.random() < 0.35 else start + dt.timedelta(days=365 * rng.choice((1, 2, 3)))
    city = rng.choice(country.cities)
    contact_first, contact_last = rng.choice(country.first_names), rng.choice(country.last_names)
    legal = rng.choice(country.legal_forms)
    org: JsonDict = {
        "_id": oid,
        "name": name,
        "description": None if rng.random() < 0.3 else rng.choice(DESCRIPTIONS),
        "language": rng.choice(country.languages),
        "isArchived": index == 1 or rng.random() < 0.08,
        "principalSiteId": None,
        "principalSiteName": None,
        "principalSiteCountry": None,
        "sitesCount": 0,
        "maxResidentUsers": rng.randint(1, 40),
        "isMember": rng.random() < 0.85,
        "contractStartDate": start.isoformat(),
        "contractEndDate": iso(end),
        "renewalMonths": None if end is None else rng.choice((None, 1, 3, 6, 12, 12, 24)),
        "basePrice": sum(r["price"] for r in rooms) or None,
        "lastAccessDate": None if rng.random() < 0.2 else _past(rng, today, 90).isoformat(),
        "accountType": rng.choice(("customer", "customer", "customer", "none", "issuer", "test")),
        "billingName": f"{name} {legal}",
        "billingEmail": None,
        "billingAddress": f"{rng.randint(1, 180)} {rng.choice(country.streets)}, {city}",
        "vatNumber": {
            "fr": f"FR{_digits(rng, 11)}",
            "be": f"BE0{_digits(rng, 9)}",
            "ie": f"IE{_digits(rng, 7)}{rng.choice('ABCWX')}",
        }[country.code],
        "companyNumber": {
            "fr": _digits(rng, 14),
            "ie": _digits(rng, 6),
            "be": f"0{_digits(rng, 3)}.{_digits(rng, 3)}.{_digits(rng, 3)}",
        }[country.code],
        "contactName": f"{contact_first} {contact_last}",
        "contactPhone": phone(rng, country.code, rng.random() < 0.5),
        "updatedAt": _past(rng, today, 700).isoformat(),
        "allocatedRooms": [
            {
                "_id": r["_id"],
                "name": r["name"],
                "contractEndDate": iso(end) or "",
                "price": r["price"],
                "siteId": r["siteId"],
            }
            for r in rooms
        ],
        "accessibleSites": [dict(s) for s in access],
        "contractOptions": []
        if minimal
        else [make_option(rng, n, start) for n in range(1, rng.choice((0, 1, 1, 2, 3)) + 1)],
    }
    if minimal:
        for key in (
            "description",
            "contractEndDate",
            "renewalMonths",
            "basePrice",
            "lastAccessDate",
            "billingAddress",
            "vatNumber",
            "companyNumber",
            "contactName",
            "contactPhone",
        ):
            org[key] = None
    refresh_sites(org, {s["_id"]: s for s in sites})
    if not minimal and rng.random() < 0.8:
        mailbox = rng.choice(("comptabilite", "finance", "accounts", "factures", "admin"))
        org["billingEmail"] = f"{mailbox}@{org_domain(org)}"
    return org


# Traits forced on the first users, so that every population has them.
FORCED_USERS: tuple[JsonDict, ...] = (
    {"firstName": "Hélène", "lastName": "Lefèvre"},
    {"firstName": "Siobhán", "lastName": "O'Brien", "mixed_case": True},
    {
        "firstName": "Zoë",
        "lastName": "D'Artagnan",
        "title": None,
        "phone": None,
        "mobilePhone": None,
    },
    {"no_org": True, "title": None},
    {"isUserArchived": True},
    {"firstName": "Jean", "lastName": "Dupont", "mixed_case": True, "dotted": True},
    {"whitespace": True},
    {"lastName": ""},
)


def make_user(
    rng: random.Random,
    uid: str,
    org: JsonDict | None,
    today: dt.date,
    used_emails: set[str],
    forced: JsonDict | None = None,
) -> JsonDict:
    """One user of ``org`` (or of none); ``used_emails`` holds stripped lower-cased e-mails."""
    forced = forced or {}
    code = (org or {}).get("principalSiteCountry") or rng.choice(COUNTRIES).code
    country = COUNTRY_BY_CODE.get(code, FR)
    first = forced.get("firstName", rng.choice(country.first_names))
    last = forced.get("lastName", rng.choice(country.last_names) if rng.random() > 0.02 else "")
    domain = org_domain(org) if org else rng.choice(country.mail_domains)
    f, la = fold(first) or "contact", fold(last)
    style = rng.random()
    if not la:
        local = f
    elif forced.get("dotted") or style < 0.6:
        local = f"{f}.{la}"
    elif style < 0.75:
        local = f"{f[0]}.{la}"
    elif style < 0.9:
        local = f"{f}{la}"
    else:
        local = f"{f}_{la}"
    email = f"{local}@{domain}"
    while email in used_emails:
        email = f"{local}{rng.randrange(2, 99999)}@{domain}"
    used_emails.add(email)
    if forced.get("mixed_case") or rng.random() < 0.06:
        local_part, dom = email.split("@")
        email = ".".join(p.capitalize() for p in local_part.split(".")) + "@" + dom.capitalize()
    if forced.get("whitespace") or rng.random() < 0.015:
        email = rng.choice((" {}", "{} ", "  {} ", "\t{}")).format(email)
    has_phone = rng.random() < 0.55
    return {
        "_id": uid,
        "firstName": first,
        "lastName": last,
        "email": email,
        "title": forced.get("title", rng.choice(country.titles) if rng.random() < 0.6 else None),
        "language": rng.choice(country.languages),
        "phone": forced.get("phone", phone(rng, code, False) if has_phone else None),
        "mobilePhone": forced.get(
            "mobilePhone", phone(rng, code, True) if rng.random() < 0.6 else None
        ),
        "role": "user" if org is None else rng.choice(ROLES),
        "newsOptin": rng.random() < 0.45,
        "mailValid": rng.random() < 0.92,
        "isUserArchived": forced.get("isUserArchived", rng.random() < 0.06),
        "organizationId": org["_id"] if org else None,
        "updatedAt": _past(rng, today, 700).isoformat(),
    }


def generate(users: int, orgs: int, seed: int, today: dt.date) -> Population:
    """Generate the whole population. Fast: 100,000 users in about a second."""
    if users < 0 or orgs < 0:
        raise ValueError("users and orgs must be non-negative")
    sites = make_sites(seed)
    per_site = max(12, -(-orgs * 3 // len(sites)))
    rooms = make_rooms(seed, sites, per_site)
    free: dict[str, list[JsonDict]] = {}
    for room in reversed(rooms):
        free.setdefault(room["siteId"], []).append(room)
    org_rng, org_ids = random.Random(f"{seed}:orgs"), IdFactory(f"{seed}:org-ids")
    organizations = [
        make_organization(org_rng, org_ids.next(), sites, today, free, i) for i in range(orgs)
    ]
    user_rng, user_ids = random.Random(f"{seed}:users"), IdFactory(f"{seed}:user-ids")
    used: set[str] = set()
    principal_taken: set[str] = set()
    people = []
    for i in range(users):
        forced = FORCED_USERS[i] if i < len(FORCED_USERS) else None
        no_org = not organizations or (forced or {}).get("no_org") or user_rng.random() < 0.15
        org = None if no_org else user_rng.choice(organizations)
        user = make_user(user_rng, user_ids.next(), org, today, used, forced)
        if org is not None and org["_id"] not in principal_taken:
            principal_taken.add(org["_id"])
            user["role"] = "principal-admin"
        people.append(user)
    return Population(sites, rooms, organizations, people, user_ids, org_ids)
