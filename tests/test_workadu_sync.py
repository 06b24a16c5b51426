"""Workadu customers and orders into HubSpot, through the same engine as Workways."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.config import Settings
from syncworker.engine.fanout import FanOut
from syncworker.engine.sync import SyncEngine
from syncworker.locks import StreamLeases
from syncworker.mapping import ARCHIVE_PROPERTIES, Kind, custom_properties
from syncworker.sources.registry import STREAMS
from syncworker.sources.workadu.mapping import DEAL_STAGES
from syncworker.sources.workadu.streams import WORKADU_STREAMS
from syncworker.sources.workways.streams import WORKWAYS_STREAMS
from syncworker.store.partitions import Partitions
from syncworker.store.snapshots import SnapshotStore
from tests.checks import hubspot_by_key
from tests.test_sync import RecordingGateway, write_calls


class Both:
    def __init__(self, boxes: Sandboxes, store: SnapshotStore) -> None:
        self.boxes = boxes
        self.store = store
        settings = Settings.from_env(boxes.environment("sqlite://", workadu=True))
        services = Container(settings)
        self.workways = services.source_client("workways")
        self.workadu = services.source_client("workadu")
        self.gateway = RecordingGateway(boxes.hubspot_url, settings.require_hubspot()[1])
        self.gateway.sent = []

    def sync(self) -> list[Any]:
        clients = {"workways": self.workways, "workadu": self.workadu}
        runs = FanOut(
            self.store,
            Partitions(self.store.sessions),
            StreamLeases(None),
            lambda stream: SyncEngine(self.store, clients[stream.source], self.gateway),
        )
        return runs.run_here(WORKWAYS_STREAMS + WORKADU_STREAMS)


@pytest.fixture
def both(store: SnapshotStore) -> Iterator[Both]:
    with Sandboxes(users=60, orgs=8, seed=31, customers=30, orders=60, invoices=45) as boxes:
        pair = Both(boxes, store)
        yield pair
        pair.workways.close()
        pair.workadu.close()


def customer_id(order: dict[str, Any]) -> str:
    return str(order["customer"]["id"])


def test_one_contact_per_person_one_deal_per_order(both: Both) -> None:
    results = both.sync()
    assert all(r.counts["failed"] == 0 for r in results), [dict(r.counts) for r in results]
    ww, wa, hs = both.boxes.workways, both.boxes.workadu, both.boxes.hubspot
    users = {u["email"].strip().lower(): u for u in ww.users()}
    customers = wa.customers()
    shared = [c for c in customers if (c.get("email") or "").strip().lower() in users]
    assert shared, "the sandboxes share some people"
    contacts = hs.store.objects("contacts")
    assert len(contacts) == len(users) + len(customers) - len(shared)
    for customer in shared:
        user = users[customer["email"].strip().lower()]
        (contact,) = [
            c for c in contacts if c["properties"].get("workadu_customer_id") == str(customer["id"])
        ]
        assert contact["properties"]["workways_user_id"] == user["_id"]
        assert contact["properties"]["firstname"] == user["firstName"].strip()  # Workways wins

    by_customer = hubspot_by_key(both.boxes, "contacts", "workadu_customer_id")
    deals = hubspot_by_key(both.boxes, "deals", "workadu_order_id")
    assert set(deals) == {str(o["id"]) for o in wa.orders()}
    for order in wa.orders():
        deal = deals[str(order["id"])]
        assert deal["properties"]["dealstage"] == DEAL_STAGES.get(
            order["status"], "appointmentscheduled"
        )
        contact = by_customer[customer_id(order)]
        assert hs.store.associations("deals", deal["id"], "contacts") == [contact["id"]]


def test_invoice_rollups_equal_the_sums_of_the_invoices(both: Both) -> None:
    both.sync()
    totals: dict[str, float] = defaultdict(float)
    last: dict[str, str] = {}
    for invoice in both.boxes.workadu.invoices():
        if invoice["status"] != "VALID":
            continue
        owner = (
            invoice["customer"][0] if isinstance(invoice["customer"], list) else invoice["customer"]
        )
        cid = str(owner["id"])
        totals[cid] += float(invoice["total_amount"])
        last[cid] = max(last.get(cid, ""), invoice["issue_date"] or "")
    assert totals, "the sandbox has valid invoices"
    # Every payment Workadu lists (orders', invoices', general ones); the sandbox's
    # are all in euros: "€" for payments, "EUR" on invoices, one currency.
    paid: dict[str, float] = defaultdict(float)
    payments = both.boxes.workadu.payments()
    assert {p["currency"] for p in payments} == {"€"}
    assert any(p["order_id"] is None for p in payments), "general and invoice payments too"
    for payment in payments:
        paid[str(payment["customer_id"])] += float(payment["amount"])
    contacts = hubspot_by_key(both.boxes, "contacts", "workadu_customer_id")
    for cid, total in totals.items():
        props = contacts[cid]["properties"]
        assert float(props["workadu_total_invoiced"]) == pytest.approx(total, abs=0.01)
        assert props["workadu_last_invoice_date"] == last[cid][:10]
        assert float(props["workadu_open_balance"]) == pytest.approx(total - paid[cid], abs=0.01)
        assert props["workadu_open_balance_currency"] == "EUR"


def test_nothing_changed_means_no_writes_and_a_status_moves_one_deal(both: Both) -> None:
    both.sync()
    both.boxes.hubspot.clear_log()
    both.sync()
    assert write_calls(both) == 0  # type: ignore[arg-type]

    order = next(o for o in both.boxes.workadu.orders() if o["status"] != "CANCELLED")
    both.boxes.workadu.update_order(order["id"], status="CANCELLED")
    both.gateway.sent.clear()
    both.sync()
    sent = [(kind, r.key, dict(r.properties)) for kind, r in both.gateway.sent]
    assert sent == [
        (
            "deals",
            str(order["id"]),
            {"dealstage": "closedlost", "workadu_order_status": "CANCELLED"},
        )
    ]
    deal = hubspot_by_key(both.boxes, "deals", "workadu_order_id")[str(order["id"])]
    assert deal["properties"]["dealstage"] == "closedlost"


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_each_stream_flags_disappearances_in_a_property_its_schema_step_creates(
    name: str,
) -> None:
    """The archive flag is the source's own, and a custom property of the stream's
    own mapping (so the schema step creates it on that object type)."""
    stream = STREAMS[name]
    flag = stream.mapping.archived_property
    created = {(d.object_type, d.name) for d in custom_properties(stream.mapping)}
    assert (stream.object_type, flag) in created
    assert flag == f"{stream.source}_archived"
    assert flag in ARCHIVE_PROPERTIES
    listed = {f.target: f for f in stream.mapping.fields}
    assert listed[flag].kind is Kind.BOOL


def test_records_removed_from_workadu_are_flagged_by_workadu_in_its_own_property(
    both: Both,
) -> None:
    """Issue 19 point 8: a removed order and removed customers are flagged
    ``workadu_archived`` on the next complete pass, with no failure; a contact
    Workways also knows keeps Workways' own flag untouched."""
    first = both.sync()
    assert all(r.counts["failed"] == 0 for r in first), [dict(r.counts) for r in first]
    wa = both.boxes.workadu
    users = {u["email"].strip().lower() for u in both.boxes.workways.users()}
    customers = wa.customers()
    only = next(c for c in customers if (c.get("email") or "").strip().lower() not in users)
    shared = next(c for c in customers if (c.get("email") or "").strip().lower() in users)
    order = next(
        o for o in wa.orders() if customer_id(o) not in {str(only["id"]), str(shared["id"])}
    )
    wa.remove_order(order["id"])
    wa.remove_customer(only["id"])
    wa.remove_customer(shared["id"])

    results = {r.stream: r for r in both.sync()}
    assert all(r.counts["failed"] == 0 for r in results.values()), {
        s: dict(r.counts) for s, r in results.items()
    }
    assert results["workadu.orders"].counts["archived"] == 1
    assert results["workadu.customers"].counts["archived"] == 2
    assert results["workways.users"].counts["archived"] == 0
    assert not both.store.failures.quarantined("workadu.orders", [str(order["id"])])

    deals = hubspot_by_key(both.boxes, "deals", "workadu_order_id")
    assert deals[str(order["id"])]["properties"]["workadu_archived"] == "true"
    assert "workways_archived" not in deals[str(order["id"])]["properties"]
    others = [d for k, d in deals.items() if k != str(order["id"])]
    assert others and all(d["properties"]["workadu_archived"] == "false" for d in others)

    contacts = hubspot_by_key(both.boxes, "contacts", "workadu_customer_id")
    alone = contacts[str(only["id"])]["properties"]
    assert alone["workadu_archived"] == "true"
    assert alone.get("workways_archived") in (None, "")  # never Workways' flag on its behalf
    both_sides = contacts[str(shared["id"])]["properties"]
    assert both_sides["workadu_archived"] == "true"
    assert both_sides["workways_archived"] == "false"  # Workways still lists the person

    # Nothing is archived twice, and an order that comes back is un-flagged.
    again = {r.stream: r for r in both.sync()}
    assert again["workadu.orders"].counts["archived"] == 0
    assert again["workadu.customers"].counts["archived"] == 0
    wa.add_order(int(customer_id(order)), id=order["id"])
    both.sync()
    deal = hubspot_by_key(both.boxes, "deals", "workadu_order_id")[str(order["id"])]
    assert deal["properties"]["workadu_archived"] == "false"


