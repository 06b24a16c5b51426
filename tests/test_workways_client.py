"""Tests of the Workways client, the retry policy and the paginator.

Requests are answered by plain functions through ``httpx.MockTransport``; the
client itself is never mocked. Nothing really sleeps: the retry policy gets an
injected ``sleep`` that records the delays it was asked for.
"""
# ruff: noqa: E501  (the spec's example bodies are pasted verbatim)

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from syncworker.config import Secret
from syncworker.errors import (
    PaginationLoopError,
    RecordValidationError,
    SourceAuthError,
    SourceConnectionError,
    SourceDataError,
    SourceError,
    SourceInvalidParameterError,
    SourceNotFoundError,
    SourceServerError,
    SourceTimeoutError,
)
from syncworker.http_retry import RetryPolicy
from syncworker.sources.pages import PageNumberPaginator
from syncworker.sources.workways.client import WorkwaysClient
from syncworker.sources.workways.mapping import COMPANY_MAPPING
from syncworker.sources.workways.models import (
    MergeContractResult,
    OrganizationDetail,
    Page,
    SetOptinResult,
    WorkwaysOrganization,
    WorkwaysRecord,
    WorkwaysUser,
)

TOKEN = "ww_dev_" + "0123456789abcdef" * 4
BASE_URL = "https://api.workways.test"
SPEC_ID = "507f1f77bcf86cd799439011"

# --------------------------------------------------------------------------------------
# The spec's example bodies, verbatim (workways-public-api.txt).

USER_SINGLE = r"""
{
  "retcode": 1,
  "message": "OK",
  "data": {
    "_id": "507f1f77bcf86cd799439011",
    "firstName": "Jean",
    "lastName": "Dupont",
    "email": "jean.dupont@acme.com",
    "title": "Directeur Commercial",
    "language": "fr",
    "phone": "+33 1 23 45 67 89",
    "mobilePhone": "+33 6 12 34 56 78",
    "role": "principal-admin",
    "newsOptin": true,
    "mailValid": true,
    "isUserArchived": false,
    "organizationId": "507f191e810c19729de860ea",
    "organizationName": "Acme Corp",
    "isOrganizationArchived": false,
    "updatedAt": "2025-01-15"
  }
}
"""

USER_LIST = r"""
{
  "retcode": 1,
  "message": "OK",
  "data": {
    "items": [
      {
        "_id": "507f1f77bcf86cd799439011",
        "firstName": "Jean",
        "lastName": "Dupont",
        "email": "jean.dupont@acme.com",
        "title": "Directeur Commercial",
        "language": "fr",
        "phone": "+33 1 23 45 67 89",
        "mobilePhone": "+33 6 12 34 56 78",
        "role": "principal-admin",
        "newsOptin": true,
        "mailValid": true,
        "isUserArchived": false,
        "organizationId": "507f191e810c19729de860ea",
        "organizationName": "Acme Corp",
        "isOrganizationArchived": false,
        "updatedAt": "2025-01-15"
      },
      {
        "_id": "507f1f77bcf86cd799439012",
        "firstName": "Marie",
        "lastName": "Martin",
        "email": "marie.martin@example.com",
        "title": null,
        "language": "en",
        "phone": null,
        "mobilePhone": null,
        "role": "user",
        "newsOptin": false,
        "mailValid": true,
        "isUserArchived": false,
        "organizationId": null,
        "organizationName": null,
        "isOrganizationArchived": null,
        "updatedAt": "2025-01-10"
      }
    ],
    "total": 1250,
    "page": 1,
    "limit": 50,
    "pages": 25
  }
}
"""

SET_OPTIN_OK = r"""
{
  "retcode": 1,
  "message": "OK",
  "data": {
    "userId": "507f1f77bcf86cd799439011",
    "email": "jean.dupont@acme.com",
    "newsOptin": true,
    "previousValue": false
  }
}
"""

ORG_SINGLE = r"""
{
  "retcode": 1,
  "message": "OK",
  "data": {
    "_id": "507f1f77bcf86cd799439011",
    "name": "Acme Corp",
    "description": "Technology solutions company",
    "language": "fr",
    "isArchived": false,
    "principalSiteId": "507f1f77bcf86cd799439022",
    "principalSiteName": "Workways Paris",
    "principalSiteCountry": "fr",
    "sitesCount": 2,
    "maxResidentUsers": 10,
    "isMember": true,
    "contractStartDate": "2024-01-01",
    "contractEndDate": "2025-12-31",
    "renewalMonths": 12,
    "basePrice": 1300,
    "lastAccessDate": "2025-01-27",
    "accountType": "customer",
    "billingName": "Acme Corp SAS",
    "billingEmail": "comptabilite@acme.com",
    "billingAddress": "123 Avenue des Champs-Elysees, 75008 Paris",
    "vatNumber": "FR12345678901",
    "companyNumber": "123456789",
    "contactName": "Jean Dupont",
    "contactPhone": "+33 1 23 45 67 89",
    "updatedAt": "2025-01-15",
    "allocatedRooms": [
      {
        "_id": "507f191e810c19729de860ea",
        "name": "Bureau Premium A12",
        "contractEndDate": "2025-12-31",
        "price": 850,
        "siteId": "507f1f77bcf86cd799439022"
      }
    ],
    "accessibleSites": [
      {
        "_id": "507f1f77bcf86cd799439022",
        "name": "Workways Paris",
        "country": "fr"
      },
      {
        "_id": "507f1f77bcf86cd799439033",
        "name": "Workways Lyon",
        "country": "fr"
      }
    ],
    "contractOptions": [
      {
        "id": 1,
        "name": "Place de parking",
        "key": "parking",
        "quantity": 2,
        "price": 150,
        "pricePromo": null,
        "startDate": "2024-01-01",
        "endDate": ""
      }
    ]
  }
}
"""

