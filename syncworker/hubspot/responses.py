"""HubSpot answers turned into outcomes and typed errors.

Pure functions over status, headers and parsed JSON bodies: no I/O, so every
documented answer (200, 201, 207, 400, 401, 403, 409, 423, 429, 5xx) is easy to
test on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from syncworker.errors import (
    HubSpotAuthError,
    HubSpotBadRequestError,
    HubSpotConflictError,
    HubSpotError,
    HubSpotLockedError,
    HubSpotRateLimitError,
    HubSpotServerError,
)
from syncworker.http_retry import clamp_retry_after
from syncworker.redaction import REDACTED, redact

_EXISTING_ID = re.compile(r"Existing ID:\s*(\d+)")


@dataclass(frozen=True)
class UpsertRecord:
    """One record to upsert: ``key`` is its value of the unique id property."""

    key: str
    properties: Mapping[str, str]


@dataclass(frozen=True)
class RecordOutcome:
    """What HubSpot did with one record."""

    key: str
    ok: bool
    hubspot_id: str | None = None
    created: bool = False
    category: str | None = None
    message: str | None = None
    existing_id: str | None = None

    @classmethod
    def failed(
        cls, key: str, error: HubSpotError | str, category: str | None = None
    ) -> RecordOutcome:
        if isinstance(error, HubSpotError):
            existing = error.existing_id if isinstance(error, HubSpotConflictError) else None
            return cls(
                key,
                False,
                category=error.category or category,
                message=str(error),
                existing_id=existing,
            )
        return cls(key, False, category=category, message=redact(error))


# A record refused by the portal's own rules (HubSpot enforces them on API writes
# from version 2026-09: conditional required properties, required create-form
# fields, association permissions): the failures list says so.
PORTAL_REFUSAL = (
    "refused by the HubSpot portal's own settings (a validation rule set up in the "
    "portal, not a fault in the data)"
)
# 400 VALIDATION_ERROR messages that are about the values or the request instead.
_NOT_PORTAL_RULES = ("Property values were not valid", "Invalid input JSON")


def portal_refusal(error: HubSpotError) -> str | None:
    """The failure text for a record a portal rule refused (a 400 VALIDATION_ERROR
    that is not about a value), or None when ``error`` is something else."""
    text = str(error)
    if error.status != 400 or error.category != "VALIDATION_ERROR":
        return None
    if text.startswith(_NOT_PORTAL_RULES):
        return None
    return f"{PORTAL_REFUSAL}: {text}"


def parse_body(raw: bytes | str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def error_from_response(status: int, headers: Mapping[str, str], body: Any) -> HubSpotError:
    """The typed error for a non-2xx answer; the message is redacted."""
    data = body if isinstance(body, dict) else {}
    raw_message = str(data.get("message") or f"HTTP {status}")
    message = redact(raw_message)
    category = data.get("category") if isinstance(data.get("category"), str) else None
    correlation = data.get("correlationId") if isinstance(data.get("correlationId"), str) else None
    if status == 429:
        retry_after = header(headers, "Retry-After")
        try:
            seconds = clamp_retry_after(float(retry_after)) if retry_after is not None else None
        except ValueError:
            seconds = None
        daily = str(data.get("policyName", "")).upper() == "DAILY"
        return HubSpotRateLimitError(message, daily=daily, retry_after=seconds)
    if status == 409:
        match = _EXISTING_ID.search(raw_message)
        return HubSpotConflictError(message, existing_id=match.group(1) if match else None)
    if status in (401, 403):
        return HubSpotAuthError(
            message,
            status=status,
            category=category,
            correlation_id=correlation,
            missing_scopes=missing_scopes(data) if status == 403 else (),
        )
    kind: type[HubSpotError] = HubSpotBadRequestError
    if status == 423:
        kind = HubSpotLockedError
    elif status >= 500:
        kind = HubSpotServerError
    return kind(message, status=status, category=category, correlation_id=correlation)


_SCOPE_KEYS = ("missingScopes", "requiredGranularScopes", "requiredScopes")
_SCOPE = re.compile(r"[a-z][a-z0-9_\-]*(\.[a-z0-9_\-]+)*")


def missing_scopes(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The scopes a 403 says the token lacks, in order, once each.

    The 2026-09 specs put them in ``context.missingScopes``; HubSpot's answers
    also list them per error (``errors[].context.requiredGranularScopes``).
    Anything that does not look like a scope name is left out."""
    contexts = [body.get("context")]
    contexts += [e.get("context") for e in body.get("errors") or [] if isinstance(e, Mapping)]
    found: dict[str, None] = {}
    for context in contexts:
        if not isinstance(context, Mapping):
            continue
        for key in _SCOPE_KEYS:
            values = context.get(key)
            for value in values if isinstance(values, list) else []:
                if isinstance(value, str) and _SCOPE.fullmatch(value):
                    found.setdefault(value)
    return tuple(found)


