"""What a stream is: the declaration every source fills in (see ``registry.py``).

A :class:`Stream` says where records come from (how to page, how to fetch a
record's details), how they map to HubSpot, and what they associate with. The
engine runs any stream the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from syncworker.errors import RecordValidationError
from syncworker.mapping import ObjectMapping


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
    # New records whose e-mail already belongs to a HubSpot contact holding no key of
    # this stream adopt that contact (engine/adopt.py): the source owns the person.
    adopt_by_email: bool = False
    # New records may adopt the one HubSpot object holding the same name (trimmed, any
    # letter case) and no key of this stream, when ADOPT_COMPANIES_BY_NAME is on.
    adopt_by_name: bool = False
    # One page by number (``page(client, n)``): a run of the stream can then be
    # split into partitions of ``pages_per_partition`` pages that many workers share.
    page: Callable[[Any, int], SourcePage] | None = None
    pages_per_partition: int = 5

    @property
    def splits(self) -> bool:
        """Whether a run of this stream is split into partitions (else it is one)."""
        return self.page is not None and self.prepare is None

    @property
    def object_type(self) -> str:
        return self.mapping.object_type

    @property
    def id_property(self) -> str:
        return self.mapping.key.target