ORG_LIST = r"""
{
  "retcode": 1,
  "message": "OK",
  "data": {
    "items": [
      {
        "_id": "507f1f77bcf86cd799439011",
        "name": "Acme Corp",
        "description": "Technology solutions company",
        "language": "fr",
        "isArchived": false,
        "principalSiteId": "507f1f77bcf86cd799439022",
        "principalSiteName": "Workways Paris",
        "principalSiteCountry": "fr",
        "sitesCount": 2,
        "maxResidentUsers": 10,
        "isMember": true,
        "contractStartDate": "2024-01-01",
        "contractEndDate": "2025-12-31",
        "renewalMonths": 12,
        "basePrice": 1300,
        "lastAccessDate": "2025-01-27",
        "accountType": "customer",
        "billingName": "Acme Corp SAS",
        "billingEmail": "comptabilite@acme.com",
        "billingAddress": "123 Avenue des Champs-Elysees, 75008 Paris",
        "vatNumber": "FR12345678901",
        "companyNumber": "123456789",
        "contactName": "Jean Dupont",
        "contactPhone": "+33 1 23 45 67 89",
        "updatedAt": "2025-01-15"
      },
      {
        "_id": "507f1f77bcf86cd799439012",
        "name": "Beta Industries",
        "description": null,
        "language": "en",
        "isArchived": false,
        "principalSiteId": "507f1f77bcf86cd799439033",
        "principalSiteName": "Workways Brussels",
        "principalSiteCountry": "be",
        "sitesCount": 1,
        "maxResidentUsers": 5,
        "isMember": true,
        "contractStartDate": "2024-06-01",
        "contractEndDate": null,
        "renewalMonths": null,
        "basePrice": 800,
        "lastAccessDate": "2025-01-26",
        "accountType": "customer",
        "billingName": "Beta Industries SPRL",
        "billingEmail": "finance@beta.be",
        "billingAddress": "45 Rue de la Loi, 1040 Brussels",
        "vatNumber": "BE0123456789",
        "companyNumber": "0123.456.789",
        "contactName": "Marie Martin",
        "contactPhone": "+32 2 123 45 67",
        "updatedAt": "2025-01-10"
      }
    ],
    "total": 350,
    "page": 1,
    "limit": 50,
    "pages": 7
  }
}
"""

MERGE_OK = r"""
{
  "retcode": 1,
  "message": "OK",
  "data": {
    "organizationId": "507f1f77bcf86cd799439011",
    "organizationName": "Acme Corp"
  }
}
"""

# Authentication Error Responses, in the spec's order.
AUTH_ERRORS = [
    r"""
{
  "retcode": -1,
  "message": "Unauthorized: Authorization header is required. Use: Authorization: Bearer <your_token>"
}
""",
    r"""
{
  "retcode": -1,
  "message": "Unauthorized: Invalid authorization format. Use: Authorization: Bearer <your_token>"
}
""",
    r"""
{
  "retcode": -1,
  "message": "Unauthorized: Invalid or revoked token"
}
""",
    r"""
{
  "retcode": -1,
  "message": "Votre token est expiré, connectez-vous à votre compte pour le renouveler"
}
""",
    r"""
{
  "retcode": -1,
  "message": "Votre compte est désactivé, contactez Workways"
}
""",
    r"""
{
  "retcode": -1,
  "message": "Unauthorized: User account is archived"
}
""",
]

# Error Response Examples of the four endpoints, and of 'Error Handling'.
ERROR_EXAMPLES = [
    (
        "/api/user-info",
        "Invalid user ID format",
        r"""
{
  "retcode": -1,
  "message": "Invalid user ID format"
}
""",
    ),
    (
        "/api/user-info",
        "Invalid email format",
        r"""
{
  "retcode": -1,
  "message": "Invalid email format"
}
""",
    ),
    (
        "/api/user-info",
        "Invalid organization ID format",
        r"""
{
  "retcode": -1,
  "message": "Invalid organization ID format"
}
""",
    ),
    (
        "/api/user-info",
        "User not found",
        r"""
{
  "retcode": -1,
  "message": "User not found"
}
""",
    ),
    (
        "/api/user-info",
        "Unauthorized (no token)",
        r"""
{
  "retcode": -1,
  "message": "Unauthorized: Authorization header is required. Use: Authorization: Bearer <your_token>"
}
""",
    ),
    (
        "/api/set-optin",
        "Missing user parameter",
        r"""
{
  "retcode": -1,
  "message": "Missing required parameter: user (user ID)"
}
""",
    ),
    (
        "/api/set-optin",
        "Invalid user ID format",
        r"""
{
  "retcode": -1,
  "message": "Invalid user ID format"
}
""",
    ),
    (
        "/api/set-optin",
        "Missing optin parameter",
        r"""
{
  "retcode": -1,
  "message": "Missing required parameter: optin (true/false)"
}
""",
    ),
    (
        "/api/set-optin",
        "Invalid optin value",
        r"""
{
  "retcode": -1,
  "message": "Invalid optin value. Use true/false, 1/0, or \"true\"/\"false\""
}
""",
    ),
    (
        "/api/set-optin",
        "User not found",
        r"""
{
  "retcode": -1,
  "message": "User not found"
}
""",
    ),
    (
        "/api/organization-info",
        "Invalid organization ID format",
        r"""
{
  "retcode": -1,
  "message": "Invalid organization ID format"
}
""",
    ),
    (
        "/api/organization-info",
        "Invalid site ID format",
        r"""
{
  "retcode": -1,
  "message": "Invalid site ID format"
}
""",
    ),
    (
        "/api/organization-info",
        "Organization not found",
        r"""
{
  "retcode": -1,
  "message": "Organization not found"
}
""",
    ),
    (
        "/api/organization-info",
        "Unauthorized (no token)",
        r"""
{
  "retcode": -1,
  "message": "Unauthorized: Authorization header is required. Use: Authorization: Bearer <your_token>"
}
""",
    ),
    (
        "/api/merge-contract",
        "Missing required parameter",
        r"""
{
  "retcode": -1,
  "message": "Missing required parameter: organizationId"
}
""",
    ),
    (
        "/api/merge-contract",
        "Invalid organization ID format",
        r"""
{
  "retcode": -1,
  "message": "Invalid organizationId format"
}
""",
    ),
    (
        "/api/merge-contract",
        "Organization not found",
        r"""
{
  "retcode": -1,
  "message": "Organization not found"
}
""",
    ),
    (
        "/api/merge-contract",
        "Unauthorized (no token)",
        r"""
{
  "retcode": -1,
  "message": "Unauthorized: Authorization header is required. Use: Authorization: Bearer <your_token>"
}
""",
    ),
    (
        "Error Handling",
        "Invalid Country",
        r"""
{
  "retcode": -1,
  "message": "Invalid country: \"XYZ\". Use ISO code (e.g., \"FR\", \"BE\") or country name (e.g., \"France\", \"Belgium\")",
  "data": []
}
""",
    ),
    (
        "Error Handling",
        "Invalid Site ID",
        r"""
{
  "retcode": -1,
  "message": "Invalid site ID format."
}
""",
    ),
    (
        "Error Handling",
        "Internal Server Error",
        r"""
{
  "retcode": -1,
  "message": "Internal server error"
}
""",
    ),
]
# The example request body of POST /api/merge-contract (from the curl example).
MERGE_REQUEST = r"""
{
    "organizationId": "507f1f77bcf86cd799439011",
    "rentalPrice": "1500€",
    "rentalEndAt": "2025-12-31",
    "rentalRenewal": 12,
    "contractOptionsToAdd": [
      {
        "optionModelId": "507f1f77bcf86cd799439099",
        "key": "parking",
        "name": "Place de parking",
        "quantity": 2,
        "price": 150
      }
    ],
    "roomsToAdd": ["507f191e810c19729de860ea"]
  }
"""

