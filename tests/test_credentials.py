"""Credentials that change under a running pass (issue 19, point 5): a refused token
stops the pass, fails and quarantines nothing, and the pass after the fix does the work."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from syncworker_sandbox.runner import Sandboxes

from syncworker.cli.main import main
from syncworker.errors import SourceAuthError
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.sources.workways.client import WorkwaysClient
from syncworker.store.models import SyncRun
from syncworker.writeback.outbox import Outbox
from syncworker.writeback.service import WRITEBACK_STREAM, WritebackService
from tests.checks import hubspot_by_key
from tests.conftest import Wired


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandboxes]:
    with Sandboxes(users=30, orgs=6, seed=7) as boxes:
        for name, value in boxes.environment(f"sqlite:///{tmp_path / 'cred.db'}").items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("REDIS_URL", raising=False)
        monkeypatch.delenv("LOG_LEVEL", raising=False)
        yield boxes


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def revoking_after_first(
    monkeypatch: pytest.MonkeyPatch,
    owner: type,
    method: str,
    revoke: Callable[[], None],
    *,
    before: bool = False,
) -> None:
    """``owner.method`` revokes the token once, when its first call has answered (or
    just before it is sent, ``before``)."""
    original = getattr(owner, method)
    calls = [0]

    def wrapped(self: Any, *args: Any, **kw: Any) -> Any:
        calls[0] += 1
        if before and calls[0] == 1:
            revoke()
        result = original(self, *args, **kw)
        if not before and calls[0] == 1:
            revoke()
        return result

    monkeypatch.setattr(owner, method, wrapped)


def edit_two_companies_and_two_contacts(boxes: Sandboxes) -> dict[str, Any]:
    """Two-way edits in HubSpot; what Workways should hold once they are written."""
    companies = hubspot_by_key(boxes, "companies", "workways_org_id")
    contacts = hubspot_by_key(boxes, "contacts", "workways_user_id")
    orgs = [o["_id"] for o in boxes.workways.organizations() if o["_id"] in companies][:2]
    live = [u for u in boxes.workways.users() if not u["isUserArchived"]]
    users = [u for u in live if u["_id"] in contacts][:2]
    assert len(orgs) == 2 and len(users) == 2
    expected: dict[str, Any] = {}
    for n, org_id in enumerate(orgs):
        end = f"2033-0{n + 1}-15"
        boxes.hubspot.store.edit_property(
            "companies", companies[org_id]["id"], "workways_contract_end_date", end
        )
        expected[org_id] = end
    for user in users:
        flipped = not user["newsOptin"]
        boxes.hubspot.store.edit_property(
            "contacts",
            contacts[user["_id"]]["id"],
            "workways_newsletter_optin",
            "true" if flipped else "false",
        )
        expected[user["_id"]] = flipped
    return expected


def landed(boxes: Sandboxes, expected: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    orgs = {o["_id"]: o for o in boxes.workways.organizations()}
    users = {u["_id"]: u for u in boxes.workways.users()}
    for key in expected:
        if key in orgs:
            found[key] = boxes.workways.get_organization(key)["contractEndDate"]
        else:
            found[key] = users[key]["newsOptin"]
    return found


def test_hubspot_token_revoked_during_a_writeback_pass_quarantines_nothing(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "db", "upgrade")[0] == 0
    assert cli(capsys, "sync", "--quiet")[0] == 0
    expected = edit_two_companies_and_two_contacts(env)
    token = env.hubspot.token
    # The pass reads the companies, then HubSpot stops taking the token.
    revoking_after_first(
        monkeypatch, HubSpotGateway, "read_by_ids", lambda: env.hubspot.set_token("revoked-x")
    )
    code, out, err = cli(capsys, "writeback")
    assert code == 3
    assert "HubSpot refused the credentials" in err and "Traceback" not in err
    code, out, _ = cli(capsys, "writeback", "list", "--status", "quarantined")
    assert out.strip() == "the outbox is empty"
    code, out, _ = cli(capsys, "status")
    assert "0 quarantined" in out.split("Write-back outbox:")[1].splitlines()[0]
    assert "stopped: credential refused by HubSpot (check HUBSPOT_ACCESS_TOKEN)" in out
    assert landed(env, expected) != expected  # nothing written to Workways yet

    env.hubspot.set_token(token)  # the token fixed (the wrapper revokes only once)
    code, out, _ = cli(capsys, "writeback")
    assert code == 0, out
    assert "4 written to Workways, 0 failed, 0 quarantined" in out
    assert landed(env, expected) == expected
    code, out, _ = cli(capsys, "status")
    assert "stopped: credential refused" not in out
    line = out.split("Write-back outbox:")[1].splitlines()[0]
    assert line.strip() == "0 pending, 0 quarantined, 4 done"


def test_workways_token_revoked_mid_delivery_keeps_the_rest_pending(wired: Wired) -> None:
    wired.sync_all()
    expected = edit_two_companies_and_two_contacts(wired.boxes)
    boxes, written = wired.boxes, []

    class Revoking(WorkwaysClient):
        """Workways takes the first write, then refuses the token."""

        def merge_contract(self, organization_id: str, **fields: object) -> Any:
            answer = super().merge_contract(organization_id, **fields)
            written.append(organization_id)
            if len(written) == 1:
                boxes.workways.token = "revoked-y"
            return answer

    base_url, token = wired.settings.require_workways()
    outbox = Outbox(wired.store.sessions, retry_seconds=0.001)
    with Revoking(base_url, token) as workways:
        service = WritebackService(wired.store, outbox, wired.gateway, workways)
        objects = [
            (kind, obj["id"])
            for kind, key in (("companies", "workways_org_id"), ("contacts", "workways_user_id"))
            for source_id, obj in hubspot_by_key(boxes, kind, key).items()
            if source_id in expected
        ]
        with pytest.raises(SourceAuthError):
            service.run(objects, trigger="webhook")
        assert len(written) == 1  # the first record's write, taken before the refusal
        assert outbox.counts() == {"pending": 3, "done": 1}
        assert all(i.attempts == 0 and i.last_error is None for i in outbox.listing("pending"))
        (run,) = wired.store.recent_runs(1, stream=WRITEBACK_STREAM)
        assert isinstance(run, SyncRun) and run.status == "aborted"
        assert (run.error or "").startswith("credential refused by the source")
        assert token.reveal() not in (run.error or "")
        assert landed(boxes, expected) != expected

        boxes.workways.token = token.reveal()
        result = service.run([], trigger="poll")  # the next pass: the due intents
    assert (result.written, result.failed, result.quarantined) == (3, 0, 0)
    assert outbox.counts() == {"done": 4} and len(written) == 2
    assert landed(boxes, expected) == expected


def test_sync_with_a_token_refused_mid_run_exits_3_and_fails_no_record(
    env: Sandboxes, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "db", "upgrade")[0] == 0
    token = env.hubspot.token
    # Companies and contacts go up; HubSpot refuses the token as they are linked.
    revoking_after_first(
        monkeypatch,
        HubSpotGateway,
        "associate",
        lambda: env.hubspot.set_token("revoked-z"),
        before=True,
    )
    code, out, err = cli(capsys, "sync", "--quiet")
    assert code == 3, out + err
    assert "HubSpot refused the credentials" in err
    code, out, _ = cli(capsys, "failures", "list")
    assert out.strip() == "no failures"
    env.hubspot.set_token(token)
    code, out, err = cli(capsys, "sync", "--quiet")
    assert code == 0, out + err
    code, out, _ = cli(capsys, "failures", "list")
    assert out.strip() == "no failures"


def test_workways_token_refused_while_fetching_details_fails_no_record(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    revoking_after_first(
        monkeypatch,
        WorkwaysClient,
        "get_organization",
        lambda: setattr(wired.boxes.workways, "token", "revoked-w"),
    )
    from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS

    with pytest.raises(SourceAuthError):
        wired.run(WORKWAYS_ORGANIZATIONS, detail_concurrency=1)
    assert wired.store.failures.counts() == {"failing": 0, "quarantined": 0}
    (run,) = wired.store.recent_runs(1, stream=WORKWAYS_ORGANIZATIONS.name)
    assert run.status == "aborted" and run.failed == 0
