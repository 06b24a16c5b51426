"""The ``/ops`` page: server-rendered HTML, no build step, readable on a phone.

Error texts are masked with :func:`~syncworker.redaction.redact` (as the CLI's
tables are); write-back values are never shown. The page refreshes its
``<main>`` from ``/ops/fragment`` every few seconds with a few lines of inline
JavaScript; without JavaScript, the "Refresh" link and the forms still work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from syncworker.config import RateBudget
from syncworker.engine.details import refreshed_in_words
from syncworker.redaction import redact
from syncworker.store.models import RecordFailure, SyncRun, WritebackIntent

REFRESH_SECONDS = 10


@dataclass(frozen=True)
class Snapshot:
    """What the page shows, read from the database."""

    now: datetime
    streams: Sequence[str]
    last_runs: dict[str, SyncRun]
    fresh_as_of: dict[str, datetime]  # started_at of each stream's last completed run
    runs: Sequence[SyncRun]
    failures: Sequence[RecordFailure]
    outbox: Sequence[WritebackIntent]
    outbox_counts: dict[str, int]
    rate_budget: RateBudget  # the configured 10-second and daily budgets
    daily_headers: tuple[float, float] | None  # (remaining, limit): HubSpot's last daily headers
    calls_today: int  # HubSpot calls of runs started since 00:00 UTC
    last_calls_run: SyncRun | None  # the newest finished run that called HubSpot
    consent_runs: Sequence[SyncRun]  # the newest runs with consent decisions
    consent_audit: dict[tuple[str, str], int]  # (direction, action) -> consent_events rows
    last_reconcile: SyncRun | None
    repairs_total: dict[str, int]  # drift repairs by kind, over every reconcile run
    suppressed: dict[str, int]  # suppressed people by reason


def ago(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} days ago"


def duration(run: SyncRun) -> str:
    if run.finished_at is None:
        return "running"
    seconds = max(0.0, (run.finished_at - run.started_at).total_seconds())
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def source_name(stream: str) -> str:
    return stream.split(".")[0].capitalize()


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _when(at: datetime | None) -> str:
    return "—" if at is None else f'<time datetime="{at.isoformat()}">{at:%Y-%m-%d %H:%M:%S}</time>'


def _table(head: Iterable[str], rows: Iterable[str], empty: str) -> str:
    body = "".join(rows)
    if not body:
        return f'<p class="empty">{_e(empty)}</p>'
    cells = "".join(f"<th>{_e(h)}</th>" for h in head)
    return (
        f'<div class="scroll"><table><thead><tr>{cells}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _status(status: str) -> str:
    tone = {"succeeded": "ok", "running": "busy", "finished_with_failures": "warn"}.get(
        status, "bad"
    )
    return f'<span class="status {tone}">{_e(status)}</span>'


def _counts(run: SyncRun) -> str:
    refreshed = refreshed_in_words(run.details_refreshed or 0, run.details_changed or 0)
    refreshed = f", {refreshed}" if refreshed else ""
    return (
        f"seen {run.seen}, created {run.created}, updated {run.updated}, "
        f"unchanged {run.unchanged}, archived {run.archived}, failed {run.failed}{refreshed}"
    )


def _form(action: str, csrf: str, label: str, fields: dict[str, str], css: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">'
        for k, v in {**fields, "csrf": csrf}.items()
    )
    return (
        f'<form method="post" action="{_e(action)}" class="inline">{hidden}'
        f'<button type="submit" class="{_e(css)}">{_e(label)}</button></form>'
    )


def streams_section(snap: Snapshot) -> str:
    cards = []
    for stream in snap.streams:
        run = snap.last_runs.get(stream)
        fresh = snap.fresh_as_of.get(stream)
        source = source_name(stream)
        freshness = (
            f"HubSpot reflects {source} as of {ago(snap.now, fresh)}"
            if fresh is not None
            else f"HubSpot has no completed sync of {source} yet"
        )
        if run is None:
            detail = '<p class="empty">no run yet</p>'
        else:
            error = f'<p class="error">{_e(redact(run.error))}</p>' if run.error else ""
            detail = (
                f"<p>Last run #{run.id} {_status(run.status)} {_when(run.started_at)} "
                f"({_e(ago(snap.now, run.started_at))}), {_e(run.mode)}, "
                f"{_e(duration(run))}</p><p>{_e(_counts(run))}</p>{error}"
            )
        cards.append(
            f'<article class="stream" data-stream="{_e(stream)}"><h3>{_e(stream)}</h3>'
            f'<p class="fresh">{_e(freshness)}</p>{detail}</article>'
        )
    return f'<section id="streams"><h2>Streams</h2>{"".join(cards)}</section>'


def runs_section(snap: Snapshot) -> str:
    rows = (
        f"<tr><td>{r.id}</td><td>{_e(r.stream)}</td><td>{_e(r.trigger)}</td>"
        f"<td>{_e(r.mode)}</td><td>{_status(r.status)}</td><td>{_when(r.started_at)}</td>"
        f"<td>{_e(duration(r))}</td><td>{r.seen}</td><td>{r.created}</td><td>{r.updated}</td>"
        f"<td>{r.unchanged}</td><td>{r.archived}</td><td>{r.failed}</td>"
        f"<td>{r.hubspot_calls}</td></tr>"
        for r in snap.runs
    )
    head = (
        "run", "stream", "trigger", "mode", "status", "started (UTC)", "took",
        "seen", "new", "upd", "same", "arch", "fail", "HubSpot calls",
    )  # fmt: skip
    table = _table(head, rows, "no runs yet")
    return f'<section id="runs"><h2>Last {len(snap.runs)} runs</h2>{table}</section>'


def failures_section(snap: Snapshot, csrf: str) -> str:
    rows = []
    quarantined = 0
    for f in snap.failures:
        if f.quarantined_at is not None:
            quarantined += 1
            state = '<span class="status bad">quarantined</span>'
            action = _form("/ops/failures/release", csrf, "Release", {"id": str(f.id)}, "release")
        else:
            state = '<span class="status warn">retrying</span>'
            action = '<span class="pending">pending: retried on the next run</span>'
        rows.append(
            f'<tr data-failure="{f.id}"><td>{f.id}</td><td>{_e(f.stream)}</td>'
            f"<td>{_e(f.source_id)}</td><td>{_e(f.stage)}</td><td>{f.attempts}</td>"
            f'<td class="state">{state}</td><td class="reason">{_e(redact(f.last_error)[:200])}'
            f"</td><td>{action}</td></tr>"
        )
    release_all = (
        _form("/ops/failures/release", csrf, f"Release all {quarantined}", {"all": "1"}, "")
        if quarantined
        else ""
    )
    table = _table(
        ("id", "stream", "record", "stage", "tries", "state", "last error (masked)", ""),
        rows,
        "no failures",
    )
    return f'<section id="failures"><h2>Failures and quarantine</h2>{release_all}{table}</section>'


def outbox_section(snap: Snapshot, csrf: str) -> str:
    rows = []
    for i in snap.outbox:
        action = (
            _form("/ops/outbox/release", csrf, "Release", {"id": str(i.id)}, "release")
            if i.status == "quarantined"
            else ""
        )
        rows.append(
            f'<tr data-intent="{i.id}"><td>{i.id}</td><td>{_e(i.stream)}:{_e(i.source_id)}</td>'
            f"<td>{_e(i.parameter)}</td><td>{_e(i.status)}</td><td>{i.attempts}</td>"
            f"<td>{_when(i.created_at)}</td><td>{_e(redact(i.last_error or '')[:200])}</td>"
            f"<td>{action}</td></tr>"
        )
    c = snap.outbox_counts
    summary = (
        f"<p>{c.get('pending', 0)} pending, {c.get('quarantined', 0)} quarantined, "
        f"{c.get('done', 0)} done, {c.get('superseded', 0)} superseded</p>"
    )
    table = _table(
        ("id", "record", "parameter", "status", "tries", "written (UTC)", "last error", ""),
        rows,
        "the outbox is empty",
    )
    return f'<section id="outbox"><h2>Write-back outbox</h2>{summary}{table}</section>'


def budget_section(snap: Snapshot) -> str:
    """HubSpot's rate budget: what is known, and where each number comes from."""
    budget = snap.rate_budget
    window = f"{budget.window_seconds:g} s"
    run = snap.last_calls_run
    if run is None or run.finished_at is None:
        last = "<p>No finished run has called HubSpot yet.</p>"
    else:
        took = (run.finished_at - run.started_at).total_seconds()
        pace = (
            f", on average {run.hubspot_calls * budget.window_seconds / took:.1f} per {window}"
            if took > 0
            else ""
        )
        last = (
            f'<p class="last-calls">Last run that called HubSpot: #{run.id} {_e(run.stream)} '
            f"made {run.hubspot_calls} calls in {_e(duration(run))}{_e(pace)}.</p>"
        )
    if snap.daily_headers is None:
        daily = (
            '<p class="daily">Today (HubSpot\'s count): not known yet: no HubSpot answer with '
            "the X-HubSpot-RateLimit-Daily headers has been seen since the processes started."
            "</p>"
        )
    else:
        remaining, limit = snap.daily_headers
        used = max(0.0, limit - remaining)
        daily = (
            f'<p class="daily">Today (HubSpot\'s count): {used:,.0f} of {limit:,.0f} requests '
            f"used ({used / limit:.0%}), {remaining:,.0f} left, as HubSpot's last "
            "X-HubSpot-RateLimit-Daily headers said.</p>"
        )
    return (
        '<section id="budget"><h2>HubSpot rate budget</h2>'
        f'<p class="window">Rolling {_e(window)}: the configured budget is '
        f"{budget.per_window} requests per {_e(window)}; every HubSpot call waits for it "
        "(use in the current window is not measured here).</p>"
        f"{last}{daily}"
        f'<p class="runs-today">Runs started since 00:00 UTC made {snap.calls_today:,} '
        "HubSpot calls (HubSpot's day may start at another hour).</p></section>"
    )


