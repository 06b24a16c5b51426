"""What the CLI prints: summaries, progress lines, tables. Never personal data."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TextIO

from syncworker.engine.details import refreshed_in_words
from syncworker.engine.state import Progress, RunResult
from syncworker.errors import (
    HubSpotAuthError,
    HubSpotRateLimitError,
    SourceAuthError,
    SyncWorkerError,
)
from syncworker.hubspot.responses import PORTAL_REFUSAL
from syncworker.redaction import redact
from syncworker.sources.registry import STREAMS
from syncworker.store.models import ConsentEvent, RecordFailure, SyncRun, WritebackIntent

if TYPE_CHECKING:
    from syncworker.engine.reconcile import Repair


def describe_error(exc: SyncWorkerError) -> str:
    text = redact(str(exc))
    if isinstance(exc, HubSpotRateLimitError) and exc.daily:
        return (
            f"HubSpot's daily API budget is spent ({text}); the next run after midnight "
            "(account time zone) will go on where this one stopped"
        )
    if isinstance(exc, HubSpotAuthError):
        missing = f"; missing scopes: {', '.join(exc.missing_scopes)}" if exc.missing_scopes else ""
        return (
            f"HubSpot refused the credentials ({text}{missing}); check HUBSPOT_ACCESS_TOKEN "
            "(a Service Key, an app's token or a legacy private-app token) and its scopes, "
            "or run `syncworker doctor`"
        )
    if isinstance(exc, SourceAuthError):
        return f"Workways refused the credentials ({text}); check WORKWAYS_API_TOKEN"
    return f"{type(exc).__name__}: {text}"


def describe_unexpected(exc: BaseException) -> str:
    """An unexpected error in one line: its type and redacted message."""
    return f"{type(exc).__name__}: {redact(str(exc))}"[:500]


class ProgressPrinter:
    """One line per page on stderr, overwritten in place on a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()

    def __call__(self, event: Progress) -> None:
        c = event.counts
        line = (
            f"{event.stream}: page {event.page}/{event.pages or '?'} · seen {c['seen']} · "
            f"unchanged {c['unchanged']} · queued {event.queued} · created {c['created']} · "
            f"updated {c['updated']} · failed {c['failed']}"
        )
        self.stream.write(("\r" + line.ljust(100)) if self.tty else line + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")


def summary(result: RunResult) -> str:
    c = result.counts
    calls = ", ".join(f"{kind} {n}" for kind, n in sorted(result.hubspot_calls.items())) or "none"
    head = f"{result.stream} ({result.mode}{', dry run' if result.dry_run else ''})"
    if result.run_id is not None:
        head += f" run #{result.run_id}"
    lines = [
        f"{head}: {result.status}",
        f"  seen {c['seen']}, created {c['created']}, updated {c['updated']}, "
        f"unchanged {c['unchanged']}, archived {c['archived']}, failed {c['failed']}"
        + (f", quarantined (skipped) {c['quarantined']}" if c["quarantined"] else "")
        + (f", adopted {c['adopted']}" if c["adopted"] else "")
        + (f", e-mail clashes {c['clashes']}" if c["clashes"] else "")
        + (f", {details}" if (details := details_counts(c)) else ""),
        f"  HubSpot calls: {sum(result.hubspot_calls.values())} ({calls}); "
        f"{result.stream.split('.')[0].capitalize()} calls: {result.source_calls}",
    ]
    if consent := consent_counts(c):
        lines.append(f"  newsletter consent: {consent}")
    if result.error:
        lines.append(f"  error: {result.error}")
    if c["failed"] and not result.dry_run:
        lines.append(f"  {c['failed']} record(s) failed: see `syncworker failures list`")
    return "\n".join(lines)


def run_failures(failures: Iterable[RecordFailure], total: int) -> Iterable[str]:
    """One line per record that failed in a run: stream, record, stage, why (the
    field at fault for a bad value); never a value."""
    shown = 0
    for f in failures:
        shown += 1
        yield f"    {f.stream} {f.source_id} at {f.stage}: {redact(f.last_error)[:160]}"
    if total > shown:
        yield f"    and {total - shown} more"


def dry_run_report(result: RunResult) -> Iterable[str]:
    stream = STREAMS.get(result.stream)
    personal = stream.mapping.personal_properties() if stream else frozenset()
    for change in result.planned:
        yield "  " + change.describe(personal)


def runs_table(runs: Iterable[SyncRun]) -> str:
    header = (
        f"{'run':>5} {'stream':<24} {'trigger':<8} {'mode':<11} {'status':<22} "
        f"{'started (UTC)':<19} {'seen':>7} {'new':>6} {'upd':>6} {'same':>7} "
        f"{'arch':>5} {'fail':>5} {'adopt':>5} {'calls':>6}"
    )
    rows = [header]
    for r in runs:
        rows.append(
            f"{r.id:>5} {r.stream:<24} {r.trigger:<8} {r.mode:<11} {r.status:<22} "
            f"{r.started_at:%Y-%m-%d %H:%M:%S} {r.seen:>7} {r.created:>6} {r.updated:>6} "
            f"{r.unchanged:>7} {r.archived:>5} {r.failed:>5} {r.adopted or 0:>5} "
            f"{r.hubspot_calls:>6}"
        )
        if consent := consent_counts(
            {
                "consent_subscribed": r.consent_subscribed or 0,
                "consent_unsubscribed": r.consent_unsubscribed or 0,
                "consent_conflicts": r.consent_conflicts or 0,
            }
        ):
            rows.append(f"      └ newsletter consent: {consent}")
        if details := refreshed_in_words(r.details_refreshed or 0, r.details_changed or 0):
            rows.append(f"      └ {details}")
        if r.error:
            rows.append(f"      └ {r.error}")
    return "\n".join(rows)


def details_counts(counts: Mapping[str, int]) -> str:
    """Old details a run fetched again, in words ("" when it refreshed none)."""
    return refreshed_in_words(counts.get("details_refreshed", 0), counts.get("details_changed", 0))


def consent_counts(counts: Mapping[str, int]) -> str:
    """A run's consent decisions in words ("" when it made none)."""
    subscribed = counts.get("consent_subscribed", 0)
    unsubscribed = counts.get("consent_unsubscribed", 0)
    conflicts = counts.get("consent_conflicts", 0)
    if not (subscribed or unsubscribed or conflicts):
        return ""
    line = f"subscribed {subscribed}, unsubscribed {unsubscribed}, conflicts {conflicts}"
    if conflicts:
        line += " (see `syncworker consent log --conflicts`)"
    return line


def consent_table(events: Iterable[ConsentEvent]) -> str:
    """``consent log``: one line per decision, newest first. Records by their ids
    only (the audit holds no e-mail address); the trigger is redacted all the same."""
    rows = [
        f"{'id':>5} {'when (UTC)':<19} {'record':<40} {'direction':<11} {'action':<12} "
        f"{'old → new':<27} {'basis':<20} trigger"
    ]
    for e in events:
        record = f"{e.stream}:{e.source_id}"
        change = f"{e.old_status} → {e.new_status}"
        rows.append(
            f"{e.id:>5} {e.at:%Y-%m-%d %H:%M:%S} {record:<40} {e.direction:<11} "
            f"{e.action:<12} {change:<27} {e.legal_basis or '-':<20} {redact(e.trigger)[:100]}"
        )
    return "\n".join(rows)


def suppressed_line(counts: Mapping[str, int]) -> str:
    """``status``: the people drift repair suppressed (never pushed again)."""
    return (
        f"Suppressed people: {counts.get('privacy', 0)} deleted for privacy in HubSpot "
        f"(never brought back), {counts.get('merged', 0)} merged into another user's contact"
    )


def reconcile_report(repairs: Iterable[Repair]) -> Iterable[str]:
    """One line per repair (``reconcile --dry-run`` and after a run): ids only."""
    for repair in repairs:
        yield "  " + repair.describe()


def failures_table(failures: Iterable[RecordFailure]) -> str:
    rows = [
        f"{'id':>5} {'stream':<24} {'record':<26} {'stage':<10} {'tries':>5} "
        f"{'state':<12} last error"
    ]
    for f in failures:
        state = "quarantined" if f.quarantined_at else "retrying"
        error = redact(f.last_error)
        portal = error.startswith(PORTAL_REFUSAL)
        shown = (
            "refused by the HubSpot portal's settings, not the data (below)" if portal else error
        )
        rows.append(
            f"{f.id:>5} {f.stream:<24} {f.source_id:<26} {f.stage:<10} "
            f"{f.attempts:>5} {state:<12} {shown[:120]}"
        )
        if portal:  # the rule's name matters more than the table's width
            rows.append(f"      {error[len(PORTAL_REFUSAL) :].lstrip(': ')[:400]}")
            rows.append(
                "      fix: the data is not at fault: change the rule in HubSpot's settings, or "
                "give the record the value it requires, then "
                f"`syncworker failures retry --id {f.id}`"
            )
    return "\n".join(rows)


def outbox_table(intents: Iterable[WritebackIntent]) -> str:
    rows = [f"{'id':>5} {'record':<40} {'parameter':<14} {'status':<12} {'tries':>5} last error"]
    for i in intents:
        record = f"{i.stream}:{i.source_id}"
        rows.append(
            f"{i.id:>5} {record:<40} {i.parameter:<14} {i.status:<12} {i.attempts:>5} "
            f"{redact(i.last_error or '')[:100]}"
        )
    return "\n".join(rows)