@pytest.fixture
def small(store: SnapshotStore) -> Iterator[Both]:
    """Two Workadu customers, no order, no invoice, no payment until a test adds them."""
    with Sandboxes(users=3, orgs=1, seed=5, customers=2, orders=0, invoices=0) as boxes:
        pair = Both(boxes, store)
        yield pair
        pair.workways.close()
        pair.workadu.close()


def test_open_balance_is_invoices_minus_every_payment_per_currency(small: Both) -> None:
    """Issue 19 point 8: invoices minus all the customer's payments (for an order,
    for an invoice, general), never summed across currencies. Values by hand."""
    wa = small.boxes.workadu
    euro, mixed = (c["id"] for c in wa.customers())
    assert wa.payments() == [] and wa.invoices() == [] and wa.orders() == []
    order = wa.add_order(euro, total_cost=300, currency="€", payments=[], status="CHECKED_IN")
    wa.add_invoice(euro, total_amount=300, currency="EUR", status="VALID")
    wa.add_invoice(euro, total_amount=120.5, currency="EUR", status="VALID")
    wa.add_invoice(euro, total_amount=999, currency="EUR", status="CANCELLED")  # not owed
    wa.add_payment(euro, 100, order_id=order)  # for the order
    wa.add_payment(euro, 120.5, comments="Payment for invoice I-2")  # for the invoice
    wa.add_payment(euro, 50, comments="Deposit")  # general
    wa.add_payment(euro, -20, comments="Discarded part of the deposit")  # a discard
    # 300 + 120.5 - 100 - 120.5 - 50 + 20 = 170
    wa.add_invoice(mixed, total_amount=200, currency="EUR", status="VALID")
    wa.add_invoice(mixed, total_amount=80, currency="USD", status="VALID")
    wa.add_payment(mixed, 150, currency="€")
    wa.add_payment(mixed, 100, currency="$")
    # EUR 200 - 150 = 50; USD 80 - 100 = -20; never 30 of nothing.
    assert len(wa.payments(euro)) == 4 and len(wa.payments(mixed)) == 2

    results = small.sync()
    assert all(r.counts["failed"] == 0 for r in results), [dict(r.counts) for r in results]
    contacts = hubspot_by_key(small.boxes, "contacts", "workadu_customer_id")
    one = contacts[str(euro)]["properties"]
    assert one["workadu_open_balance"] == "170"
    assert one["workadu_open_balance_currency"] == "EUR"
    assert one["workadu_open_balances"] == "EUR 170"
    assert one["workadu_total_invoiced"] == "420.5"
    assert one["workadu_totals_invoiced"] == "EUR 420.5"
    two = contacts[str(mixed)]["properties"]
    assert two.get("workadu_open_balance") in (None, "")  # two currencies: no one number
    assert two.get("workadu_open_balance_currency") in (None, "")
    assert two["workadu_open_balances"] == "EUR 50; USD -20"
    assert two.get("workadu_total_invoiced") in (None, "")  # nor 280 of nothing
    assert two["workadu_totals_invoiced"] == "EUR 200; USD 80"

    # A later general payment moves the balance on the next pass.
    wa.add_payment(euro, 70)
    small.sync()
    one = hubspot_by_key(small.boxes, "contacts", "workadu_customer_id")[str(euro)]
    assert one["properties"]["workadu_open_balance"] == "100"