def consent_section(snap: Snapshot) -> str:
    rows = (
        f'<tr data-consent-run="{r.id}"><td>{r.id}</td><td>{_e(r.stream)}</td>'
        f"<td>{_when(r.started_at)}</td><td>{r.consent_subscribed}</td>"
        f"<td>{r.consent_unsubscribed}</td><td>{r.consent_conflicts}</td></tr>"
        for r in snap.consent_runs
    )
    table = _table(
        ("run", "stream", "started (UTC)", "subscribed", "unsubscribed", "conflicts left alone"),
        rows,
        "no run has made a consent decision",
    )
    a = snap.consent_audit

    def n(direction: str, action: str) -> int:
        return a.get((direction, action), 0)

    conflicts = sum(v for (_, action), v in a.items() if action == "conflict")
    audit = (
        f'<p class="audit">Audit (consent_events): in HubSpot {n("to-hubspot", "subscribed")} '
        f"subscribed, {n('to-hubspot', 'unsubscribed')} unsubscribed; written back to Workways "
        f"{n('to-workways', 'subscribed')} subscribed, {n('to-workways', 'unsubscribed')} "
        f"unsubscribed; {conflicts} conflicts left alone.</p>"
    )
    return f'<section id="consent"><h2>Newsletter consent</h2>{audit}{table}</section>'


