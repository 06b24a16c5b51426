"""Communication Preferences (2026-09) in the HubSpot sandbox: subscription types,
each address's status per type, unsubscribe-all, and the per-type contact
properties HubSpot keeps (``hs_email_optout_<id>``, ``hs_email_optout``).

Served at ``/communication-preferences/{version}/...`` as the 2026-09 spec
(``communication-preferences.json``) describes: ``GET definitions``,
``POST statuses/batch/read?channel=EMAIL`` (inputs: addresses),
``POST statuses/batch/write`` (``PublicStatusRequest`` inputs),
``POST statuses/batch/unsubscribe-all/read?channel=EMAIL``,
``GET|POST statuses/{subscriberIdString}[/unsubscribe-all]?channel=EMAIL``.
Tests act as a person would with :meth:`ConsentStore.unsubscribe_by_link` (the
e-mail footer), :meth:`ConsentStore.unsubscribe_all_by_link` and
:meth:`ConsentStore.subscribe_in_preferences`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from syncworker_sandbox.hubspot_common import JSON, ApiError, iso_ms

if TYPE_CHECKING:
    from syncworker_sandbox.hubspot_store import HubSpotStore

STATES = ("SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED")
LEGAL_BASES = (
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
)
OPTOUT_ALL = "hs_email_optout"


@dataclass
class Status:
    state: str
    at: float
    source: str
    legal_basis: str | None = None
    explanation: str | None = None


class ConsentStore:
    """Statuses by (address, subscription id); guarded by the HubSpot store's lock."""

    def __init__(self, store: HubSpotStore) -> None:
        self.store = store
        self.definitions: dict[str, JSON] = {}
        self.statuses: dict[tuple[str, str], Status] = {}
        self.opted_out_all: dict[str, float] = {}
        self._register_property(OPTOUT_ALL, "Unsubscribed from all email")
        self.add_subscription_type("Newsletter", "101", "Our monthly newsletter")
        self.add_subscription_type("Product updates", "102", "News about the product")

    # ----------------------------------------------------------- set-up
    def add_subscription_type(self, name: str, type_id: str, description: str = "") -> JSON:
        with self.store.lock:
            now = iso_ms(self.store.clock())
            definition: JSON = {
                "id": type_id,
                "name": name,
                "description": description,
                "purpose": "Marketing",
                "communicationMethod": "Email",
                "isActive": True,
                "isDefault": False,
                "isInternal": False,
                "createdAt": now,
                "updatedAt": now,
            }
            self.definitions[type_id] = definition
            self._register_property(f"hs_email_optout_{type_id}", f"Opted out of email: {name}")
            return definition

    def _register_property(self, name: str, label: str) -> None:
        self.store.props["contacts"][name] = {
            "name": name,
            "label": label,
            "type": "enumeration",
            "fieldType": "booleancheckbox",
            "description": "",
            "groupName": "contactinformation",
            "options": [
                {"label": "True", "value": "true", "displayOrder": 0, "hidden": False},
                {"label": "False", "value": "false", "displayOrder": 1, "hidden": False},
            ],
            "displayOrder": -1,
            "hidden": False,
            "formField": False,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": False,
            "hubspotDefined": True,
            "modificationMetadata": {
                "archivable": False,
                "readOnlyDefinition": True,
                "readOnlyValue": True,
                "readOnlyOptions": True,
            },
            "dataSensitivity": "non_sensitive",
            "createdAt": iso_ms(self.store.clock()),
            "updatedAt": iso_ms(self.store.clock()),
            "archived": False,
        }

    # ----------------------------------------------------- as a person would
    def unsubscribe_by_link(self, email: str, type_id: str) -> None:
        """The unsubscribe link of a marketing e-mail of type ``type_id``."""
        self.set(email, type_id, "UNSUBSCRIBED", "SUBSCRIPTION_LINK")

    def unsubscribe_all_by_link(self, email: str) -> None:
        """ "Unsubscribe from all e-mail" on HubSpot's preference page."""
        with self.store.lock:
            key = email.lower()
            self.opted_out_all[key] = self.store.clock()
            for type_id in self.definitions:
                self.set(email, type_id, "UNSUBSCRIBED", "SUBSCRIPTION_LINK")
            self._mirror(key, {OPTOUT_ALL: "true"})

    def subscribe_in_preferences(self, email: str, type_id: str) -> None:
        """A person ticking the type on HubSpot's preference page."""
        with self.store.lock:
            self.opted_out_all.pop(email.lower(), None)
            self._mirror(email.lower(), {OPTOUT_ALL: ""})
            self.set(email, type_id, "SUBSCRIBED", "PREFERENCE_CENTER", "CONSENT_WITH_NOTICE")

    def status(self, email: str, type_id: str) -> str:
        with self.store.lock:
            found = self.statuses.get((email.lower(), type_id))
            return found.state if found else "NOT_SPECIFIED"

    # --------------------------------------------------------------- state
    def set(
        self,
        email: str,
        type_id: str,
        state: str,
        source: str,
        legal_basis: str | None = None,
        explanation: str | None = None,
    ) -> str:
        """Set a status; the reason HubSpot gives (``setStatusSuccessReason``)."""
        with self.store.lock:
            key = (email.lower(), type_id)
            before = self.statuses.get(key)
            reason = "REQUESTED_CHANGE_OCCURRED"
            if before is not None and before.state == state:
                reason = "NO_STATUS_CHANGE"
            elif state == "SUBSCRIBED" and (
                (before is not None and before.state == "UNSUBSCRIBED")
                or email.lower() in self.opted_out_all
            ):
                reason = "RESUBSCRIBE_OCCURRED"  # 2026-09 can: the caller decides
                if self.opted_out_all.pop(email.lower(), None) is not None:
                    self._mirror(email.lower(), {OPTOUT_ALL: ""})
            if reason != "NO_STATUS_CHANGE":
                self.statuses[key] = Status(
                    state, self.store.clock(), source, legal_basis, explanation
                )
                flag = {"SUBSCRIBED": "false", "UNSUBSCRIBED": "true"}.get(state, "")
                self._mirror(email.lower(), {f"hs_email_optout_{type_id}": flag})
            return reason

    def _mirror(self, email: str, values: dict[str, str]) -> None:
        """The contact properties HubSpot keeps per type (bumps the modified date)."""
        owner = self.store.owner("contacts", "email", email)
        if owner is not None:
            record = self.store.records["contacts"][owner]
            self.store.write("contacts", record, values, "EMAIL")

    def public_status(self, email: str, type_id: str, reason: str | None = None) -> JSON:
        found = self.statuses.get((email.lower(), type_id))
        out: JSON = {
            "subscriberIdString": email,
            "subscriptionId": int(type_id) if type_id.isdigit() else type_id,
            "subscriptionName": self.definitions[type_id]["name"],
            "channel": "EMAIL",
            "status": found.state if found else "NOT_SPECIFIED",
            "source": found.source if found else "NOT_SPECIFIED",
            "timestamp": iso_ms(found.at if found else self.store.clock()),
        }
        if found is not None and found.legal_basis:
            out["legalBasis"] = found.legal_basis
            if found.explanation:
                out["legalBasisExplanation"] = found.explanation
        if reason is not None:
            out["setStatusSuccessReason"] = reason
        return out

    def wide_status(self, email: str) -> JSON:
        at = self.opted_out_all.get(email.lower())
        return {
            "subscriberIdString": email,
            "channel": "EMAIL",
            "wideStatusType": "PORTAL_WIDE",
            "status": "UNSUBSCRIBED" if at is not None else "SUBSCRIBED",
            "timestamp": iso_ms(at if at is not None else self.store.clock()),
        }


