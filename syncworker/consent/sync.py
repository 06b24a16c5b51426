"""Workways → HubSpot: the newsletter opt-in as the subscription type's status.

The engine asks :meth:`ConsentSync.desire` for the status a user's record wants
(kept in the snapshot under :data:`CONSENT_KEY`, compared like any property),
and hands each batch's consent changes to :meth:`ConsentSync.settle` after the
CRM upsert: statuses are read in one batch call, written in another, and only
what HubSpot confirmed enters the snapshot. The rules:

- opted in → SUBSCRIBED; opted out → UNSUBSCRIBED from that type only (never
  from all e-mail); never opted in and NOT_SPECIFIED in HubSpot → left alone;
- never re-subscribe against a person's will: a contact UNSUBSCRIBED in HubSpot
  whose Workways opt-in is true is left unsubscribed, counted and audited as a
  conflict, and the unsubscribe is written back to Workways; only
  ``CONSENT_RESUBSCRIBE=workways-newer`` re-subscribes, and only when the
  Workways change is dated after HubSpot's unsubscribe. Unsubscribed from all
  e-mail is never re-subscribed.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from syncworker.consent import (
    CONSENT_KEY,
    NOT_SPECIFIED,
    OPTIN_PROPERTY,
    SUBSCRIBED,
    UNSUBSCRIBED,
)
from syncworker.consent.audit import NO_CHANGE, TO_HUBSPOT, ConsentAudit, Decision
from syncworker.consent.subscription import Subscription
from syncworker.engine.state import Pending, RunState
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.sources.workways.streams import WORKWAYS_USERS
from syncworker.store.snapshots import Confirmation, SnapshotStore
from syncworker.writeback.outbox import Outbox

log = logging.getLogger(__name__)

UPDATED_PROPERTY = "workways_updated_at"  # the Workways record's last change, YYYY-MM-DD


@dataclass(frozen=True)
class Wanted:
    source_id: str
    hubspot_id: str
    want: str
    before: str  # the status the snapshot holds ("" when none)
    email: str
    updated: str  # Workways' updatedAt, YYYY-MM-DD or ""


def status_of(statuses: list[dict[str, Any]], subscription_id: str) -> dict[str, Any] | None:
    """The ``PublicStatus`` of ``subscription_id`` in one address's list."""
    for status in statuses:
        if str(status.get("subscriptionId")) == subscription_id:
            return status
    return None


def wide_unsubscribed(wide: list[dict[str, Any]]) -> bool:
    return any(w.get("status") == UNSUBSCRIBED for w in wide)


