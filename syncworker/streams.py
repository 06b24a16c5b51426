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


@dataclass(frozen=True)
class Stream:
    name: str  # "workways.users": the key in the snapshot store
    entity: str  # "users": what the CLI calls it
    source: str  # "workways"
    mapping: ObjectMapping
    pages: Callable[[Any], Iterable[SourcePage]]
    detail: Callable[[Any, str], Mapping[str, Any]] | None = None
    association: Association | None = None

    @property
    def object_type(self) -> str:
        return self.mapping.object_type

    @property
    def id_property(self) -> str:
        return self.mapping.key.target


def as_record(item: Any) -> dict[str, Any]:
    """A source record in its API's own field names (``_id``, ``firstName``…)."""
    if hasattr(item, "model_dump"):
        return dict(item.model_dump(by_alias=True))
    return dict(item)


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
)

WORKWAYS_USERS = Stream(
    name="workways.users",
    entity="users",
    source="workways",
    mapping=CONTACT_MAPPING,
    pages=_user_pages,
    association=Association(WORKWAYS_ORGANIZATIONS.name, "workways_organization_id"),
)

# Run order matters: organizations first, so users find their company.
WORKWAYS_STREAMS: tuple[Stream, ...] = (WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS)
STREAMS: dict[str, Stream] = {s.name: s for s in WORKWAYS_STREAMS}


def select_streams(entity: str = "all") -> tuple[Stream, ...]:
    if entity == "all":
        return WORKWAYS_STREAMS
    chosen = tuple(s for s in WORKWAYS_STREAMS if s.entity == entity or s.name == entity)
    if not chosen:
        names = ", ".join(["all", *(s.entity for s in WORKWAYS_STREAMS)])
        raise ValueError(f"unknown entity {entity!r}; choose one of {names}")
    return chosen
