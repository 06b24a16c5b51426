"""Deterministic population for the Workadu sandbox: customers, orders, invoices.

Everything is drawn from ``random.Random`` instances seeded from the one ``seed``;
the same arguments always give the same records, ids included. Records are
API-shaped dicts (the spec's field names and nesting). Dates are drawn around a
fixed day, so nothing depends on the clock.

The data is awkward the way real data is: Greek (in Greek script), French and
English/Irish names with accents and apostrophes (Ελένη Παπαδοπούλου, Hélène
D'Artagnan, Siobhán O'Brien), mixed-case e-mails, customers without an e-mail or
without a mobile (never both: the spec's POST /api/orders needs "mobile or
email"), mobiles and postal codes sent as numbers (as the spec's example does) or
as strings, null birth dates. The first customers carry these traits for certain.

Orders draw their status from the spec's list; their ``payments`` make them paid,
partly paid or unpaid. Most invoices are issued for an order (``tag`` is
``"#" + order reference``, the same amount): the spec gives invoices no paid or
balance field, so an invoice's payment state is its order's.

``GET /api/payments`` lists every payment of the company in the spec's shape
(``issue_date``, ``customer_id``, ``series``, ``transaction_num,`` -- the spec's
key, comma included --, ``amount``, ``currency`` as the company's symbol ``€``,
``comments``, ``order_id``): the orders' payments, plus payments for invoices
without an order and general payments (deposits) for some customers, which no
order shows (:func:`make_payments`, from their own random stream, so the other
records are the same as before they existed).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from syncworker.sources.workadu.models import ORDER_STATUSES
from syncworker_sandbox.population import fold

JsonDict = dict[str, Any]

BASE_DAY = dt.date(2025, 3, 3)
COMPANIES = (475, 475, 475, 476)  # companyid: the spec's 475, and a second company
SERIES_IDS = {"INVOICE": 2100, "RECEIPT": 2101}
PAYMENT_SERIES_IDS = {"Cash": 122, "Credit card": 123}  # the spec's "series": "Cash"
PAYMENT_FIELDS: tuple[str, ...] = ("issue_date", "customer_id", "series", "transaction_num,")
PAYMENT_FIELDS += ("amount", "currency", "comments", "order_id")
STAFF = ({"id": 123212, "email": "hello@workadu.com"}, {"id": 123213, "email": "desk@workadu.com"})
REFERENCE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# service_id, name, resource type, resource prefix, daily price
SERVICES = (
    ("33273", "Hot desk", "desk", "Peg", 25),
    ("33357", "Private office", "office", "Office", 90),
    ("33401", "Meeting room Ερμής", "meeting room", "Room", 55),
    ("33412", "Salle de réunion L'Étoile", "meeting room", "Room", 70),
)
LOCATIONS = (
    ("(37.975400, 23.734800)", "Athens Syntagma"),
    ("(40.632700, 22.940700)", "Thessaloniki Λιμάνι"),
    ("(36.891506, 27.287723)", "Kos town"),
    ("(48.869500, 2.341300)", "Paris Bourse"),
)


@dataclass(frozen=True)
class Origin:
    country: str  # as the spec's example response shows it ("Greece")
    iso: str  # filter[Country] takes ISO codes
    first: tuple[str, ...]
    last: tuple[str, ...]
    places: tuple[tuple[str, str | int, str], ...]  # city, postal code, street
    mobile: str  # a format for one random 8-digit number
    domains: tuple[str, ...]
    titles: tuple[str | None, ...]


GREEK_LATIN = {
    "Γιώργος": "giorgos", "Ελένη": "eleni", "Νίκος": "nikos", "Μαρία": "maria",
    "Δημήτρης": "dimitris", "Κατερίνα": "katerina", "Σοφία": "sofia", "Αθηνά": "athina",
    "Χρήστος": "christos", "Παναγιώτης": "panagiotis", "Παπαδοπούλου": "papadopoulou",
    "Οικονόμου": "oikonomou", "Γεωργίου": "georgiou", "Νικολάου": "nikolaou",
    "Καραγιάννη": "karagianni", "Αλεξίου": "alexiou", "Βλάχος": "vlachos",
}  # fmt: skip
ORIGINS = (
    Origin(
        "Greece", "GR", tuple(list(GREEK_LATIN)[:10]), tuple(list(GREEK_LATIN)[10:]),
        (("Athens", 10552, "Πατησίων 11"), ("Thessaloniki", 54624, "Τσιμισκή 43"),
         ("Kos", 85300, "Vasileos Pavlou 5")),
        "+30 69{n}", ("gmail.com", "otenet.gr", "yahoo.gr"), ("Κος", "Κα", "Mr", None),
    ),
    Origin(
        "France", "FR",
        ("Hélène", "François", "Zoë", "Loïc", "Cécile", "Jérôme", "Anaïs", "Noël"),
        ("Lefèvre", "D'Artagnan", "Bélanger", "L'Hermite", "De la Tour", "Château"),
        (("Paris", "75002", "12 rue de l'Église"), ("Nice", "06000", "3 quai des États-Unis")),
        "+33 6{n}", ("orange.fr", "free.fr", "laposte.net"), ("M.", "Mme", None),
    ),
    Origin(
        "United Kingdom", "UK",
        ("Siobhán", "Seán", "Oliver", "Amelia", "Zoë", "Ciarán", "Harry"),
        ("O'Brien", "O'Sullivan", "Smith", "St. John-Smythe", "Fitzgerald", "McCarthy"),
        (("London", "N1 7GU", "221B Baker Street"), ("Manchester", "M1 1AE", "1 Piccadilly")),
        "+44 77{n}", ("gmail.com", "outlook.com", "btinternet.com"), ("Mr", "Ms", "Dr", None),
    ),
)  # fmt: skip


def ascii_name(name: str) -> str:
    return ".".join(GREEK_LATIN.get(part) or fold(part) for part in name.split())


def _mobile(rng: random.Random, origin: Origin, as_number: bool) -> str | int:
    text = origin.mobile.format(n=f"{rng.randrange(10**8):08d}")
    if as_number:  # the spec's example: "mobile": 1112223334
        return int(text.split(" ", 1)[1].replace(" ", ""))
    return text


def make_customers(
    count: int, seed: int, shared: list[tuple[str, str]] | None = None
) -> list[JsonDict]:
    rng = random.Random(f"{seed}:workadu:customers")
    shared = list(shared or [])
    taken = {email.strip().lower() for _, email in shared}
    customers: list[JsonDict] = []
    next_id = 3300
    for index in range(max(count, len(shared))):
        next_id += rng.randint(1, 3)  # gaps, as after deletions
        origin = ORIGINS[index % 3] if index < 6 else rng.choice(ORIGINS)
        fullname = f"{rng.choice(origin.first)} {rng.choice(origin.last)}"
        email: str | None = None
        if index < len(shared):
            fullname, email = shared[index]
        else:
            local = ascii_name(fullname)
            while True:
                email = f"{local}{rng.randint(1, 99) if rng.random() < 0.5 else ''}"
                email += f"@{rng.choice(origin.domains)}"
                if email.lower() not in taken:
                    break
            taken.add(email.lower())
            if index == 1 or rng.random() < 0.15:
                email = email.title()  # "Helene.Lefevre@Orange.Fr"
        mobile: str | int | None = _mobile(rng, origin, index == 2 or rng.random() < 0.2)
        if index >= len(shared) and (index == 3 or rng.random() < 0.1):
            email = None  # walk-in customer: a mobile only
        elif index == 4 or rng.random() < 0.1:
            mobile = None
        city, postal_code, street = rng.choice(origin.places)
        birth = BASE_DAY - dt.timedelta(days=rng.randint(18 * 365, 70 * 365))
        customers.append(
            {
                "id": next_id,
                "fullname": fullname,
                "email": email,
                "mobile": mobile,
                "country": origin.country,
                "city": city,
                "address": street,
                "postal_code": postal_code,
                "vat_number": f"{rng.randrange(10**9):09d}" if rng.random() < 0.3 else None,
                "birthdate": None if index == 5 or rng.random() < 0.3 else birth.isoformat(),
                "gender": rng.choice(("M", "F", None)),
                "title": rng.choice(origin.titles),
                "social": [{"social": "linkedin.com", "alias": ascii_name(fullname)}]
                if rng.random() < 0.2
                else [],
                "comments": rng.choice((None, "", "Prefers the quiet room", "Client d'Hélène")),
                "companyid": rng.choice(COMPANIES),
                "media": [],
            }
        )
    return customers


def party(customer: JsonDict) -> JsonDict:
    return {k: customer.get(k) for k in ("id", "fullname", "email")}


def make_order(
    rng: random.Random, order_id: int, line_id: int, customer: JsonDict, reference: str
) -> JsonDict:
    service_id, _service, kind, prefix, price = rng.choice(SERVICES)
    start = BASE_DAY + dt.timedelta(days=rng.randint(-120, 200))
    days = rng.choice((1, 1, 2, 5, 20, 30))
    end = start + dt.timedelta(days=days - 1)
    total: int | float = price * days if rng.random() < 0.8 else price * days + 0.5
    status = rng.choice(ORDER_STATUSES)
    paid_share = rng.choice((1.0, 1.0, 0.4, 0.0)) if status != "CANCELLED" else 0.0
    coordinates, location = rng.choice(LOCATIONS)
    stop = {"coordinates": coordinates, "location_name": location}
    payments = []
    if paid_share:
        payments.append(
            {
                "id": 1800 + order_id,
                "issue_date": (start - dt.timedelta(days=rng.randint(0, 10))).isoformat(),
                "amount": total if paid_share == 1.0 else round(total * paid_share, 2),
                "comments": f"Payment for Booking #{reference}",
            }
        )
    extras = [
        {
            "id": 2593,
            "name": "Locker",
            "description": "Personal locker",
            "media": "",
            "params": {"rangeMax": 2, "rangeMin": 1, "price": 5, "fixedPrice": 3, "parent": None},
        }
    ]
    return {
        "id": order_id,
        "reference": reference,
        "company_id": customer.get("companyid"),
        "status": status,
        "customer": party(customer),
        "total_cost": total,
        "orders": {
            "order": {
                "id": line_id,
                "reference": line_id * 100 + 1,
                "service_id": service_id,
                "start": {**stop, "date": start.isoformat(), "time": "08:00"},
                "end": {**stop, "date": end.isoformat(), "time": "18:00"},
                "comment": rng.choice(("", "", "Late arrival, keys at l'accueil")),
                "status": status,
                "total_cost": total,
                "recource": {"number": f"{prefix}-{rng.randint(1, 40)}", "type": kind, "color": ""},
                "extras": extras if rng.random() < 0.2 else [],
            }
        },
        "currency": "€",
        "payments": payments,
    }


def make_orders(count: int, seed: int, customers: list[JsonDict]) -> list[JsonDict]:
    rng = random.Random(f"{seed}:workadu:orders")
    orders: list[JsonDict] = []
    references: set[str] = set()
    if not customers:
        return orders
    for index in range(count):
        reference = ""
        while not reference or reference in references:
            reference = "".join(rng.choice(REFERENCE_CHARS) for _ in range(6))
        references.add(reference)
        customer = customers[index] if index < len(customers) // 2 else rng.choice(customers)
        orders.append(make_order(rng, 1830 + index * 2, 6270 + index, customer, reference))
    return orders


def make_invoice(
    rng: random.Random, invoice_id: int, number: int, customer: JsonDict, order: JsonDict | None
) -> JsonDict:
    total = order["total_cost"] if order else rng.choice((40, 120, 350.5))
    issue = dt.date.fromisoformat(order["orders"]["order"]["start"]["date"]) if order else BASE_DAY
    series = "INVOICE" if rng.random() < 0.8 else "RECEIPT"
    status = rng.choice(("VALID",) * 8 + ("DRAFT", "CANCELLED"))
    final = round(total / 1.24, 2)
    description = "Booking #" + order["reference"] if order else "Coffee & printing credits"
    line = {
        "id": invoice_id * 10 + 1,
        "description": description,
        "quantity": 1,
        "solo_amount": final,
        "total_amount": final,
        "discount_percent": 0,
        "vat_percent": 24,
        "final_amount": final,
    }
    return {
        "id": invoice_id,
        "invoice_number": None if status == "DRAFT" else f"{series[0]}-{number}",
        "series": series,
        "user": [dict(rng.choice(STAFF))],
        "customer": [party(customer)],
        "issue_date": issue.isoformat(),
        "due_date": (issue + dt.timedelta(days=30)).isoformat(),
        "discount_amount": 0,
        "vat_amount": round(total - final, 2),
        "total_amount": total,
        "currency": "EUR",
        "currency_rate": 1,
        "lines": [line],
        "status": status,
        "tag": "#" + order["reference"] if order else None,
    }


def make_invoices(
    count: int, seed: int, customers: list[JsonDict], orders: list[JsonDict]
) -> list[JsonDict]:
    rng = random.Random(f"{seed}:workadu:invoices")
    by_id = {c["id"]: c for c in customers}
    billable = [o for o in orders if o["status"] != "CANCELLED"]
    rng.shuffle(billable)
    invoices: list[JsonDict] = []
    for index in range(count if customers else 0):
        order = billable[index] if index < len(billable) and rng.random() < 0.8 else None
        customer = by_id[order["customer"]["id"]] if order else rng.choice(customers)
        invoices.append(make_invoice(rng, 123200 + index, 1200 + index, customer, order))
    return invoices


def payment(
    transaction: int,
    customer_id: int,
    amount: int | float,
    *,
    issue_date: str,
    order_id: int | None = None,
    currency: str | None = "€",
    series: str = "Cash",
    comments: str | None = None,
) -> JsonDict:
    """One payment in the shape of the spec's ``GET /api/payments`` example."""
    return {
        "issue_date": issue_date,
        "customer_id": customer_id,
        "series": series,
        "transaction_num,": transaction,
        "amount": amount,
        "currency": currency,
        "comments": comments,
        "order_id": order_id,
    }


