"""Issue 16, point 4: a developer-platform app's webhook delivery (``object.*``
events with object type ids, signed with v3) goes through the receiver to a
write-back; and the subscriptions file in deploy/ asks for what the write-back needs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from syncworker_sandbox import SANDBOX_HUBSPOT_CLIENT_SECRET
from syncworker_sandbox.server import ServerThread

from syncworker.config import Secret
from syncworker.sources.workways.streams import WORKWAYS_STREAMS
from syncworker.webhooks.app import DEFAULT_PATH, build_app
from syncworker.webhooks.events import EventFormatError, WebhookEventStore, parse_events
from syncworker.webhooks.replay import MemoryReplayGuard
from syncworker.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_v3
from tests.conftest import Wired
from tests.test_writeback import contact_of, service, wb, writes  # noqa: F401 (wb: fixture)

ROOT = Path(__file__).resolve().parents[1]
HSMETA = ROOT / "deploy" / "hubspot" / "webhooks" / "syncworker-hsmeta.json"
PUBLIC_URL = "https://hooks.example.test"
NOW = 1_790_000_000_000
SECRET = Secret(SANDBOX_HUBSPOT_CLIENT_SECRET)


def delivery(contact_id: str, optin: str) -> list[dict[str, Any]]:
    """What a developer-platform app with the deploy/ subscriptions sends (generic
    ``object.*`` events; the object type is in ``objectTypeId``)."""
    common = {"subscriptionId": 4_101, "portalId": 24_300_000, "appId": 9_001, "attemptNumber": 0}
    return [
        {
            **common,
            "eventId": 3_001,
            "occurredAt": NOW - 2_000,
            "subscriptionType": "object.propertyChange",
            "objectTypeId": "0-1",
            "objectId": int(contact_id),
            "propertyName": "workways_newsletter_optin",
            "propertyValue": optin,
            "changeSource": "CRM_UI",
            "sourceId": "userId:77",
            "isSensitive": False,
        },
        {  # a deal: parsed, not stored
            **common,
            "eventId": 3_002,
            "occurredAt": NOW - 1_000,
            "subscriptionType": "object.creation",
            "objectTypeId": "0-3",
            "objectId": 880_001,
            "changeSource": "CRM_UI",
        },
    ]


def test_a_signed_developer_platform_delivery_is_written_back(wb: Wired) -> None:  # noqa: F811
    user = next(u for u in wb.boxes.workways.users() if not u["isUserArchived"])
    contact = contact_of(wb, user["_id"])
    flipped = "false" if user["newsOptin"] else "true"
    wb.boxes.hubspot.store.edit_property(
        "contacts", contact["id"], "workways_newsletter_optin", flipped
    )
    events = WebhookEventStore(wb.store.sessions)
    dispatched: list[list[int]] = []
    app = build_app(
        secret=SECRET,
        public_url=PUBLIC_URL,
        events=events,
        dispatch=dispatched.append,
        replay=MemoryReplayGuard(),
        clock_ms=lambda: NOW,
    )
    body = json.dumps(delivery(contact["id"], flipped)).encode()
    signature = sign_v3("POST", f"{PUBLIC_URL}{DEFAULT_PATH}", body, NOW, SECRET)
    with ServerThread(app) as server, httpx.Client(timeout=10) as http:
        forged = http.post(
            f"{server.url}{DEFAULT_PATH}",
            content=body.replace(b"0-1", b"0-2"),
            headers={SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: str(NOW)},
        )
        answer = http.post(
            f"{server.url}{DEFAULT_PATH}",
            content=body,
            headers={SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: str(NOW)},
        )
    assert forged.status_code == 401  # the signature covers the body
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"received": 2, "stored": 1}
    (ids,) = dispatched
    (row,) = events.get(ids)
    assert (row.subscription_type, row.object_type, row.object_id) == (
        "object.propertyChange",
        "contacts",
        contact["id"],
    )

    # what the dispatched task does (app.writeback.process_events), on the test's store
    result = service(wb).run([(row.object_type, row.object_id)], trigger="webhook")
    events.mark_processed(ids)

    assert result.written == 1
    assert wb.boxes.workways.get_user(user["_id"])["newsOptin"] is (flipped == "true")
    assert writes(wb) == [("set-optin", user["_id"], {"optin": flipped == "true"})]


def test_both_event_shapes_name_the_same_objects() -> None:
    legacy = {"subscriptionType": "company.propertyChange", "objectId": 12}
    generic = {"subscriptionType": "object.propertyChange", "objectTypeId": "0-2", "objectId": 12}
    ticket = {"subscriptionType": "object.deletion", "objectTypeId": "0-5", "objectId": 13}
    parsed = parse_events(json.dumps([legacy, generic, ticket]).encode())
    assert [(e.object_type, e.object_id) for e in parsed] == [
        ("companies", "12"),
        ("companies", "12"),
        (None, "13"),
    ]


@pytest.mark.parametrize("type_id", [None, 1, "", "contacts", "0-1; DROP"])
def test_a_generic_event_needs_an_object_type_id(type_id: object) -> None:
    item: dict[str, object] = {"subscriptionType": "object.creation", "objectId": 5}
    if type_id is not None:
        item["objectTypeId"] = type_id
    with pytest.raises(EventFormatError, match="objectTypeId"):
        parse_events(json.dumps([item]).encode())


def test_the_subscriptions_file_asks_for_every_two_way_property_and_nothing_else() -> None:
    # and "unsubscribed from all e-mail" (the per-type hs_email_optout_<id> is the
    # operator's to add: its id is the portal's; see the README's Write-back)
    config = json.loads(HSMETA.read_text())
    assert config["type"] == "webhooks" and config["uid"]
    assert config["config"]["settings"]["targetUrl"].endswith(DEFAULT_PATH)
    subscribed = {
        (s["objectType"], s["propertyName"])
        for s in config["config"]["subscriptions"]["crmObjects"]
        if s["subscriptionType"] == "object.propertyChange" and s["active"]
    }
    assert subscribed == {
        ("contact", "workways_newsletter_optin"),
        ("contact", "hs_email_optout"),
        ("company", "workways_contract_start_date"),
        ("company", "workways_contract_end_date"),
        ("company", "workways_renewal_months"),
        ("company", "workways_base_price"),
        ("company", "workways_rental_comment"),
        ("company", "workways_rental_url"),
    }
    two_way = {f.target for s in WORKWAYS_STREAMS for f in s.mapping.writeback_fields()}
    assert {name for _, name in subscribed} == two_way | {"hs_email_optout"}
