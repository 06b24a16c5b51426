"""Workadu → HubSpot: customers become contacts, orders become deals.

Records are first flattened (:func:`flatten_customer`, :func:`flatten_order`)
into the field names the tables use; invoices are rolled up per customer
with every payment (:func:`rollups`) into contact properties.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from syncworker.mapping import FieldMap, Kind, ObjectMapping

S, T, E, P = Kind.STRING, Kind.TEXT, Kind.EMAIL, Kind.PHONE
N, D, DT, B = Kind.NUMBER, Kind.DATE, Kind.DATETIME, Kind.BOOL

# Workadu flags its own disappearances: a customer or an order it no longer lists
# gets ``workadu_archived = true`` (on the deal, on the contact), never Workways'
# ``workways_archived`` -- that one does not exist on deals, and a contact known to
# both platforms is flagged by each source in its own property. Workadu has no
# archived state of its own: every record it lists is "not archived" (so a record
# that comes back is un-flagged).
ARCHIVED = "workadu_archived"

# Workadu order status → HubSpot deal stage (pipeline "default"). Unknown → first stage.
DEAL_STAGES: dict[str, str] = {
    "PRE_ASSIGNED": "appointmentscheduled",
    "ASSIGNED_NOT_CONFIRMED": "qualifiedtobuy",
    "ASSIGNED_AND_AGREED": "contractsent",
    "CHECKED_IN": "closedwon",
    "CHECKED_IN_EARLIER": "closedwon",
    "CHECKED_OUT": "closedwon",
    "CANCELLED": "closedlost",
}
DEFAULT_STAGE = "appointmentscheduled"
DEAL_PIPELINE = "default"

CUSTOMER_MAPPING = ObjectMapping(
    object_type="contacts",
    fields=(
        FieldMap("id", "workadu_customer_id", S, "Workadu customer ID", unique=True),
        FieldMap(
            "first_name",
            "firstname",
            S,
            "First name",
            standard=True,
            personal=True,
            yields_to_owner=True,
        ),
        FieldMap(
            "last_name",
            "lastname",
            S,
            "Last name",
            standard=True,
            personal=True,
            yields_to_owner=True,
        ),
        FieldMap("email", "email", E, "Email", standard=True, personal=True, yields_to_owner=True),
        FieldMap(
            "mobile",
            "mobilephone",
            P,
            "Mobile phone",
            standard=True,
            personal=True,
            yields_to_owner=True,
        ),
        FieldMap("address", "address", S, "Street address", standard=True, personal=True),
        FieldMap("city", "city", S, "City", standard=True),
        FieldMap("postal_code", "zip", S, "Postal code", standard=True),
        FieldMap("country", "country", S, "Country", standard=True),
        FieldMap("vat_number", "workadu_vat_number", S, "Workadu VAT number"),
        FieldMap("birthdate", "workadu_birth_date", D, "Workadu birth date", personal=True),
        FieldMap("comments", "workadu_comments", T, "Workadu comments"),
        FieldMap("total_invoiced", "workadu_total_invoiced", N, "Workadu total invoiced"),
        FieldMap("totals_invoiced", "workadu_totals_invoiced", S, "Workadu totals invoiced"),
        FieldMap("last_invoice_date", "workadu_last_invoice_date", D, "Workadu last invoice"),
        FieldMap("open_balance", "workadu_open_balance", N, "Workadu open balance"),
        FieldMap(
            "balance_currency",
            "workadu_open_balance_currency",
            S,
            "Workadu open balance currency",
        ),
        FieldMap("open_balances", "workadu_open_balances", S, "Workadu open balances"),
        FieldMap("archived", ARCHIVED, B, "Archived in Workadu"),
    ),
    archived_property=ARCHIVED,
)

ORDER_MAPPING = ObjectMapping(
    object_type="deals",
    fields=(
        FieldMap("id", "workadu_order_id", S, "Workadu order ID", unique=True),
        FieldMap("deal_name", "dealname", S, "Deal name", standard=True),
        FieldMap("total_cost", "amount", N, "Amount", standard=True),
        FieldMap("close_date", "closedate", DT, "Close date", standard=True),
        FieldMap("deal_stage", "dealstage", S, "Deal stage", standard=True),
        FieldMap("pipeline", "pipeline", S, "Pipeline", standard=True),
        FieldMap("status", "workadu_order_status", S, "Workadu order status"),
        FieldMap("reference", "workadu_booking_reference", S, "Workadu booking reference"),
        FieldMap("customer_id", "workadu_customer_id", S, "Workadu customer ID"),
        FieldMap("currency", "workadu_currency", S, "Workadu currency"),
        FieldMap("archived", ARCHIVED, B, "Archived in Workadu"),
    ),
    archived_property=ARCHIVED,
)


def split_full_name(fullname: str) -> tuple[str, str]:
    """First word as first name, the rest as last name ("Jean de La Fontaine")."""
    words = fullname.split()
    if not words:
        return "", ""
    return words[0], " ".join(words[1:])


def flatten_customer(customer: Any) -> dict[str, Any]:
    record = dict(customer.model_dump(by_alias=True))
    record["first_name"], record["last_name"] = split_full_name(customer.fullname or "")
    record["archived"] = False  # listed, so not archived
    return record


def flatten_order(order: Any) -> dict[str, Any]:
    service = order.service_id
    day = order.end_date or order.start_date
    return {
        "id": order.id,
        "reference": order.reference,
        "status": order.status,
        "deal_stage": DEAL_STAGES.get(order.status, DEFAULT_STAGE),
        "pipeline": DEAL_PIPELINE,
        "deal_name": f"Booking {order.reference}" + (f" · service {service}" if service else ""),
        "total_cost": order.total_cost,
        "close_date": day,
        "customer_id": str(order.customer_id),
        "currency": order.currency,
        "archived": False,  # listed, so not archived
    }


# Currencies as ISO 4217 codes: invoices carry codes ("EUR"), payments and orders
# the company's symbol ("$", "€"). "$" is read as USD (Workadu's own examples are
# US dollars); any other text is kept, upper-cased, as its own currency; a record
# without one counts under "?", never under another currency.
CURRENCY_SYMBOLS = {"€": "EUR", "$": "USD", "US$": "USD", "£": "GBP"}
NO_CURRENCY = "?"


def currency_code(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not text:
        return NO_CURRENCY
    return CURRENCY_SYMBOLS.get(text, text.upper())


def _amount(value: Decimal) -> str:
    """``120.5``, ``-30``, ``0``: two decimals at most, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


