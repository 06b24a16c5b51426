"""HubSpot → Workways: subscription changes made in HubSpot (the e-mail footer,
the preference centre, a marketer) written back as ``set-optin``.

Signal: the contact properties HubSpot keeps per subscription type
(``hs_email_optout_<id>``, and ``hs_email_optout`` for all e-mail), which move a
contact's modified date (polling) and can be webhook subscriptions. A contact
whose signal differs from the status in the snapshot has its status read from
Communication Preferences before anything is recorded; the intent goes through
the write-back outbox, and once Workways took it the snapshot holds the status
(and the mirror checkbox, updated in HubSpot), so nothing echoes back."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from syncworker.consent import (
    CONSENT_KEY,
    NOT_SPECIFIED,
    OPTIN_PROPERTY,
    OPTOUT_ALL_PROPERTY,
    SUBSCRIBED,
    UNSUBSCRIBED,
    optout_property,
)
from syncworker.consent.audit import TO_WORKWAYS, ConsentAudit, Decision
from syncworker.consent.subscription import Subscription
from syncworker.consent.sync import status_of, wide_unsubscribed
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.store.snapshots import Snapshot
from syncworker.writeback.outbox import Outbox

log = logging.getLogger(__name__)


def signalled(props: Mapping[str, Any], subscription_id: str) -> str:
    """The status HubSpot's per-type contact properties suggest."""
    if str(props.get(OPTOUT_ALL_PROPERTY) or "").lower() == "true":
        return UNSUBSCRIBED
    flag = str(props.get(optout_property(subscription_id)) or "").lower()
    return {"true": UNSUBSCRIBED, "false": SUBSCRIBED}.get(flag, NOT_SPECIFIED)


class ConsentWatch:
    def __init__(
        self, gateway: HubSpotGateway, audit: ConsentAudit, subscription: Subscription
    ) -> None:
        self.gateway = gateway
        self.audit = audit
        self.subscription = subscription

    def properties(self) -> list[str]:
        return [optout_property(self.subscription.id), OPTOUT_ALL_PROPERTY, "email"]

    def examine(
        self,
        stream: str,
        found: Mapping[str, tuple[str, Mapping[str, Any], Snapshot]],
        outbox: Outbox,
    ) -> int:
        """``found``: HubSpot id → (source id, properties, snapshot). Records an
        intent for each contact whose status HubSpot changed; returns how many."""
        sub = self.subscription.id
        candidates = {
            hubspot_id: (source_id, str(props.get("email") or ""), snapshot)
            for hubspot_id, (source_id, props, snapshot) in found.items()
            if CONSENT_KEY in snapshot.properties
            and signalled(props, sub) != snapshot.properties[CONSENT_KEY]
            and props.get("email")
        }
        if not candidates:
            return 0
        emails = [email for _, email, _ in candidates.values()]
        statuses = self.gateway.consent_statuses(emails)
        wide = self.gateway.consent_wide_statuses(emails)
        intents = 0
        for hubspot_id, (source_id, email, snapshot) in sorted(candidates.items()):
            before = snapshot.properties[CONSENT_KEY]
            if wide_unsubscribed(wide.get(email.lower(), [])):
                now = UNSUBSCRIBED
            else:
                current = status_of(statuses.get(email.lower(), []), sub) or {}
                now = str(current.get("status") or NOT_SPECIFIED)
            if now in (before, NOT_SPECIFIED):
                continue
            outbox.record(
                stream=stream,
                source_id=source_id,
                hubspot_id=hubspot_id,
                prop=CONSENT_KEY,
                parameter="optin",
                value="true" if now == SUBSCRIBED else "false",
            )
            intents += 1
        return intents

    def delivered(
        self, stream: str, source_id: str, hubspot_id: str, value: str, before: str, trigger: str
    ) -> dict[str, str]:
        """Workways took ``value``: the mirror checkbox follows in HubSpot, the audit
        records it; the snapshot values that now hold."""
        status = SUBSCRIBED if value == "true" else UNSUBSCRIBED
        values = {CONSENT_KEY: status}
        outcome = self.gateway.update_by_id("contacts", [(hubspot_id, {OPTIN_PROPERTY: value})])
        if (found := outcome.get(hubspot_id)) is not None and found.ok:
            values[OPTIN_PROPERTY] = value
        self.audit.record(
            [
                Decision(
                    TO_WORKWAYS,
                    "opted-in" if value == "true" else "opted-out",
                    stream,
                    source_id,
                    hubspot_id,
                    self.subscription.id,
                    before or NOT_SPECIFIED,
                    status,
                    None,
                    f"write-back ({trigger})",
                )
            ]
        )
        return values