def make_payments(seed: int, customers: list[JsonDict], invoices: list[JsonDict]) -> list[JsonDict]:
    """Payments no order shows: for valid invoices issued without an order (a share
    in full, some in part) and general payments (deposits) for some customers."""
    rng = random.Random(f"{seed}:workadu:payments")
    payments: list[JsonDict] = []
    transaction = 5000
    for invoice in invoices:
        if invoice["tag"] is not None or invoice["status"] != "VALID" or rng.random() < 0.4:
            continue
        transaction += 1
        share = rng.choice((1.0, 1.0, 0.5))
        payments.append(
            payment(
                transaction,
                invoice["customer"][0]["id"],
                round(invoice["total_amount"] * share, 2),
                issue_date=invoice["issue_date"],
                series=rng.choice(tuple(PAYMENT_SERIES_IDS)),
                comments=f"Payment for invoice {invoice['invoice_number']}",
            )
        )
    for customer in customers:
        if rng.random() < 0.15:
            transaction += 1
            day = BASE_DAY - dt.timedelta(days=rng.randint(0, 60))
            payments.append(
                payment(
                    transaction,
                    customer["id"],
                    rng.choice((50, 100, 250)),
                    issue_date=day.isoformat(),
                    comments="Deposit",
                )
            )
    return payments
