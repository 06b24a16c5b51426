"""The HubSpot webhook receiver, over real HTTP, real PostgreSQL and real Redis.

Time is injected (``clock_ms``): nothing here sleeps.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from syncworker_sandbox.server import ServerThread

from syncworker.config import Secret
from syncworker.store.database import make_engine, session_factory
from syncworker.store.models import WebhookEvent
from syncworker.webhooks import (
    EventFormatError,
    MemoryReplayGuard,
    RedisReplayGuard,
    ReplayGuard,
    ReplayStoreError,
    SignatureError,
    WebhookEventStore,
    parse_events,
    sign_v3,
    verify_v3,
)
from syncworker.webhooks.app import build_app
from syncworker.webhooks.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, normalize_uri

SECRET = Secret("hs-test-client-secret-5f1c")
NOW = 1_700_000_000_000
PATH = "/webhooks/hubspot"
URI = "https://hooks.example.com/webhooks/hubspot"


def event(n: int = 1, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "eventId": 100 + n,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": NOW - 1_000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 5000 + n,
        "propertyName": "email",
        "propertyValue": f"person{n}@example.com",
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not ...}


def body_of(*items: Any) -> bytes:
    return json.dumps(list(items)).encode()


def unreachable_redis() -> redis.Redis[bytes]:
    return redis.Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


# ------------------------------------------------------------------ verify_v3


def verify(body: bytes = b"[]", **kw: Any) -> None:
    args: dict[str, Any] = {
        "method": "POST",
        "uri": URI,
        "body": body,
        "timestamp": str(NOW),
        "secret": SECRET,
        "now_ms": NOW,
    }
    args.update(kw)
    if "signature" not in kw:
        args["signature"] = sign_v3("POST", URI, body, NOW, SECRET)
    verify_v3(**args)


def test_verify_v3_accepts_a_correct_signature() -> None:
    verify(body_of(event()))


def test_sign_v3_matches_an_independent_computation() -> None:
    import base64
    import hashlib
    import hmac

    body = body_of(event(), event(2, subscriptionType="company.creation"))
    message = b"POST" + URI.encode() + body + str(NOW).encode()
    expected = base64.b64encode(
        hmac.new(b"hs-test-client-secret-5f1c", message, hashlib.sha256).digest()
    )
    assert sign_v3("POST", URI, body, NOW, SECRET) == expected.decode()
    verify_v3(
        method="POST", uri=URI, body=body, timestamp=str(NOW), signature=expected.decode(),
        secret=SECRET, now_ms=NOW,
    )  # fmt: skip


def test_uri_escapes_are_decoded_before_signing() -> None:
    encoded = "https://h.example.com/hook%3Fx?a=b%3Ac%2Fd%40e%21%24%27%28%29%2A%2C%3B&f=%20"
    decoded = "https://h.example.com/hook?x?a=b:c/d@e!$'()*,;&f=%20"
    assert normalize_uri(encoded) == decoded
    assert normalize_uri(encoded.lower()) == decoded.lower()
    signature = sign_v3("POST", decoded, b"[]", NOW, SECRET)
    verify(uri=encoded, signature=signature)
    verify(uri=decoded, signature=signature)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"signature": None}, "signature header missing"),
        ({"signature": ""}, "signature header missing"),
        ({"timestamp": None}, "timestamp header missing"),
        ({"timestamp": ""}, "timestamp header missing"),
        ({"timestamp": "abc"}, "timestamp is not epoch milliseconds"),
        ({"timestamp": "-1"}, "timestamp is not epoch milliseconds"),
        ({"timestamp": "1.7e12"}, "timestamp is not epoch milliseconds"),
        ({"timestamp": " 1700000000000"}, "timestamp is not epoch milliseconds"),
        ({"timestamp": "１７００"}, "timestamp is not epoch milliseconds"),
        ({"timestamp": "9" * 40}, "timestamp is not epoch milliseconds"),
        ({"now_ms": NOW + 300_001}, "timestamp outside the allowed window"),
        ({"now_ms": NOW - 300_001}, "timestamp outside the allowed window"),
        ({"signature": "é" * 44}, "signature malformed"),
        ({"signature": "A" * 300}, "signature malformed"),
        ({"signature": "bm90IHRoZSByaWdodCBzaWduYXR1cmUgYXQgYWxsIQ=="}, "signature mismatch"),
        ({"secret": Secret("another-secret")}, "signature mismatch"),
        ({"secret": Secret("")}, "no client secret configured"),
        ({"method": "PUT"}, "signature mismatch"),
        ({"uri": URI + "?x=1"}, "signature mismatch"),
        (
            {"body": b"[ ]", "signature": sign_v3("POST", URI, b"[]", NOW, SECRET)},
            "signature mismatch",
        ),
        ({"body": b"\xff\xfe", "signature": "x"}, "body is not UTF-8"),
    ],
)
def test_verify_v3_refuses(changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(SignatureError) as caught:
        verify(**changes)
    assert caught.value.reason == reason
    assert SECRET.reveal() not in str(caught.value)


def test_window_is_five_minutes_each_way() -> None:
    """(The old SDK's check was one-sided: a timestamp in the future passed.)"""
    verify(now_ms=NOW + 300_000)
    verify(now_ms=NOW - 300_000)
    future = NOW + 3_600_000
    signature = sign_v3("POST", URI, b"[]", future, SECRET)
    with pytest.raises(SignatureError, match="window"):
        verify(timestamp=str(future), signature=signature, now_ms=future - 3_600_000)


# --------------------------------------------------------------- replay guards


def test_memory_replay_guard_expires_and_stays_bounded() -> None:
    now = [0.0]
    guard = MemoryReplayGuard(clock=lambda: now[0], max_entries=3)
    assert guard.first_time("a", 10)
    assert not guard.first_time("a", 10)
    now[0] = 9.9
    assert not guard.first_time("a", 10)
    now[0] = 10.0
    assert guard.first_time("a", 10)
    for name in "bcd":
        assert guard.first_time(name, 100)
    assert len(guard) == 3  # "a" (oldest) was forgotten to make room
    assert not guard.first_time("d", 100)
    guard.release("d")
    assert guard.first_time("d", 100)


def test_redis_replay_guard(redis_client: redis.Redis[bytes]) -> None:
    guard = RedisReplayGuard(redis_client)
    signature = sign_v3("POST", URI, b"[]", NOW, SECRET)
    assert guard.first_time(signature, 600)
    assert not guard.first_time(signature, 600)
    keys = redis_client.keys("*")
    assert len(keys) == 1 and signature.encode() not in keys[0]
    assert 590 <= redis_client.ttl(keys[0]) <= 600
    guard.release(signature)
    assert guard.first_time(signature, 600)


def test_redis_replay_guard_unreachable_raises_replay_store_error() -> None:
    client: redis.Redis[bytes] = unreachable_redis()
    with pytest.raises(ReplayStoreError):
        RedisReplayGuard(client).first_time("sig", 600)
    RedisReplayGuard(client).release("sig")  # never raises


# ------------------------------------------------------------ parsing, storage


def test_parse_events_accepts_both_names_and_numeric_strings() -> None:
    old = {"eventType": "company.creation", "objectId": "0042"}
    deal = event(3, subscriptionType="deal.creation")
    parsed = parse_events(body_of(event(), old, deal))
    assert [p.object_type for p in parsed] == ["contacts", "companies", None]
    assert [p.object_id for p in parsed] == ["5001", "42", "5003"]
    assert parsed[0].event_id == "101" and parsed[0].occurred_at == NOW - 1_000
    assert parsed[0].property_value == "person1@example.com"
    assert parsed[0].portal_id == 62515 and parsed[0].attempt_number == 0
    assert parsed[1].subscription_type == "company.creation" and parsed[1].raw == old


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"objectId": 1}',
        b"[1, 2]",
        b'[["contact.creation"]]',
        b"[null]",
        b'[{"subscriptionType": "contact.creation"}]',
        b'[{"subscriptionType": "contact.creation", "objectId": null}]',
        b'[{"objectId": 1}]',
        b'[{"subscriptionType": "contact", "objectId": 1}]',
        b'[{"subscriptionType": 5, "objectId": 1}]',
        b'[{"subscriptionType": "contact.creation", "objectId": true}]',
        b'[{"subscriptionType": "contact.creation", "objectId": -3}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1.5}]',
        b'[{"subscriptionType": "contact.creation", "objectId": "12a"}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1e400}]',
        b'[{"subscriptionType": "contact.creation", "objectId": NaN}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": -1}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": 1e30}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1, "eventId": {}}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1, "propertyValue": []}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1, "propertyName": "\\u0000"}]',
        b'[{"subscriptionType": "contact.creation", "objectId": 1, "x": "\\ud800"}]',
        json.dumps([event(propertyName="p" * 129)]).encode(),
        json.dumps([event(occurredAt=2**63)]).encode(),
        json.dumps([event(objectId=10**21)]).encode(),
        b"[" * 50_000 + b"]" * 50_000,
        json.dumps([[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]).encode(),
        json.dumps([event(n) for n in range(1_001)]).encode(),
        b"\xef\xbb\xbf[]",
        "[]".encode("utf-16"),
    ],
)
def test_parse_events_refuses(body: bytes) -> None:
    with pytest.raises(EventFormatError):
        parse_events(body)


