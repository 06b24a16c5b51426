"""The Workways client against the Workways sandbox, over real HTTP."""

from __future__ import annotations

from syncworker_sandbox import SANDBOX_WORKWAYS_TOKEN
from syncworker_sandbox.server import ServerThread
from syncworker_sandbox.workways import WorkwaysSandbox

from syncworker.config import Secret
from syncworker.sources.workways.client import WorkwaysClient


def test_2000_users_in_exactly_10_list_calls() -> None:
    sandbox = WorkwaysSandbox(users=2000, orgs=300, seed=9)
    with (
        ServerThread(sandbox.app) as server,
        WorkwaysClient(server.url, Secret(SANDBOX_WORKWAYS_TOKEN), page_concurrency=4) as client,
    ):
        ids = [user.id for user in client.iter_users()]
        assert len(ids) == len(set(ids)) == 2000
        assert client.calls == 10
        assert sandbox.count(method="GET", path="/api/user-info") == 10
        assert {r.query["limit"] for r in sandbox.request_log} == {"200"}
