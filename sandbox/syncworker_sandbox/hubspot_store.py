"""Thread-safe in-memory state of the HubSpot sandbox.

Objects (contacts, companies, deals), their property definitions and groups,
the deal pipelines, and the associations between objects. The batch/search
logic lives in ``hubspot_objects``, ``hubspot_writes`` and ``hubspot_search``,
the property API in ``hubspot_props``; this module keeps the state, the
unique-value index and the public inspection API that tests use.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from syncworker_sandbox import hubspot_lifecycle as lifecycle
from syncworker_sandbox.hubspot_assoc import AssociationIndex
from syncworker_sandbox.hubspot_common import (
    JSON,
    MODIFIED_PROP,
    PORTAL_RULE,
    Problem,
    always_props,
    iso_ms,
    normalize_type,
)
from syncworker_sandbox.hubspot_pipelines import (
    PIPELINE_PROPERTY,
    STAGE_PROPERTY,
    Pipeline,
    StageSpec,
    build_pipeline,
    deal_rules,
    default_pipelines,
    pipeline_options,
    stage_options,
)
from syncworker_sandbox.hubspot_props import PropertyRegistry
from syncworker_sandbox.hubspot_schema import check_value
from syncworker_sandbox.hubspot_seeds import seed_groups, seed_properties

HISTORY_DEPTH = 20


@dataclass(frozen=True)
class ValidationRule:
    """A portal's own write rule (HubSpot enforces them from version 2026-09):
    ``required`` must have a value whenever ``when_property`` is ``when_value``.

    A write breaking one is refused with a 400 VALIDATION_ERROR for the whole
    batch, whose message names the rule."""

    object_type: str
    required: str
    when_property: str
    when_value: str
    name: str

    def broken_by(self, values: dict[str, str]) -> bool:
        return values.get(self.when_property, "") == self.when_value and not values.get(
            self.required, ""
        )

    def message(self) -> str:
        return (
            f'Record refused by the portal\'s validation rule "{self.name}": property '
            f'"{self.required}" is required when "{self.when_property}" is "{self.when_value}"'
        )


@dataclass
class Record:
    id: str
    props: dict[str, str]
    created: float
    updated: float
    archived: bool = False
    archived_at: float | None = None
    # property -> [(value, epoch seconds, sourceType)], newest last
    history: dict[str, list[tuple[str, float, str]]] = field(default_factory=dict)
    # what search sees: [(written at, property snapshot)], oldest first
    versions: list[tuple[float, dict[str, str]]] = field(default_factory=list)


class HubSpotStore(PropertyRegistry):
    """All sandbox state behind one re-entrant lock."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        invalid_email_mode: str = "multi-status",
        search_index_lag_seconds: float = 0.0,
        first_id: int = 1001,
    ) -> None:
        if invalid_email_mode not in ("multi-status", "reject-batch"):
            raise ValueError("invalid_email_mode must be 'multi-status' or 'reject-batch'")
        self.lock = threading.RLock()
        self.clock = clock
        self.invalid_email_mode = invalid_email_mode
        self.search_index_lag_seconds = search_index_lag_seconds
        self._next_id = first_id
        self.records: dict[str, dict[str, Record]] = {"contacts": {}, "companies": {}, "deals": {}}
        self.props = {t: seed_properties(t) for t in self.records}
        self.groups = {t: seed_groups(t) for t in self.records}
        self.pipelines: dict[str, dict[str, Pipeline]] = default_pipelines()
        self.assoc = AssociationIndex()
        self._unique = {"contacts": {"email": {}}, "companies": {}, "deals": {}}
        self.validation_rules: list[ValidationRule] = []
        self.lifecycle = lifecycle.Lifecycle()
        from syncworker_sandbox.hubspot_consent import ConsentStore

        self.consent = ConsentStore(self)  # Communication Preferences (subscription statuses)

    # ---------------------------------------------------------- public API
    def objects(self, object_type: str, include_archived: bool = False) -> list[JSON]:
        object_type = normalize_type(object_type)
        with self.lock:
            return [
                self._plain(r)
                for r in self.records[object_type].values()
                if include_archived or not r.archived
            ]

    def get(self, object_type: str, object_id: str) -> JSON | None:
        object_type = normalize_type(object_type)
        with self.lock:
            record = self.records[object_type].get(str(object_id))
            return self._plain(record) if record else None

    def find_by_property(self, object_type: str, name: str, value: str) -> list[JSON]:
        object_type = normalize_type(object_type)
        fold = object_type == "contacts" and name == "email"
        wanted = value.lower() if fold else value
        with self.lock:
            return [
                self._plain(r)
                for r in self.records[object_type].values()
                if not r.archived
                and name in r.props
                and (r.props[name].lower() if fold else r.props[name]) == wanted
            ]

    def associations(self, from_type: str, from_id: str, to_type: str) -> list[str]:
        from_type, to_type = normalize_type(from_type), normalize_type(to_type)
        with self.lock:
            if not self.exists(from_type, str(from_id)) or from_type == to_type:
                return []
            return [
                i
                for i in self.assoc.neighbors(from_type, str(from_id), to_type)
                if self.exists(to_type, i)
            ]

    def edit_property(self, object_type: str, object_id: str, name: str, value: str | None) -> None:
        """Change a value as a person in the HubSpot UI would (bumps the modified date).

        Raises KeyError for an unknown object or property, ValueError for a value
        the property refuses.
        """
        object_type = normalize_type(object_type)
        with self.lock:
            record = self.records[object_type].get(str(object_id))
            if record is None or record.archived:
                raise KeyError(f"{object_type} {object_id} does not exist")
            definition = self.props[object_type].get(name)
            if definition is None:
                raise KeyError(f"property {name} does not exist on {object_type}")
            normal, problem = check_value(object_type, definition, value or "")
            if problem is not None:
                raise ValueError(problem.message)
            owner = self.owner(object_type, name, normal)
            if owner is not None and owner != record.id:
                raise ValueError(f"value of {name} already belongs to {owner}")
            changes = {name: normal}
            problems: list[Problem] = []
            self.object_rules(object_type, record.props, changes, problems, new=False)
            if problems:
                raise ValueError(problems[0].message)
            self.write(object_type, record, changes, "CRM_UI")

    def add_object(
        self, object_type: str, properties: dict[str, str], source: str = "CRM_UI"
    ) -> str:
        """Create a record as a person (or an import) would, outside any integration:
        values checked as the API checks them, unique values (e-mail too) unique.
        Returns its id; ValueError for a refused value."""
        object_type = normalize_type(object_type)
        with self.lock:
            changes: dict[str, str] = {}
            for name, value in properties.items():
                definition = self.props[object_type].get(name)
                if definition is None:
                    raise KeyError(f"property {name} does not exist on {object_type}")
                normal, problem = check_value(object_type, definition, value or "")
                if problem is not None:
                    raise ValueError(problem.message)
                if self.owner(object_type, name, normal) is not None:
                    raise ValueError(f"value of {name} already belongs to another record")
                changes[name] = normal
            return self.create(object_type, self.new_id(), changes, source).id

    def delete_object(self, object_type: str, object_id: str) -> None:
        """Delete a record as a person in the HubSpot UI would (it goes to the recycle
        bin: archived, its unique values free again)."""
        object_type = normalize_type(object_type)
        with self.lock:
            if not self.exists(object_type, str(object_id)):
                raise KeyError(f"{object_type} {object_id} does not exist")
            self.archive(object_type, str(object_id), source="CRM_UI")

    def restore_object(self, object_type: str, object_id: str) -> None:
        """Restore a deleted record from the recycle bin, as a person would (KeyError
        when it is not there, ValueError when a unique value of it is taken)."""
        with self.lock:
            lifecycle.restore(self, normalize_type(object_type), str(object_id))

    def merge_objects(self, object_type: str, primary_id: str, merged_id: str) -> JSON:
        """Merge two records as a person in the HubSpot UI would; the survivor."""
        object_type = normalize_type(object_type)
        with self.lock:
            return self._plain(lifecycle.merge(self, object_type, str(primary_id), str(merged_id)))

    def gdpr_delete(self, object_type: str, object_id: str) -> None:
        """Delete a contact for privacy (GDPR), as a person would: gone for good."""
        with self.lock:
            lifecycle.gdpr_delete(self, normalize_type(object_type), str(object_id))

    @property
    def merged_reads(self) -> str:
        """What a read of a merged-away id answers: the survivor, or nothing (404)."""
        return self.lifecycle.merged_reads

    @merged_reads.setter
    def merged_reads(self, mode: str) -> None:
        if mode not in lifecycle.MERGED_READS:
            raise ValueError(f"merged_reads must be one of {lifecycle.MERGED_READS}")
        self.lifecycle.merged_reads = mode

    def events(self) -> list[JSON]:
        """The webhook events of deletions, restores, merges and privacy deletions,
        oldest first, as HubSpot would deliver them."""
        with self.lock:
            return copy.deepcopy(self.lifecycle.events)

    def force_property(self, object_type: str, object_id: str, name: str, value: str) -> None:
        """Store ``value`` without checking it against the property's type, as a value
        left by an old import or another integration may be: for tests of readers
        that must not trust a value's shape. Unique values stay unique (ValueError)."""
        object_type = normalize_type(object_type)
        with self.lock:
            record = self.records[object_type].get(str(object_id))
            if record is None or record.archived:
                raise KeyError(f"{object_type} {object_id} does not exist")
            owner = self.owner(object_type, name, value)
            if owner is not None and owner != record.id:
                raise ValueError(f"value of {name} already belongs to {owner}")
            self.write(object_type, record, {name: value}, "IMPORT")

    def property_definitions(self, object_type: str) -> dict[str, JSON]:
        object_type = normalize_type(object_type)
        with self.lock:
            return copy.deepcopy(self.props[object_type])

    def add_pipeline(
        self,
        pipeline_id: str,
        label: str,
        stages: Sequence[StageSpec],
        object_type: str = "deals",
        display_order: int | None = None,
    ) -> JSON:
        """Add a pipeline as an admin would in HubSpot's settings (the account's
        ``pipeline`` and ``dealstage`` options follow). ``stages`` are
        ``(id, label, probability[, closed])``; raises ValueError for a bad pipeline."""
        object_type = normalize_type(object_type)
        with self.lock:
            existing = self.pipelines.get(object_type)
            if existing is None:
                raise ValueError(f"{object_type} have no pipelines")
            pipeline = build_pipeline(
                existing, pipeline_id, label, stages, self.clock(), display_order
            )
            existing[pipeline.id] = pipeline
            defs = self.props[object_type]
            defs[PIPELINE_PROPERTY]["options"] = pipeline_options(existing)
            defs[STAGE_PROPERTY]["options"] = stage_options(existing)
            return pipeline.as_json()

    # -------------------------------------------------------- state helpers
    def object_rules(
        self,
        object_type: str,
        current: dict[str, str],
        changes: dict[str, str],
        problems: list[Problem],
        *,
        new: bool,
    ) -> None:
        """HubSpot's cross-property rules of one write, and the values it derives
        (deals: the stage must belong to the pipeline; the stage sets the probability)."""
        if object_type in self.pipelines:
            deal_rules(self.pipelines[object_type], current, changes, problems, new=new)
        merged = {**current, **changes}
        for rule in self.validation_rules:
            if rule.object_type == object_type and rule.broken_by(merged):
                problems.append(Problem(rule.required, PORTAL_RULE, rule.message()))

    @staticmethod
    def _plain(record: Record) -> JSON:
        out: JSON = {
            "id": record.id,
            "properties": dict(record.props),
            "createdAt": iso_ms(record.created),
            "updatedAt": iso_ms(record.updated),
            "archived": record.archived,
        }
        if record.archived_at is not None:
            out["archivedAt"] = iso_ms(record.archived_at)
        return out

    def exists(self, object_type: str, object_id: str) -> bool:
        record = self.records[object_type].get(object_id)
        return record is not None and not record.archived

    def unique_names(self, object_type: str) -> list[str]:
        return list(self._unique[object_type])

    @staticmethod
    def fold(object_type: str, name: str, value: str) -> str:
        return value.lower() if object_type == "contacts" and name == "email" else value

    def owner(self, object_type: str, name: str, value: str) -> str | None:
        index = self._unique[object_type].get(name)
        if index is None or value == "":
            return None
        return index.get(self.fold(object_type, name, value))

    def lookup(self, object_type: str, name: str, value: str) -> Record | None:
        """The live object whose (unique, or hs_object_id) property ``name`` equals value."""
        if name == "hs_object_id":
            record = self.records[object_type].get(value)
            if record is None and self.lifecycle.merged_reads == "survivor":
                survivor = self.lifecycle.survivor(object_type, value)
                record = self.records[object_type].get(survivor) if survivor else None
            return record if record is not None and not record.archived else None
        owner = self.owner(object_type, name, value)
        return self.records[object_type][owner] if owner else None

    def new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id - 1)

    def create(
        self, object_type: str, object_id: str, changes: dict[str, str], source: str = "API"
    ) -> Record:
        now = self.clock()
        record = Record(id=object_id, props={}, created=now, updated=now)
        self.records[object_type][object_id] = record
        system = {"hs_object_id": object_id, "createdate": iso_ms(now)}
        self.write(object_type, record, {**changes, **system}, source, force=True)
        return record

    def write(
        self,
        object_type: str,
        record: Record,
        changes: dict[str, str],
        source: str,
        *,
        force: bool = False,
    ) -> bool:
        """Apply normalized values ("" clears); bump the modified date if anything changed."""
        now = self.clock()
        changed = False
        for name, value in changes.items():
            if record.props.get(name, "") == value:
                continue
            changed = True
            old = record.props.pop(name, "")
            index = self._unique[object_type].get(name)
            if index is not None and old:
                index.pop(self.fold(object_type, name, old), None)
            if value:
                record.props[name] = value
                if index is not None:
                    index[self.fold(object_type, name, value)] = record.id
            history = record.history.setdefault(name, [])
            history.append((value, now, source))
            del history[:-HISTORY_DEPTH]
        if not (changed or force):
            return False
        record.updated = now
        record.props[MODIFIED_PROP[object_type]] = iso_ms(now)
        self._snapshot(record, now)
        return True

    def _snapshot(self, record: Record, now: float) -> None:
        record.versions.append((now, dict(record.props)))
        horizon = now - self.search_index_lag_seconds
        settled = [i for i, (t, _) in enumerate(record.versions) if t <= horizon]
        if settled:
            del record.versions[: settled[-1]]

    def archive(self, object_type: str, object_id: str, source: str = "INTEGRATION") -> None:
        record = self.records[object_type].get(object_id)
        if record is None or record.archived:
            return
        record.archived = True
        record.archived_at = self.clock()
        self.lifecycle.record(self, object_type, "deletion", object_id, source)
        for name, index in self._unique[object_type].items():
            value = record.props.get(name)
            if value and index.get(self.fold(object_type, name, value)) == record.id:
                del index[self.fold(object_type, name, value)]

    def render(
        self,
        object_type: str,
        record: Record,
        names: list[str] | None,
        history: list[str] | None = None,
        *,
        nulls: bool = True,
    ) -> JSON:
        wanted = list(names) if names is not None else []
        for name in always_props(object_type):
            if name not in wanted:
                wanted.append(name)
        known = self.props[object_type]
        props: dict[str, str | None] = {}
        for name in wanted:
            if name in known and (nulls or name in record.props):
                props[name] = record.props.get(name)
        out: JSON = {
            "id": record.id,
            "properties": props,
            "createdAt": iso_ms(record.created),
            "updatedAt": iso_ms(record.updated),
            "archived": record.archived,
        }
        if record.archived_at is not None:
            out["archivedAt"] = iso_ms(record.archived_at)
        if history:
            out["propertiesWithHistory"] = {
                name: [
                    {"value": v, "timestamp": iso_ms(t), "sourceType": s}
                    for v, t, s in reversed(record.history.get(name, []))
                ]
                for name in history
                if name in known
            }
        return out