def test_store_add_pending_get_mark(sessions: sessionmaker[Session]) -> None:
    store = WebhookEventStore(sessions)
    parsed = parse_events(body_of(event(1), event(2, subscriptionType="ticket.creation"), event(3)))
    ids = store.add(parsed)
    assert len(ids) == 2 and ids == sorted(ids)
    rows = store.get([*reversed(ids), ids[0], 999_999_999])
    assert [r.id for r in rows] == ids
    assert rows[0].raw == event(1, propertyValue=...) and rows[0].object_type == "contacts"
    assert rows[0].subscription_type == "contact.propertyChange" and rows[0].object_id == "5001"
    assert [r.id for r in store.pending(10)] == ids
    assert store.mark_processed([ids[0]]) == 1
    assert store.mark_processed([ids[0]]) == 0
    assert [r.id for r in store.pending(10)] == [ids[1]]
    assert store.add([]) == []


def test_stored_raw_keeps_ids_type_and_property_but_no_value(
    sessions: sessionmaker[Session],
) -> None:
    store = WebhookEventStore(sessions)
    merge = {
        "subscriptionType": "object.propertyChange",
        "objectTypeId": "0-1",
        "objectId": 9,
        "propertyName": "phone",
        "propertyValue": "+30 210 555 0100",
        "newValue": "secret",
        "mergedObjectIds": [7, 8],
        "extra": {"oldValue": "x", "kept": 1},
    }
    parsed = parse_events(body_of(event(1), merge))
    assert parsed[0].property_value == "person1@example.com"  # parsed, not stored
    rows = store.get(store.add(parsed))
    assert rows[0].raw == {
        "eventId": 101,
        "subscriptionId": 7,
        "portalId": 62515,
        "appId": 1160452,
        "occurredAt": NOW - 1_000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 5001,
        "propertyName": "email",
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
    }
    assert rows[1].raw == {
        "subscriptionType": "object.propertyChange",
        "objectTypeId": "0-1",
        "objectId": 9,
        "propertyName": "phone",
        "mergedObjectIds": [7, 8],
        "extra": {"kept": 1},
    }
    assert "person1@example.com" not in json.dumps([r.raw for r in rows])


