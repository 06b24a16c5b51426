"""The HubSpot gateway against the HubSpot sandbox, over real HTTP."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from syncworker_sandbox import SANDBOX_HUBSPOT_TOKEN
from syncworker_sandbox.hubspot_app import HubSpotSandbox
from syncworker_sandbox.server import ServerThread

from syncworker.config import Secret
from syncworker.errors import (
    HubSpotAuthError,
    HubSpotConnectionError,
    HubSpotRateLimitError,
    HubSpotTimeoutError,
)
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.responses import UpsertRecord
from syncworker.hubspot.schema import SharedSchemaMemo, ensure_schema
from syncworker.mapping import custom_properties
from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING

SCHEMA = custom_properties(CONTACT_MAPPING, COMPANY_MAPPING)


@pytest.fixture
def hubspot() -> Iterator[tuple[HubSpotSandbox, str]]:
    sandbox = HubSpotSandbox()
    with ServerThread(sandbox.app) as server:
        yield sandbox, server.url


def gateway_for(url: str, **kw: object) -> HubSpotGateway:
    kw.setdefault("sleep", lambda seconds: None)  # backoff without waiting
    return HubSpotGateway(url, Secret(SANDBOX_HUBSPOT_TOKEN), **kw)  # type: ignore[arg-type]


def contacts(n: int, start: int = 0) -> list[UpsertRecord]:
    return [
        UpsertRecord(
            f"u{i:05d}",
            {
                "workways_user_id": f"u{i:05d}",
                "email": f"person{i}@example.com",
                "firstname": f"Person {i}",
                "workways_newsletter_optin": "true",
            },
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def ready(hubspot: tuple[HubSpotSandbox, str]) -> tuple[HubSpotSandbox, HubSpotGateway]:
    sandbox, url = hubspot
    gateway = gateway_for(url)
    ensure_schema(gateway, SCHEMA)
    sandbox.clear_log()
    return sandbox, gateway


def test_schema_is_created_once_with_unique_keys(hubspot: tuple[HubSpotSandbox, str]) -> None:
    sandbox, url = hubspot
    gateway = gateway_for(url)
    assert ensure_schema(gateway, SCHEMA) == len(SCHEMA)
    assert ensure_schema(gateway, SCHEMA) == 0
    definitions = sandbox.store.property_definitions("contacts")
    assert definitions["workways_user_id"]["hasUniqueValue"] is True
    assert definitions["workways_newsletter_optin"]["type"] == "bool"
    assert sandbox.store.property_definitions("companies")["workways_org_id"]["hasUniqueValue"]


def test_schema_costs_one_read_per_object_type_once_it_exists(
    hubspot: tuple[HubSpotSandbox, str],
) -> None:
    sandbox, url = hubspot
    gateway = gateway_for(url)
    ensure_schema(gateway, SCHEMA)
    sandbox.clear_log()
    assert ensure_schema(gateway, SCHEMA) == 0
    assert [(e.method, e.path) for e in sandbox.request_log] == [
        ("GET", "/crm/properties/2026-09/companies"),
        ("GET", "/crm/properties/2026-09/contacts"),
    ]


def test_a_property_added_later_is_created_in_the_existing_group(
    hubspot: tuple[HubSpotSandbox, str],
) -> None:
    sandbox, url = hubspot
    gateway = gateway_for(url)
    ensure_schema(gateway, SCHEMA[:-1])
    sandbox.clear_log()
    assert ensure_schema(gateway, SCHEMA) == 1  # the group's 409 is no error
    assert sandbox.count(path_contains="/groups", status=409) == 1
    added = SCHEMA[-1]
    assert sandbox.store.property_definitions(added.object_type)[added.name]["groupName"] == (
        "workways"
    )


def test_upserts_250_contacts_in_3_calls_and_rerun_creates_nothing(
    ready: tuple[HubSpotSandbox, HubSpotGateway],
) -> None:
    sandbox, gateway = ready
    first = gateway.upsert("contacts", "workways_user_id", contacts(250))
    assert sandbox.count(path_contains="/contacts/batch/upsert") == 3
    assert [r.batch_size for r in sandbox.request_log] == [100, 100, 50]
    assert len(first) == 250 and all(o.ok and o.created for o in first)
    again = gateway.upsert("contacts", "workways_user_id", contacts(250))
    assert all(o.ok and not o.created for o in again)
    assert {o.hubspot_id for o in again} == {o.hubspot_id for o in first}
    assert len(sandbox.store.objects("contacts")) == 250


def test_batches_in_flight_at_once_keep_their_connections(
    ready: tuple[HubSpotSandbox, HubSpotGateway], caplog: pytest.LogCaptureFixture
) -> None:
    """24 batches at once (3 unit threads x 8 pushes) on one pooled httpx client:
    every one lands, and nothing warns about the pool (urllib3, under the former
    SDK, warned "Connection pool is full, discarding connection" for each)."""
    sandbox, gateway = ready
    sandbox.latency_ms = 60  # so that the calls overlap
    batches = [contacts(100, start=n * 100) for n in range(24)]
    with caplog.at_level(logging.WARNING), ThreadPoolExecutor(24) as pool:
        outcomes = list(
            pool.map(lambda b: gateway.upsert("contacts", "workways_user_id", b), batches)
        )
    assert sum(len(o) for o in outcomes) == 2_400 and all(r.ok for o in outcomes for r in o)
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


@pytest.mark.parametrize("mode", ["multi-status", "reject-batch"])
def test_invalid_email_fails_alone(ready: tuple[HubSpotSandbox, HubSpotGateway], mode: str) -> None:
    sandbox, gateway = ready
    sandbox.invalid_email_mode = mode
    records = contacts(100)
    records[37] = UpsertRecord(records[37].key, {**records[37].properties, "email": "broken@@x"})
    outcomes = {o.key: o for o in gateway.upsert("contacts", "workways_user_id", records)}
    bad = outcomes.pop(records[37].key)
    assert not bad.ok and bad.category == "VALIDATION_ERROR"
    assert "INVALID_EMAIL" in (bad.message or "") and "broken@@x" not in (bad.message or "")
    assert all(o.ok for o in outcomes.values()) and len(outcomes) == 99
    assert len(sandbox.store.objects("contacts")) == 99


def test_email_owned_by_another_contact_is_a_conflict_for_that_record_only(
    ready: tuple[HubSpotSandbox, HubSpotGateway],
) -> None:
    _, gateway = ready
    (owner,) = gateway.upsert("contacts", "workways_user_id", contacts(1, start=500))
    records = contacts(10)
    records[4] = UpsertRecord(
        records[4].key, {**records[4].properties, "email": "person500@example.com"}
    )
    outcomes = {o.key: o for o in gateway.upsert("contacts", "workways_user_id", records)}
    conflict = outcomes.pop(records[4].key)
    assert not conflict.ok and conflict.category == "CONFLICT"
    assert conflict.existing_id == owner.hubspot_id
    assert all(o.ok for o in outcomes.values())


def test_server_errors_are_retried_then_succeed(
    ready: tuple[HubSpotSandbox, HubSpotGateway],
) -> None:
    sandbox, gateway = ready
    sandbox.set_fault(fail_next=2, fail_status=502)
    outcomes = gateway.upsert("contacts", "workways_user_id", contacts(5))
    assert all(o.ok for o in outcomes)
    assert sandbox.count(path_contains="/batch/upsert", status=502) == 2
    assert gateway.calls["upsert"] == 3


def test_timeouts_become_typed_errors(hubspot: tuple[HubSpotSandbox, str]) -> None:
    sandbox, url = hubspot
    gateway = gateway_for(url, timeout=0.3, max_attempts=2)
    sandbox.set_fault(timeout_rate=1.0, timeout_seconds=2.0)
    with pytest.raises(HubSpotTimeoutError):
        ensure_schema(gateway, SCHEMA)
    assert gateway.calls["properties"] == 2


def test_an_unreachable_hubspot_is_a_typed_connection_error_retried_then_raised() -> None:
    gateway = gateway_for("http://127.0.0.1:9", max_attempts=3)  # the discard port: refused
    with pytest.raises(HubSpotConnectionError) as caught:
        gateway.list_properties("contacts")
    assert gateway.calls["properties"] == 3
    assert "pat-na1" not in str(caught.value)


def test_bad_token_is_an_auth_error_and_not_retried(hubspot: tuple[HubSpotSandbox, str]) -> None:
    _, url = hubspot
    gateway = HubSpotGateway(
        url, Secret("pat-na1-00000000-0000-0000-0000-000000000000"), sleep=lambda s: None
    )
    with pytest.raises(HubSpotAuthError) as caught:
        ensure_schema(gateway, SCHEMA)
    assert gateway.total_calls == 1
    assert "pat-na1" not in str(caught.value)


def test_daily_limit_stops_at_once(ready: tuple[HubSpotSandbox, HubSpotGateway]) -> None:
    sandbox, gateway = ready
    sandbox.set_rate_limit(per_10s=None, daily=1)
    gateway.upsert("contacts", "workways_user_id", contacts(1))
    with pytest.raises(HubSpotRateLimitError) as caught:
        gateway.upsert("contacts", "workways_user_id", contacts(1, start=1))
    assert caught.value.daily and not caught.value.retriable
    assert sandbox.count(status=429) == 1


def test_associations_are_created_and_removed(ready: tuple[HubSpotSandbox, HubSpotGateway]) -> None:
    sandbox, gateway = ready
    (person,) = gateway.upsert("contacts", "workways_user_id", contacts(1))
    companies = gateway.upsert(
        "companies",
        "workways_org_id",
        [UpsertRecord(f"o{i}", {"workways_org_id": f"o{i}", "name": f"Org {i}"}) for i in range(2)],
    )
    first, second = (c.hubspot_id or "" for c in companies)
    pid = person.hubspot_id or ""
    assert gateway.associate([(pid, first)]) == {(pid, first)}
    gateway.remove_associations([(pid, first)])
    assert gateway.associate([(pid, second)]) == {(pid, second)}
    assert sandbox.store.associations("contacts", pid, "companies") == [second]


def test_associations_go_out_in_full_batches_of_2000(
    ready: tuple[HubSpotSandbox, HubSpotGateway],
) -> None:
    """4,500 pairs: v4's maximum of 2,000 per call, so 3 calls (in parallel threads)."""
    sandbox, gateway = ready
    people = [
        o.hubspot_id or ""
        for start in range(0, 4500, 100)
        for o in gateway.upsert("contacts", "workways_user_id", contacts(100, start))
    ]
    (company,) = gateway.upsert(
        "companies", "workways_org_id", [UpsertRecord("o1", {"workways_org_id": "o1"})]
    )
    pairs = [(person, company.hubspot_id or "") for person in people]
    sandbox.clear_log()
    assert gateway.associate(pairs, parallel=3) == set(pairs)
    assert sandbox.count(path_contains="/batch/associate/default") == 3
    assert sorted(e.batch_size or 0 for e in sandbox.request_log) == [500, 2000, 2000]
    assert (
        len(sandbox.store.associations("companies", company.hubspot_id or "", "contacts")) == 4500
    )