# The example request body of POST /api/set-optin (from the curl example).
SET_OPTIN_REQUEST = r"""{"user": "507f1f77bcf86cd799439011", "optin": true}"""

# Expected error class for each documented error example, and the HTTP status it
# most naturally comes with ("Common HTTP Status Codes"; not found: 404).
EXPECTED_ERROR = {
    "Invalid user ID format": (SourceInvalidParameterError, 400),
    "Invalid email format": (SourceInvalidParameterError, 400),
    "Invalid organization ID format": (SourceInvalidParameterError, 400),
    "Invalid site ID format": (SourceInvalidParameterError, 400),
    "Missing user parameter": (SourceInvalidParameterError, 400),
    "Missing optin parameter": (SourceInvalidParameterError, 400),
    "Invalid optin value": (SourceInvalidParameterError, 400),
    "Missing required parameter": (SourceInvalidParameterError, 400),
    "Invalid Country": (SourceInvalidParameterError, 400),
    "Invalid Site ID": (SourceInvalidParameterError, 400),
    "User not found": (SourceNotFoundError, 404),
    "Organization not found": (SourceNotFoundError, 404),
    "Unauthorized (no token)": (SourceAuthError, 401),
    "Internal Server Error": (SourceServerError, 500),
}

# --------------------------------------------------------------------------------------
# Harness: a plain function answers every request through httpx.MockTransport.

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Harness:
    handler: Handler
    requests: list[httpx.Request] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)

    def route(self, request: httpx.Request) -> httpx.Response:
        # Every request carries the bearer token and the client's timeout.
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.extensions["timeout"] == dict.fromkeys(
            ("connect", "read", "write", "pool"), 30.0
        )
        self.requests.append(request)
        return self.handler(request)

    def params(self, key: str) -> list[str | None]:
        return [r.url.params.get(key) for r in self.requests]


def make(handler: Handler, **kw: Any) -> tuple[WorkwaysClient, Harness]:
    harness = Harness(handler)
    kw.setdefault("retry", RetryPolicy(sleep=harness.sleeps.append, random=lambda: 0.5))
    client = WorkwaysClient(
        BASE_URL, Secret(TOKEN), transport=httpx.MockTransport(harness.route), **kw
    )
    return client, harness


def ok(data: object) -> httpx.Response:
    return httpx.Response(200, json={"retcode": 1, "message": "OK", "data": data})


def body(status: int, text: str, content_type: str = "application/json") -> httpx.Response:
    return httpx.Response(status, content=text.encode(), headers={"content-type": content_type})


def always(response: Callable[[], httpx.Response]) -> Handler:
    return lambda request: response()


def user(i: int, **changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "_id": f"{i:024x}",
        "firstName": f"First{i}",
        "lastName": "Last",
        "email": f"person{i}@example.com",
        "title": None,
        "language": "fr",
        "phone": "+33 1 23 45 67 89",
        "mobilePhone": None,
        "role": "user",
        "newsOptin": i % 2 == 0,
        "mailValid": True,
        "isUserArchived": False,
        "organizationId": None,
        "organizationName": None,
        "isOrganizationArchived": None,
        "updatedAt": "2025-01-15",
    }
    record.update(changes)
    return record


def org(i: int, **changes: object) -> dict[str, object]:
    record: dict[str, object] = json.loads(ORG_LIST)["data"]["items"][1]
    record["_id"] = f"{i:024x}"
    record.update(changes)
    return record


