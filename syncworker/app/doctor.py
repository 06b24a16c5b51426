"""``syncworker doctor``: is this installation ready to sync? Each check says ✓ or ✗ and,
for ✗, the fix.

Writes nothing anywhere: the database is only read (and a SQLite file that does
not exist is not created), Redis is only pinged (no rate-limiter window, no
lock), Workways gets one page read, and HubSpot only reads: per object type the
property definitions, the ``workways`` property group and a search for one
record (search is a POST, but a read), and with ``HUBSPOT_NEWSLETTER_SUBSCRIPTION``
set Communication Preferences' subscription definitions. That is 1 + 3 calls per
object type and one for consent, at most 11 calls in all, with at most one retry
each.

HubSpot checks the scopes of every call, so the read calls show whether the
read scopes are granted (a 403 ``MISSING_SCOPES`` names the missing ones). The
write scopes cannot be seen without writing; the line says so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from syncworker.config import HUBSPOT_API_VERSIONS, Settings
from syncworker.consent.subscription import VARIABLE as SUBSCRIPTION_VARIABLE
from syncworker.consent.subscription import resolve_subscription
from syncworker.errors import (
    ConfigError,
    HubSpotAuthError,
    HubSpotBadRequestError,
    HubSpotError,
    SourceAuthError,
    SourceError,
)
from syncworker.hubspot.gateway import HubSpotGateway
from syncworker.hubspot.schema import schema_problems
from syncworker.mapping import PROPERTY_GROUP, PropertyDefinition, custom_properties
from syncworker.sources.workways.client import WorkwaysClient
from syncworker.store.database import SCHEMA_HEAD, make_engine

OK, FAILED, BAD_CONFIGURATION = 0, 1, 2
OBJECT_TYPE_ORDER = ("companies", "contacts", "deals")
CONSENT_READ_SCOPE = "communication_preferences.read"  # the definitions endpoint


def sync_scopes(object_types: Sequence[str]) -> list[str]:
    """The scopes the sync and the polling write-back need, for ``object_types``."""
    return [
        f"crm.{kind}.{object_type}.{access}"
        for object_type in object_types
        for kind in ("objects", "schemas")
        for access in ("read", "write")
    ]


@dataclass(frozen=True)
class Check:
    ok: bool
    what: str
    fix: str | None = None
    configuration: bool = False  # a ✗ that is bad configuration (exit 2)

    def lines(self) -> list[str]:
        first = f"{'✓' if self.ok else '✗'} {self.what}"
        return [first] if self.ok or not self.fix else [first, f"    fix: {self.fix}"]


def _config_failure(exc: ConfigError, fix: str) -> Check:
    return Check(False, f"configuration: {exc}", fix, configuration=True)


# ------------------------------------------------------------------ database, redis


def check_database(settings: Settings) -> Check:
    url = make_url(settings.database_url)
    where = url.get_backend_name()
    file = url.database if where == "sqlite" and url.database != ":memory:" else None
    if file and not Path(file).is_file():  # connecting would create it
        return Check(
            False,
            f"database: the SQLite file {file} does not exist",
            "run `syncworker db upgrade` (it creates and migrates the file), or set "
            "DATABASE_URL to the store's URL",
        )
    try:
        engine = make_engine(settings.database_url)
    except ConfigError as exc:
        return _config_failure(exc, "set DATABASE_URL to a SQLAlchemy URL")
    try:
        with engine.connect() as connection:
            revision = None
            if inspect(connection).has_table("alembic_version"):
                found = connection.execute(text("SELECT version_num FROM alembic_version"))
                revision = ",".join(sorted(found.scalars())) or None
    except SQLAlchemyError as exc:
        return Check(
            False,
            f"database ({where}) unreachable: {type(exc).__name__}",
            "check DATABASE_URL and that the database server is up and accepts this user",
        )
    finally:
        engine.dispose()
    if revision != SCHEMA_HEAD:
        return Check(
            False,
            f"database ({where}) reachable but not migrated: at revision {revision or 'none'}, "
            f"this version needs {SCHEMA_HEAD}",
            "run `syncworker db upgrade`",
        )
    return Check(True, f"database ({where}) reachable and migrated (revision {SCHEMA_HEAD})")


def check_redis(settings: Settings) -> Check:
    if not settings.redis_url:
        return Check(True, "Redis: REDIS_URL not set (the CLI runs syncs in-process, no Celery)")
    client: redis.Redis[bytes] = redis.Redis.from_url(
        settings.redis_url, socket_timeout=5, socket_connect_timeout=5
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return Check(
            False,
            f"Redis unreachable: {type(exc).__name__}",
            "check REDIS_URL and that Redis is up",
        )
    finally:
        client.close()
    return Check(True, "Redis reachable")


# ----------------------------------------------------------------------- workways


def check_workways(settings: Settings) -> Check:
    try:
        base_url, token = settings.require_workways()
    except ConfigError as exc:
        return _config_failure(exc, f"set {exc.variable} (see the README's Configuration)")
    try:
        with WorkwaysClient(base_url, token, timeout=min(settings.http_timeout_seconds, 15)) as c:
            c.user_page(1)
    except SourceAuthError:
        return Check(
            False,
            "Workways refused WORKWAYS_API_TOKEN",
            "create a token for an api-developer account in Workways and set "
            "WORKWAYS_API_TOKEN to it",
        )
    except SourceError as exc:
        return Check(
            False,
            f"Workways did not answer as expected: {type(exc).__name__}",
            "check WORKWAYS_BASE_URL and that Workways is up",
        )
    return Check(True, "Workways token accepted")


# ------------------------------------------------------------------------ hubspot


class _Stop(Exception):
    """HubSpot cannot be checked further (credential refused, version or host wrong)."""

    def __init__(self, check: Check) -> None:
        self.check = check


@dataclass
class _HubSpotFindings:
    properties: dict[str, list[dict[str, Any]]]
    groups: dict[str, dict[str, Any] | None]
    missing_scopes: dict[str, None]
    readable: set[str]
    version: str


def _read(findings: _HubSpotFindings, object_type: str, scope: str, call: Callable[[], Any]) -> Any:
    """One read call; a 403 records the missing scopes, fatal answers stop the checks."""
    try:
        result = call()
    except HubSpotAuthError as exc:
        if exc.status == 403:
            for name in exc.missing_scopes or (scope,):
                findings.missing_scopes.setdefault(name)
            return None
        raise _Stop(
            Check(
                False,
                "HubSpot refused HUBSPOT_ACCESS_TOKEN (401: unknown, expired or revoked)",
                "create a Service Key (HubSpot: Settings > Integrations > Service Keys) with "
                "the scopes listed in the README and set HUBSPOT_ACCESS_TOKEN to it; a legacy "
                "private-app token still works until September 2027",
            )
        ) from None
    except HubSpotBadRequestError as exc:
        if exc.status == 404:
            raise _Stop(
                Check(
                    False,
                    f"HubSpot does not serve API version {findings.version} at "
                    "HUBSPOT_BASE_URL (404 on its dated paths)",
                    f"set HUBSPOT_API_VERSION to one HubSpot serves ("
                    f"{', '.join(HUBSPOT_API_VERSIONS)}) and HUBSPOT_BASE_URL to "
                    "https://api.hubapi.com",
                )
            ) from None
        raise
    except HubSpotError as exc:
        raise _Stop(
            Check(
                False,
                f"HubSpot did not answer as expected: {type(exc).__name__}",
                "check HUBSPOT_BASE_URL and HubSpot's status page, then run doctor again",
            )
        ) from None
    findings.readable.add(scope)
    return result


def _property_check(
    object_type: str,
    wanted: Sequence[PropertyDefinition],
    existing: list[dict[str, Any]],
    group: dict[str, Any] | None,
) -> Check:
    by_name = {p.get("name"): p for p in existing}
    present = [d for d in wanted if d.name in by_name]
    missing = [d.name for d in wanted if d.name not in by_name]
    problems = schema_problems(object_type, wanted, by_name)
    keys = [d.name for d in wanted if d.unique]
    if problems:
        what, _, fix = problems[0].partition("; ")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return Check(False, f"{what}{more}", fix or None)
    if not present:
        return Check(
            True,
            f"HubSpot {object_type}: property group {PROPERTY_GROUP!r} and "
            f"{len(wanted)} custom properties not there yet: will be created on first sync",
        )
    if missing:
        return Check(
            False,
            f"HubSpot {object_type}: custom properties missing (deleted in HubSpot?): "
            f"{', '.join(missing)}",
            "restore them in HubSpot (Settings > Properties, Archived properties) to keep "
            "their values; a sync run would otherwise try to create them again, empty",
        )
    where = f"in group {PROPERTY_GROUP!r}" if group is not None else "(group missing: harmless)"
    return Check(
        True,
        f"HubSpot {object_type}: all {len(wanted)} custom properties present {where}, "
        f"right types, {', '.join(keys) or 'no key'} unique",
    )


def check_hubspot(
    settings: Settings,
    definitions: Sequence[PropertyDefinition],
    *,
    gateway: HubSpotGateway | None = None,
) -> list[Check]:
    try:
        base_url, token = settings.require_hubspot()
    except ConfigError as exc:
        return [_config_failure(exc, "set HUBSPOT_ACCESS_TOKEN (see the README's Setup)")]
    object_types = [t for t in OBJECT_TYPE_ORDER if any(d.object_type == t for d in definitions)]
    own = gateway is None
    gateway = gateway or HubSpotGateway(
        base_url,
        token,
        api_version=settings.hubspot_api_version,
        timeout=min(settings.http_timeout_seconds, 15),
        max_attempts=2,
        max_connections=2,
    )
    findings = _HubSpotFindings({}, {}, {}, set(), settings.hubspot_api_version)
    gw = gateway
    definitions_read: list[dict[str, Any]] | None = None
    try:
        for object_type in object_types:
            schema_read = f"crm.schemas.{object_type}.read"
            props = _read(
                findings, object_type, schema_read, partial(gw.list_properties, object_type)
            )
            if props is not None:
                findings.properties[object_type] = props
                findings.groups[object_type] = _read(
                    findings,
                    object_type,
                    schema_read,
                    partial(gw.property_group, object_type, PROPERTY_GROUP),
                )
            _read(
                findings,
                object_type,
                f"crm.objects.{object_type}.read",
                partial(gw.search_one, object_type),
            )
        if settings.newsletter_subscription is not None:
            definitions_read = _read(
                findings, "contacts", CONSENT_READ_SCOPE, gw.subscription_definitions
            )
    except _Stop as stop:
        return [stop.check]
    finally:
        if own:
            gateway.close()
    checks = [
        Check(
            True,
            f"HubSpot credential accepted; API version {settings.hubspot_api_version} served",
        )
    ]
    needed = sync_scopes(object_types)
    if findings.missing_scopes:
        checks.append(
            Check(
                False,
                f"HubSpot token lacks scopes: {', '.join(findings.missing_scopes)}",
                "add them to the Service Key (or the app) in HubSpot, then set "
                f"HUBSPOT_ACCESS_TOKEN to its token; the sync needs {', '.join(needed)}",
            )
        )
    else:
        checks.append(
            Check(
                True,
                f"HubSpot read scopes granted ({', '.join(sorted(findings.readable))}); "
                "write scopes (crm.objects.*.write, crm.schemas.*.write) show only on the "
                "first write",
            )
        )
    for object_type in object_types:
        if object_type not in findings.properties:
            continue  # no schema read scope: said above
        wanted = [d for d in definitions if d.object_type == object_type]
        checks.append(
            _property_check(
                object_type,
                wanted,
                findings.properties[object_type],
                findings.groups.get(object_type),
            )
        )
    if settings.newsletter_subscription is not None:
        checks.append(_subscription_check(settings.newsletter_subscription, definitions_read))
    return checks


class _Definitions:
    """Definitions already read, for :func:`resolve_subscription` (no second call)."""

    def __init__(self, definitions: list[dict[str, Any]]) -> None:
        self.definitions = definitions

    def subscription_definitions(self) -> list[dict[str, Any]]:
        return self.definitions


def _subscription_check(wanted: str, definitions: list[dict[str, Any]] | None) -> Check:
    """The subscription type the newsletter opt-in stands for: found, or the fix."""
    if definitions is None:  # 403: the missing scope is named above
        return Check(
            False,
            f"newsletter consent: {SUBSCRIPTION_VARIABLE} not checked: the token cannot read "
            "Communication Preferences' subscription types",
            "add the Communication Preferences scopes named above (reading and writing "
            "statuses) to the Service Key (or the app), or unset "
            f"{SUBSCRIPTION_VARIABLE} to leave consent unsynced",
        )
    try:
        found = resolve_subscription(_Definitions(definitions), wanted)
    except ConfigError as exc:
        return Check(
            False,
            f"newsletter consent: {exc}",
            f"set {SUBSCRIPTION_VARIABLE} to the id (or the one name) of the subscription "
            "type Workways' newsletter opt-in stands for (HubSpot: Settings > Marketing > "
            "Email > Subscription types)",
            configuration=True,
        )
    return Check(
        True,
        f"newsletter consent: {SUBSCRIPTION_VARIABLE} is the subscription type "
        f"{found.name!r} (id {found.id})",
    )


# ----------------------------------------------------------------------- webhooks


def check_webhooks(settings: Settings) -> Check:
    if not settings.hubspot_client_secret:
        return Check(True, "webhooks: HUBSPOT_CLIENT_SECRET not set (write-back by polling only)")
    public = settings.webhook_public_url
    if not public:
        return Check(
            False,
            "webhooks: HUBSPOT_CLIENT_SECRET is set but WEBHOOK_PUBLIC_URL is not",
            "set WEBHOOK_PUBLIC_URL to the public https base URL HubSpot calls (the app's "
            "targetUrl without /webhooks/hubspot); signatures are checked against it",
        )
    if not public.startswith("https://"):
        return Check(
            False,
            "webhooks: WEBHOOK_PUBLIC_URL is not https (HubSpot only calls https URLs)",
            "put the receiver behind TLS and set WEBHOOK_PUBLIC_URL to its https URL",
        )
    return Check(True, f"webhooks: receiver's public URL set ({public}/webhooks/hubspot)")


# --------------------------------------------------------------------------- all


def custom_definitions(settings: Settings) -> list[PropertyDefinition]:
    """The custom properties of every stream the configured sources run."""
    from syncworker.app.sync import select

    try:
        streams = select(settings).streams
    except ConfigError:
        from syncworker.sources.workways.streams import WORKWAYS_STREAMS

        streams = WORKWAYS_STREAMS
    return custom_properties(*{s.mapping for s in streams})


def run_doctor(settings: Settings, emit: Callable[[str], None]) -> int:
    """Run every check, emitting its lines as it ends; the exit code."""
    checks: list[Check] = []

    def done(*found: Check) -> None:
        for check in found:
            checks.append(check)
            for line in check.lines():
                emit(line)

    done(Check(True, f"settings parse (HUBSPOT_API_VERSION {settings.hubspot_api_version})"))
    done(check_database(settings))
    done(check_redis(settings))
    done(check_workways(settings))
    done(*check_hubspot(settings, custom_definitions(settings)))
    done(check_webhooks(settings))
    if any(c.configuration for c in checks):
        return BAD_CONFIGURATION
    return OK if all(c.ok for c in checks) else FAILED