@pytest.mark.slow
def test_burst_under_a_small_rate_limit_is_paced(hubspot: tuple[HubSpotSandbox, str]) -> None:
    """10 requests per 10 s: 30 calls all succeed and HubSpot answers few 429s."""
    sandbox, url = hubspot
    gateway = HubSpotGateway(url, Secret(SANDBOX_HUBSPOT_TOKEN))  # real clock and sleep
    ensure_schema(gateway, SCHEMA)
    sandbox.clear_log()
    sandbox.set_rate_limit(per_10s=10)
    for n in range(30):
        outcomes = gateway.upsert("contacts", "workways_user_id", contacts(1, start=n))
        assert outcomes[0].ok
    assert sandbox.count(path_contains="/batch/upsert", status=200) == 30
    assert sandbox.count(status=429) <= 3


def test_worker_processes_share_one_schema_check_through_redis(
    hubspot: tuple[HubSpotSandbox, str], redis_client: redis.Redis[bytes]
) -> None:
    sandbox, url = hubspot
    first, second = gateway_for(url), gateway_for(url)  # as two worker processes hold
    memo = SharedSchemaMemo(redis_client, scope=url)
    memo.ensure(first, SCHEMA)
    assert sandbox.count(path_contains="/properties/") > 0  # read, then created
    sandbox.clear_log()
    SharedSchemaMemo(redis_client, scope=url).ensure(second, SCHEMA)
    assert sandbox.count() == 0  # the first one's note: no call at all
    # Another account, or the note expired: checked again (one read per object type).
    SharedSchemaMemo(redis_client, scope="another account").ensure(second, SCHEMA)
    assert sandbox.count(path_contains="/properties/") == 2


