"""Workadu → HubSpot: customers become contacts, orders become deals.

Records are first flattened (:func:`flatten_customer`, :func:`flatten_order`)
into the field names the tables use; invoices are rolled up per customer
(:func:`rollups`) into contact properties.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
        FieldMap("last_invoice_date", "workadu_last_invoice_date", D, "Workadu last invoice"),
        FieldMap("open_balance", "workadu_open_balance", N, "Workadu open balance"),
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


@dataclass
class Rollup:
    total_invoiced: float = 0.0
    last_invoice_date: str | None = None
    paid: float = 0.0
    invoiced_orders: set[str] = field(default_factory=set)


def rollups(invoices: Iterable[Any], orders: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per customer: total invoiced and last invoice date (valid invoices), and the
    open balance (invoiced minus the payments recorded on the customer's orders)."""
    per: dict[str, Rollup] = defaultdict(Rollup)
    for invoice in invoices:
        if invoice.status != "VALID" or invoice.customer_id is None:
            continue
        entry = per[str(invoice.customer_id)]
        entry.total_invoiced += float(invoice.total_amount)
        day = invoice.issue_date
        if day and (entry.last_invoice_date is None or str(day) > entry.last_invoice_date):
            entry.last_invoice_date = str(day)
    for order in orders:
        owed = per.get(str(order.customer_id))
        if owed is not None:
            owed.paid += float(order.paid_amount)
    return {
        cid: {
            "total_invoiced": round(r.total_invoiced, 2),
            "last_invoice_date": r.last_invoice_date,
            "open_balance": round(r.total_invoiced - r.paid, 2),
        }
        for cid, r in per.items()
    }


def with_rollup(record: dict[str, Any], table: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    found = table.get(str(record.get("id")))
    empty = {"total_invoiced": 0, "last_invoice_date": None, "open_balance": 0}
    return {**record, **(found or empty)}