# ------------------------------------------------------------------ over HTTP


@dataclass
class Receiver:
    url: str
    http: httpx.Client
    store: WebhookEventStore
    sessions: sessionmaker[Session]
    clock: list[int]
    dispatched: list[list[int]] = field(default_factory=list)

    def post(
        self,
        body: bytes,
        *,
        timestamp: int | str | None = None,
        sign_uri: str | None = None,
        secret: Secret = SECRET,
        query: str = "",
        headers: dict[str, Any] | None = None,
    ) -> httpx.Response:
        target = f"{self.url}{PATH}" + (f"?{query}" if query else "")
        ts = str(self.clock[0] if timestamp is None else timestamp)
        sent = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_v3("POST", sign_uri or target, body, ts, secret),
            TIMESTAMP_HEADER: ts,
        }
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        return self.http.post(target, content=body, headers=sent)

    def count(self) -> int:
        with self.sessions() as session:
            return int(session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


MakeReceiver = Callable[..., Receiver]


@pytest.fixture
def make_receiver(
    sessions: sessionmaker[Session], redis_client: redis.Redis[bytes]
) -> Iterator[MakeReceiver]:
    with ExitStack() as stack:

        def make(
            *,
            public_url: str | None = None,
            dispatch: Callable[[list[int]], None] | None = None,
            replay: ReplayGuard | None = None,
            events: WebhookEventStore | None = None,
        ) -> Receiver:
            clock = [NOW]
            store = events or WebhookEventStore(sessions)
            dispatched: list[list[int]] = []
            app = build_app(
                secret=SECRET,
                public_url=public_url,
                events=store,
                dispatch=dispatch or dispatched.append,
                replay=replay or RedisReplayGuard(redis_client),
                clock_ms=lambda: clock[0],
            )
            server = stack.enter_context(ServerThread(app))
            http = stack.enter_context(httpx.Client(timeout=10))
            return Receiver(server.url, http, store, sessions, clock, dispatched)

        yield make


@pytest.fixture
def receiver(make_receiver: MakeReceiver) -> Receiver:
    return make_receiver()


def test_signed_delivery_is_stored_then_dispatched(receiver: Receiver) -> None:
    items = [
        event(1),
        event(2, subscriptionType="company.propertyChange", propertyName="name"),
        event(3, subscriptionType="deal.creation"),
        event(4, subscriptionType=..., eventType="contact.creation", objectId="77"),
    ]
    response = receiver.post(body_of(*items))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 4, "stored": 3}
    assert len(receiver.dispatched) == 1
    ids = receiver.dispatched[0]
    rows = receiver.store.get(ids)
    assert [r.id for r in rows] == ids
    assert [r.object_type for r in rows] == ["contacts", "companies", "contacts"]
    assert [r.object_id for r in rows] == ["5001", "5002", "77"]
    assert [r.raw for r in rows] == [
        event(1, propertyValue=...),
        event(2, subscriptionType="company.propertyChange", propertyName="name", propertyValue=...),
        event(
            4, subscriptionType=..., eventType="contact.creation", objectId="77", propertyValue=...
        ),
    ]
    assert receiver.count() == 3