def test_without_an_answer_from_redis_each_process_checks_the_schema_itself(
    hubspot: tuple[HubSpotSandbox, str],
) -> None:
    sandbox, url = hubspot
    # No retries: redis-py's default backoff would only make the test slower.
    unreachable = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    SharedSchemaMemo(unreachable, scope=url).ensure(gateway_for(url), SCHEMA)
    assert "workways_user_id" in sandbox.store.property_definitions("contacts")


# --------------------------------------------- portal rules and unusable answers

RULE = "Customers need a job title"


def test_a_portal_rule_refusing_whole_batches_fails_only_the_records_breaking_it(
    ready: tuple[HubSpotSandbox, HubSpotGateway],
) -> None:
    """The acceptance case of issue 16: 3 of 250 contacts break the rule."""
    sandbox, gateway = ready
    sandbox.add_validation_rule(
        "contacts", "jobtitle", when_property="lifecyclestage", when_value="customer", name=RULE
    )
    records = contacts(250)
    breaking = {3, 140, 241}
    for i in range(250):
        extra = {"lifecyclestage": "customer"} if i in breaking or i % 10 == 0 else {}
        if i % 10 == 0 and i not in breaking:
            extra["jobtitle"] = "Member"  # a customer with a job title obeys the rule
        records[i] = UpsertRecord(records[i].key, {**records[i].properties, **extra})
    outcomes = {o.key: o for o in gateway.upsert("contacts", "workways_user_id", records)}
    failed = {k: o for k, o in outcomes.items() if not o.ok}
    assert set(failed) == {"u00003", "u00140", "u00241"}
    for outcome in failed.values():
        assert outcome.category == "VALIDATION_ERROR"
        assert RULE in (outcome.message or "") and '"jobtitle" is required' in (
            outcome.message or ""
        )
        assert "@example.com" not in (outcome.message or "")
    assert len(sandbox.store.objects("contacts")) == 247
    assert sandbox.count(path_contains="/batch/upsert", status=400) >= 3  # whole batches
    assert gateway.calls["upsert"] <= 3 * 40  # within the isolation budget of each batch


def test_a_422_fails_that_batch_and_not_the_next(
    ready: tuple[HubSpotSandbox, HubSpotGateway],
) -> None:
    sandbox, gateway = ready
    sandbox.set_fault(fail_next=1, fail_status=422)
    outcomes = gateway.upsert("contacts", "workways_user_id", contacts(150))
    assert [o.ok for o in outcomes] == [False] * 100 + [True] * 50
    assert {o.category for o in outcomes[:100]} == {"VALIDATION_ERROR"}
    assert sandbox.count(status=422) == 1  # not split: the request as a whole was refused
    assert len(sandbox.store.objects("contacts")) == 50


def test_an_answer_that_is_not_json_fails_that_batch_and_not_the_next(
    ready: tuple[HubSpotSandbox, HubSpotGateway],
) -> None:
    sandbox, gateway = ready
    sandbox.set_fault(garbled_next=1)
    outcomes = gateway.upsert("contacts", "workways_user_id", contacts(150))
    assert [o.ok for o in outcomes] == [False] * 100 + [True] * 50
    assert {o.message for o in outcomes[:100]} == {"HubSpot's answer could not be read (HTTP 200)"}
    assert gateway.calls["upsert"] == 2