@dataclass
class Rollup:
    last_invoice_date: str | None = None
    # per currency code: valid invoices; valid invoices minus every payment
    invoiced: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    balances: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))


def _one_or_each(amounts: Mapping[str, Decimal]) -> tuple[str | None, str | None, str | None]:
    """(the amount, its currency) when ``amounts`` hold one currency, else (None, None);
    and every currency's amount, ``"EUR 120.5; USD -30"``."""
    codes = sorted(amounts)
    each = "; ".join(f"{c} {_amount(amounts[c])}" for c in codes) or None
    if len(codes) != 1:
        return None, None, each
    return _amount(amounts[codes[0]]), codes[0], each


def rollups(
    invoices: Iterable[Any], payments: Iterable[Any], orders: Iterable[Any] = ()
) -> dict[str, dict[str, Any]]:
    """Per customer: the total invoiced per currency and the last invoice date (valid
    invoices), and the open balance per currency: valid invoices minus every payment
    Workadu records for the customer (``GET /api/payments``: for orders, for invoices,
    general ones; a negative one discards). A payment without ``customer_id`` counts
    for its order's customer (``orders``); one with neither is left out.

    ``open_balance`` and ``balance_currency`` hold the balance and its currency when
    the customer's invoices and payments are in one currency; in several they are
    empty (no sum across currencies), and ``open_balances`` lists each one
    (``"EUR 120.5; USD -30"``), as it always does. ``total_invoiced`` and
    ``totals_invoiced`` do the same for the valid invoices alone."""
    per: dict[str, Rollup] = defaultdict(Rollup)
    for invoice in invoices:
        if invoice.status != "VALID" or invoice.customer_id is None:
            continue
        entry = per[str(invoice.customer_id)]
        code, amount = currency_code(invoice.currency), Decimal(str(invoice.total_amount))
        entry.invoiced[code] += amount
        entry.balances[code] += amount
        day = invoice.issue_date
        if day and (entry.last_invoice_date is None or str(day) > entry.last_invoice_date):
            entry.last_invoice_date = str(day)
    customer_of = {order.id: order.customer_id for order in orders}
    for payment in payments:
        owner = payment.customer_id or customer_of.get(payment.order_id)
        if owner is None:
            continue
        entry = per[str(owner)]
        entry.balances[currency_code(payment.currency)] -= Decimal(str(payment.amount))
    table: dict[str, dict[str, Any]] = {}
    for cid, r in per.items():
        balance, currency, balances = _one_or_each(r.balances)
        total, _, totals = _one_or_each(r.invoiced)
        table[cid] = {
            "total_invoiced": total if r.invoiced else 0,
            "totals_invoiced": totals,
            "last_invoice_date": r.last_invoice_date,
            "open_balance": balance,
            "balance_currency": currency,
            "open_balances": balances,
        }
    return table


def with_rollup(record: dict[str, Any], table: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    found = table.get(str(record.get("id")))
    empty = {
        "total_invoiced": 0,
        "totals_invoiced": None,
        "last_invoice_date": None,
        "open_balance": 0,
        "balance_currency": None,
        "open_balances": None,
    }
    return {**record, **(found or empty)}