def test_healthz_and_routing(receiver: Receiver) -> None:
    assert receiver.http.get(f"{receiver.url}/healthz").status_code == 200
    assert receiver.http.get(f"{receiver.url}{PATH}").status_code == 405
    assert receiver.http.put(f"{receiver.url}{PATH}", content=b"[]").status_code == 405
    assert receiver.http.post(f"{receiver.url}/elsewhere", content=b"[]").status_code == 404


BAD_DELIVERIES: list[tuple[str, dict[str, Any], int]] = [
    ("bad signature", {"secret": Secret("not-the-secret")}, 401),
    ("stale timestamp", {"timestamp": NOW - 300_001}, 401),
    ("future timestamp", {"timestamp": NOW + 300_001}, 401),
    ("no signature header", {"headers": {SIGNATURE_HEADER: None}}, 401),
    ("no timestamp header", {"headers": {TIMESTAMP_HEADER: None}}, 401),
    ("non-numeric timestamp", {"timestamp": "yesterday"}, 401),
    ("non-JSON body", {"body": b"objectId=1"}, 400),
    ("not an array", {"body": json.dumps(event()).encode()}, 400),
    ("array of non-objects", {"body": b'[1, "contact.creation", null]'}, 400),
    ("objectId missing", {"body": body_of(event(1), event(2, objectId=...))}, 400),
    ("subscriptionType missing", {"body": body_of(event(1, subscriptionType=...))}, 400),
    ("NUL in a value", {"body": body_of(event(1, propertyValue="a\x00b"))}, 400),
]


@pytest.mark.parametrize(
    ("changes", "status"), [c[1:] for c in BAD_DELIVERIES], ids=[c[0] for c in BAD_DELIVERIES]
)
def test_bad_deliveries_store_and_dispatch_nothing(
    receiver: Receiver, changes: dict[str, Any], status: int
) -> None:
    changes = dict(changes)
    body = changes.pop("body", body_of(event(1), event(2)))
    response = receiver.post(body, **changes)
    assert response.status_code == status
    assert "error" in response.json()
    assert receiver.count() == 0 and receiver.dispatched == []