def paged(records: Sequence[object], **meta: object) -> Handler:
    """A list endpoint serving ``records`` honestly, ``meta`` overriding the envelope."""

    def handler(request: httpx.Request) -> httpx.Response:
        page, limit = int(request.url.params["page"]), int(request.url.params["limit"])
        total = len(records)
        data = {
            "items": list(records[(page - 1) * limit : page * limit]),
            "total": total,
            "page": page,
            "limit": limit,
            "pages": -(-total // limit),
        }
        data.update(meta)
        return ok(data)

    return handler


def assert_clean(exc: BaseException, *secrets: str) -> None:
    """Neither the token nor any of ``secrets`` in the message of exc or its causes."""
    seen: BaseException | None = exc
    while seen is not None:
        for text in (str(seen), repr(seen)):
            for secret in (TOKEN, *secrets):
                assert secret not in text, f"{secret!r} leaked into {type(seen).__name__}"
        seen = seen.__cause__ or seen.__context__


def raises(kind: type[BaseException], fn: Callable[[], object], *secrets: str) -> Any:
    with pytest.raises(kind) as info:
        fn()
    assert_clean(info.value, *secrets)
    return info.value


# --------------------------------------------------------------------------------------
# The spec's success examples parse, through the client and the models.


def test_spec_single_user_example() -> None:
    client, harness = make(always(lambda: body(200, USER_SINGLE)))
    got = client.get_user(SPEC_ID)
    assert got == WorkwaysUser.model_validate(json.loads(USER_SINGLE)["data"])
    assert (got.id, got.first_name, got.email, got.news_optin) == (
        SPEC_ID,
        "Jean",
        "jean.dupont@acme.com",
        True,
    )
    assert got.mobile_phone == "+33 6 12 34 56 78"
    assert got.organization_id == "507f191e810c19729de860ea"
    assert harness.requests[0].method == "GET"
    assert harness.requests[0].url.path == "/api/user-info"
    assert dict(harness.requests[0].url.params) == {"id": SPEC_ID}
    assert client.calls == 1


def test_spec_user_list_example() -> None:
    client, harness = make(always(lambda: body(200, USER_LIST)))
    page = next(client.iter_user_pages())
    assert [u.id for u in page.items] == [SPEC_ID, "507f1f77bcf86cd799439012"]
    assert (page.total, page.page, page.limit, page.pages, page.rejected) == (1250, 1, 50, 25, [])
    marie = page.items[1]
    assert (marie.title, marie.phone, marie.organization_id, marie.is_organization_archived) == (
        None,
        None,
        None,
        None,
    )
    assert dict(harness.requests[0].url.params) == {"limit": "200", "page": "1"}


def test_spec_single_organization_example() -> None:
    client, harness = make(always(lambda: body(200, ORG_SINGLE)))
    got = client.get_organization(SPEC_ID)
    assert isinstance(got, OrganizationDetail)
    assert (got.name, got.is_member, got.base_price, got.sites_count) == (
        "Acme Corp",
        True,
        1300,
        2,
    )
    assert got.allocated_rooms[0].id == "507f191e810c19729de860ea"
    assert got.allocated_rooms[0].price == 850
    assert [s.name for s in got.accessible_sites] == ["Workways Paris", "Workways Lyon"]
    option = got.contract_options[0]
    assert (option.id, option.key, option.quantity, option.price_promo, option.end_date) == (
        1,
        "parking",
        2,
        None,
        "",
    )
    assert harness.requests[0].url.path == "/api/organization-info"
    assert dict(harness.requests[0].url.params) == {"id": SPEC_ID}


def test_spec_organization_list_example() -> None:
    client, _ = make(always(lambda: body(200, ORG_LIST)))
    page = next(client.iter_organization_pages())
    assert [o.name for o in page.items] == ["Acme Corp", "Beta Industries"]
    beta = page.items[1]
    assert (beta.description, beta.contract_end_date, beta.renewal_months) == (None, None, None)
    assert (page.total, page.pages, page.rejected) == (350, 7, [])


def test_spec_set_optin_example() -> None:
    client, harness = make(always(lambda: body(200, SET_OPTIN_OK)))
    got = client.set_optin(SPEC_ID, True)
    assert got == SetOptinResult(
        user_id=SPEC_ID, email="jean.dupont@acme.com", news_optin=True, previous_value=False
    )
    request = harness.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/set-optin")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == json.loads(SET_OPTIN_REQUEST)


def test_spec_merge_contract_example() -> None:
    client, harness = make(always(lambda: body(200, MERGE_OK)))
    spec_request = json.loads(MERGE_REQUEST)
    fields = {k: v for k, v in spec_request.items() if k != "organizationId"}
    got = client.merge_contract(SPEC_ID, **fields)
    assert got == MergeContractResult(organization_id=SPEC_ID, organization_name="Acme Corp")
    request = harness.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/merge-contract")
    assert json.loads(request.content) == spec_request


def test_models_accept_every_spec_record_directly() -> None:
    listings: list[tuple[str, type[WorkwaysRecord]]] = [
        (USER_LIST, WorkwaysUser),
        (ORG_LIST, WorkwaysOrganization),
    ]
    for text, model in listings:
        for item in json.loads(text)["data"]["items"]:
            model.model_validate(item)
    OrganizationDetail.model_validate(json.loads(ORG_SINGLE)["data"])
    SetOptinResult.model_validate(json.loads(SET_OPTIN_OK)["data"])
    MergeContractResult.model_validate(json.loads(MERGE_OK)["data"])


def test_models_are_strict_and_ignore_unknown_fields() -> None:
    base = json.loads(USER_SINGLE)["data"]
    extra = WorkwaysUser.model_validate({**base, "favouriteColour": "blue", "nested": {"a": 1}})
    assert extra == WorkwaysUser.model_validate(base)
    assert not hasattr(extra, "favouriteColour")
    for bad in (
        {"newsOptin": "maybe"},
        {"_id": 12},
        {"newsOptin": 1},
        {"title": 5},
        {"isOrganizationArchived": "no"},
    ):
        with pytest.raises(ValueError):
            WorkwaysUser.model_validate({**base, **bad})
    org_base = json.loads(ORG_LIST)["data"]["items"][0]
    bad_orgs: list[dict[str, object]] = [
        {"isMember": "yes"},
        {"basePrice": "1300"},
        {"basePrice": True},
        {"sitesCount": None},
        {"basePrice": float("nan")},
    ]
    for bad_org in bad_orgs:
        with pytest.raises(ValueError):
            WorkwaysOrganization.model_validate({**org_base, **bad_org})
    # numbers stay what they were: int or float
    assert WorkwaysOrganization.model_validate({**org_base, "basePrice": 12.5}).base_price == 12.5


def test_model_repr_hides_emails_and_phones() -> None:
    text = repr(WorkwaysUser.model_validate(json.loads(USER_SINGLE)["data"]))
    text += repr(WorkwaysOrganization.model_validate(json.loads(ORG_LIST)["data"]["items"][0]))
    for secret in ("jean.dupont@acme.com", "+33 1 23 45 67 89", "+33 6", "comptabilite@acme"):
        assert secret not in text


# --------------------------------------------------------------------------------------
# Error mapping.


@pytest.mark.parametrize("text", AUTH_ERRORS, ids=lambda t: json.loads(t)["message"][:40])
def test_each_documented_auth_message_is_a_source_auth_error(text: str) -> None:
    message = json.loads(text)["message"]
    for call in ("get_user", "list", "set_optin"):
        client, harness = make(always(lambda: body(401, text)))
        fn = {
            "get_user": lambda: client.get_user(SPEC_ID),
            "list": lambda: list(client.iter_users()),
            "set_optin": lambda: client.set_optin(SPEC_ID, False),
        }[call]
        err = raises(SourceAuthError, fn)
        assert message in str(err)  # the server's message is kept
        assert err.status == 401
        assert client.calls == 1 and harness.sleeps == []  # never retried


@pytest.mark.parametrize("text", AUTH_ERRORS, ids=lambda t: json.loads(t)["message"][:40])
def test_auth_messages_are_auth_errors_even_with_status_200(text: str) -> None:
    client, _ = make(always(lambda: body(200, text)))
    raises(SourceAuthError, lambda: client.get_user(SPEC_ID))


def _call_endpoint(client: WorkwaysClient, endpoint: str) -> object:
    if endpoint == "/api/user-info":
        return client.get_user(SPEC_ID)
    if endpoint == "/api/set-optin":
        return client.set_optin(SPEC_ID, True)
    if endpoint == "/api/organization-info":
        return client.get_organization(SPEC_ID)
    if endpoint == "/api/merge-contract":
        return client.merge_contract(SPEC_ID, rentalEndAt="2025-12-31")
    return list(client.iter_organizations(site="507f1f77bcf86cd799439022"))


@pytest.mark.parametrize("with_status_200", [False, True], ids=["natural-status", "status-200"])
@pytest.mark.parametrize(
    ("endpoint", "example", "text"), ERROR_EXAMPLES, ids=[f"{e}:{c}" for e, c, _ in ERROR_EXAMPLES]
)
def test_each_documented_error_example_maps_to_its_typed_error(
    endpoint: str, example: str, text: str, with_status_200: bool
) -> None:
    kind, status = EXPECTED_ERROR[example]
    client, _ = make(always(lambda: body(200 if with_status_200 else status, text)))
    err = raises(kind, lambda: _call_endpoint(client, endpoint))
    assert json.loads(text)["message"][:40] in str(err)
    assert client.calls == (4 if kind is SourceServerError else 1)


@pytest.mark.parametrize("status", [400, 404, 200])
def test_not_found_is_recognised_whatever_the_status(status: int) -> None:
    client, _ = make(
        always(lambda: httpx.Response(status, json={"retcode": -1, "message": "User not found"}))
    )
    err = raises(SourceNotFoundError, lambda: client.get_user(SPEC_ID))
    assert "User not found" in str(err) and SPEC_ID in str(err)
    assert client.calls == 1


def test_a_404_without_a_workways_body_is_not_a_missing_record() -> None:
    client, _ = make(always(lambda: body(404, "<html>Cannot GET</html>", "text/html")))
    err = raises(SourceDataError, lambda: client.get_user(SPEC_ID))
    assert not isinstance(err, SourceNotFoundError)


@pytest.mark.parametrize(
    "response",
    [
        lambda: httpx.Response(500, json={"retcode": -1, "message": "Internal server error"}),
        lambda: body(502, "<html><h1>Bad Gateway</h1></html>", "text/html"),
        lambda: body(503, ""),
        lambda: httpx.Response(200, json={"retcode": -1, "message": "Internal server error"}),
    ],
    ids=["500-json", "502-html", "503-empty", "200-internal-server-error"],
)
def test_server_errors(response: Callable[[], httpx.Response]) -> None:
    client, harness = make(always(response))
    err = raises(SourceServerError, lambda: client.get_organization(SPEC_ID))
    assert "<html>" not in str(err)
    assert client.calls == 4 and len(harness.sleeps) == 3


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (httpx.ReadTimeout, SourceTimeoutError),
        (httpx.ConnectTimeout, SourceTimeoutError),
        (httpx.PoolTimeout, SourceTimeoutError),
        (httpx.ConnectError, SourceConnectionError),
        (httpx.ReadError, SourceConnectionError),
        (httpx.RemoteProtocolError, SourceConnectionError),
        (httpx.NetworkError, SourceConnectionError),
    ],
)
def test_transport_failures(exc: type[httpx.TransportError], kind: type[SourceError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("boom", request=request)

    client, harness = make(handler)
    err = raises(kind, lambda: list(client.iter_users()))
    assert "/api/user-info page 1" in str(err)
    assert isinstance(err.__cause__, exc)
    assert client.calls == 4 and harness.sleeps == [0.25, 0.5, 1.0]


def test_server_messages_are_scrubbed_of_token_and_emails() -> None:
    text = json.dumps({"retcode": -1, "message": f"Unauthorized: {TOKEN} of x.y@acme.com"})
    client, _ = make(always(lambda: body(401, text)))
    err = raises(SourceAuthError, lambda: client.get_user(SPEC_ID), "x.y@acme.com")
    assert "Unauthorized: [token] of [e-mail]" in str(err)


# --------------------------------------------------------------------------------------
# Retries.


def test_retries_back_off_with_full_jitter_then_give_up() -> None:
    client, harness = make(always(lambda: body(503, "")))
    raises(SourceServerError, lambda: client.get_user(SPEC_ID))
    # base 0.5 s doubling (0.5, 1, 2) times the injected random 0.5
    assert harness.sleeps == [0.25, 0.5, 1.0]
    assert client.calls == 4


def test_retries_stop_at_the_first_success() -> None:
    answers = iter([body(500, ""), body(502, ""), body(200, USER_SINGLE)])
    client, harness = make(lambda request: next(answers))
    assert client.get_user(SPEC_ID).id == SPEC_ID
    assert harness.sleeps == [0.25, 0.5] and client.calls == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_never_retried(status: int) -> None:
    client, harness = make(always(lambda: httpx.Response(status, json={"retcode": -1})))
    raises(SourceError, lambda: client.get_user(SPEC_ID))
    assert client.calls == 1 and harness.sleeps == []


def test_data_errors_are_never_retried() -> None:
    client, harness = make(always(lambda: body(200, "<html>maintenance</html>", "text/html")))
    raises(SourceDataError, lambda: client.get_user(SPEC_ID))
    assert client.calls == 1 and harness.sleeps == []


def test_incremental_merge_is_retried_only_if_never_sent() -> None:
    def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    options = [{"optionModelId": "507f1f77bcf86cd799439099", "key": "parking", "quantity": 1}]
    client, harness = make(read_timeout)
    raises(SourceTimeoutError, lambda: client.merge_contract(SPEC_ID, contractOptionsToAdd=options))
    assert client.calls == 1 and harness.sleeps == []  # may have been applied: not replayed

    client, harness = make(refused)
    raises(SourceConnectionError, lambda: client.merge_contract(SPEC_ID, roomsToAdd=["a" * 24]))
    assert client.calls == 4  # never reached the server: safe to retry

    client, harness = make(read_timeout)
    raises(SourceTimeoutError, lambda: client.merge_contract(SPEC_ID, rentalEndAt="2026-01-31"))
    assert client.calls == 4  # setting a value is idempotent


def test_retry_policy_backoff_is_capped() -> None:
    policy = RetryPolicy(random=lambda: 1.0)
    assert [policy.backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy(random=lambda: 0.0).backoff(3) == 0.0
    assert RetryPolicy().backoff(200) <= 8.0


def test_retry_policy_is_generic() -> None:
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=3, sleep=sleeps.append, random=lambda: 0.5)
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            err = SourceServerError("busy")
            err.retry_after = 5.0  # type: ignore[attr-defined]  # honoured, like HubSpot's 429
            raise err
        return "done"

    assert policy.call(flaky) == "done"
    assert sleeps == [5.0, 5.0]

    def broken() -> None:
        attempts.append(1)
        raise ValueError("not a SyncWorkerError")

    attempts.clear()
    with pytest.raises(ValueError):
        policy.call(broken)
    assert len(attempts) == 1
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(base_delay=2, max_delay=1)


# --------------------------------------------------------------------------------------
# Pagination.


def test_2000_records_at_limit_200_take_exactly_10_calls() -> None:
    records = [user(i) for i in range(2000)]
    client, harness = make(paged(records))
    ids = [u.id for u in client.iter_users()]
    assert ids == [f"{i:024x}" for i in range(2000)]
    assert client.calls == 10
    assert harness.params("page") == [str(n) for n in range(1, 11)]
    assert set(harness.params("limit")) == {"200"}


def test_filters_are_sent_on_every_page() -> None:
    client, harness = make(paged([user(i) for i in range(450)]))
    assert len(list(client.iter_users(organization="507f191e810c19729de860ea"))) == 450
    assert harness.params("organization") == ["507f191e810c19729de860ea"] * 3
    client, harness = make(paged([org(i) for i in range(3)]), page_size=2)
    assert len(list(client.iter_organizations(site="507f1f77bcf86cd799439022"))) == 3
    assert harness.params("site") == ["507f1f77bcf86cd799439022"] * 2
    assert harness.params("limit") == ["2", "2"]


def test_an_empty_collection_takes_one_call() -> None:
    client, _ = make(paged([]))
    assert list(client.iter_users()) == []
    assert client.calls == 1


@pytest.mark.parametrize("size", [0, 201, -1])
def test_page_size_is_validated(size: int) -> None:
    with pytest.raises(ValueError):
        make(paged([]), page_size=size)


def test_loop_guard_a_page_that_repeats() -> None:
    records = [user(i) for i in range(1000)]

    def ignores_page(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        return ok({"items": records[:200], "total": 1000, "page": page, "limit": 200, "pages": 5})

    client, _ = make(ignores_page)
    err = raises(PaginationLoopError, lambda: list(client.iter_users()))
    assert "page 2" in str(err) and "page 1" in str(err)
    assert client.calls == 2


def test_loop_guard_a_page_number_that_is_not_the_one_asked() -> None:
    client, _ = make(paged([user(i) for i in range(1000)], page=1))
    err = raises(PaginationLoopError, lambda: list(client.iter_users()))
    assert "page 2" in str(err)


def test_loop_guard_pages_changing_mid_run() -> None:
    records = [user(i) for i in range(2000)]
    grow = paged(records)

    def handler(request: httpx.Request) -> httpx.Response:
        response = grow(request)
        if request.url.params["page"] == "4":
            data = json.loads(response.content)
            data["data"].update(total=2150, pages=11)
            return httpx.Response(200, json=data)
        return response

    client, _ = make(handler)
    err = raises(PaginationLoopError, lambda: list(client.iter_users()))
    assert "page 4" in str(err) and "10 to 11" in str(err)
    assert client.calls == 4


def test_loop_guard_total_going_down_would_skip() -> None:
    first = True

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal first
        total = 1000 if first else 990
        first = False
        return paged([user(i) for i in range(1000)], total=total)(request)

    client, _ = make(handler)
    raises(PaginationLoopError, lambda: list(client.iter_users()))


def test_total_going_up_within_the_same_pages_is_tolerated() -> None:
    first = True

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal first
        total = 990 if first else 995
        first = False
        return paged([user(i) for i in range(990)], total=total)(request)

    client, _ = make(handler)
    assert len(list(client.iter_users())) == 990


def test_pages_too_few_for_total_is_a_data_error() -> None:
    client, _ = make(paged([user(i) for i in range(500)], pages=2))
    err = raises(SourceDataError, lambda: list(client.iter_users()))
    assert "page 1" in str(err)


def test_paginator_works_for_any_page_type() -> None:
    @dataclass(frozen=True)
    class Sheet:  # what another source (Workadu) might return
        page: int
        pages: int
        total: int
        rows: list[str]

        def record_ids(self) -> Sequence[str]:
            return self.rows

    asked: list[int] = []

    def fetch(n: int) -> Sheet:
        asked.append(n)
        return Sheet(n, 3, 6, [f"r{n}a", f"r{n}b"])

    pages = PageNumberPaginator(fetch, source="Workadu GET /rows")
    assert [row for sheet in pages for row in sheet.rows] == [
        "r1a",
        "r1b",
        "r2a",
        "r2b",
        "r3a",
        "r3b",
    ]
    assert asked == [1, 2, 3]
    loop = PageNumberPaginator(lambda n: Sheet(n, 3, 6, ["same"]), source="Workadu GET /rows")
    with pytest.raises(PaginationLoopError, match="Workadu GET /rows page 2"):
        list(loop)


# --------------------------------------------------------------------------------------
# Malformed answers.


def _page_2_is(response: Callable[[], httpx.Response]) -> Handler:
    honest = paged([user(i) for i in range(600)])
    return lambda request: response() if request.url.params["page"] == "2" else honest(request)


@pytest.mark.parametrize(
    ("response", "words"),
    [
        (lambda: body(200, '{"retcode": 1, "data": {"items": ['), "not JSON"),
        (lambda: body(200, "<!DOCTYPE html><html>502</html>", "text/html"), "text/html"),
        (lambda: body(200, '"just a string"'), "not a JSON object"),
        (
            lambda: httpx.Response(200, json={"retcode": -1, "message": "Something odd"}),
            "Something odd",
        ),
        (lambda: httpx.Response(200, json={"retcode": "1", "data": {}}), "retcode"),
        (lambda: httpx.Response(200, json={"retcode": 1, "message": "OK"}), "data"),
        (
            lambda: ok({"items": {"a": 1}, "total": 600, "page": 2, "limit": 200, "pages": 3}),
            "data.items",
        ),
        (
            lambda: ok({"items": None, "total": 600, "page": 2, "limit": 200, "pages": 3}),
            "data.items",
        ),
        (lambda: ok([]), "'data' is not an object"),
        (lambda: ok({"items": [], "total": 600, "page": 2, "limit": 200}), "pages"),
        (lambda: ok({"items": [], "total": 600, "page": 2, "limit": 200, "pages": "3"}), "pages"),
        (lambda: ok({"items": [], "total": -1, "page": 2, "limit": 200, "pages": 3}), "total"),
    ],
    ids=[
        "broken-json",
        "html",
        "json-string",
        "retcode-minus-1",
        "retcode-string",
        "no-data",
        "items-dict",
        "items-null",
        "data-list",
        "pages-missing",
        "pages-string",
        "negative-total",
    ],
)
def test_malformed_pages_are_data_errors_naming_endpoint_and_page(
    response: Callable[[], httpx.Response], words: str
) -> None:
    """A malformed page after the first is reported and skipped; the walk goes on."""
    client, harness = make(_page_2_is(response))
    pages = list(client.iter_user_pages())
    assert [len(p.items) for p in pages] == [200, 0, 200]  # pages 1 and 3 delivered
    (err,) = pages[1].rejected
    assert err.record_id is None and err.page == 2
    assert "Workways GET /api/user-info page 2" in str(err)
    assert words in str(err)
    assert client.calls == 3 and harness.sleeps == []  # not retried


@pytest.mark.parametrize(
    "response",
    [
        lambda: body(200, '{"retcode": 1, "data": {"items": ['),
        lambda: body(200, "<!DOCTYPE html><html>502</html>", "text/html"),
        lambda: httpx.Response(200, json={"retcode": 1, "data": {"items": {}, "total": 1}}),
    ],
    ids=["broken-json", "html", "items-dict"],
)
def test_malformed_first_page_stops_the_walk(response: Callable[[], httpx.Response]) -> None:
    """Without a readable first page nobody knows how many pages there are."""
    client, _ = make(lambda request: response())
    err = raises(SourceDataError, lambda: list(client.iter_users()))
    assert "Workways GET /api/user-info page 1" in str(err)
    assert not isinstance(err, (SourceNotFoundError, RecordValidationError))


# --------------------------------------------------------------------------------------
# Record-level validation.


def test_bad_records_are_rejected_and_the_others_yielded() -> None:
    good_1 = user(1, favouriteColour="blue")  # unknown extra field: ignored
    no_id = user(2)
    del no_id["_id"]
    bad_optin = user(3, newsOptin="maybe")
    int_id = user(4, _id=12)
    int_phone = user(5, phone=33612345678)
    good_6 = user(6)
    records: list[object] = [good_1, no_id, bad_optin, int_id, int_phone, good_6, "not an object"]
    client, _ = make(paged([*(user(i) for i in range(100, 300)), *records]))

    pages = list(client.iter_user_pages())
    assert len(pages) == 2 and pages[0].rejected == []
    page = pages[1]
    assert [u.id for u in page.items] == [f"{1:024x}", f"{6:024x}"]
    assert [e.record_id for e in page.rejected] == [None, f"{3:024x}", None, f"{5:024x}", None]
    assert {e.page for e in page.rejected} == {2}
    no_id_err, optin_err, int_id_err, phone_err, not_object_err = page.rejected
    assert "#2" in str(no_id_err) and "_id" in str(no_id_err)
    assert f"{3:024x}" in str(optin_err) and "newsOptin" in str(optin_err)
    assert "#4" in str(int_id_err) and "_id" in str(int_id_err)
    assert "phone" in str(phone_err)
    assert "#7" in str(not_object_err)
    for err in page.rejected:
        assert "page 2" in str(err) and "/api/user-info" in str(err)
        assert_clean(err, "maybe", "33612345678", "@example.com", "+33", "First")

    # iter_users yields only the valid records, from every page
    client, _ = make(paged([*(user(i) for i in range(100, 300)), *records]))
    assert len(list(client.iter_users())) == 202


def test_a_page_keeps_its_valid_records_as_sent_even_past_the_fast_json_decoder() -> None:
    records = [
        org(1),
        org(2, maxResidentUsers="NAN"),
        org(3, isMember="yes"),
        org(4, basePrice="BIG"),
    ]
    envelope = {"items": records, "total": 4, "page": 1, "limit": 200, "pages": 1}
    # NaN, which the fast JSON decoder refuses: the standard library still reads
    # the page, and validation rejects that record alone.
    text = json.dumps(ok(envelope).json()).replace('"NAN"', "NaN").replace('"BIG"', "1" + "0" * 30)
    client, _ = make(always(lambda: body(200, text)))
    (page,) = list(client.iter_organization_pages())
    assert [o.id for o in page.items] == [f"{1:024x}", f"{4:024x}"]
    assert [e.record_id for e in page.rejected] == [f"{2:024x}", f"{3:024x}"]
    # The valid records as the API sent them, in step with the models: the sync
    # maps these, and they map to what the models would.
    assert [r["_id"] for r in page.raw] == [o.id for o in page.items]
    assert page.raw[0] == org(1)
    for record, model in zip(page.raw, page.items, strict=True):
        dumped = model.model_dump(by_alias=True)
        assert COMPANY_MAPPING.to_properties(record) == COMPANY_MAPPING.to_properties(dumped)


def test_bad_organization_records_are_rejected() -> None:
    records = [org(1), org(2, isMember="yes"), org(3, basePrice="1300 EUR"), org(4)]
    client, _ = make(paged(records))
    (page,) = list(client.iter_organization_pages())
    assert [o.id for o in page.items] == [f"{1:024x}", f"{4:024x}"]
    assert [e.record_id for e in page.rejected] == [f"{2:024x}", f"{3:024x}"]
    assert "isMember" in str(page.rejected[0]) and "basePrice" in str(page.rejected[1])
    for err in page.rejected:
        assert_clean(err, "yes", "1300 EUR")


def test_a_page_of_only_bad_records_still_paginates() -> None:
    bad = [user(i, newsOptin=None) for i in range(400)]
    client, _ = make(paged(bad))
    pages = list(client.iter_user_pages())
    assert [len(p.rejected) for p in pages] == [200, 200]
    assert list(make(paged(bad))[0].iter_users()) == []


def test_single_record_failures() -> None:
    data = {**json.loads(USER_SINGLE)["data"], "email": None}
    client, _ = make(always(lambda: ok(data)))
    err = raises(RecordValidationError, lambda: client.get_user(SPEC_ID), "Jean", "+33")
    assert err.record_id == SPEC_ID and "email" in str(err)

    client, _ = make(always(lambda: body(200, USER_SINGLE)))
    raises(SourceDataError, lambda: client.get_user("507f1f77bcf86cd799439099"))  # other id

    detail = json.loads(ORG_SINGLE)["data"]
    detail["contractOptions"][0]["id"] = "1"
    client, _ = make(always(lambda: ok(detail)))
    err = raises(RecordValidationError, lambda: client.get_organization(SPEC_ID))
    assert "contractOptions.0.id" in str(err)

    client, _ = make(always(lambda: ok({"userId": SPEC_ID})))
    raises(SourceDataError, lambda: client.set_optin(SPEC_ID, True))


# --------------------------------------------------------------------------------------
# Writes.


@pytest.mark.parametrize("optin", [True, False])
def test_set_optin_sends_the_right_body(optin: bool) -> None:
    data = {"userId": SPEC_ID, "email": "a@b.c", "newsOptin": optin, "previousValue": not optin}
    client, harness = make(always(lambda: ok(data)))
    assert client.set_optin(SPEC_ID, optin).news_optin is optin
    (request,) = harness.requests
    assert (request.method, request.url.path, request.url.query) == ("POST", "/api/set-optin", b"")
    assert json.loads(request.content) == {"user": SPEC_ID, "optin": optin}


def test_merge_contract_sends_exactly_the_given_fields() -> None:
    client, harness = make(always(lambda: body(200, MERGE_OK)))
    client.merge_contract(SPEC_ID, rentalEndAt="2026-06-30", rentalRenewal=12)
    assert json.loads(harness.requests[0].content) == {
        "organizationId": SPEC_ID,
        "rentalEndAt": "2026-06-30",
        "rentalRenewal": 12,
    }


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"rental_end_at": "2026-06-30"}, ValueError),  # snake_case is not the API's name
        ({"rentalEndAt": "2026-06-30", "colour": "red"}, ValueError),
        ({"organizationId": SPEC_ID}, ValueError),
        ({}, ValueError),
        ({"rentalRenewal": "12"}, TypeError),
        ({"rentalRenewal": True}, TypeError),
        ({"roomsToAdd": "507f191e810c19729de860ea"}, TypeError),
    ],
)
def test_merge_contract_refuses_bad_fields_before_any_request(
    fields: dict[str, object], error: type[Exception]
) -> None:
    client, harness = make(always(lambda: body(200, MERGE_OK)))
    with pytest.raises(error):
        client.merge_contract(SPEC_ID, **fields)
    assert harness.requests == [] and client.calls == 0


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        ("", ValueError),
        (" 507f1f77bcf86cd799439011", ValueError),
        (None, TypeError),
        (12, TypeError),
    ],
)
def test_ids_are_checked_before_any_request(bad: Any, error: type[Exception]) -> None:
    client, harness = make(always(lambda: body(200, USER_SINGLE)))
    for call in (
        client.get_user,
        client.get_organization,
        lambda i: client.set_optin(i, True),
        lambda i: client.merge_contract(i, rentalUrl="https://drive.example/x"),
    ):
        with pytest.raises(error):
            call(bad)
    # organization=None means every user: the bad organization is "" then
    with pytest.raises(ValueError if bad is None else error):
        client.iter_users(organization=bad if bad is not None else "")
    assert harness.requests == []