# ------------------------------------------------------------------ routes
def _batch(results: list[JSON], errors: list[JSON], started: str, now: str) -> JSONResponse:
    body: JSON = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": now,
        "requestedAt": started,
    }
    if errors:
        body["errors"] = errors
        body["numErrors"] = len(errors)
    return JSONResponse(body, status_code=207 if errors else 200)


def _channel(request: Request) -> None:
    channel = request.query_params.get("channel")
    if channel is None:
        raise ApiError(400, "Missing required query parameter: channel")
    if channel != "EMAIL":
        raise ApiError(400, f"Unsupported channel {channel!r}: EMAIL is the only channel")


def _inputs(body: Any) -> list[Any]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise ApiError(400, "Invalid input JSON: inputs is required")
    if len(inputs) > 100:
        raise ApiError(400, "Too many inputs: at most 100 per batch")
    return inputs


def _address(value: Any) -> str:
    if not isinstance(value, str) or "@" not in value:
        raise ApiError(400, "subscriberIdString must be an e-mail address")
    return value


def consent_routes(consent: ConsentStore, base: str) -> list[tuple[str, Any, str]]:
    """``(path, handler, method)`` of one version's Communication Preferences."""
    from syncworker_sandbox.hubspot_routes import read_json

    store = consent.store

    def now() -> str:
        return iso_ms(store.clock())

    async def definitions(request: Request) -> Response:
        with store.lock:
            results = [dict(d) for d in consent.definitions.values()]
        started = now()
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
        )

    async def batch_read(request: Request) -> Response:
        _channel(request)
        started = now()
        inputs = _inputs(await read_json(request))
        with store.lock:
            results = [
                {
                    "subscriberIdString": email,
                    "statuses": [
                        consent.public_status(email, t)
                        for t in consent.definitions
                        if (email.lower(), t) in consent.statuses
                    ],
                }
                for email in map(_address, inputs)
            ]
        return _batch(results, [], started, now())

    async def batch_wide_read(request: Request) -> Response:
        _channel(request)
        started = now()
        inputs = _inputs(await read_json(request))
        with store.lock:
            results = [
                {"subscriberIdString": e, "wideStatuses": [consent.wide_status(e)]}
                for e in map(_address, inputs)
            ]
        return _batch(results, [], started, now())

    def check(item: Any, with_address: bool = True) -> tuple[str, str, str, str | None, str | None]:
        if not isinstance(item, dict):
            raise ApiError(400, "Invalid input: each input must be an object")
        email = _address(item.get("subscriberIdString")) if with_address else ""
        if item.get("channel") != "EMAIL":
            raise ApiError(400, "channel must be EMAIL")
        state = item.get("statusState")
        if state not in STATES:
            raise ApiError(400, f"statusState must be one of {', '.join(STATES)}")
        type_id = str(item.get("subscriptionId"))
        if type_id not in consent.definitions:
            raise ApiError(400, f"Subscription {type_id} does not exist", "OBJECT_NOT_FOUND")
        basis = item.get("legalBasis")
        if basis is not None and basis not in LEGAL_BASES:
            raise ApiError(400, f"legalBasis must be one of {', '.join(LEGAL_BASES)}")
        explanation = item.get("legalBasisExplanation")
        return email, type_id, state, basis, explanation if isinstance(explanation, str) else None

    async def batch_write(request: Request) -> Response:
        started = now()
        inputs = _inputs(await read_json(request))
        results: list[JSON] = []
        errors: list[JSON] = []
        with store.lock:
            for item in inputs:
                try:
                    email, type_id, state, basis, explanation = check(item)
                except ApiError as exc:
                    errors.append(
                        {
                            "status": "error",
                            "category": exc.category,
                            "message": exc.message,
                            "context": {},
                            "errors": [],
                            "links": {},
                        }
                    )
                    continue
                reason = consent.set(email, type_id, state, "API", basis, explanation)
                results.append(consent.public_status(email, type_id, reason))
        return _batch(results, errors, started, now())

    async def one_status(request: Request) -> Response:
        _channel(request)
        email = _address(request.path_params["subscriberIdString"])
        with store.lock:
            results = [
                consent.public_status(email, t)
                for t in consent.definitions
                if (email.lower(), t) in consent.statuses
            ]
        started = now()
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
        )

    async def write_one(request: Request) -> Response:
        email = _address(request.path_params["subscriberIdString"])
        _, type_id, state, basis, explanation = check(await read_json(request), False)
        reason = consent.set(email, type_id, state, "API", basis, explanation)
        started = now()
        return JSONResponse(
            {
                "status": "COMPLETE",
                "results": [consent.public_status(email, type_id, reason)],
                "startedAt": started,
                "completedAt": started,
            }
        )

    async def wide_one(request: Request) -> Response:
        _channel(request)
        email = _address(request.path_params["subscriberIdString"])
        started = now()
        return JSONResponse(
            {
                "status": "COMPLETE",
                "results": [consent.wide_status(email)],
                "startedAt": started,
                "completedAt": started,
            }
        )

    async def unsubscribe_all(request: Request) -> Response:
        _channel(request)
        email = _address(request.path_params["subscriberIdString"])
        consent.unsubscribe_all_by_link(email)
        with store.lock:
            results = [consent.public_status(email, t) for t in consent.definitions]
        started = now()
        return JSONResponse(
            {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
        )

    return [
        (f"{base}/definitions", definitions, "GET"),
        (f"{base}/statuses/batch/read", batch_read, "POST"),
        (f"{base}/statuses/batch/write", batch_write, "POST"),
        (f"{base}/statuses/batch/unsubscribe-all/read", batch_wide_read, "POST"),
        (f"{base}/statuses/{{subscriberIdString}}", one_status, "GET"),
        (f"{base}/statuses/{{subscriberIdString}}", write_one, "POST"),
        (f"{base}/statuses/{{subscriberIdString}}/unsubscribe-all", wide_one, "GET"),
        (f"{base}/statuses/{{subscriberIdString}}/unsubscribe-all", unsubscribe_all, "POST"),
    ]