def test_replayed_signature_is_refused(receiver: Receiver) -> None:
    body = body_of(event(1))
    assert receiver.post(body).status_code == 200
    receiver.clock[0] += 60_000  # still inside the window
    assert receiver.post(body, timestamp=NOW).status_code == 401
    assert receiver.count() == 1 and len(receiver.dispatched) == 1
    # HubSpot's own retry carries a new timestamp, hence a new signature
    assert receiver.post(body).status_code == 200
    assert receiver.count() == 2


def test_proxy_deployment_verifies_against_the_public_url(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver(public_url="https://hooks.example.com/sync/")
    public = "https://hooks.example.com/sync/webhooks/hubspot"
    assert receiver.post(body_of(event(1)), sign_uri=public).status_code == 200
    response = receiver.post(
        body_of(event(2)), query="portal=1%3A2", sign_uri=f"{public}?portal=1:2"
    )
    assert response.status_code == 200
    assert receiver.post(body_of(event(3))).status_code == 401  # signed over the internal URL
    assert receiver.count() == 2


def test_direct_deployment_signs_the_request_url_with_query(receiver: Receiver) -> None:
    own = f"{receiver.url}{PATH}?a=b:c"
    assert receiver.post(body_of(event(1)), query="a=b%3Ac", sign_uri=own).status_code == 200
    assert receiver.post(body_of(event(2)), sign_uri=URI).status_code == 401


def test_dispatch_failure_still_answers_200_with_events_stored(
    make_receiver: MakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ids: list[int]) -> None:
        raise ConnectionError("broker down")

    receiver = make_receiver(dispatch=broken)
    with caplog.at_level(logging.WARNING, logger="syncworker.webhooks"):
        response = receiver.post(body_of(event(1), event(2)))
    assert response.status_code == 200 and response.json()["stored"] == 2
    assert len(receiver.store.pending(10)) == 2
    assert any("not dispatched" in r.getMessage() for r in caplog.records)


def test_shuffled_and_duplicate_events_are_all_stored(receiver: Receiver) -> None:
    items = [event(n % 4, occurredAt=NOW - n) for n in range(12)] + [event(1)] * 3
    random.Random(5).shuffle(items)
    response = receiver.post(body_of(*items))
    assert response.json() == {"received": 15, "stored": 15}
    rows = receiver.store.get(receiver.dispatched[0])
    assert [r.raw for r in rows] == [
        {k: v for k, v in i.items() if k != "propertyValue"} for i in items
    ]


def test_oversized_bodies_get_413(receiver: Receiver) -> None:
    big = b"[" + b" " * 1_000_001 + b"]"
    assert receiver.post(big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 100_000

    response = receiver.http.post(f"{receiver.url}{PATH}", content=chunks())
    assert response.status_code == 413
    assert receiver.count() == 0


def test_storage_down_gives_503_and_frees_the_signature(make_receiver: MakeReceiver) -> None:
    engine = make_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
    )
    guard = MemoryReplayGuard()
    receiver = make_receiver(events=WebhookEventStore(session_factory(engine)), replay=guard)
    body = body_of(event(1))
    response = receiver.post(body)
    assert response.status_code == 503
    assert receiver.dispatched == []
    signature = sign_v3("POST", f"{receiver.url}{PATH}", body, NOW, SECRET)
    assert guard.first_time(signature, 600)  # released: HubSpot's retry is not a replay
    engine.dispose()


class FailingStore(WebhookEventStore):
    def __init__(self, sessions: sessionmaker[Session], error: Exception) -> None:
        super().__init__(sessions)
        self.error = error

    def add(self, events: Any) -> list[int]:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DataError("INSERT", {}, Exception("value out of range")), 400),
        (OperationalError("INSERT", {}, Exception("server closed the connection")), 503),
        (RuntimeError("unexpected"), 503),
    ],
)
def test_store_errors_map_to_400_or_503(
    make_receiver: MakeReceiver, sessions: sessionmaker[Session], error: Exception, status: int
) -> None:
    receiver = make_receiver(events=FailingStore(sessions, error))
    response = receiver.post(body_of(event(1)))
    assert response.status_code == status and "error" in response.json()
    assert receiver.dispatched == []


