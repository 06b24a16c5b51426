"""The ops page in headless Chromium, against a real ``syncworker serve`` process."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import select
from syncworker_sandbox.runner import Sandboxes

from syncworker.app.container import Container
from syncworker.app.sync import sync_streams
from syncworker.config import Settings
from syncworker.store.models import RecordFailure, WritebackIntent
from tests.cdp import chromium, chromium_binary
from tests.conftest import IN_CI, fresh_database
from tests.opsproc import serve_process

pytestmark = pytest.mark.integration

TOKEN = "ops-browser-test-token-91c4"
EMAIL = "jane.doe@example.com"


@pytest.fixture(autouse=True)
def needs_chromium() -> None:
    if chromium_binary() is None:
        message = "chromium is not installed (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_ops_page_shows_runs_failures_outbox_and_releases_a_record() -> None:
    with (
        fresh_database("syncworker_ops_browser") as url,
        Sandboxes(users=30, orgs=5, seed=9) as boxes,
    ):
        env = boxes.environment(url)
        services = Container(Settings.from_env(env))
        results = sync_streams(services, "all", trigger="cli")
        assert {r.status for r in results} == {"succeeded"}
        failure = services.store.failures.record(
            "workways.users",
            "u-quarantined-1",
            stage="upsert",
            message=f"Property values were not valid: Email address {EMAIL} is invalid",
            max_attempts=1,
        )
        assert failure.quarantined_at is not None
        with services.store.sessions.begin() as session:
            session.add(
                WritebackIntent(
                    stream="workways.users",
                    source_id="u-writeback-1",
                    hubspot_id="901",
                    property="workways_news_optin",
                    parameter="optin",
                    value="true",
                )
            )

        with (
            serve_process({**env, "OPS_TOKEN": TOKEN}) as base,
            chromium() as browser,
        ):
            # without the token: refused, the login form instead of the page
            assert httpx.get(f"{base}/ops").status_code == 401
            browser.navigate(f"{base}/ops")
            refused = browser.text()
            assert "Ops token" in refused
            assert "workways.users" not in refused
            assert "u-quarantined-1" not in refused

            # log in with the token
            browser.evaluate(
                f"document.querySelector('input[name=token]').value = {json.dumps(TOKEN)};"
                "document.querySelector('form').submit(); true"
            )
            browser.wait_for(
                f"location.href === {json.dumps(base + '/ops')}"
                " && document.querySelector('#streams') !== null"
            )
            text = browser.text()
            for stream in ("workways.organizations", "workways.users"):
                assert stream in text
            assert "HubSpot reflects Workways as of" in text
            # the failure, its reason masked as in the CLI
            row = f"tr[data-failure='{failure.id}']"
            reason = browser.evaluate(f'document.querySelector("{row} .reason").innerText')
            assert "[redacted]" in reason
            assert EMAIL not in browser.evaluate("document.documentElement.outerHTML")
            assert browser.evaluate(f'document.querySelector("{row} .state").innerText') == (
                "quarantined"
            )
            # the outbox, without the value written back
            outbox = browser.evaluate("document.querySelector('#outbox').innerText")
            assert "workways.users:u-writeback-1" in outbox
            assert "optin" in outbox
            assert "pending" in outbox

            # release the quarantined record with its button
            browser.evaluate("window.notReloaded = true; true")
            browser.evaluate(f'document.querySelector("{row} button.release").click(); true')
            browser.wait_for(
                f"(document.querySelector(\"{row} .state\") || {{}}).innerText === 'retrying'"
            )
            assert "pending: retried on the next run" in browser.evaluate(
                f'document.querySelector("{row}").innerText'
            )
            with services.store.sessions() as session:
                stored = session.scalars(
                    select(RecordFailure).where(RecordFailure.id == failure.id)
                ).one()
            assert stored.quarantined_at is None

            # the page refreshes itself without a reload: a new failure shows up
            browser.evaluate("window.notReloaded = true; true")
            second = services.store.failures.record(
                "workways.organizations",
                "o-failing-2",
                stage="upsert",
                message="HTTP 400",
                max_attempts=5,
            )
            browser.wait_for(f"document.querySelector(\"tr[data-failure='{second.id}']\") !== null")
            assert browser.evaluate("window.notReloaded === true")
        services.db.dispose()
