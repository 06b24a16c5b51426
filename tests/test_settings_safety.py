"""Settings that cannot break the worker, and edges that end in one line
(issue 19, points 4 and 6): whole-number settings >= 1, https for the APIs that
receive a token (plain http on loopback only), the sandboxes' published
credentials refused elsewhere, Retry-After clamped, an unreachable database or
Redis reported in one line with exit 3. No service is needed: the closed ports
are ports nobody listens on."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from syncworker_sandbox import (
    SANDBOX_HUBSPOT_CLIENT_SECRET,
    SANDBOX_HUBSPOT_TOKEN,
    SANDBOX_WORKWAYS_TOKEN,
)
from syncworker_sandbox.workadu import SANDBOX_WORKADU_KEY

from syncworker.cli.main import main
from syncworker.config import Secret, Settings
from syncworker.errors import ConfigError, SourceServerError
from syncworker.http_retry import RetryPolicy, clamp_retry_after
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.responses import error_from_response

WHOLE_NUMBERS = [
    "SYNC_INTERVAL_SECONDS",
    "SYNC_LOCK_TTL_SECONDS",
    "WRITEBACK_INTERVAL_SECONDS",
    "SOURCE_CONCURRENCY",
    "SOURCE_DETAIL_CONCURRENCY",
    "HUBSPOT_CONCURRENCY",
    "SYNC_PARTITION_CONCURRENCY",
    "MAX_RECORD_ATTEMPTS",
    "DETAIL_REFRESH_HOURS",
    "HUBSPOT_RATE_LIMIT_PER_10S",
]
NUMBERS = ["WRITEBACK_RETRY_SECONDS", "HTTP_TIMEOUT_SECONDS", "WORKER_HEARTBEAT_SECONDS"]


def refused(env: Mapping[str, str]) -> str:
    """The variable a ConfigError names for ``env``."""
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return caught.value.variable


def closed_port() -> int:
    """A loopback port with nothing listening (bound, never listened on)."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port: int = holder.getsockname()[1]
    holder.close()
    return port


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize("name", WHOLE_NUMBERS)
@pytest.mark.parametrize(
    "value", ["0", "-4", "0.5", "2.0", "nan", "inf", "1e3", "ten", "5000000000"]
)
def test_a_whole_number_setting_below_1_or_not_an_integer_names_the_variable(
    name: str, value: str
) -> None:
    assert refused({name: value}) == name


def test_whole_number_settings_take_integers_from_1() -> None:
    settings = Settings.from_env(
        {
            "SYNC_INTERVAL_SECONDS": "1",
            "SOURCE_CONCURRENCY": " 12 ",
            "HUBSPOT_RATE_LIMIT_PER_10S": "7",
        }
    )
    assert settings.sync_interval_seconds == 1
    assert settings.source_concurrency == 12
    assert settings.rate_budget.per_window == 7


@pytest.mark.parametrize("name", NUMBERS)
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "-inf", "1e300", "soon"])
def test_a_duration_must_be_finite_and_above_0(name: str, value: str) -> None:
    assert refused({name: value}) == name


def test_a_duration_may_be_a_fraction() -> None:
    assert Settings.from_env({"HTTP_TIMEOUT_SECONDS": "2.5"}).http_timeout_seconds == 2.5


def test_the_cli_exits_2_with_one_line_naming_a_zero_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SYNC_PARTITION_CONCURRENCY", "0")
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SYNC_PARTITION_CONCURRENCY" in err
    assert "Traceback" not in err


def test_the_celery_transport_settings_are_whole_numbers_too() -> None:
    from syncworker.config import whole_number_setting

    with pytest.raises(ConfigError) as caught:
        whole_number_setting({"CELERY_VISIBILITY_TIMEOUT": "0"}, "CELERY_VISIBILITY_TIMEOUT", 3600)
    assert caught.value.variable == "CELERY_VISIBILITY_TIMEOUT"
    assert whole_number_setting({}, "CELERY_RESTORE_INTERVAL", 60) == 60


# ------------------------------------------------------------------ base URLs

TOKEN_URLS = ["WORKWAYS_BASE_URL", "HUBSPOT_BASE_URL", "WORKADU_BASE_URL"]


@pytest.mark.parametrize("name", TOKEN_URLS)
@pytest.mark.parametrize(
    "value",
    [
        "http://api.example.com",
        "http://10.0.0.5:8801",
        "http://127.evil.example",
        "http://[::2]:80",
    ],
)
def test_a_token_bearing_base_url_must_be_https_off_loopback(name: str, value: str) -> None:
    assert refused({name: value}) == name


@pytest.mark.parametrize("name", TOKEN_URLS)
@pytest.mark.parametrize(
    "value",
    [
        "https://api.example.com",
        "http://127.0.0.1:8801",
        "http://127.3.2.1:9",
        "http://localhost:8802",
        "http://[::1]:8803",
    ],
)
def test_https_or_plain_http_on_loopback_is_accepted(name: str, value: str) -> None:
    settings = Settings.from_env({name: value})
    assert value.rstrip("/") in repr(settings)


def test_the_webhook_public_url_carries_no_token_and_may_be_anything() -> None:
    url = "http://hooks.example.com/hubspot"
    assert Settings.from_env({"WEBHOOK_PUBLIC_URL": url}).webhook_public_url == url


# ------------------------------------------------------------------ sandbox credentials

