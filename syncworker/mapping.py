"""Source → HubSpot field mapping: what a declarative mapping table is made of.

Each source declares one table per object type (``sources/<source>/mapping.py``;
the README's mapping tables are those files, in prose). Each :class:`FieldMap` says
where one source field lives in HubSpot, how its value is normalised, and
whether HubSpot edits flow back to Workways (``writeback``). Values are
normalised (``normalise.py``) into the exact strings HubSpot stores, so that
an unchanged record never looks changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from syncworker.normalise import NORMALISATION_VERSION, NORMALISERS, BadValue
from syncworker.normalise import Kind as Kind  # the tables are written in kinds
from syncworker.normalise import normalise as normalise

# json's own string encoder (the C one when available) for ensure_ascii=False
_json_str: Callable[[str], str] = json.encoder.encode_basestring
_json_keys: dict[str, str] = {}  # property name -> its JSON encoding and ":"

PROPERTY_GROUP = "workways"
PROPERTY_GROUP_LABEL = "Workways"
# The flag a source sets on the records it no longer lists: each mapping names its
# own (``ObjectMapping.archived_property``), one HubSpot property per source and
# object type, listed among its fields so the schema step creates it. Workways'
# is the default; every flag a mapping uses is in ARCHIVE_PROPERTIES (the store
# reads a snapshot's archived state from them).
ARCHIVED_PROPERTY = "workways_archived"
ARCHIVE_PROPERTIES = frozenset({ARCHIVED_PROPERTY, "workadu_archived"})


class FieldValueError(ValueError):
    """A source record holds a value its mapping cannot normalise: that record
    fails alone (stage ``mapping``), naming the field and never the value."""

    def __init__(self, source: str, target: str, reason: str) -> None:
        self.source, self.target, self.reason = source, target, reason
        super().__init__(f"field {source} (HubSpot {target}): {reason}")


@dataclass(frozen=True)
class FieldMap:
    """One Workways field and its HubSpot home."""

    source: str  # the Workways API name ("firstName", "_id")
    target: str  # the HubSpot property name
    kind: Kind
    label: str
    standard: bool = False  # a HubSpot built-in property: never created by us
    unique: bool = False  # the record's key (hasUniqueValue)
    personal: bool = False  # personal data: masked in dry-run output, never logged
    writeback: str | None = None  # the Workways write-back parameter (HubSpot → Workways)
    summarise: Callable[[Any], str] | None = None  # detail arrays → readable text
    # Sent along with the record's other changes, never alone: Workways bumps
    # ``updatedAt`` on every write, write-backs included, and pushing that
    # alone would echo every write-back.
    passenger: bool = False
    # Identity data another source owns for people it shares with this one: not
    # sent to a contact this source merged into (see the README's source table).
    yields_to_owner: bool = False


@dataclass(frozen=True)
class ObjectMapping:
    """How one Workways record type becomes one HubSpot object type."""

    object_type: str  # "contacts" | "companies"
    fields: tuple[FieldMap, ...]
    detail_fields: tuple[FieldMap, ...] = ()  # single-mode arrays, fetched per record
    # Edited in HubSpot only and written back; Workways does not return them, so
    # the sync never pushes them.
    hubspot_fields: tuple[FieldMap, ...] = ()
    # What a complete pass sets to "true" on a record the source no longer lists:
    # this source's own flag, a listed field of this table (so it exists on the
    # object type), never another source's.
    archived_property: str = ARCHIVED_PROPERTY

    @cached_property
    def _listed_plan(self) -> tuple[tuple[str, str, Callable[[Any], str]], ...]:
        """(source, target, normaliser) of each listed field, in order."""
        return tuple((f.source, f.target, NORMALISERS[f.kind]) for f in self.fields)

    @property
    def key(self) -> FieldMap:
        return next(f for f in self.fields if f.unique)

    @property
    def all_fields(self) -> tuple[FieldMap, ...]:
        return self.fields + self.detail_fields

    def to_properties(
        self, record: Mapping[str, Any], detail: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """Normalised HubSpot properties for a record in the API's own field names.

        :class:`FieldValueError` names the first field whose value cannot be
        normalised (a date ``15/01/2025``, ``ten`` for a number, a list for text)."""
        get = record.get
        try:  # the usual record: one comprehension, no per-field bookkeeping
            props = {target: norm(get(source)) for source, target, norm in self._listed_plan}
        except (BadValue, ValueError, TypeError, AttributeError):
            props = {}
            for source, target, norm in self._listed_plan:
                props[target] = _checked(source, target, norm, get(source))
        if detail is not None:
            for f in self.detail_fields:
                raw = detail.get(f.source)
                norm = f.summarise or NORMALISERS[f.kind]
                props[f.target] = _checked(f.source, f.target, norm, raw)
        return props

    @cached_property
    def version(self) -> bytes:
        """A digest of this table and of :data:`NORMALISATION_VERSION`: source
        digests taken under another mapping never match (see :meth:`source_digest`)."""
        described = repr(
            [
                (
                    f.source,
                    f.target,
                    f.kind.name,
                    f.summarise.__qualname__ if f.summarise else None,
                    f.passenger,
                    f.yields_to_owner,
                )
                for f in self.all_fields
            ]
        )
        return hashlib.sha256(f"{NORMALISATION_VERSION}:{described}".encode()).digest()

    def source_digest(self, record: Mapping[str, Any]) -> str:
        """A digest of a source record as the API sent it, under this mapping.

        A snapshot keeps the digest of the record whose properties HubSpot
        confirmed; a record with the same digest maps to the same properties,
        so the sync skips mapping and comparing it."""
        raw = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
        return hashlib.sha256(self.version + raw).hexdigest()[:32]

    @cached_property
    def _listed_by_target(self) -> dict[str, tuple[str, Callable[[Any], str]]]:
        return {target: (source, norm) for source, target, norm in self._listed_plan}

    def value_of(self, record: Mapping[str, Any], target: str) -> str:
        """The normalised value of one listed property (KeyError if not listed)."""
        source, norm = self._listed_by_target[target]
        return _checked(source, target, norm, record.get(source))

    def passenger_properties(self) -> frozenset[str]:
        return frozenset(f.target for f in self.all_fields if f.passenger)

    def detail_properties(self) -> frozenset[str]:
        """The properties filled from a record's detail (one source call each)."""
        return frozenset(f.target for f in self.detail_fields)

    def yielding_properties(self) -> frozenset[str]:
        return frozenset(f.target for f in self.all_fields if f.yields_to_owner)

    def personal_properties(self) -> frozenset[str]:
        return frozenset(f.target for f in self.all_fields if f.personal)

    def writeback_fields(self) -> tuple[FieldMap, ...]:
        """The two-way fields: HubSpot edits flow back to Workways."""
        return tuple(f for f in self.all_fields + self.hubspot_fields if f.writeback)


