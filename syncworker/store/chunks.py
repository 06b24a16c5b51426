"""Long id lists cut into pieces for ``IN (...)`` queries (databases cap bind parameters)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import TypeVar

LOOKUP_CHUNK = 500  # ids per IN (...) query

Id = TypeVar("Id", str, int)


def id_chunks(ids: Collection[Id]) -> Iterator[list[Id]]:
    items = list(ids)
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start : start + LOOKUP_CHUNK]