def test_replay_store_down_gives_503(make_receiver: MakeReceiver) -> None:
    client: redis.Redis[bytes] = unreachable_redis()
    receiver = make_receiver(replay=RedisReplayGuard(client))
    assert receiver.post(body_of(event(1))).status_code == 503
    assert receiver.count() == 0


def test_logs_carry_no_body_value_signature_or_secret(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    value = "jane.doe.4471@example.com"
    good = body_of(event(1, propertyValue=value))
    bad = body_of(event(1, propertyValue=value, objectId="x" + value))
    with caplog.at_level(logging.DEBUG):
        receiver.post(good)
        receiver.post(bad)
        receiver.post(good, secret=Secret("wrong-secret"))
        receiver.post(good, timestamp=NOW - 10**9)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "webhook" in text
    for leak in (value, SECRET.reveal(), "propertyValue", sign_v3("POST", URI, good, NOW, SECRET)):
        assert leak not in text


def _random_json(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["int", "str", "float", "bool", "null"] + (["list", "dict"] * 2 if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice([0, -1, 1, 2**63, 10**25, rng.randint(-(10**6), 10**12)])
    if kind == "str":
        return rng.choice(
            ["", "contact.creation", "company.x", "deal.y", "12", "é\u2028", "a" * 300]
        )
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e-300, 3.0])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["objectId", "subscriptionType", "eventType", "eventId", "occurredAt", "propertyName",
            "propertyValue", "attemptNumber", "portalId", "x"]  # fmt: skip
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randint(0, 6))}


ODD_BODIES = [
    b"", b"[", b"]", b"null", b"[]", b"[{}]", b"\xff\xfe\x00", b"\xef\xbb\xbf[]", b"[NaN]",
    b"[" * 100_000, b"[" * 3_000 + b"]" * 3_000, b'[{"objectId": 1e999}]', b"9" * 10_000,
    b'[{"subscriptionType":"contact.creation","objectId":1,"propertyName":"\\ud800"}]',
    b'[{"subscriptionType":"contact.creation","objectId":1,"raw":"\\u0000"}]',
    b'[{"subscriptionType":"contact.creation","objectId":"1","eventId":"' + b"e" * 65 + b'"}]',
    b'[{"subscriptionType":"company.creation","objectId":"99999999999999999999"}]',
    b'[{"subscriptionType":"company.creation","objectId":1,"occurredAt":"99999999999999999999"}]',
]  # fmt: skip


def test_fuzz_never_answers_5xx(receiver: Receiver) -> None:
    rng = random.Random(20_240_611)
    statuses: list[int] = []
    stored = 0
    for i in range(220):
        receiver.clock[0] = NOW + i
        roll = rng.random()
        if roll < 0.3:
            body = rng.choice(ODD_BODIES)
        elif roll < 0.5:
            body = rng.randbytes(rng.randint(0, 300))
        elif roll < 0.7:
            body = json.dumps(_random_json(rng)).encode()
        else:
            items = [event(rng.randint(0, 9)) for _ in range(rng.randint(0, 5))]
            for item in items:
                if rng.random() < 0.4:
                    item[rng.choice(list(item))] = _random_json(rng, 2)
            body = json.dumps(items).encode()
        headers: dict[str, Any] = {}
        if rng.random() < 0.3:
            headers[TIMESTAMP_HEADER] = rng.choice(
                [b"", b"-1", b"1e12", b"\xff\xfe", b"9" * 50, b"1 2", b"+1", str(NOW + i).encode()]
            )
        if rng.random() < 0.2:
            headers[SIGNATURE_HEADER] = rng.choice(
                [b"", b"=", b"\xe9" * 44, rng.randbytes(8).hex().encode()]
            )
        if rng.random() < 0.1:
            headers["Content-Type"] = rng.choice(
                ["text/plain", "application/x-www-form-urlencoded"]
            )
        response = receiver.post(body, headers=headers, query=rng.choice(["", "a=1", "x=%3A%ff"]))
        statuses.append(response.status_code)
        assert response.status_code < 500, (i, body[:200], headers, response.text)
        if response.status_code == 200:
            stored += response.json()["stored"]
        else:
            assert "error" in response.json()
    assert receiver.count() == stored
    assert {200, 400, 401} <= set(statuses)
