"""The Workadu streams: customers (contacts) and orders (deals)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from syncworker.sources.streams import Association, Record, Stream
from syncworker.sources.workadu.mapping import (
    CUSTOMER_MAPPING,
    ORDER_MAPPING,
    flatten_customer,
    flatten_order,
    rollups,
    with_rollup,
)


def _customer_rollups(client: Any) -> Callable[[Record], Record]:
    table = rollups(client.iter_invoices(), client.iter_payments(), client.iter_orders())
    return lambda record: with_rollup(record, table)


WORKADU_CUSTOMERS = Stream(
    name="workadu.customers",
    entity="customers",
    source="workadu",
    mapping=CUSTOMER_MAPPING,
    pages=lambda client: iter(client.iter_customer_pages()),
    flatten=flatten_customer,
    prepare=_customer_rollups,
    merge_by_email=True,
)

WORKADU_ORDERS = Stream(
    name="workadu.orders",
    entity="orders",
    source="workadu",
    mapping=ORDER_MAPPING,
    pages=lambda client: iter(client.iter_order_pages()),
    flatten=flatten_order,
    association=Association(WORKADU_CUSTOMERS.name, "workadu_customer_id"),
)

# Customers first, so orders find their contact.
WORKADU_STREAMS: tuple[Stream, ...] = (WORKADU_CUSTOMERS, WORKADU_ORDERS)