SANDBOX_CREDENTIALS = [
    ("WORKWAYS_API_TOKEN", SANDBOX_WORKWAYS_TOKEN, "WORKWAYS_BASE_URL"),
    ("HUBSPOT_ACCESS_TOKEN", SANDBOX_HUBSPOT_TOKEN, "HUBSPOT_BASE_URL"),
    ("HUBSPOT_CLIENT_SECRET", SANDBOX_HUBSPOT_CLIENT_SECRET, "HUBSPOT_BASE_URL"),
    ("WORKADU_API_KEY", SANDBOX_WORKADU_KEY, "WORKADU_BASE_URL"),
]


@pytest.mark.parametrize(("name", "value", "base"), SANDBOX_CREDENTIALS)
def test_a_sandbox_credential_is_refused_off_loopback(name: str, value: str, base: str) -> None:
    assert refused({name: value, base: "https://api.example.com"}) == name


@pytest.mark.parametrize(("name", "value", "base"), SANDBOX_CREDENTIALS)
def test_a_sandbox_credential_is_accepted_on_loopback(name: str, value: str, base: str) -> None:
    settings = Settings.from_env({name: value, base: "http://127.0.0.1:8801"})
    assert Secret(value) in vars_of(settings)


def test_the_sandbox_hubspot_token_is_refused_with_the_default_hubspot_url() -> None:
    # HUBSPOT_BASE_URL unset means the real api.hubapi.com
    assert refused({"HUBSPOT_ACCESS_TOKEN": SANDBOX_HUBSPOT_TOKEN}) == "HUBSPOT_ACCESS_TOKEN"


def test_other_credentials_are_accepted_off_loopback() -> None:
    env = {
        "WORKWAYS_BASE_URL": "https://api.workways.com",
        "WORKWAYS_API_TOKEN": "ww_dev_" + "0123456789abcdef" * 4,
        "HUBSPOT_ACCESS_TOKEN": "pat-eu1-11111111-2222-3333-4444-555555555555",
    }
    settings = Settings.from_env(env)
    assert settings.require_workways() == (
        "https://api.workways.com",
        Secret("ww_dev_" + "0123456789abcdef" * 4),
    )


def vars_of(settings: Settings) -> list[Any]:
    return [getattr(settings, name) for name in settings.__dataclass_fields__]


# ------------------------------------------------------------------ Retry-After


@pytest.mark.parametrize(
    ("given", "expected"),
    [(2.5, 2.5), (0, 0.0), (60, 60.0), (3600, 60.0), (float("inf"), 60.0), (-5, 0.0)],
)
def test_retry_after_is_clamped_to_0_to_60_seconds(given: float, expected: float) -> None:
    assert clamp_retry_after(given) == expected


@pytest.mark.parametrize("given", [float("nan"), None, "30", True])
def test_retry_after_that_is_no_number_is_ignored(given: object) -> None:
    assert clamp_retry_after(given) is None


@pytest.mark.parametrize(("header", "expected"), [("3600", 60.0), ("inf", 60.0), ("-3", 0.0)])
def test_hubspot_429_carries_a_clamped_retry_after(header: str, expected: float) -> None:
    error = error_from_response(429, {"Retry-After": header}, {"message": "slow down"})
    assert getattr(error, "retry_after", None) == expected


class SlowDown(SourceServerError):
    def __init__(self, retry_after: float) -> None:
        super().__init__("503 with Retry-After", status=503)
        self.retry_after = retry_after


def test_the_source_retry_policy_waits_at_most_60_seconds() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=2, sleep=sleeps.append, random=lambda: 0.0)
    answers = iter([SlowDown(86_400), "done"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert policy.call(call) == "done"
    assert sleeps == [60.0]


class PauseRecorder:
    def __init__(self) -> None:
        self.pauses: list[float] = []

    def acquire(self) -> object:
        return None

    def answered(self, ticket: object) -> None:
        pass

    def observe(self, headers: Mapping[str, str]) -> None:
        pass

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


def test_the_hubspot_gateway_pauses_at_most_60_seconds_after_a_429() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7200"}, json={"message": "10 s limit"}),
            httpx.Response(200, json={"results": []}),
        ]
    )
    limiter = PauseRecorder()
    gateway = HubSpotGateway(
        "https://api.hubapi.com",
        Secret("pat-na1-11111111-2222-3333-4444-555555555555"),
        limiter=limiter,
        sleep=lambda seconds: None,
        transport=httpx.MockTransport(lambda request: next(answers)),
    )
    status, _, _ = gateway.send("read", "GET", "/crm/objects/2026-09/contacts")
    assert status == 200
    assert limiter.pauses == [60.0]


# ------------------------------------------------------------------ services down


def test_an_unreachable_database_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = closed_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://syncworker@127.0.0.1:{port}/syncworker")
    assert main(["status"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "DATABASE_URL" in err and f"port {port}" in err
    assert "Traceback" not in err


def test_an_unreachable_redis_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    port = closed_port()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'down.db'}")
    assert main(["db", "upgrade"]) == 0
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setenv("WORKWAYS_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WORKWAYS_API_TOKEN", SANDBOX_WORKWAYS_TOKEN)
    monkeypatch.setenv("HUBSPOT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", SANDBOX_HUBSPOT_TOKEN)
    capsys.readouterr()
    assert main(["sync", "--source", "workways", "--quiet"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "REDIS_URL" in err and f"127.0.0.1:{port}" in err
    assert "Traceback" not in err
