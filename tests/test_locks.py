"""One run per stream at a time: the Redis lock and its fencing token."""

from __future__ import annotations

import pytest
import redis

from syncworker.errors import LeaseLostError, RunInProgressError
from syncworker.locks import StreamLeases
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS
from syncworker.store.snapshots import Confirmation, SnapshotStore
from tests.checks import hubspot_by_key
from tests.conftest import Wired

pytestmark = pytest.mark.integration


def test_second_holder_is_refused_while_the_first_runs(redis_client: redis.Redis[bytes]) -> None:
    leases = StreamLeases(redis_client)
    with leases.hold("s") as first:
        with pytest.raises(RunInProgressError, match="already in progress"), leases.hold("s"):
            pass
        leases.renew("s", first.value)
    with leases.hold("s") as again:
        assert again.token is not None and first.token is not None
        assert again.token > first.token


def test_expired_holder_cannot_write_after_a_newer_one_claimed(
    redis_client: redis.Redis[bytes], store: SnapshotStore
) -> None:
    leases = StreamLeases(redis_client, ttl=30)
    with leases.hold("s") as stale:
        assert stale.token is not None
        store.claim_fence("s", stale.token)
        redis_client.delete("syncworker:lock:s")  # the lock expired while it stalled
        with leases.hold("s") as fresh:
            assert fresh.token is not None
            store.claim_fence("s", fresh.token)
            with pytest.raises(LeaseLostError):
                store.confirm("s", [Confirmation("a", "1", {"x": "1"})], fence=stale.token)
            store.confirm("s", [Confirmation("a", "1", {"x": "2"})], fence=fresh.token)
        with pytest.raises(LeaseLostError):
            store.claim_fence("s", stale.token)
    assert store.load("s", ["a"])["a"].properties == {"x": "2"}


def test_a_run_with_a_stale_token_stops_before_writing(
    wired: Wired, redis_client: redis.Redis[bytes]
) -> None:
    leases = StreamLeases(redis_client)
    runs = wired.fanout(leases=leases)
    started = runs.start(WORKWAYS_ORGANIZATIONS)  # takes the lock, with its fencing token
    lease_token = runs.partitions.get(started.run_id).fence
    assert lease_token is not None
    wired.store.claim_fence(WORKWAYS_ORGANIZATIONS.name, lease_token + 1)  # a newer holder
    with pytest.raises(LeaseLostError):
        runs.run_partitions([started])
    assert hubspot_by_key(wired.boxes, "companies", "workways_org_id") == {}
    redis_client.flushdb()  # the lock expired
    wired.fanout(leases=leases).run_here((WORKWAYS_ORGANIZATIONS,))
    assert len(hubspot_by_key(wired.boxes, "companies", "workways_org_id")) == len(
        wired.boxes.workways.organizations()
    )