def _checked(source: str, target: str, norm: Callable[[Any], str], value: Any) -> str:
    """``norm(value)``, or :class:`FieldValueError` naming the field (never the value)."""
    try:
        return norm(value)
    except BadValue as exc:
        raise FieldValueError(source, target, str(exc)) from None
    except (ValueError, TypeError, AttributeError) as exc:  # a summariser's own complaint
        raise FieldValueError(source, target, f"unreadable value ({type(exc).__name__})") from None


def content_hash(properties: Mapping[str, str]) -> str:
    """A stable digest of a record's normalised properties."""
    if not isinstance(properties, dict):
        return _json_hash(properties)
    try:
        # What json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        # writes for string keys and values, without the encoder's set-up per call
        # (and with each property name encoded once per process).
        parts = []
        for name in sorted(properties):
            key = _json_keys.get(name)
            if key is None:
                key = _json_str(name) + ":"
                if len(_json_keys) < 10_000:
                    _json_keys[name] = key
            parts.append(key + _json_str(properties[name]))
        payload = "{" + ",".join(parts) + "}"
    except TypeError:  # a key or value that is not a string: let json say how it looks
        return _json_hash(properties)
    return hashlib.sha256(payload.encode()).hexdigest()


def _json_hash(properties: Mapping[str, str]) -> str:
    payload = json.dumps(properties, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class PropertyDefinition:
    """A custom HubSpot property syncworker creates (in the ``workways`` group)."""

    object_type: str
    name: str
    label: str
    kind: Kind
    unique: bool = False


def custom_properties(*mappings: ObjectMapping) -> list[PropertyDefinition]:
    """Every non-standard property of the given mappings, once each."""
    seen: dict[tuple[str, str], PropertyDefinition] = {}
    for mapping in mappings:
        for f in mapping.all_fields + mapping.hubspot_fields:
            if not f.standard:
                seen.setdefault(
                    (mapping.object_type, f.target),
                    PropertyDefinition(mapping.object_type, f.target, f.label, f.kind, f.unique),
                )
    return list(seen.values())