def drift_section(snap: Snapshot) -> str:
    def kinds(counts: dict[str, int]) -> str:
        shown = ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()) if n)
        return shown or "none"

    run = snap.last_reconcile
    if run is None:
        last = '<p class="last-reconcile">No drift repair (reconcile) has run yet.</p>'
    else:
        error = f'<p class="error">{_e(redact(run.error))}</p>' if run.error else ""
        repairs = {str(k): v for k, v in (run.repairs or {}).items() if isinstance(v, int)}
        last = (
            f'<p class="last-reconcile">Last reconcile run #{run.id} {_status(run.status)} '
            f"{_when(run.started_at)} ({_e(ago(snap.now, run.started_at))}): checked {run.seen} "
            f"records; repairs: {_e(kinds(repairs))}.</p>{error}"
        )
    s = snap.suppressed
    return (
        f'<section id="drift"><h2>Drift repair</h2>{last}'
        f'<p class="repairs-total">All reconcile runs: {_e(kinds(snap.repairs_total))}.</p>'
        f'<p class="suppressed">Suppressed people (never pushed again): {s.get("privacy", 0)} '
        f"deleted for privacy in HubSpot, {s.get('merged', 0)} merged into another user's "
        "contact.</p></section>"
    )


def main_content(snap: Snapshot, csrf: str) -> str:
    return (
        f'<p class="meta">As of {_when(snap.now)} UTC · <a href="/ops">Refresh</a></p>'
        + streams_section(snap)
        + failures_section(snap, csrf)
        + outbox_section(snap, csrf)
        + budget_section(snap)
        + consent_section(snap)
        + drift_section(snap)
        + runs_section(snap)
    )


STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f6f4}
header{background:#1f3a5f;color:#fff;padding:.6rem 1rem;display:flex;gap:1rem;
align-items:center;flex-wrap:wrap}
header h1{font-size:1.1rem;margin:0;flex:1}
header a,header button{color:#fff}
main{padding:0 1rem 2rem;max-width:70rem;margin:auto}
section{margin-top:1.2rem}
h2{font-size:1.05rem;border-bottom:1px solid #ccc;padding-bottom:.2rem}
h3{font-size:.95rem;margin:.2rem 0}
.stream{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.5rem .8rem;
margin:.5rem 0}
.stream p{margin:.2rem 0}
.fresh{font-weight:600}
.scroll{overflow-x:auto}
table{border-collapse:collapse;background:#fff;font-size:.85rem;min-width:100%}
th,td{border:1px solid #ddd;padding:.25rem .4rem;text-align:left;white-space:nowrap}
td.reason{white-space:normal;min-width:14rem}
.status{padding:0 .3rem;border-radius:3px}
.ok{background:#d8f0d8}.warn{background:#fbeec4}.bad{background:#f6d0d0}.busy{background:#d8e6f6}
.error{color:#8a1c1c}.empty,.meta{color:#666}
form.inline{display:inline;margin:0}
button{font:inherit;padding:.2rem .6rem;cursor:pointer}
"""

SCRIPT = f"""
(function(){{
  var main=document.querySelector("main");
  function refresh(){{
    fetch("/ops/fragment",{{credentials:"same-origin",headers:{{"Accept":"text/html"}}}})
      .then(function(r){{if(r.ok)return r.text();throw new Error(r.status);}})
      .then(function(html){{main.innerHTML=html;main.dataset.refreshed=Date.now();}})
      .catch(function(){{}});
  }}
  setInterval(refresh,{REFRESH_SECONDS * 1000});
}})();
"""


def document(title: str, body: str, *, header_extra: str = "", script: bool = False) -> str:
    js = f"<script>{SCRIPT}</script>" if script else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{_e(title)}</h1>{header_extra}</header><main>{body}</main>{js}</body></html>"
    )


def page(snap: Snapshot, csrf: str, *, logout: bool) -> str:
    extra = (
        _form("/ops/logout", csrf, "Log out", {}, "logout") if logout else ""
    ) + '<a href="/metrics">metrics</a>'
    return document("syncworker ops", main_content(snap, csrf), header_extra=extra, script=True)


def login_page(message: str | None = None) -> str:
    note = f'<p class="error">{_e(message)}</p>' if message else ""
    form = (
        f"{note}<form method=post action=/ops/login><p><label>Ops token "
        '<input type="password" name="token" autocomplete="current-password" required autofocus>'
        '</label></p><p><button type="submit">Log in</button></p></form>'
    )
    return document("syncworker ops: log in", form)