class ConsentSync:
    stream = WORKWAYS_USERS.name

    def __init__(
        self,
        gateway: HubSpotGateway,
        store: SnapshotStore,
        outbox: Outbox,
        audit: ConsentAudit,
        subscription: Subscription,
        *,
        legal_basis: str = "CONSENT_WITH_NOTICE",
        explanation: str = "",
        resubscribe: str = "never",
    ) -> None:
        self.gateway = gateway
        self.store = store
        self.outbox = outbox
        self.audit = audit
        self.subscription = subscription
        self.legal_basis = legal_basis
        self.explanation = explanation
        self.resubscribe = resubscribe

    def covers(self, stream: str) -> bool:
        return stream == self.stream

    # ------------------------------------------------------------- planning
    def salt(self, digest: str) -> str:
        """A source digest that also names the subscription type: records synced
        before consent was on (or for another type) are compared once more."""
        salted = f"{digest}\nconsent:{self.subscription.id}".encode()
        return hashlib.blake2b(salted, digest_size=16).hexdigest()  # as long as a digest

    @staticmethod
    def desire(desired: dict[str, str], before: Mapping[str, str] | None) -> dict[str, str]:
        """``desired`` plus the status the Workways opt-in asks of HubSpot."""
        optin = desired.get(OPTIN_PROPERTY)
        if optin not in ("true", "false"):
            return desired
        confirmed = (before or {}).get(CONSENT_KEY)
        if optin == "true":
            want = SUBSCRIBED
        elif confirmed == NOT_SPECIFIED:
            want = NOT_SPECIFIED  # never opted in, and HubSpot has no status: leave it
        else:
            want = UNSUBSCRIBED
        return {**desired, CONSENT_KEY: want}

    # ------------------------------------------------------------- pushing
    def split(self, batch: list[Pending]) -> tuple[list[Pending], list[Pending], dict[str, str]]:
        """(CRM part of the batch, consent-only changes of known contacts, wanted
        status by source id): the consent key never goes out as a property."""
        crm: list[Pending] = []
        only: list[Pending] = []
        wanted: dict[str, str] = {}
        for pending in batch:
            change = pending.change
            if CONSENT_KEY not in change.properties:
                crm.append(pending)
                continue
            wanted[change.source_id] = change.properties[CONSENT_KEY]
            rest = {k: v for k, v in change.properties.items() if k != CONSENT_KEY}
            if not rest and pending.hubspot_id:
                only.append(pending)
            else:
                crm.append(replace(pending, change=replace(change, properties=rest)))
        return crm, only, wanted

    def settle(
        self,
        state: RunState,
        wanted: dict[str, str],
        only: list[Pending],
        confirmations: list[Confirmation],
        counts: Counter[str],
    ) -> tuple[list[Confirmation], dict[str, str]]:
        """Consent of the records HubSpot just confirmed (and of ``only``): the
        confirmations to store and a failure message by source id."""
        confirmations = confirmations + [
            Confirmation(p.change.source_id, p.hubspot_id or "", {}, source_digest=p.digest)
            for p in only
        ]
        targets = [c for c in confirmations if c.source_id in wanted]
        if not targets:
            return confirmations, {}
        snapshots = self.store.load(self.stream, [c.source_id for c in targets])
        items: dict[str, Wanted] = {}
        changes = {p.change.source_id: p.change.properties for p in only}
        for c in targets:
            before = snapshots[c.source_id].properties if c.source_id in snapshots else {}
            props = {**before, **changes.get(c.source_id, {}), **c.properties}
            items[c.source_id] = Wanted(
                c.source_id,
                c.hubspot_id,
                wanted[c.source_id],
                before.get(CONSENT_KEY, ""),
                props.get("email", ""),
                props.get(UPDATED_PROPERTY, ""),
            )
        settled, failed = self.push(state, items, counts)
        kept: list[Confirmation] = []
        for c in confirmations:
            if c.source_id in settled:
                kept.append(
                    replace(c, properties={**c.properties, CONSENT_KEY: settled[c.source_id]})
                )
            elif c.source_id in failed:
                if c.properties:  # the CRM part stands; the record is compared again
                    kept.append(replace(c, source_digest=None))
            else:
                kept.append(c)
        return kept, failed

    def push(
        self, state: RunState, items: dict[str, Wanted], counts: Counter[str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Read, decide, write: the status confirmed per source id, and failures."""
        failed = {
            sid: "the contact has no e-mail address" for sid, i in items.items() if not i.email
        }
        items = {sid: i for sid, i in items.items() if i.email}
        if not items:
            return {}, failed
        sub = self.subscription.id
        read = self.gateway.consent_statuses([i.email for i in items.values()])
        current: dict[str, dict[str, Any]] = {}
        for sid, item in items.items():
            current[sid] = status_of(read.get(item.email.lower(), []), sub) or {}
        asking = [
            i.email
            for sid, i in items.items()
            if i.want == SUBSCRIBED and current[sid].get("status") != SUBSCRIBED
        ]
        wide = self.gateway.consent_wide_statuses(asking) if asking else {}
        trigger = f"sync ({state.result.mode}, run {state.result.run_id})"
        settled: dict[str, str] = {}
        writes: dict[str, tuple[Wanted, str, str]] = {}  # sid → (item, old, new)
        decisions: list[Decision] = []

        def conflict(item: Wanted, old: str, why: str) -> None:
            counts["consent_conflicts"] += 1
            log.warning(
                "consent conflict: %s %s is unsubscribed in HubSpot (%s) but opted in in "
                "Workways; not re-subscribed, the unsubscribe is written back",
                self.stream,
                item.source_id,
                why,
            )
            decisions.append(
                self._decision(NO_CHANGE, "conflict", item, old, old, f"{trigger}: {why}")
            )
            self.outbox.record(
                stream=self.stream,
                source_id=item.source_id,
                hubspot_id=item.hubspot_id,
                prop=CONSENT_KEY,
                parameter="optin",
                value="false",
            )

        for sid, item in items.items():
            now = str(current[sid].get("status") or NOT_SPECIFIED)
            if item.want == SUBSCRIBED:
                if now == SUBSCRIBED:
                    settled[sid] = now
                elif wide_unsubscribed(wide.get(item.email.lower(), [])):
                    conflict(item, now, "unsubscribed from all e-mail")
                    settled[sid] = UNSUBSCRIBED
                elif now == UNSUBSCRIBED:
                    if self.resubscribe == "workways-newer" and self._newer(item, current[sid]):
                        writes[sid] = (item, now, SUBSCRIBED)
                    else:
                        conflict(item, now, f"CONSENT_RESUBSCRIBE={self.resubscribe}")
                        settled[sid] = UNSUBSCRIBED
                else:
                    writes[sid] = (item, now, SUBSCRIBED)
            elif now == SUBSCRIBED:
                writes[sid] = (item, now, UNSUBSCRIBED)
            else:
                settled[sid] = now  # already unsubscribed, or never specified: left alone
        if writes:
            inputs = [
                {
                    "subscriberIdString": item.email,
                    "subscriptionId": int(sub) if sub.isdigit() else sub,
                    "channel": "EMAIL",
                    "statusState": new,
                    "legalBasis": self.legal_basis,
                    "legalBasisExplanation": self.explanation,
                }
                for item, _, new in writes.values()
            ]
            confirmed, refused = self.gateway.write_consent(inputs)
            by_email = {
                str(r.get("subscriberIdString", "")).lower(): r
                for r in confirmed
                if str(r.get("subscriptionId")) == sub
            }
            for sid, (item, old, new) in writes.items():
                result = by_email.get(item.email.lower())
                if result is None or result.get("status") != new:
                    failed[sid] = (
                        refused[0] if refused else "HubSpot did not confirm the consent write"
                    )
                    continue
                settled[sid] = new
                action = "subscribed" if new == SUBSCRIBED else "unsubscribed"
                counts[f"consent_{action}"] += 1
                why = "workways-newer re-subscribe" if old == UNSUBSCRIBED else "Workways opt-in"
                decisions.append(
                    self._decision(TO_HUBSPOT, action, item, old, new, f"{trigger}: {why}")
                )
        self.audit.record(decisions, state.result.run_id)
        return settled, failed

    @staticmethod
    def _newer(item: Wanted, status: Mapping[str, Any]) -> bool:
        """Whether Workways' change is dated after HubSpot's unsubscribe (a tie is not)."""
        stamp = str(status.get("timestamp") or "")[:10]
        return bool(item.updated and stamp and item.updated[:10] > stamp)

    def _decision(
        self, direction: str, action: str, item: Wanted, old: str, new: str, trigger: str
    ) -> Decision:
        return Decision(
            direction,
            action,
            self.stream,
            item.source_id,
            item.hubspot_id or None,
            self.subscription.id,
            old,
            new,
            self.legal_basis if direction == TO_HUBSPOT else None,
            trigger,
        )
