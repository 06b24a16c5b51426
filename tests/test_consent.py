"""Newsletter consent as HubSpot's subscription status (issue 20), on PostgreSQL
and the sandboxes: Workways → HubSpot, the re-subscribe rules, the write-back
and the audit. Expected statuses follow the rules in the issue, by hand."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from syncworker_sandbox import SANDBOX_HUBSPOT_CLIENT_SECRET
from syncworker_sandbox.server import ServerThread

from syncworker.config import Secret, Settings
from syncworker.consent import (
    CONSENT_KEY,
    NOT_SPECIFIED,
    SUBSCRIBED,
    UNSUBSCRIBED,
    optout_property,
)
from syncworker.consent.audit import ConsentAudit
from syncworker.consent.subscription import Subscription, resolve_subscription
from syncworker.consent.sync import ConsentSync
from syncworker.consent.writeback import ConsentWatch
from syncworker.errors import ConfigError
from syncworker.normalise import Kind, normalise
from syncworker.sources.workways.streams import WORKWAYS_USERS
from syncworker.webhooks.app import DEFAULT_PATH, build_app
from syncworker.webhooks.events import WebhookEventStore
from syncworker.webhooks.replay import MemoryReplayGuard
from syncworker.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_v3
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.service import WritebackService
from tests.checks import hubspot_by_key
from tests.conftest import Wired

NEWSLETTER = Subscription("101", "Newsletter")  # the sandbox's seeded type


def consent_sync(wired: Wired, resubscribe: str = "never") -> ConsentSync:
    return ConsentSync(
        wired.gateway,
        wired.store,
        Outbox(wired.store.sessions, retry_seconds=0.001),
        ConsentAudit(wired.store.sessions),
        NEWSLETTER,
        legal_basis="CONSENT_WITH_NOTICE",
        explanation="Opted in in Workways",
        resubscribe=resubscribe,
    )


def sync_users(wired: Wired, consent: ConsentSync) -> Any:
    return wired.sync_all(consent=consent)


def users(wired: Wired) -> list[dict[str, Any]]:
    return [u for u in wired.boxes.workways.users() if not u["isUserArchived"]]


def status(wired: Wired, email: str) -> str:
    """The sandbox's status of the contact Workways' address (as sent: normalised) names."""
    return wired.boxes.hubspot.store.consent.status(normalise(Kind.EMAIL, email), NEWSLETTER.id)


def consent_calls(wired: Wired, what: str = "") -> int:
    return wired.boxes.hubspot.count(path_contains=f"/communication-preferences/2026-09/{what}")


def consent_writes(wired: Wired) -> list[int | None]:
    return [
        e.batch_size
        for e in wired.boxes.hubspot.request_log
        if e.path.endswith("/statuses/batch/write")
    ]


# ------------------------------------------------------------ configuration
def test_settings_defaults_and_refusals() -> None:
    settings = Settings.from_env({})
    assert settings.newsletter_subscription is None
    assert settings.consent_legal_basis == "CONSENT_WITH_NOTICE"
    assert settings.consent_resubscribe == "never"
    assert "Workways" in settings.consent_explanation
    with pytest.raises(ConfigError) as bad:
        Settings.from_env({"HUBSPOT_CONSENT_LEGAL_BASIS": "BECAUSE"})
    assert bad.value.variable == "HUBSPOT_CONSENT_LEGAL_BASIS"
    with pytest.raises(ConfigError):
        Settings.from_env({"CONSENT_RESUBSCRIBE": "always"})


def test_subscription_found_by_name_or_id_and_refused_when_none_or_several(
    wired: Wired,
) -> None:
    assert resolve_subscription(wired.gateway, "newsletter") == NEWSLETTER
    assert resolve_subscription(wired.gateway, "101") == NEWSLETTER
    with pytest.raises(ConfigError, match="no subscription type has the name or id 'Digest'"):
        resolve_subscription(wired.gateway, "Digest")
    wired.boxes.hubspot.store.consent.add_subscription_type("Newsletter", "103")
    with pytest.raises(ConfigError, match="2 subscription types are named 'Newsletter'"):
        resolve_subscription(wired.gateway, "Newsletter")
    assert resolve_subscription(wired.gateway, "103").id == "103"


# ------------------------------------------------------- Workways → HubSpot
def test_initial_sync_sets_each_status_as_workways_says_then_unchanged_run_is_silent(
    wired: Wired,
) -> None:
    everyone = wired.boxes.workways.users()  # archived users' contacts too
    opted_in = [u for u in everyone if u["newsOptin"]]
    assert opted_in and len(opted_in) < len(everyone)
    # One person subscribed in HubSpot already, though never opted in in Workways.
    out = next(u for u in everyone if not u["newsOptin"])
    consent = consent_sync(wired)
    sync_users(wired, consent)
    for user in everyone:
        assert status(wired, user["email"]) == (
            SUBSCRIBED if user["newsOptin"] else NOT_SPECIFIED
        ), user["_id"]
    writes = consent_writes(wired)
    assert sum(n or 0 for n in writes) == len(opted_in)  # only the opted-in were written
    assert all((n or 0) <= 100 for n in writes) and len(writes) < len(opted_in)
    snap = wired.store.load(WORKWAYS_USERS.name, [out["_id"], opted_in[0]["_id"]])
    assert snap[out["_id"]].properties[CONSENT_KEY] == NOT_SPECIFIED
    assert snap[opted_in[0]["_id"]].properties[CONSENT_KEY] == SUBSCRIBED

    wired.boxes.hubspot.clear_log()
    sync_users(wired, consent)
    assert consent_calls(wired) == 0


def test_false_while_subscribed_in_hubspot_is_unsubscribed_from_that_type_only(
    wired: Wired,
) -> None:
    out = next(u for u in users(wired) if not u["newsOptin"])
    hub = wired.boxes.hubspot.store.consent
    email = normalise(Kind.EMAIL, out["email"])
    hub.set(email, "101", SUBSCRIBED, "API")
    hub.set(email, "102", SUBSCRIBED, "API")
    sync_users(wired, consent_sync(wired))
    assert status(wired, email) == UNSUBSCRIBED
    assert hub.status(email, "102") == SUBSCRIBED  # never from all e-mail
    assert email not in hub.opted_out_all


def test_twenty_optin_changes_cost_batched_consent_writes(wired: Wired) -> None:
    consent = consent_sync(wired)
    sync_users(wired, consent)
    flipped = users(wired)[:20]
    for user in flipped:
        wired.boxes.workways.update_user(user["_id"], newsOptin=not user["newsOptin"])
    wired.boxes.hubspot.clear_log()
    sync_users(wired, consent)
    assert consent_writes(wired) != [] and sum(n or 0 for n in consent_writes(wired)) >= 1
    assert len(consent_writes(wired)) == 1  # one batch for all of them
    assert consent_calls(wired, "statuses/batch/read") == 1
    for user in flipped:
        # opted in now → subscribed; opted out now → unsubscribed (was subscribed),
        # or still not specified (never was).
        expected = SUBSCRIBED if not user["newsOptin"] else UNSUBSCRIBED
        assert status(wired, user["email"]) == expected, user["_id"]


# ------------------------------------------------------- HubSpot → Workways
def writeback(wired: Wired, consent: ConsentSync) -> WritebackService:
    watch = ConsentWatch(wired.gateway, consent.audit, NEWSLETTER)
    return WritebackService(
        wired.store, consent.outbox, wired.gateway, wired.workways, consent=watch
    )


def test_ten_email_link_unsubscribes_reach_workways_and_nothing_echoes(wired: Wired) -> None:
    consent = consent_sync(wired)
    sync_users(wired, consent)
    subscribed = [u for u in users(wired) if u["newsOptin"]]
    leaving = subscribed[:10]
    for user in leaving:
        wired.boxes.hubspot.store.consent.unsubscribe_by_link(
            normalise(Kind.EMAIL, user["email"]), NEWSLETTER.id
        )
    result = writeback(wired, consent).poll()
    assert result.written == 10
    was_in = {u["_id"] for u in subscribed}
    now_out = {u["_id"] for u in wired.boxes.workways.users() if not u["newsOptin"]}
    assert now_out & was_in == {u["_id"] for u in leaving}
    for user in leaving:
        assert status(wired, user["email"]) == UNSUBSCRIBED
    wired.boxes.hubspot.clear_log()
    sync_users(wired, consent)
    assert consent_calls(wired) == 0
    assert wired.boxes.hubspot.count(method="POST", path_contains="/batch/upsert") == 0
    assert wired.boxes.hubspot.count(method="POST", path_contains="/batch/update") == 0
    log = ConsentAudit(wired.store.sessions).listing(leaving[0]["_id"])
    assert [(e.direction, e.old_status, e.new_status) for e in log] == [
        ("to-workways", SUBSCRIBED, UNSUBSCRIBED),
        ("to-hubspot", NOT_SPECIFIED, SUBSCRIBED),
    ]


def test_subscribing_in_hubspot_opts_in_in_workways(wired: Wired) -> None:
    consent = consent_sync(wired)
    sync_users(wired, consent)
    user = next(u for u in users(wired) if not u["newsOptin"])
    wired.boxes.hubspot.store.consent.subscribe_in_preferences(
        normalise(Kind.EMAIL, user["email"]), NEWSLETTER.id
    )
    assert writeback(wired, consent).poll().written == 1
    assert wired.boxes.workways.get_user(user["_id"])["newsOptin"] is True


# ------------------------------------------------------ re-subscribe rules
def _unsubscribed_then_opted_in_again(
    wired: Wired, consent: ConsentSync, *, all_email: bool, newer: bool
) -> dict[str, Any]:
    sync_users(wired, consent)
    user = next(u for u in users(wired) if not u["newsOptin"])
    email = normalise(Kind.EMAIL, user["email"])
    hub = wired.boxes.hubspot.store.consent
    if all_email:
        hub.unsubscribe_all_by_link(email)
    else:
        hub.unsubscribe_by_link(email, NEWSLETTER.id)
    # Workways opts the person in; dated after HubSpot's unsubscribe, or before it.
    day = "2099-01-01" if newer else "2000-01-01"
    wired.boxes.workways.update_user(user["_id"], newsOptin=True, updatedAt=day)
    sync_users(wired, consent)
    return user


@pytest.mark.parametrize("rule", ["never", "workways-newer"])
def test_unsubscribed_in_hubspot_is_not_resubscribed_unless_workways_is_newer(
    wired: Wired, rule: str
) -> None:
    consent = consent_sync(wired, rule)
    user = _unsubscribed_then_opted_in_again(wired, consent, all_email=False, newer=True)
    if rule == "never":
        assert status(wired, user["email"]) == UNSUBSCRIBED
        log = consent.audit.listing(user["_id"])
        assert log[0].action == "conflict" and log[0].direction == "none"
        # HubSpot's unsubscribe wins: it is written back to Workways.
        assert consent.outbox.open_for(WORKWAYS_USERS.name, [user["_id"]]) == {
            (user["_id"], CONSENT_KEY): "false"
        }
    else:
        assert status(wired, user["email"]) == SUBSCRIBED
        assert consent.audit.listing(user["_id"])[0].trigger.endswith("workways-newer re-subscribe")


def test_workways_older_than_the_unsubscribe_does_not_resubscribe(wired: Wired) -> None:
    consent = consent_sync(wired, "workways-newer")
    user = _unsubscribed_then_opted_in_again(wired, consent, all_email=False, newer=False)
    assert status(wired, user["email"]) == UNSUBSCRIBED


@pytest.mark.parametrize("rule", ["never", "workways-newer"])
def test_unsubscribed_from_all_is_never_resubscribed(wired: Wired, rule: str) -> None:
    consent = consent_sync(wired, rule)
    user = _unsubscribed_then_opted_in_again(wired, consent, all_email=True, newer=True)
    assert status(wired, user["email"]) == UNSUBSCRIBED
    assert normalise(Kind.EMAIL, user["email"]) in wired.boxes.hubspot.store.consent.opted_out_all
    log = consent.audit.listing(user["_id"])
    assert log[0].action == "conflict" and "all e-mail" in log[0].trigger


# ------------------------------------------------------------ webhook path
def test_a_signed_optout_event_through_the_receiver_opts_out_in_workways(wired: Wired) -> None:
    """HubSpot's event for the per-type property (``hs_email_optout_101``, subscribed
    as the README says), signed v3, through the receiver: stored, then written back."""
    consent = consent_sync(wired)
    sync_users(wired, consent)
    user = next(u for u in users(wired) if u["newsOptin"])
    email = normalise(Kind.EMAIL, user["email"])
    wired.boxes.hubspot.store.consent.unsubscribe_by_link(email, NEWSLETTER.id)
    contact = hubspot_by_key(wired.boxes, "contacts", "workways_user_id")[user["_id"]]
    now = 1_790_000_000_000
    body = json.dumps(
        [
            {
                "eventId": 5_001,
                "subscriptionId": 4_102,
                "portalId": 24_300_000,
                "appId": 9_001,
                "attemptNumber": 0,
                "occurredAt": now - 1_000,
                "subscriptionType": "object.propertyChange",
                "objectTypeId": "0-1",
                "objectId": int(contact["id"]),
                "propertyName": optout_property(NEWSLETTER.id),
                "propertyValue": "true",
            }
        ]
    ).encode()
    secret = Secret(SANDBOX_HUBSPOT_CLIENT_SECRET)
    public_url = "https://hooks.example.test"
    events = WebhookEventStore(wired.store.sessions)
    dispatched: list[list[int]] = []
    app = build_app(
        secret=secret,
        public_url=public_url,
        events=events,
        dispatch=dispatched.append,
        replay=MemoryReplayGuard(),
        clock_ms=lambda: now,
    )
    signature = sign_v3("POST", f"{public_url}{DEFAULT_PATH}", body, now, secret)
    with ServerThread(app) as server, httpx.Client(timeout=10) as http:
        answer = http.post(
            f"{server.url}{DEFAULT_PATH}",
            content=body,
            headers={SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: str(now)},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 1, "stored": 1}
    (ids,) = dispatched
    (row,) = events.get(ids)
    assert (row.object_type, row.object_id, row.property_name) == (
        "contacts",
        contact["id"],
        "hs_email_optout_101",
    )
    assert wired.boxes.workways.count(method="POST", path="/api/set-optin") == 0

    # what the dispatched task does (app.writeback.process_events), on the test's store
    result = writeback(wired, consent).run([(row.object_type, row.object_id)], "webhook")
    events.mark_processed(ids)

    assert (result.intents, result.written) == (1, 1)
    assert wired.boxes.workways.count(method="POST", path="/api/set-optin") == 1
    assert wired.boxes.workways.get_user(user["_id"])["newsOptin"] is False
    (latest, *_) = consent.audit.listing(user["_id"])
    assert (latest.direction, latest.action, latest.old_status, latest.new_status) == (
        "to-workways",
        "opted-out",
        SUBSCRIBED,
        UNSUBSCRIBED,
    )
    assert latest.trigger == "write-back (webhook)"
    # the same event delivered again writes nothing more (the snapshot holds the status)
    again = writeback(wired, consent).run([(row.object_type, row.object_id)], "webhook")
    assert (again.intents, again.written) == (0, 0)
    assert wired.boxes.workways.count(method="POST", path="/api/set-optin") == 1