# --------------------------------------------------------------------------------------
# Secrets and logs.


def test_token_is_never_in_messages_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    records = [user(i) for i in range(250)] + [user(999, newsOptin="maybe")]
    answers = iter([body(500, "")])
    client, _ = make(lambda request: next(answers, None) or paged(records)(request))
    assert TOKEN not in repr(client)
    pages = list(client.iter_user_pages(organization="507f191e810c19729de860ea"))
    assert len(pages[1].rejected) == 1
    for handler in (
        always(lambda: body(401, AUTH_ERRORS[2])),
        always(lambda: body(404, "x")),
        always(lambda: body(200, "<html/>", "text/html")),
        always(lambda: body(503, "")),
    ):
        c, _ = make(handler)
        raises(SourceError, lambda: c.get_user(SPEC_ID))
    text = caplog.text
    assert TOKEN not in text
    for secret in ("@example.com", "+33", "maybe"):
        assert secret not in text
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("syncworker"))
    assert "page=1 limit=200 -> HTTP 500" in ours and "page=2 limit=200 -> HTTP 200" in ours
    assert "507f191e810c19729de860ea" not in ours  # query values beyond page/limit


def test_close_and_context_manager() -> None:
    with make(paged([]))[0] as client:
        assert list(client.iter_users()) == []
    with pytest.raises(RuntimeError):
        list(client.iter_users())  # closed


def test_page_record_ids_include_rejected_ones() -> None:
    page: Page[WorkwaysUser] = Page(
        items=[WorkwaysUser.model_validate(user(1))],
        total=2,
        page=1,
        limit=200,
        pages=1,
        rejected=[
            RecordValidationError("x", record_id="abc", page=1),
            RecordValidationError("y", page=1),
        ],
    )
    assert list(page.record_ids()) == [f"{1:024x}", "abc"]
