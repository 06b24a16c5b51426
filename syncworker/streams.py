"""The streams syncworker runs, declared as data.

A :class:`Stream` says where records come from (how to page, how to fetch a
record's details), how they map to HubSpot, and what they associate with. The
engine runs any stream the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from syncworker.errors import RecordValidationError
from syncworker.mapping import COMPANY_MAPPING, CONTACT_MAPPING, ObjectMapping
from syncworker.workadu.mapping import (
    CUSTOMER_MAPPING,
    ORDER_MAPPING,
    flatten_customer,
    flatten_order,
    rollups,
    with_rollup,
)


class SourcePage(Protocol):
    """One page of source records, as any source client yields it."""

    @property
    def page(self) -> int: ...

    @property
    def pages(self) -> int: ...

    @property
    def total(self) -> int: ...

    @property
    def items(self) -> Sequence[Any]: ...

    @property
    def rejected(self) -> Sequence[RecordValidationError]: ...


@dataclass(frozen=True)
class Association:
    """Each record of the stream is associated with one record of ``parent_stream``."""

    parent_stream: str
    parent_property: str  # the mapped property holding the parent's source id


Record = dict[str, Any]


def as_record(item: Any) -> Record:
    """A source record in its API's own field names (``_id``, ``firstName``…)."""
    if hasattr(item, "model_dump"):
        record: Record = item.model_dump(by_alias=True)  # a new dict already
        return record
    return dict(item)


def records_as_sent(stream: Stream, page: SourcePage) -> list[Record] | None:
    """The page's records as the API sent them (validated whole by the client), when
    the stream maps them unchanged (its ``flatten`` is :func:`as_record`); else None."""
    raw: list[Record] | None = getattr(page, "raw", None)
    if stream.flatten is not as_record or raw is None or len(raw) != len(page.items):
        return None
    return raw


@dataclass(frozen=True)
class Stream:
    name: str  # "workways.users": the key in the snapshot store
    entity: str  # "users": what the CLI calls it
    source: str  # "workways"
    mapping: ObjectMapping
    pages: Callable[[Any], Iterable[SourcePage]]
    detail: Callable[[Any, str], Mapping[str, Any]] | None = None
    association: Association | None = None
    # A source record → the flat dict the mapping reads (default: the API's fields).
    flatten: Callable[[Any], Record] = as_record
    # Once per run, before paging: builds what each record is enriched with
    # (e.g. invoice roll-ups per customer), from the same source client.
    prepare: Callable[[Any], Callable[[Record], Record]] | None = None
    # New records whose e-mail already belongs to a HubSpot contact (another
    # source's) are merged into it instead of failing on the duplicate e-mail.
    merge_by_email: bool = False
    # One page by number (``page(client, n)``): a run of the stream can then be
    # split into units of ``pages_per_unit`` pages that many workers share.
    page: Callable[[Any, int], SourcePage] | None = None
    pages_per_unit: int = 5

    @property
    def splits(self) -> bool:
        """Whether a run of this stream is split into units of work."""
        return self.page is not None and self.prepare is None

    @property
    def object_type(self) -> str:
        return self.mapping.object_type

    @property
    def id_property(self) -> str:
        return self.mapping.key.target


def _organization_pages(client: Any) -> Iterator[SourcePage]:
    return iter(client.iter_organization_pages())


def _user_pages(client: Any) -> Iterator[SourcePage]:
    return iter(client.iter_user_pages())


def _organization_detail(client: Any, org_id: str) -> Mapping[str, Any]:
    return as_record(client.get_organization(org_id))


WORKWAYS_ORGANIZATIONS = Stream(
    name="workways.organizations",
    entity="organizations",
    source="workways",
    mapping=COMPANY_MAPPING,
    pages=_organization_pages,
    detail=_organization_detail,
    page=lambda client, number: client.organization_page(number),
    pages_per_unit=1,  # each record costs a detail call: small units spread the work
)

WORKWAYS_USERS = Stream(
    name="workways.users",
    entity="users",
    source="workways",
    mapping=CONTACT_MAPPING,
    pages=_user_pages,
    page=lambda client, number: client.user_page(number),
    # 1,000 users. Units of 10 pages halve the bookkeeping of a run with nothing to
    # push, but an initial sync then ends later (fewer, longer units: a slower tail).
    pages_per_unit=5,
    association=Association(WORKWAYS_ORGANIZATIONS.name, "workways_organization_id"),
)

# Run order matters: organizations first, so users find their company.
WORKWAYS_STREAMS: tuple[Stream, ...] = (WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS)


def _customer_rollups(client: Any) -> Callable[[Record], Record]:
    table = rollups(client.iter_invoices(), client.iter_orders())
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
SOURCES: dict[str, tuple[Stream, ...]] = {"workways": WORKWAYS_STREAMS, "workadu": WORKADU_STREAMS}
STREAMS: dict[str, Stream] = {s.name: s for group in SOURCES.values() for s in group}


def select_streams(entity: str = "all", source: str = "all") -> tuple[Stream, ...]:
    """Streams by entity and source, in run order (Workways before Workadu)."""
    if source != "all" and source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of all, {', '.join(SOURCES)}")
    pool = [s for name, group in SOURCES.items() if source in ("all", name) for s in group]
    chosen = tuple(s for s in pool if entity == "all" or entity in (s.entity, s.name))
    if not chosen:
        names = ", ".join(["all", *(s.entity for s in pool)])
        raise ValueError(f"unknown entity {entity!r} for source {source}; choose one of {names}")
    return chosen