def _error_keys(error: Mapping[str, Any]) -> set[str]:
    """Values named in a 207 error's context (HubSpot puts ids there)."""
    keys: set[str] = set()
    context = error.get("context")
    if isinstance(context, Mapping):
        for values in context.values():
            if isinstance(values, list):
                keys.update(str(v) for v in values)
            elif isinstance(values, str | int):
                keys.add(str(values))
    return keys


def upsert_outcomes(
    records: Sequence[UpsertRecord],
    id_property: str,
    body: Any,
    key_by_hubspot_id: Mapping[str, str] | None = None,
) -> tuple[list[RecordOutcome], list[UpsertRecord]]:
    """Match a batch upsert answer to its inputs.

    Returns the outcomes that could be attributed, and the records whose
    result could not be matched (the caller reads them back to decide).
    A record is confirmed only by a result that names it.
    """
    data = body if isinstance(body, dict) else {}
    wanted = {r.key: r for r in records}
    folded = {r.key.lower(): r.key for r in records}
    outcomes: dict[str, RecordOutcome] = {}
    unmatched_results: list[Mapping[str, Any]] = []
    for result in data.get("results") or []:
        if not isinstance(result, Mapping):
            continue
        props = result.get("properties") or {}
        key = folded.get(str(props.get(id_property, "")).lower())
        hubspot_id = str(result.get("id", ""))
        if key is None and key_by_hubspot_id:
            key = key_by_hubspot_id.get(hubspot_id)
        if key is None or key in outcomes:
            unmatched_results.append(result)
            continue
        outcomes[key] = RecordOutcome(
            key, True, hubspot_id=hubspot_id, created=bool(result.get("new", False))
        )
    errors = [e for e in data.get("errors") or [] if isinstance(e, Mapping)]
    for error in errors:
        named = [folded[k.lower()] for k in _error_keys(error) if k.lower() in folded]
        message = redact(str(error.get("message") or "rejected by HubSpot"))
        category = error.get("category") if isinstance(error.get("category"), str) else None
        targets = named
        if not targets:
            open_keys = [k for k in wanted if k not in outcomes]
            targets = open_keys if len(open_keys) == 1 and len(errors) == 1 else []
        for key in targets:
            outcomes.setdefault(key, RecordOutcome.failed(key, message, category))
    pending = [wanted[k] for k in wanted if k not in outcomes]
    if pending and not unmatched_results and errors:
        # Errors we could not attribute: everything unconfirmed failed with them.
        text = "; ".join(redact(str(e.get("message", ""))) for e in errors)[:500]
        category = next((e.get("category") for e in errors if e.get("category")), None)
        return list(outcomes.values()) + [
            RecordOutcome.failed(r.key, text or "rejected by HubSpot", category) for r in pending
        ], []
    return list(outcomes.values()), pending


def association_pairs(body: Any) -> set[tuple[str, str]]:
    """``(from id, to id)`` of every association a batch answer confirms."""
    pairs: set[tuple[str, str]] = set()
    data = body if isinstance(body, dict) else {}
    for result in data.get("results") or []:
        if not isinstance(result, Mapping):
            continue
        src, dst = result.get("from"), result.get("to")
        from_id = src.get("id") if isinstance(src, Mapping) else None
        targets = dst if isinstance(dst, list) else [dst]
        for target in targets:
            if isinstance(target, Mapping) and from_id is not None:
                to_id = target.get("id", target.get("toObjectId"))
                if to_id is not None:
                    pairs.add((str(from_id), str(to_id)))
    return pairs


def scrub_outcome(outcome: RecordOutcome, record: UpsertRecord) -> RecordOutcome:
    """HubSpot echoes rejected values (an invalid e-mail…): keep none of them."""
    message = outcome.message or ""
    for value in sorted(record.properties.values(), key=len, reverse=True):
        if len(value) >= 3 and value in message:
            message = message.replace(value, REDACTED)
    return replace(outcome, message=message)


def epoch_ms(value: Any, default: int) -> int:
    if value is None:
        return default
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return default
