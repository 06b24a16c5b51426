"""Write-back: find HubSpot edits of two-way fields and apply them to Workways."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from syncworker.consent import CONSENT_KEY
from syncworker.consent.writeback import ConsentWatch
from syncworker.errors import SourceError, credential_refused, is_credential_refusal
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.responses import epoch_ms
from syncworker.sources.streams import Stream
from syncworker.sources.workways.client import WorkwaysClient
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from syncworker.store.runs import RunRecords
from syncworker.store.snapshots import SnapshotStore
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.values import UnwritableValue, hubspot_value, workways_argument

log = logging.getLogger(__name__)

STREAM_BY_OBJECT: dict[str, Stream] = {
    "contacts": WORKWAYS_USERS,
    "companies": WORKWAYS_ORGANIZATIONS,
}
WRITEBACK_STREAM = "workways.writeback"
# Polling re-reads this far behind its checkpoint: HubSpot's search index lags.
POLL_OVERLAP_MS = 5 * 60 * 1000


@dataclass
class WritebackResult:
    examined: int = 0
    intents: int = 0
    written: int = 0
    failed: int = 0
    quarantined: int = 0
    stray_keys: int = 0  # HubSpot records holding a key the snapshot gives to another


class WritebackService:
    def __init__(
        self,
        store: SnapshotStore,
        outbox: Outbox,
        gateway: HubSpotGateway,
        workways: WorkwaysClient,
        *,
        max_attempts: int = 5,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        consent: ConsentWatch | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.gateway = gateway
        self.workways = workways
        self.max_attempts = max_attempts
        self._clock_ms = clock_ms
        self.consent = consent  # subscription changes made in HubSpot (consent/writeback.py)
        self._trigger = "poll"

    # ---------------------------------------------------------------- examine
    def examine(self, objects: Iterable[tuple[str, str]], result: WritebackResult) -> None:
        """Re-read these HubSpot objects; record an intent for each two-way difference."""
        by_type: dict[str, set[str]] = defaultdict(set)
        for object_type, object_id in objects:
            if object_type in STREAM_BY_OBJECT:
                by_type[object_type].add(str(object_id))
        for object_type, ids in sorted(by_type.items()):
            stream = STREAM_BY_OBJECT[object_type]
            fields = stream.mapping.writeback_fields()
            wanted = [f.target for f in fields] + [stream.id_property]
            watching = self.consent is not None and stream is WORKWAYS_USERS
            if watching and self.consent is not None:
                wanted += self.consent.properties()
            found = self.gateway.read_by_ids(object_type, sorted(ids), wanted)
            keys = {str(p[stream.id_property]) for p in found.values() if p.get(stream.id_property)}
            snapshots = self.store.load(stream.name, keys)
            result.examined += len(found)
            consent_found = {}
            for hubspot_id, props in sorted(found.items()):
                source_id = str(props.get(stream.id_property) or "")
                snapshot = snapshots.get(source_id) if source_id else None
                if snapshot is None or snapshot.hubspot_id is None:
                    continue  # never synced: nothing to compare with
                if snapshot.hubspot_id != hubspot_id:
                    # Keys stay with their records: a Workways key on any other record
                    # (copied, imported, left after a merge or a delete) is drift, and
                    # that record's values are never written back to Workways.
                    result.stray_keys += 1
                    log.warning(
                        "write-back: %s %s carries the key of %s %s, which is HubSpot %s "
                        "in the snapshot; not written back",
                        object_type,
                        hubspot_id,
                        stream.name,
                        source_id,
                        snapshot.hubspot_id,
                    )
                    continue
                consent_found[hubspot_id] = (source_id, props, snapshot)
                for f in fields:
                    value = hubspot_value(f.kind, props.get(f.target))
                    if value != snapshot.properties.get(f.target, ""):
                        self.outbox.record(
                            stream=stream.name,
                            source_id=source_id,
                            hubspot_id=hubspot_id,
                            prop=f.target,
                            parameter=f.writeback or "",
                            value=value,
                        )
                        result.intents += 1
            if watching and self.consent is not None:
                result.intents += self.consent.examine(stream.name, consent_found, self.outbox)

    # ---------------------------------------------------------------- deliver
    def deliver(self, result: WritebackResult) -> None:
        """Apply the due intents: one Workways call per record."""
        groups: dict[tuple[str, str], list[tuple[int, str, str, str]]] = defaultdict(list)
        due = self.outbox.due()
        for intent in due:
            groups[(intent.stream, intent.source_id)].append(
                (intent.id, intent.property, intent.parameter, intent.value)
            )
        for (stream, source_id), group in groups.items():
            # An intent whose value Workways cannot take is quarantined alone, with
            # the reason; the record's other intents are still written.
            arguments: dict[str, object] = {}
            items = []
            for item in group:
                intent_id, _, parameter, value = item
                try:
                    arguments[parameter] = workways_argument(parameter, value)
                except UnwritableValue as exc:
                    log.warning("write-back of %s %s refused: %s", stream, source_id, exc)
                    result.failed += 1
                    result.quarantined += self.outbox.fail(
                        [intent_id], str(exc), retriable=False, max_attempts=self.max_attempts
                    )
                    continue
                items.append(item)
            if not items:
                continue
            ids = [i for i, *_ in items]
            try:
                if stream == WORKWAYS_USERS.name:
                    self.workways.set_optin(source_id, bool(arguments["optin"]))
                else:
                    self.workways.merge_contract(source_id, **arguments)
            except SourceError as exc:
                if is_credential_refusal(exc):
                    # Not this record's fault: the pass stops, every intent stays
                    # pending (attempts untouched) for the pass after the token is fixed.
                    raise
                log.warning("write-back of %s %s failed: %s", stream, source_id, exc)
                result.failed += len(ids)
                result.quarantined += self.outbox.fail(
                    ids,
                    f"{type(exc).__name__}: {exc}",
                    retriable=exc.retriable,
                    max_attempts=self.max_attempts,
                )
                continue
            values = {prop: v for _, prop, _, v in items}
            if self.consent is not None and CONSENT_KEY in values:
                hubspot_id = next(i.hubspot_id for i in due if i.id in ids)
                before = self.store.load(stream, [source_id])
                held = before[source_id].properties if source_id in before else {}
                values |= self.consent.delivered(
                    stream,
                    source_id,
                    hubspot_id,
                    values.pop(CONSENT_KEY),
                    held.get(CONSENT_KEY, ""),
                    self._trigger,
                )
            self.store.apply_writeback(stream, source_id, values)
            self.outbox.complete(ids)
            result.written += len(ids)

    # ------------------------------------------------------------------- runs
    def run(self, objects: Iterable[tuple[str, str]], trigger: str) -> WritebackResult:
        """Examine ``objects``, deliver what is due, record the run."""
        return self._recorded(trigger, lambda result: self._pass(objects, result))

    def _pass(self, objects: Iterable[tuple[str, str]], result: WritebackResult) -> None:
        self.examine(objects, result)
        self.deliver(result)

    def _recorded(self, trigger: str, work: Callable[[WritebackResult], None]) -> WritebackResult:
        """``work`` under a run record. A refused credential stops the pass, says so in
        the record, and leaves every intent pending (none is failed for it)."""
        result = WritebackResult()
        self._trigger = trigger
        runs = RunRecords(self.store.sessions)
        run_id = runs.start(WRITEBACK_STREAM, trigger, "writeback")
        status, error = "aborted", None
        try:
            work(result)
            status = "finished_with_failures" if result.failed else "succeeded"
        except BaseException as exc:
            if is_credential_refusal(exc):
                error = credential_refused(exc)
                log.error("write-back stopped, intents kept pending: %s", error)
            else:
                error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            counts = {"seen": result.examined, "updated": result.written, "failed": result.failed}
            runs.finish(run_id, status, counts, error)
        return result

    def poll(self, trigger: str = "poll") -> WritebackResult:
        """Search HubSpot for objects modified since the checkpoints, then run (the
        search is part of the run: a token refused there is recorded too)."""
        newest: dict[str, int] = {}

        def work(result: WritebackResult) -> None:
            found: set[tuple[str, str]] = set()
            for object_type, stream in STREAM_BY_OBJECT.items():
                name = f"writeback.poll.{object_type}"
                since = self.outbox.checkpoint(name)
                start = (self._clock_ms() if since is None else since) - POLL_OVERLAP_MS
                newest[name] = since or start
                stamp = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
                for obj in self.gateway.search_modified_since(
                    object_type, start, [stream.id_property]
                ):
                    found.add((object_type, str(obj["id"])))
                    modified = epoch_ms((obj.get("properties") or {}).get(stamp), 0)
                    newest[name] = max(newest[name], modified or 0)
            self._pass(found, result)

        result = self._recorded(trigger, work)
        for name, value in newest.items():
            self.outbox.set_checkpoint(name, value)
        return result
