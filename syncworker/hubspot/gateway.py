"""The one door to HubSpot.

Every HubSpot call syncworker makes goes through :class:`HubSpotGateway`, on
one pooled :class:`httpx.Client`, at the dated paths of one of HubSpot's
date-based API versions (``HUBSPOT_API_VERSION``, see :class:`ApiPaths`: the
only place that spells HubSpot's paths). The gateway:

- paces every request through a :class:`~.ratelimit.RateLimiter` and learns
  the real budget from HubSpot's headers;
- retries what is worth retrying (429 other than DAILY, 423, 5xx, timeouts,
  connection errors) with exponential backoff and jitter — at this layer only;
- packs writes into batches of at most 100 and reports one outcome per
  record: a 207, a 400 or a 409 on one record never hides the others (a batch
  rejected whole is split to isolate the records at fault);
- counts its calls by kind for the run summary.

Every documented status, 207 included, is parsed the same way from the raw
answer (see :mod:`.responses`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from syncworker import tally
from syncworker.config import HUBSPOT_API_VERSIONS, RateBudget, Secret
from syncworker.errors import (
    HubSpotBadRequestError,
    HubSpotConflictError,
    HubSpotConnectionError,
    HubSpotError,
    HubSpotLockedError,
    HubSpotRateLimitError,
    HubSpotTimeoutError,
    is_retriable,
)
from syncworker.http_retry import clamp_retry_after
from syncworker.hubspot.ratelimit import RateLimiter, SlidingWindowLimiter
from syncworker.hubspot.responses import (
    RecordOutcome,
    UpsertRecord,
    association_pairs,
    epoch_ms,
    error_from_response,
    parse_body,
    portal_refusal,
    scrub_outcome,
    upsert_outcomes,
)
from syncworker.ops import instruments
from syncworker.redaction import register_secret

log = logging.getLogger(__name__)

BATCH_LIMIT = 100  # HubSpot's maximum inputs per CRM batch write
ASSOCIATION_BATCH_LIMIT = 2000  # the associations API's documented maximum per batch create
ASSOCIATION_ARCHIVE_LIMIT = 1000  # archive's maximum is undocumented: stay at batch read's
ASSOCIATION_READ_LIMIT = 1000  # the associations API's documented maximum per batch read
MERGED_IDS_PROPERTY = "hs_merged_object_ids"  # a merge's survivor lists the merged ids (";")
ISOLATION_CALL_BUDGET = 40  # calls one rejected batch may spend isolating its bad records
MAX_RATE_LIMIT_WAITS = 30
SEARCH_PER_SECOND = 4

T = TypeVar("T")
Answer = tuple[int, dict[str, str], Any]


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class ApiPaths:
    """HubSpot's dated paths, ``/{api}/{YYYY-MM}/{resource}``, for one API version.

    The only place in the product that spells a HubSpot path."""

    def __init__(self, version: str) -> None:
        if version not in HUBSPOT_API_VERSIONS:
            raise ValueError(
                f"unsupported HubSpot API version {version!r} "
                f"(one of {', '.join(HUBSPOT_API_VERSIONS)})"
            )
        self.version = version

    def objects(self, object_type: str, action: str) -> str:
        """``action``: ``batch/upsert``, ``batch/read``, ``batch/update``, ``search``…"""
        return f"/crm/objects/{self.version}/{object_type}/{action}"

    def properties(self, object_type: str, suffix: str = "") -> str:
        """``suffix``: ``""`` (list, create one), ``/batch/create``, ``/groups``…"""
        return f"/crm/properties/{self.version}/{object_type}{suffix}"

    def associations(self, from_type: str, to_type: str, action: str) -> str:
        """``action``: ``batch/associate/default``, ``batch/archive``, ``batch/read``…"""
        return f"/crm/associations/{self.version}/{from_type}/{to_type}/{action}"

    def pipelines(self, object_type: str, suffix: str = "") -> str:
        return f"/crm/pipelines/{self.version}/{object_type}{suffix}"

    def communication_preferences(self, resource: str) -> str:
        """``resource``: ``definitions``, ``statuses/batch/read``, ``statuses/batch/write``,
        ``statuses/batch/unsubscribe-all/read``…"""
        return f"/communication-preferences/{self.version}/{resource}"


class HubSpotGateway:
    """Typed operations on HubSpot CRM, paced, retried and counted."""

    def __init__(
        self,
        base_url: str,
        token: Secret,
        *,
        api_version: str = HUBSPOT_API_VERSIONS[0],
        limiter: RateLimiter | None = None,
        budget: RateBudget | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        max_connections: int = 32,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``max_connections``: pooled connections to HubSpot, at least the calls
        in flight at once (more calls wait for a free connection).
        ``transport``: an httpx transport to use instead of the network (tests)."""
        register_secret(token.reveal())
        self.paths = ApiPaths(api_version)
        budget = budget or RateBudget()
        self.limiter: RateLimiter = limiter or SlidingWindowLimiter(
            budget.per_window, budget.window_seconds
        )
        # Search has its own limit (about 5 per second) and sends no rate headers.
        self.search_limiter: RateLimiter = SlidingWindowLimiter(SEARCH_PER_SECOND, 1.0)
        self.calls: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.schema_ready: set[str] = set()  # streams whose properties were ensured
        self.schema_lock = threading.Lock()  # one thread ensures them, the others wait
        self.rate_limited = 0
        self._max_attempts = max_attempts
        self._backoff = (backoff_base, backoff_cap)
        self._sleep = sleep
        self._jitter = jitter
        # One client, one pool, shared by every thread; no retries below this layer.
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {token.reveal()}",
                "Accept": "application/json",
            },
            # Waiting for a free pooled connection is not HubSpot failing: no pool timeout.
            timeout=httpx.Timeout(timeout, connect=min(10.0, timeout), pool=None),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    # ---------------------------------------------------------------- transport
    def _delay(self, attempt: int) -> float:
        base, cap = self._backoff
        return float(min(cap, base * 2 ** (attempt - 1)) * (0.5 + self._jitter() / 2))

    def send(
        self,
        kind: str,
        method: str,
        path: str,
        payload: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        limiter: RateLimiter | None = None,
    ) -> Answer:
        """Send one request; retry what is retriable; raise typed errors."""
        limiter = limiter or self.limiter
        attempt = rate_waits = 0
        while True:
            ticket = limiter.acquire()
            with self._count_lock:  # several batches may be in flight
                self.calls[kind] += 1
            tally.count(f"{tally.HUBSPOT}{kind}")
            try:
                try:
                    status, headers, body = self._raw(method, path, payload, params)
                finally:
                    limiter.answered(ticket)  # HubSpot admitted it by now, if at all
            except HubSpotError as exc:  # timeouts and connection errors
                instruments.hubspot_answer(kind, None, {})
                error: HubSpotError = exc
            else:
                instruments.hubspot_answer(kind, status, headers)
                limiter.observe(headers)
                if 200 <= status < 300:
                    return status, headers, body
                error = error_from_response(status, headers, body)
            if isinstance(error, HubSpotRateLimitError):
                instruments.hubspot_rate_limited(error.daily)
                with self._count_lock:
                    self.rate_limited += 1
                rate_waits += 1
                if error.daily or rate_waits > MAX_RATE_LIMIT_WAITS:
                    raise error
                wait = clamp_retry_after(error.retry_after)  # 0-60 s, whatever HubSpot says
                limiter.pause(1.0 if wait is None else wait)
                continue
            attempt += 1
            if not is_retriable(error) or attempt >= self._max_attempts:
                raise error
            delay = self._delay(attempt)
            if isinstance(error, HubSpotLockedError):
                delay = max(delay, 2.0)  # HubSpot: wait at least 2 s after a 423
            log.warning(
                "HubSpot %s call failed (%s); retry %d in %.1fs",
                kind,
                type(error).__name__,
                attempt,
                delay,
            )
            self._sleep(delay)

    def _raw(
        self, method: str, path: str, payload: Any, params: Mapping[str, str] | None
    ) -> Answer:
        try:
            response = self._http.request(method, path, json=payload, params=params)
        except httpx.TimeoutException as exc:
            raise HubSpotTimeoutError(
                f"HubSpot did not answer in time ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            raise HubSpotConnectionError(f"HubSpot unreachable ({type(exc).__name__})") from None
        return response.status_code, dict(response.headers), parse_body(response.content)

    # --------------------------------------------------------------- properties
    def list_properties(self, object_type: str) -> list[dict[str, Any]]:
        """Every (unarchived) property definition of ``object_type``."""
        _, _, body = self.send("properties", "GET", self.paths.properties(object_type))
        return _results(body)

    def property_group(self, object_type: str, name: str) -> dict[str, Any] | None:
        """A property group's definition, or None when HubSpot has no such group (404)."""
        try:
            _, _, body = self.send(
                "properties", "GET", self.paths.properties(object_type, f"/groups/{name}")
            )
        except HubSpotBadRequestError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def create_property_group(self, object_type: str, group: Mapping[str, Any]) -> None:
        """Create a property group; a 409 (it exists) raises HubSpotConflictError."""
        self.send("properties", "POST", self.paths.properties(object_type, "/groups"), group)

    def create_properties(self, object_type: str, inputs: Sequence[Mapping[str, Any]]) -> None:
        self.send(
            "properties",
            "POST",
            self.paths.properties(object_type, "/batch/create"),
            {"inputs": list(inputs)},
        )

    # ------------------------------------------------------------------ upserts
    def upsert(
        self,
        object_type: str,
        id_property: str,
        records: Sequence[UpsertRecord],
        *,
        key_by_hubspot_id: dict[str, str] | None = None,
        split_conflicts: bool = True,
    ) -> list[RecordOutcome]:
        """Create or update ``records`` keyed on ``id_property``; one outcome each.

        Without ``split_conflicts``, a batch refused whole by a 409 is not split to
        find the records at fault: each record gets the 409 (the caller resolves it)."""
        outcomes: list[RecordOutcome] = []
        for chunk in chunked(records, BATCH_LIMIT):
            budget = [ISOLATION_CALL_BUDGET]
            outcomes += self._upsert_isolating(
                object_type, id_property, chunk, budget, key_by_hubspot_id or {}, split_conflicts
            )
        by_key = {r.key: r for r in records}
        return [scrub_outcome(o, by_key[o.key]) if not o.ok else o for o in outcomes]

    def _upsert_isolating(
        self,
        object_type: str,
        id_property: str,
        chunk: Sequence[UpsertRecord],
        budget: list[int],
        known_ids: dict[str, str],
        split_conflicts: bool = True,
    ) -> list[RecordOutcome]:
        try:
            status, _, body = self._upsert_call(object_type, id_property, chunk)
        except (HubSpotBadRequestError, HubSpotConflictError) as exc:
            if isinstance(exc, HubSpotConflictError) and not split_conflicts:
                return [RecordOutcome.failed(r.key, exc) for r in chunk]  # the caller resolves
            budget[0] -= 1
            # A 422 is about the request as a whole: splitting it would not help.
            if len(chunk) == 1:  # isolated: this record's own refusal
                refusal = portal_refusal(exc)
                return [RecordOutcome.failed(chunk[0].key, refusal or exc, exc.category)]
            if budget[0] <= 0 or exc.status == 422:
                return [RecordOutcome.failed(r.key, exc) for r in chunk]
            middle = len(chunk) // 2
            return self._upsert_isolating(
                object_type, id_property, chunk[:middle], budget, known_ids
            ) + self._upsert_isolating(object_type, id_property, chunk[middle:], budget, known_ids)
        if not isinstance(body, dict):  # not JSON, or not an object: nothing to trust
            log.warning(
                "HubSpot answered a %s upsert with HTTP %d we cannot read", object_type, status
            )
            return [
                RecordOutcome.failed(
                    r.key,
                    f"HubSpot's answer could not be read (HTTP {status})",
                    "UNREADABLE_ANSWER",
                )
                for r in chunk
            ]
        outcomes, unresolved = upsert_outcomes(chunk, id_property, body, known_ids)
        if unresolved:
            outcomes += self._resolve(object_type, id_property, unresolved, body)
        return outcomes

    def _upsert_call(
        self, object_type: str, id_property: str, chunk: Sequence[UpsertRecord]
    ) -> Answer:
        payload = {
            "inputs": [
                {"idProperty": id_property, "id": r.key, "properties": dict(r.properties)}
                for r in chunk
            ]
        }
        return self.send("upsert", "POST", self.paths.objects(object_type, "batch/upsert"), payload)

    def _resolve(
        self, object_type: str, id_property: str, records: Sequence[UpsertRecord], body: Any
    ) -> list[RecordOutcome]:
        """Results HubSpot gave without naming their record: read the keys back."""
        found = self.read(object_type, id_property, [r.key for r in records], [id_property])
        key_by_id = {obj["id"]: key for key, obj in found.items()}
        outcomes, still = upsert_outcomes(records, id_property, body, key_by_id)
        return outcomes + [
            RecordOutcome.failed(r.key, "HubSpot did not confirm this record") for r in still
        ]

    def update_by_id(
        self, object_type: str, items: Sequence[tuple[str, dict[str, str]]]
    ) -> dict[str, RecordOutcome]:
        """Update objects by HubSpot id (merges); one outcome per id."""
        outcomes: dict[str, RecordOutcome] = {}
        for chunk in chunked(list(items), BATCH_LIMIT):
            payload = {
                "inputs": [{"id": hubspot_id, "properties": props} for hubspot_id, props in chunk]
            }
            try:
                _, _, body = self.send(
                    "update", "POST", self.paths.objects(object_type, "batch/update"), payload
                )
            except (HubSpotBadRequestError, HubSpotConflictError) as exc:
                outcomes.update({h: RecordOutcome.failed(h, exc) for h, _ in chunk})
                continue
            for result in _results(body):
                hubspot_id = str(result.get("id"))
                outcomes[hubspot_id] = RecordOutcome(hubspot_id, True, hubspot_id=hubspot_id)
            for error in _results(body, "errors"):
                for hubspot_id in _named_ids(error):
                    outcomes.setdefault(
                        hubspot_id,
                        RecordOutcome.failed(
                            hubspot_id, str(error.get("message", "rejected")), error.get("category")
                        ),
                    )
        return outcomes

    def update_records(
        self, object_type: str, records: Sequence[tuple[str, UpsertRecord]]
    ) -> list[RecordOutcome]:
        """Update records by the HubSpot id a snapshot holds for them, ``(hubspot id,
        record)`` each: one outcome per record, keyed on the record's key. A batch
        refused whole (400, 409) is split to isolate the records at fault, as upserts
        are. A record whose id HubSpot does not hold (deleted, or merged away and not
        answered) fails with ``OBJECT_NOT_FOUND``; one answered under another id (a
        merge's survivor) succeeds with that id when it is the only such answer."""
        outcomes: list[RecordOutcome] = []
        for chunk in chunked(list(records), BATCH_LIMIT):
            outcomes += self._update_isolating(object_type, chunk, [ISOLATION_CALL_BUDGET])
        by_key = {r.key: r for _, r in records}
        return [scrub_outcome(o, by_key[o.key]) if not o.ok else o for o in outcomes]

    def _update_isolating(
        self, object_type: str, chunk: Sequence[tuple[str, UpsertRecord]], budget: list[int]
    ) -> list[RecordOutcome]:
        payload = {
            "inputs": [
                {"id": hubspot_id, "properties": dict(r.properties)} for hubspot_id, r in chunk
            ]
        }
        try:
            _, _, body = self.send(
                "update", "POST", self.paths.objects(object_type, "batch/update"), payload
            )
        except (HubSpotBadRequestError, HubSpotConflictError) as exc:
            budget[0] -= 1
            if len(chunk) == 1:
                refusal = portal_refusal(exc)
                return [RecordOutcome.failed(chunk[0][1].key, refusal or exc, exc.category)]
            if budget[0] <= 0 or exc.status == 422:
                return [RecordOutcome.failed(r.key, exc) for _, r in chunk]
            middle = len(chunk) // 2
            return self._update_isolating(
                object_type, chunk[:middle], budget
            ) + self._update_isolating(object_type, chunk[middle:], budget)
        key_of = {hubspot_id: r.key for hubspot_id, r in chunk}
        outcomes: dict[str, RecordOutcome] = {}
        strangers: list[str] = []  # answered under an id we did not send (a survivor)
        for result in _results(body):
            hubspot_id = str(result.get("id"))
            if hubspot_id in key_of:
                key = key_of[hubspot_id]
                outcomes[key] = RecordOutcome(key, True, hubspot_id=hubspot_id)
            else:
                strangers.append(hubspot_id)
        for error in _results(body, "errors"):
            for hubspot_id in _named_ids(error):
                if hubspot_id in key_of:
                    key = key_of[hubspot_id]
                    outcomes.setdefault(
                        key,
                        RecordOutcome.failed(
                            key, str(error.get("message", "rejected")), error.get("category")
                        ),
                    )
        unanswered = [k for k in key_of.values() if k not in outcomes]
        if len(unanswered) == 1 and len(strangers) == 1:
            outcomes[unanswered[0]] = RecordOutcome(unanswered[0], True, hubspot_id=strangers[0])
        for key in unanswered:
            outcomes.setdefault(
                key, RecordOutcome.failed(key, "HubSpot did not confirm this record")
            )
        return [outcomes[r.key] for _, r in chunk]

    # -------------------------------------------------------------------- reads
    def read(
        self, object_type: str, id_property: str, keys: Sequence[str], properties: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Objects by their unique property value: ``{key: {"id", "properties"}}``."""
        wanted = sorted(set(properties) | {id_property})
        found: dict[str, dict[str, Any]] = {}
        folded = {k.lower(): k for k in keys}
        for chunk in chunked(list(keys), BATCH_LIMIT):
            payload = {
                "idProperty": id_property,
                "inputs": [{"id": k} for k in chunk],
                "properties": wanted,
            }
            _, _, body = self.send(
                "read", "POST", self.paths.objects(object_type, "batch/read"), payload
            )
            for result in _results(body):
                props = result.get("properties") or {}
                key = folded.get(str(props.get(id_property, "")).lower())
                if key is not None and result.get("id") is not None:
                    found[key] = {"id": str(result["id"]), "properties": props}
        return found

    def read_by_ids(
        self, object_type: str, ids: Sequence[str], properties: Iterable[str]
    ) -> dict[str, dict[str, Any]]:
        """Current properties of objects by HubSpot id (not the search index)."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in chunked(list(ids), BATCH_LIMIT):
            payload = {
                "inputs": [{"id": i} for i in chunk],
                "properties": sorted(set(properties)),
            }
            _, _, body = self.send(
                "read", "POST", self.paths.objects(object_type, "batch/read"), payload
            )
            for result in _results(body):
                if result.get("id") is not None:
                    found[str(result["id"])] = result.get("properties") or {}
        return found

    def read_objects(
        self,
        object_type: str,
        ids: Sequence[str],
        properties: Iterable[str],
        *,
        archived: bool = False,
    ) -> list[dict[str, Any]]:
        """Objects by HubSpot id, ``{"id", "properties"}`` each, as HubSpot answers
        (batch read, 100 ids a call): ids it does not hold are simply absent, and a
        merged-away id may answer with its surviving object (under the survivor's
        id). ``archived``: read only deleted objects (the recycle bin)."""
        found: list[dict[str, Any]] = []
        params = {"archived": "true"} if archived else None
        for chunk in chunked(list(dict.fromkeys(ids)), BATCH_LIMIT):
            payload = {
                "inputs": [{"id": i} for i in chunk],
                "properties": sorted(set(properties)),
                "propertiesWithHistory": [],
            }
            _, _, body = self.send(
                "read",
                "POST",
                self.paths.objects(object_type, "batch/read"),
                payload,
                params=params,
            )
            for result in _results(body):
                if result.get("id") is not None:
                    props = result.get("properties")
                    found.append(
                        {
                            "id": str(result["id"]),
                            "properties": props if isinstance(props, dict) else {},
                        }
                    )
        return found

    def merged_into(self, object_type: str, merged_id: str) -> str | None:
        """The object that lists ``merged_id`` among its merged ids
        (``hs_merged_object_ids``), found by search; None when none does."""
        request = {
            "filterGroups": [
                {
                    "filters": [
                        {
                            "propertyName": MERGED_IDS_PROPERTY,
                            "operator": "CONTAINS_TOKEN",
                            "value": merged_id,
                        }
                    ]
                }
            ],
            "properties": [MERGED_IDS_PROPERTY],
            "limit": 10,
        }
        results, _ = self._search(object_type, request)
        for result in results:
            listed = str((result.get("properties") or {}).get(MERGED_IDS_PROPERTY) or "")
            if merged_id in listed.split(";") and result.get("id") is not None:
                return str(result["id"])
        return None

    def _search(
        self, object_type: str, request: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One search call: (its results, the ``after`` of the next page, if any)."""
        _, _, body = self.send(
            "search",
            "POST",
            self.paths.objects(object_type, "search"),
            request,
            limiter=self.search_limiter,
        )
        paging = body.get("paging") if isinstance(body, dict) else None
        after = ((paging or {}).get("next") or {}).get("after")
        return _results(body), str(after) if after else None

    def search_equal(
        self, object_type: str, property_name: str, values: Sequence[str], properties: Iterable[str]
    ) -> list[dict[str, Any]]:
        """Objects whose ``property_name`` is one of ``values`` (compared without letter
        case, as HubSpot compares strings), ``{"id", "properties"}`` each, by search with
        one ``IN`` filter per request: as many values as keep the body under the search
        API's 3,000 characters (at most 100), every page of 200 followed."""
        wanted = sorted(set(properties) | {property_name})
        found: dict[str, dict[str, Any]] = {}
        for chunk in _by_length(sorted({v.strip().lower() for v in values if v.strip()})):
            after: str | None = None
            while True:
                request: dict[str, Any] = {
                    "filterGroups": [
                        {
                            "filters": [
                                {"propertyName": property_name, "operator": "IN", "values": chunk}
                            ]
                        }
                    ],
                    "properties": wanted,
                    "limit": 200,
                }
                if after:
                    request["after"] = after
                results, after = self._search(object_type, request)
                for result in results:
                    if result.get("id") is not None:
                        props = result.get("properties")
                        found[str(result["id"])] = {
                            "id": str(result["id"]),
                            "properties": props if isinstance(props, dict) else {},
                        }
                if not after or not results or int(after) >= 10_000:
                    break
        return list(found.values())

    def search_one(self, object_type: str) -> list[dict[str, Any]]:
        """At most one object of ``object_type``: the cheapest read HubSpot checks
        the objects' read scope on (``syncworker doctor``)."""
        request = {"filterGroups": [], "properties": ["hs_object_id"], "limit": 1}
        return self._search(object_type, request)[0]

    def search_modified_since(
        self, object_type: str, since_ms: int, properties: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """Objects modified at or after ``since_ms``, oldest first.

        Re-anchors the filter at the last timestamp seen before the search
        API's 10,000-result cap; the caller de-duplicates.
        """
        stamp = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
        anchor, after = since_ms, None
        while True:
            request: dict[str, Any] = {
                "filterGroups": [
                    {"filters": [{"propertyName": stamp, "operator": "GTE", "value": str(anchor)}]}
                ],
                "sorts": [{"propertyName": stamp, "direction": "ASCENDING"}],
                "properties": sorted(set(properties) | {stamp}),
                "limit": 200,
            }
            if after:
                request["after"] = after
            results, after = self._search(object_type, request)
            yield from results
            if not after or not results:
                return
            if int(after) + 200 > 10_000:
                last = results[-1].get("properties", {}).get(stamp)
                anchor, after = epoch_ms(last, anchor), None

    # ------------------------------------------------------------- associations
    def associate(
        self,
        pairs: Sequence[tuple[str, str]],
        from_type: str = "contacts",
        to_type: str = "companies",
        *,
        parallel: int = 1,
    ) -> set[tuple[str, str]]:
        """Default (unlabelled) associations, ``parallel`` batches in flight;
        returns the pairs HubSpot confirmed."""

        def one(chunk: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
            payload = {"inputs": [{"from": {"id": c}, "to": {"id": o}} for c, o in chunk]}
            path = self.paths.associations(from_type, to_type, "batch/associate/default")
            _, _, body = self.send("associate", "POST", path, payload)
            return association_pairs(body) & set(chunk)

        chunks = list(chunked(list(pairs), ASSOCIATION_BATCH_LIMIT))
        if parallel <= 1 or len(chunks) <= 1:
            return set().union(*map(one, chunks))
        with ThreadPoolExecutor(min(parallel, len(chunks)), "associate") as pool:
            return set().union(*pool.map(tally.carried(one), chunks))

    def associated(
        self, ids: Sequence[str], from_type: str = "contacts", to_type: str = "companies"
    ) -> dict[str, set[str]]:
        """The ``to_type`` objects each of ``ids`` is associated with (any label),
        by batch read (1,000 a call, following each object's own paging)."""
        found: dict[str, set[str]] = {i: set() for i in ids}
        path = self.paths.associations(from_type, to_type, "batch/read")
        todo: list[dict[str, str]] = [{"id": i} for i in dict.fromkeys(ids)]
        while todo:
            chunk, todo = todo[:ASSOCIATION_READ_LIMIT], todo[ASSOCIATION_READ_LIMIT:]
            _, _, body = self.send("associations", "POST", path, {"inputs": chunk})
            for result in _results(body):
                source = str((result.get("from") or {}).get("id", ""))
                for target in result.get("to") or []:
                    if isinstance(target, dict) and target.get("toObjectId") is not None:
                        found.setdefault(source, set()).add(str(target["toObjectId"]))
                after = ((result.get("paging") or {}).get("next") or {}).get("after")
                if after and source:
                    todo.append({"id": source, "after": str(after)})
        return found

    def remove_associations(
        self,
        pairs: Sequence[tuple[str, str]],
        from_type: str = "contacts",
        to_type: str = "companies",
    ) -> None:
        """Remove associations (all labels); raises if HubSpot refuses."""
        for chunk in chunked(list(pairs), ASSOCIATION_ARCHIVE_LIMIT):
            payload = {"inputs": [{"from": {"id": c}, "to": [{"id": o}]} for c, o in chunk]}
            path = self.paths.associations(from_type, to_type, "batch/archive")
            self.send("unassociate", "POST", path, payload)

    # ------------------------------------------------- communication preferences
    def subscription_definitions(self) -> list[dict[str, Any]]:
        """The portal's subscription types (``SubscriptionDefinition``: id, name…)."""
        path = self.paths.communication_preferences("definitions")
        _, _, body = self.send("consent_read", "GET", path)
        return _results(body)

    def consent_statuses(self, emails: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """E-mail subscription statuses by address (lower-cased): the ``PublicStatus``
        list of each address HubSpot answered for, in batches."""
        return self._bulk_statuses("statuses/batch/read", "statuses", emails)

    def consent_wide_statuses(self, emails: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Unsubscribed-from-all statuses by address (``PublicWideStatus`` lists)."""
        return self._bulk_statuses("statuses/batch/unsubscribe-all/read", "wideStatuses", emails)

    def _bulk_statuses(
        self, resource: str, key: str, emails: Sequence[str]
    ) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        path = self.paths.communication_preferences(resource)
        for chunk in chunked(sorted(set(emails)), BATCH_LIMIT):
            _, _, body = self.send(
                "consent_read", "POST", path, {"inputs": list(chunk)}, params={"channel": "EMAIL"}
            )
            for result in _results(body):
                address = str(result.get("subscriberIdString") or "").lower()
                listed = result.get(key)
                if address and isinstance(listed, list):
                    found[address] = [s for s in listed if isinstance(s, dict)]
        return found

    def write_consent(
        self, inputs: Sequence[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """Batch-write ``PublicStatusRequest`` inputs: the ``PublicStatus`` results HubSpot
        confirmed, and one line per batch or error it refused (no addresses in them)."""
        confirmed: list[dict[str, Any]] = []
        refused: list[str] = []
        path = self.paths.communication_preferences("statuses/batch/write")
        for chunk in chunked(list(inputs), BATCH_LIMIT):
            try:
                _, _, body = self.send("consent_write", "POST", path, {"inputs": list(chunk)})
            except HubSpotBadRequestError as exc:
                refused.append(f"HubSpot refused a consent batch (HTTP {exc.status})")
                continue
            confirmed += _results(body)
            refused += [
                f"HubSpot refused a consent write ({e.get('category') or 'error'})"
                for e in _results(body, "errors")
            ]
        return confirmed, refused


SEARCH_VALUES_CHARS = 2000  # of a search body's 3,000 characters, what IN values may take
SEARCH_IN_LIMIT = 100  # values of one IN filter


def _by_length(values: Sequence[str]) -> Iterator[list[str]]:
    """``values`` in runs whose JSON fits a search body (and an IN filter's count)."""
    run: list[str] = []
    size = 0
    for value in values:
        cost = len(value) + 4  # quotes, comma, space (escapes aside: kept under the cap)
        if cost > SEARCH_VALUES_CHARS // 4:
            continue  # no such name: a value this long is not looked for
        if run and (size + cost > SEARCH_VALUES_CHARS or len(run) >= SEARCH_IN_LIMIT):
            yield run
            run, size = [], 0
        run.append(value)
        size += cost
    if run:
        yield run


def _results(body: Any, key: str = "results") -> list[dict[str, Any]]:
    """The objects listed under ``key`` of an answer; none when it is not one."""
    listed = body.get(key) if isinstance(body, dict) else None
    return [r for r in listed if isinstance(r, dict)] if isinstance(listed, list) else []


def _named_ids(error: Any) -> list[str]:
    context = error.get("context") if isinstance(error, dict) else None
    ids = (context or {}).get("ids") or (context or {}).get("id") or []
    return [str(i) for i in (ids if isinstance(ids, list) else [ids])]
