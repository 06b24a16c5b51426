"""The Workways sandbox, over real HTTP: endpoints, auth, paging, faults, control surface."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from syncworker_sandbox import SANDBOX_WORKWAYS_TOKEN
from syncworker_sandbox.population import generate
from syncworker_sandbox.server import ServerThread
from syncworker_sandbox.workways import (
    SANDBOX_ARCHIVED_ACCOUNT_TOKEN,
    SANDBOX_ARCHIVED_USER_TOKEN,
    SANDBOX_EXPIRED_TOKEN,
    RequestRecord,
    WorkwaysSandbox,
)

from tests.integration import InFlight, wait_until

TODAY = dt.date(2025, 6, 1)
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")
USER_KEYS = {
    "_id", "firstName", "lastName", "email", "title", "language", "phone", "mobilePhone",
    "role", "newsOptin", "mailValid", "isUserArchived", "organizationId", "organizationName",
    "isOrganizationArchived", "updatedAt",
}  # fmt: skip
ORG_KEYS = {
    "_id", "name", "description", "language", "isArchived", "principalSiteId",
    "principalSiteName", "principalSiteCountry", "sitesCount", "maxResidentUsers", "isMember",
    "contractStartDate", "contractEndDate", "renewalMonths", "basePrice", "lastAccessDate",
    "accountType", "billingName", "billingEmail", "billingAddress", "vatNumber",
    "companyNumber", "contactName", "contactPhone", "updatedAt",
}  # fmt: skip
DETAIL_KEYS = {"allocatedRooms", "accessibleSites", "contractOptions"}
UNKNOWN_ID = "0123456789abcdef01234567"
MODEL_ID = "507f1f77bcf86cd799439099"


@dataclass
class WW:
    sandbox: WorkwaysSandbox
    url: str
    client: httpx.Client  # authenticated

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params)

    def data(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["retcode"] == 1 and body["message"] == "OK"
        return body["data"]

    def post(self, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.client.post(path, json=body, params=params)


def _serve(sandbox: WorkwaysSandbox) -> Iterator[WW]:
    with ServerThread(sandbox.app) as server:
        headers = {"Authorization": f"Bearer {SANDBOX_WORKWAYS_TOKEN}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=5) as client:
            yield WW(sandbox, server.url, client)


@pytest.fixture
def ww() -> Iterator[WW]:
    yield from _serve(WorkwaysSandbox(users=120, orgs=12, seed=7, today=TODAY))


@pytest.fixture(scope="module")
def shared() -> Iterator[WW]:
    """One server for the many small cases; its tests read state afresh, never assume it."""
    yield from _serve(WorkwaysSandbox(users=450, orgs=25, seed=3, today=TODAY))


def error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"retcode", "message"} and body["retcode"] == -1
    return str(body["message"])


# ----------------------------------------------------------------------------- population


def test_population_is_deterministic_for_a_seed() -> None:
    first, again = generate(300, 20, 11, TODAY), generate(300, 20, 11, TODAY)
    assert first.users == again.users and first.organizations == again.organizations
    other = generate(300, 20, 12, TODAY)
    assert {u["_id"] for u in other.users}.isdisjoint(u["_id"] for u in first.users)
    # organizations do not depend on the number of users
    assert generate(10, 20, 11, TODAY).organizations == first.organizations


def test_population_has_the_awkward_cases() -> None:
    pop = generate(400, 30, 42, TODAY)
    users, orgs = pop.users, pop.organizations
    names = [f"{u['firstName']} {u['lastName']}" for u in users]
    assert any(ch in n for n in names for ch in "éèëïçÓóá")
    assert any("'" in n for n in names)
    assert {"Hélène", "Zoë"} <= {u["firstName"] for u in users}
    assert {"O'Brien", "D'Artagnan"} <= {u["lastName"] for u in users}
    assert any(u["lastName"] == "" for u in users)
    assert any(u["title"] is None for u in users) and any(u["title"] for u in users)
    assert any(u["phone"] is None for u in users) and any(u["phone"] for u in users)
    assert any(u["mobilePhone"] is None for u in users)
    assert any(u["organizationId"] is None for u in users)
    assert any(u["isUserArchived"] for u in users) and not all(u["isUserArchived"] for u in users)
    assert any(o["isArchived"] for o in orgs) and not all(o["isArchived"] for o in orgs)
    emails = [u["email"] for u in users]
    assert any(e != e.lower() for e in emails)
    assert any(re.fullmatch(r"Jean\.Dupont\d*@[A-Z][a-z-]+\.[a-z]+", e) for e in emails)
    assert any(e != e.strip() for e in emails)
    keys = [e.strip().lower() for e in emails]
    assert len(set(keys)) == len(keys)
    ids = [u["_id"] for u in users] + [o["_id"] for o in orgs]
    assert all(OBJECT_ID.match(i) for i in ids) and len(set(ids)) == len(ids)
    assert {u["role"] for u in users} >= {"principal-admin", "user", "admin"}
    for org in orgs:
        assert set(org) == ORG_KEYS | DETAIL_KEYS
        assert org["sitesCount"] == len(org["accessibleSites"])
    assert any(o["allocatedRooms"] for o in orgs) and any(o["contractOptions"] for o in orgs)
    assert any(o["vatNumber"] is None for o in orgs)


def test_population_of_100k_users_has_unique_emails() -> None:
    pop = generate(100_000, 2_000, 1, TODAY)  # its speed is the benchmark's business
    assert len(pop.users) == 100_000
    assert len({u["email"].strip().lower() for u in pop.users}) == 100_000


# ----------------------------------------------------------------------------------- auth

ENDPOINTS = [
    ("GET", "/api/user-info"),
    ("POST", "/api/set-optin"),
    ("GET", "/api/set-optin"),
    ("GET", "/api/organization-info"),
    ("POST", "/api/merge-contract"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Unauthorized: Authorization header is required. Use: Authorization: "
               "Bearer <your_token>"),
        ("Basic abc", "Unauthorized: Invalid authorization format. Use: Authorization: "
                      "Bearer <your_token>"),
        ("Bearer", "Unauthorized: Invalid authorization format. Use: Authorization: "
                   "Bearer <your_token>"),
        ("Bearer ww_dev_" + "0" * 64, "Unauthorized: Invalid or revoked token"),
        (f"Bearer {SANDBOX_EXPIRED_TOKEN}",
         "Votre token est expiré, connectez-vous à votre compte pour le renouveler"),
        (f"Bearer {SANDBOX_ARCHIVED_ACCOUNT_TOKEN}",
         "Votre compte est désactivé, contactez Workways"),
        (f"Bearer {SANDBOX_ARCHIVED_USER_TOKEN}", "Unauthorized: User account is archived"),
    ],
)  # fmt: skip
def test_auth_bodies(
    shared: WW, method: str, path: str, authorization: str | None, message: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = httpx.request(method, shared.url + path, headers=headers)
    assert error(response, 401) == message


def test_special_tokens_look_like_workways_tokens() -> None:
    for token in (SANDBOX_EXPIRED_TOKEN, SANDBOX_ARCHIVED_ACCOUNT_TOKEN,
                  SANDBOX_ARCHIVED_USER_TOKEN):  # fmt: skip
        assert re.fullmatch(r"ww_dev_[0-9a-f]{64}", token)


def test_custom_token() -> None:
    for w in _serve(WorkwaysSandbox(users=5, orgs=2, token="ww_dev_" + "ab" * 32, today=TODAY)):
        assert error(w.get("/api/user-info"), 401) == "Unauthorized: Invalid or revoked token"
        headers = {"Authorization": "Bearer ww_dev_" + "ab" * 32}
        assert httpx.get(w.url + "/api/user-info", headers=headers).status_code == 200


# ------------------------------------------------------------------------------ user-info


def test_user_by_id_and_email(ww: WW) -> None:
    user = ww.sandbox.users()[5]
    got = ww.data("/api/user-info", id=user["_id"])
    assert got == user and set(got) == USER_KEYS
    assert ww.data("/api/user-info", id=user["_id"].upper()) == user
    shouty = user["email"].strip().upper()
    assert ww.data("/api/user-info", email=shouty)["_id"] == user["_id"]
    # id wins over email
    other = ww.sandbox.users()[6]
    assert ww.data("/api/user-info", id=user["_id"], email=other["email"])["_id"] == user["_id"]
    assert ww.data("/api/user-info", id=user["_id"], language="fr") == user


def test_user_email_lookup_ignores_case_and_stored_whitespace(ww: WW) -> None:
    padded = next(u for u in ww.sandbox.users() if u["email"] != u["email"].strip())
    assert ww.data("/api/user-info", email=padded["email"].strip())["_id"] == padded["_id"]
    mixed = next(u for u in ww.sandbox.users() if u["email"] != u["email"].lower())
    lower = mixed["email"].strip().lower()
    assert ww.data("/api/user-info", email=lower)["email"] == mixed["email"]


def test_user_errors(shared: WW) -> None:
    assert error(shared.get("/api/user-info", id="123"), 400) == "Invalid user ID format"
    assert error(shared.get("/api/user-info", id="z" * 24), 400) == "Invalid user ID format"
    assert error(shared.get("/api/user-info", id=UNKNOWN_ID), 404) == "User not found"
    assert error(shared.get("/api/user-info", email="not-an-email"), 400) == "Invalid email format"
    assert error(shared.get("/api/user-info", email="nobody@nowhere.fr"), 404) == "User not found"
    assert (
        error(shared.get("/api/user-info", organization="acme"), 400)
        == "Invalid organization ID format"
    )


def test_user_list_pages_cover_everyone_in_id_order(ww: WW) -> None:
    seen: list[str] = []
    first = ww.data("/api/user-info", limit=50)
    assert (first["total"], first["page"], first["limit"], first["pages"]) == (120, 1, 50, 3)
    for page in range(1, 4):
        data = ww.data("/api/user-info", page=page, limit=50)
        assert all(set(item) == USER_KEYS for item in data["items"])
        seen += [item["_id"] for item in data["items"]]
    assert len(seen) == 120 and seen == sorted(seen) == sorted(set(seen))
    assert seen == [u["_id"] for u in ww.sandbox.users()]
    assert ww.data("/api/user-info", page=4, limit=50)["items"] == []
    assert ww.data("/api/user-info", page=3, limit=50)["items"][-1]["_id"] == seen[-1]
    default = ww.data("/api/user-info")
    assert (default["page"], default["limit"], len(default["items"])) == (1, 50, 50)
    assert ww.data("/api/user-info", page="", limit="")["limit"] == 50


def test_limit_is_capped_at_200(shared: WW) -> None:
    data = shared.data("/api/user-info", limit=500)
    assert data["limit"] == 200 and len(data["items"]) == 200
    assert data["total"] == 450 and data["pages"] == math.ceil(450 / 200) == 3
    assert len(shared.data("/api/user-info", limit=500, page=3)["items"]) == 50
    orgs = shared.data("/api/organization-info", limit=7, page=4)
    assert (orgs["total"], orgs["pages"], len(orgs["items"])) == (25, 4, 4)


@pytest.mark.parametrize("path", ["/api/user-info", "/api/organization-info"])
@pytest.mark.parametrize(
    ("params", "word"),
    [({"page": "0"}, "page"), ({"page": "-1"}, "page"), ({"page": "abc"}, "page"),
     ({"page": "1.5"}, "page"), ({"page": "１"}, "page"), ({"limit": "0"}, "limit"),
     ({"limit": "ten"}, "limit"), ({"limit": "-5"}, "limit")],
)  # fmt: skip
def test_bad_paging_is_400(shared: WW, path: str, params: dict[str, str], word: str) -> None:
    message = error(shared.client.get(path, params=params), 400)
    assert message.startswith(f"Invalid {word} parameter") and "positive integer" in message


def test_huge_page_is_just_empty(shared: WW) -> None:
    data = shared.data("/api/user-info", page="9" * 40, limit="9" * 40)
    assert data["items"] == [] and data["limit"] == 200


def test_user_list_organization_filter(ww: WW) -> None:
    users = ww.sandbox.users()
    org_id = max({u["organizationId"] for u in users if u["organizationId"]},
                 key=lambda o: sum(u["organizationId"] == o for u in users))  # fmt: skip
    expected = [u["_id"] for u in users if u["organizationId"] == org_id]
    data = ww.data("/api/user-info", organization=org_id, limit=200)
    assert [i["_id"] for i in data["items"]] == expected and data["total"] == len(expected)
    assert data["pages"] == 1
    empty = ww.data("/api/user-info", organization=UNKNOWN_ID)
    assert (empty["items"], empty["total"], empty["pages"]) == ([], 0, 0)


def test_user_view_reflects_its_organization(ww: WW) -> None:
    user = next(u for u in ww.sandbox.users() if u["organizationId"])
    none = next(u for u in ww.sandbox.users() if u["organizationId"] is None)
    assert none["organizationName"] is None and none["isOrganizationArchived"] is None
    ww.sandbox.update_organization(user["organizationId"], name="Zoë & D'Artagnan",
                                   isArchived=True)  # fmt: skip
    got = ww.data("/api/user-info", id=user["_id"])
    assert got["organizationName"] == "Zoë & D'Artagnan" and got["isOrganizationArchived"]
    assert got["updatedAt"] == user["updatedAt"]  # the user record itself did not change


# ---------------------------------------------------------------------- organization-info


def test_organization_single_and_list(ww: WW) -> None:
    org = ww.sandbox.organizations()[3]
    single = ww.data("/api/organization-info", id=org["_id"])
    assert set(single) == ORG_KEYS | DETAIL_KEYS
    assert {k: single[k] for k in ORG_KEYS} == org
    for room in single["allocatedRooms"]:
        assert set(room) == {"_id", "name", "contractEndDate", "price", "siteId"}
    for site in single["accessibleSites"]:
        assert set(site) == {"_id", "name", "country"}
    listed = ww.data("/api/organization-info", limit=200)
    assert listed["total"] == 12 and all(set(i) == ORG_KEYS for i in listed["items"])
    assert [i["_id"] for i in listed["items"]] == sorted(o["_id"] for o in listed["items"])


def test_organization_errors(shared: WW) -> None:
    path = "/api/organization-info"
    assert error(shared.get(path, id="nope"), 400) == "Invalid organization ID format"
    assert error(shared.get(path, id=UNKNOWN_ID), 404) == "Organization not found"
    assert error(shared.get(path, site="nope"), 400) == "Invalid site ID format"


def test_organization_site_filter(ww: WW) -> None:
    site = ww.sandbox.sites()[0]["_id"]
    details = [ww.sandbox.get_organization(o["_id"]) for o in ww.sandbox.organizations()]
    expected = [
        o["_id"] for o in details
        if o["principalSiteId"] == site or any(s["_id"] == site for s in o["accessibleSites"])
    ]  # fmt: skip
    data = ww.data("/api/organization-info", site=site, limit=200)
    assert [i["_id"] for i in data["items"]] == expected and data["total"] == len(expected)
    assert ww.data("/api/organization-info", site=UNKNOWN_ID)["total"] == 0


# ---------------------------------------------------------------------------- set-optin


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (1, True), (0, False), ("true", True), ("false", False),
     ("1", True), ("0", False), ("TRUE", True)],
)  # fmt: skip
def test_set_optin_body_values(shared: WW, value: Any, expected: bool) -> None:
    user = shared.sandbox.users()[10]
    response = shared.post("/api/set-optin", {"user": user["_id"], "optin": value})
    assert response.status_code == 200, response.text
    assert response.json() == {"retcode": 1, "message": "OK", "data": {
        "userId": user["_id"], "email": user["email"], "newsOptin": expected,
        "previousValue": user["newsOptin"]}}  # fmt: skip
    assert shared.sandbox.get_user(user["_id"])["newsOptin"] is expected


def test_set_optin_query_get_and_updated_at(ww: WW) -> None:
    user = next(u for u in ww.sandbox.users() if not u["newsOptin"])
    response = ww.client.post("/api/set-optin", params={"user": user["_id"], "optin": "true"})
    assert response.json()["data"]["previousValue"] is False
    after = ww.data("/api/user-info", id=user["_id"])
    assert after["newsOptin"] is True and after["updatedAt"] == TODAY.isoformat()
    got = ww.data("/api/set-optin", user=user["_id"], optin="0")  # GET works too
    assert (got["newsOptin"], got["previousValue"]) == (False, True)
    # no change, no new updatedAt
    ww.sandbox.update_user(user["_id"], updatedAt="2020-01-01")
    ww.data("/api/set-optin", user=user["_id"], optin="false")
    assert ww.sandbox.get_user(user["_id"])["updatedAt"] == "2020-01-01"


def test_set_optin_errors(ww: WW) -> None:
    uid = ww.sandbox.users()[0]["_id"]
    cases = [
        ({"optin": True}, 400, "Missing required parameter: user (user ID)"),
        ({"user": "", "optin": True}, 400, "Missing required parameter: user (user ID)"),
        ({"user": "abc", "optin": True}, 400, "Invalid user ID format"),
        ({"user": 12, "optin": True}, 400, "Invalid user ID format"),
        ({"user": uid}, 400, "Missing required parameter: optin (true/false)"),
        ({"user": uid, "optin": None}, 400, "Missing required parameter: optin (true/false)"),
        ({"user": uid, "optin": "yes"}, 400,
         'Invalid optin value. Use true/false, 1/0, or "true"/"false"'),
        ({"user": uid, "optin": 2}, 400,
         'Invalid optin value. Use true/false, 1/0, or "true"/"false"'),
        ({"user": uid, "optin": [True]}, 400,
         'Invalid optin value. Use true/false, 1/0, or "true"/"false"'),
        ({"user": UNKNOWN_ID, "optin": True}, 404, "User not found"),
    ]  # fmt: skip
    for body, status, message in cases:
        assert error(ww.post("/api/set-optin", body), status) == message, body
    bad = ww.client.post("/api/set-optin", content=b'{"user": ', headers={
        "Content-Type": "application/json"})  # fmt: skip
    assert error(bad, 400) == "Invalid JSON body"
    assert error(ww.client.post("/api/set-optin", json=[1]), 400).startswith("Invalid JSON body")


# ------------------------------------------------------------------------- merge-contract


def _org_with_rooms(ww: WW) -> dict[str, Any]:
    return next(
        ww.sandbox.get_organization(o["_id"]) for o in ww.sandbox.organizations()
        if ww.sandbox.get_organization(o["_id"])["allocatedRooms"]
    )  # fmt: skip


def test_merge_contract_scalars(ww: WW) -> None:
    org = _org_with_rooms(ww)
    body = {"organizationId": org["_id"], "rentalPrice": "1500€", "rentalStartAt": "2025-01-01",
            "rentalEndAt": "2026-12-31", "rentalRenewal": 12, "rentalComment": "Bail 3-6-9",
            "rentalUrl": "https://drive.example/acme", "language": "fr"}  # fmt: skip
    response = ww.post("/api/merge-contract", body)
    assert response.json() == {"retcode": 1, "message": "OK", "data": {
        "organizationId": org["_id"], "organizationName": org["name"]}}  # fmt: skip
    got = ww.data("/api/organization-info", id=org["_id"])
    assert (got["basePrice"], got["contractStartDate"], got["contractEndDate"]) == (
        1500, "2025-01-01", "2026-12-31")  # fmt: skip
    assert got["renewalMonths"] == 12 and got["updatedAt"] == TODAY.isoformat()
    assert (got["rentalComment"], got["rentalUrl"]) == ("Bail 3-6-9", "https://drive.example/acme")
    listed = ww.data("/api/organization-info", limit=200)["items"]
    assert next(i for i in listed if i["_id"] == org["_id"])["rentalComment"] == "Bail 3-6-9"
    for text, amount in [("1 500,50 €", 1500.5), ("€1,500.00", 1500), ("1.500 €", 1500),
                         ("12.5", 12.5), ("gratuit", None)]:  # fmt: skip
        ww.post("/api/merge-contract", {"organizationId": org["_id"], "rentalPrice": text})
        assert ww.sandbox.get_organization(org["_id"])["basePrice"] == amount, text
    ww.post("/api/merge-contract", {"organizationId": org["_id"], "rentalEndAt": ""})
    assert ww.sandbox.get_organization(org["_id"])["contractEndDate"] is None


def test_merge_contract_options_incremental_and_replacement(ww: WW) -> None:
    org = ww.sandbox.organizations()[0]["_id"]
    ww.sandbox.update_organization(org, contractOptions=[])
    add = [{"optionModelId": MODEL_ID, "key": "parking", "name": "Place de parking",
            "quantity": 2, "price": 150, "startAt": "2025-02-01"},
           {"optionModelId": MODEL_ID, "key": "tv_rental", "price": -1}]  # fmt: skip
    assert (
        ww.post(
            "/api/merge-contract", {"organizationId": org, "contractOptionsToAdd": add}
        ).status_code
        == 200
    )
    options = ww.data("/api/organization-info", id=org)["contractOptions"]
    assert options == [
        {"id": 1, "name": "Place de parking", "key": "parking", "quantity": 2, "price": 150,
         "pricePromo": None, "startDate": "2025-02-01", "endDate": ""},
        {"id": 2, "name": "Location téléviseur", "key": "tv_rental", "quantity": 1,
         "price": None, "pricePromo": None, "startDate": TODAY.isoformat(), "endDate": ""},
    ]  # fmt: skip
    ww.post("/api/merge-contract", {"organizationId": org, "contractOptionsToRemove": [1],
                                    "contractOptionsToAdd": [add[1]]})  # fmt: skip
    options = ww.sandbox.get_organization(org)["contractOptions"]
    assert [(o["id"], o["key"]) for o in options] == [(2, "tv_rental"), (3, "tv_rental")]
    ww.post("/api/merge-contract", {"organizationId": org, "contractOptions": [add[0]]})
    options = ww.sandbox.get_organization(org)["contractOptions"]
    assert [(o["id"], o["key"]) for o in options] == [(1, "parking")]
    twice = ww.post("/api/merge-contract", {"organizationId": org,
                                            "contractOptionsToAdd": [add[0]]})  # fmt: skip
    assert "only be subscribed once" in error(twice, 400)
    assert len(ww.sandbox.get_organization(org)["contractOptions"]) == 1


def test_merge_contract_rooms_incremental_and_replacement(ww: WW) -> None:
    org = _org_with_rooms(ww)
    oid, before = org["_id"], [r["_id"] for r in org["allocatedRooms"]]
    taken = {r["_id"] for o in ww.sandbox.organizations()
             for r in ww.sandbox.get_organization(o["_id"])["allocatedRooms"]}  # fmt: skip
    far_site = next(s for s in ww.sandbox.sites()
                    if s["_id"] not in {x["_id"] for x in org["accessibleSites"]})  # fmt: skip
    far = [r for r in ww.sandbox.rooms()
           if r["siteId"] == far_site["_id"] and r["_id"] not in taken][:5]  # fmt: skip
    ww.post("/api/merge-contract", {"organizationId": oid, "roomsToAdd": [far[0]["_id"]],
                                    "roomsToRemove": before[:1]})  # fmt: skip
    got = ww.data("/api/organization-info", id=oid)
    assert [r["_id"] for r in got["allocatedRooms"]] == [*before[1:], far[0]["_id"]]
    added = got["allocatedRooms"][-1]
    assert (added["name"], added["siteId"], added["price"]) == (
        far[0]["name"], far_site["_id"], far[0]["price"])  # fmt: skip
    assert far_site["_id"] in {s["_id"] for s in got["accessibleSites"]}
    assert got["sitesCount"] == len(got["accessibleSites"])
    # full replacement; the principal site follows the rooms
    ww.post("/api/merge-contract", {"organizationId": oid, "rooms": [r["_id"] for r in far]})
    got = ww.data("/api/organization-info", id=oid)
    assert [r["_id"] for r in got["allocatedRooms"]] == [r["_id"] for r in far]
    assert (got["principalSiteId"], got["principalSiteName"]) == (far_site["_id"],
                                                                  far_site["name"])  # fmt: skip
    listed = ww.data("/api/organization-info", site=far_site["_id"], limit=200)["items"]
    assert oid in {i["_id"] for i in listed}


def test_merge_contract_errors_change_nothing(ww: WW) -> None:
    org = ww.sandbox.organizations()[1]["_id"]
    before = ww.sandbox.get_organization(org)
    cases = [
        ({}, 400, "Missing required parameter: organizationId"),
        ({"organizationId": ""}, 400, "Missing required parameter: organizationId"),
        ({"organizationId": "abc"}, 400, "Invalid organizationId format"),
        ({"organizationId": 42}, 400, "Invalid organizationId format"),
        ({"organizationId": UNKNOWN_ID}, 404, "Organization not found"),
        ({"organizationId": org, "rentalEndAt": "31/12/2025", "rentalPrice": "9€"}, 400,
         "Invalid rentalEndAt format. Use YYYY-MM-DD"),
        ({"organizationId": org, "rentalStartAt": "2025-02-30"}, 400,
         "Invalid rentalStartAt format. Use YYYY-MM-DD"),
        ({"organizationId": org, "rentalRenewal": "soon"}, 400,
         "Invalid rentalRenewal value. Use a number of months"),
        ({"organizationId": org, "rentalPrice": ["1500"]}, 400,
         'Invalid rentalPrice value. Use a string such as "1500€"'),
        ({"organizationId": org, "rooms": "abc"}, 400, "Invalid rooms: use a list of room IDs"),
        ({"organizationId": org, "roomsToAdd": ["xyz"]}, 400, "Invalid room ID format"),
        ({"organizationId": org, "roomsToAdd": [UNKNOWN_ID]}, 404, "Room not found"),
        ({"organizationId": org, "contractOptionsToAdd": [{"key": "parking"}]}, 400,
         "Invalid contractOptionsToAdd: optionModelId is required (MongoDB ObjectId)"),
        ({"organizationId": org, "contractOptionsToAdd": [{"optionModelId": MODEL_ID,
          "key": "yacht"}]}, 400, 'Invalid contract option key: "yacht"'),
        ({"organizationId": org, "contractOptionsToAdd": ["parking"]}, 400,
         "Invalid contractOptionsToAdd: each option must be an object"),
        ({"organizationId": org, "contractOptionsToRemove": ["one"]}, 400,
         "Invalid contractOptionsToRemove: use a list of option IDs"),
    ]  # fmt: skip
    for body, status, message in cases:
        assert error(ww.post("/api/merge-contract", body), status) == message, body
    raw = ww.client.post("/api/merge-contract", content=b"{nope",
                         headers={"Content-Type": "application/json"})  # fmt: skip
    assert error(raw, 400) == "Invalid JSON body"
    assert ww.sandbox.get_organization(org) == before


# ---------------------------------------------------------------------- corrupted pages


def _raw_page(ww: WW, path: str, page: int) -> httpx.Response:
    return ww.client.get(path, params={"page": page, "limit": 10})


@pytest.mark.parametrize("path", ["/api/user-info", "/api/organization-info"])
def test_corrupt_page_kinds(ww: WW, path: str) -> None:
    clean = _raw_page(ww, path, 1).json()["data"]["items"]
    endpoint = path.removeprefix("/api/")

    ww.sandbox.corrupt_page(endpoint, 1, "malformed-json")
    response = _raw_page(ww, path, 1)
    assert response.status_code == 200 and "json" in response.headers["content-type"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)
    assert _raw_page(ww, path, 1).json()["data"]["items"] == clean  # one-shot

    ww.sandbox.corrupt_page(path, 1, "html-200")
    response = _raw_page(ww, path, 1)
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "text/html") and response.text.lstrip().startswith("<!DOCTYPE html>")  # fmt: skip

    ww.sandbox.corrupt_page(endpoint, 1, "retcode-error-200")
    response = _raw_page(ww, path, 1)
    assert response.status_code == 200 and response.json()["retcode"] == -1

    ww.sandbox.corrupt_page(endpoint, 1, "items-not-list")
    items = _raw_page(ww, path, 1).json()["data"]["items"]
    assert isinstance(items, dict) and list(items.values()) == clean

    field = "email" if endpoint == "user-info" else "name"
    for kind in ("missing-id", "wrong-type"):
        ww.sandbox.corrupt_page(endpoint, 1, kind)
        items = _raw_page(ww, path, 1).json()["data"]["items"]
        broken = [i for i, (a, b) in enumerate(zip(items, clean, strict=True)) if a != b]
        assert broken == [5], kind
        if kind == "missing-id":
            assert "_id" not in items[5] and {**items[5], "_id": clean[5]["_id"]} == clean[5]
        else:
            assert not isinstance(items[5][field], str) and items[5]["_id"] == clean[5]["_id"]


def test_corrupt_page_targets_only_its_page(ww: WW) -> None:
    ww.sandbox.corrupt_page("user-info", 2, "html-200")
    assert _raw_page(ww, "/api/user-info", 1).json()["retcode"] == 1
    assert ww.data("/api/organization-info", page=2, limit=5)["page"] == 2
    assert _raw_page(ww, "/api/user-info", 2).headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        ww.sandbox.corrupt_page("user-info", 1, "gibberish")
    with pytest.raises(ValueError):
        ww.sandbox.corrupt_page("rooms", 1, "html-200")


# ------------------------------------------------------------------------------- faults


def test_fail_next_then_recover(ww: WW) -> None:
    ww.sandbox.set_fault(fail_next=2)
    for _ in range(2):
        assert error(ww.get("/api/user-info"), 500) == "Internal server error"
    assert ww.get("/api/user-info").status_code == 200
    ww.sandbox.set_fault(fail_next=1, status=503)
    response = ww.get("/api/organization-info")
    assert response.status_code == 503 and "text/html" in response.headers["content-type"]
    ww.sandbox.set_fault(fail_next=1, status=429)
    assert error(ww.get("/api/organization-info"), 429) == "Too Many Requests"
    with pytest.raises(ValueError):
        ww.sandbox.set_fault(status=200)


def test_error_rate_is_seeded(ww: WW) -> None:
    def run() -> list[int]:
        ww.sandbox.set_fault(error_rate=0.5, seed=99)
        return [ww.get("/api/user-info", limit=1).status_code for _ in range(30)]

    first = run()
    assert set(first) == {200, 500} and run() == first
    ww.sandbox.set_fault(error_rate=1.0)
    assert ww.get("/api/user-info").status_code == 500
    ww.sandbox.set_fault()
    assert ww.get("/api/user-info").status_code == 200


def test_timeout_fault(ww: WW) -> None:
    # The fault's wait is far longer than the client's 5 s timeout: a request
    # made to wait too would raise ReadTimeout instead of answering.
    ww.sandbox.set_fault(fail_next=1, timeout_seconds=60)
    with pytest.raises(httpx.ReadTimeout):
        ww.client.get("/api/user-info", timeout=0.3)
    assert ww.get("/api/user-info").status_code == 200  # only the failing one waits


def test_held_pages_wait_for_their_release(ww: WW) -> None:
    ww.sandbox.hold_pages("/api/user-info", from_page=2)
    assert ww.data("/api/user-info", page=1, limit=5)["page"] == 1
    assert ww.data("/api/organization-info", page=2, limit=5)["page"] == 2  # another endpoint
    some_id = ww.data("/api/user-info", page=1, limit=1)["items"][0]["_id"]
    assert ww.get("/api/user-info", id=some_id).status_code == 200  # not a list page
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(ww.data, "/api/user-info", page=2, limit=5)
        wait_until(lambda: ww.sandbox.held() == 1, 10, "the page to be held")
        ww.sandbox.release_pages()
        assert waiting.result(timeout=10)["page"] == 2
    assert ww.data("/api/user-info", page=3, limit=5)["page"] == 3  # holds no more
    ww.sandbox.hold_pages("user-info", from_page=3)
    with pytest.raises(httpx.ReadTimeout):
        ww.client.get("/api/user-info", params={"page": 3, "limit": 5}, timeout=0.3)
    ww.sandbox.release_pages()
    with pytest.raises(ValueError):
        ww.sandbox.hold_pages("rooms", from_page=2)


def test_latency_does_not_block_the_loop() -> None:
    sandbox = WorkwaysSandbox(users=12, orgs=2, seed=7, today=TODAY, latency_ms=500)
    served = InFlight(sandbox.app)
    together = threading.Barrier(6)
    headers = {"Authorization": f"Bearer {SANDBOX_WORKWAYS_TOKEN}"}
    with (
        ServerThread(served) as server,
        httpx.Client(base_url=server.url, headers=headers, timeout=10) as client,
    ):

        def call(_: int) -> tuple[int, float]:
            together.wait(timeout=10)
            started = time.perf_counter()
            status = client.get("/api/user-info", params={"limit": 1}).status_code
            return status, time.perf_counter() - started

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(call, range(6)))
    assert [status for status, _ in results] == [200] * 6
    assert min(waited for _, waited in results) >= 0.49  # each one waited out its latency
    # ... all at once: a latency that held the event loop serves them one by one
    assert served.most == 6


# ---------------------------------------------------------------------- request log


def test_request_log(ww: WW) -> None:
    ww.get("/api/user-info", page=2)
    ww.post("/api/set-optin", {"user": "x"})
    ww.client.get("/_sandbox/log")  # control requests are not logged
    log = ww.sandbox.request_log
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/api/user-info", 200), ("POST", "/api/set-optin", 400)]  # fmt: skip
    assert isinstance(log[0], RequestRecord) and log[0].query == {"page": "2"}
    assert log[0].at <= log[1].at <= time.time()
    assert ww.sandbox.count() == 2 and ww.sandbox.count("get") == 1
    assert ww.sandbox.count(path="/api/set-optin") == 1 and ww.sandbox.count("POST", "/x") == 0
    ww.sandbox.clear_log()
    assert ww.sandbox.request_log == [] and ww.sandbox.count() == 0


# ----------------------------------------------------------------- control surface


def test_control_surface_in_process(ww: WW) -> None:
    sandbox = ww.sandbox
    users = sandbox.users()
    users[0]["firstName"] = "changed"  # copies
    assert sandbox.users()[0]["firstName"] != "changed"
    uid = users[1]["_id"]
    sandbox.update_user(uid, firstName="Noël", email="Noel.Lemaitre@Example.fr")
    got = ww.data("/api/user-info", email="noel.lemaitre@example.fr")
    assert (got["_id"], got["firstName"], got["updatedAt"]) == (uid, "Noël", TODAY.isoformat())
    with pytest.raises(ValueError):
        sandbox.update_user(users[2]["_id"], email="noel.LEMAITRE@example.fr")
    with pytest.raises(ValueError):
        sandbox.update_user(uid, organizationName="nope")
    with pytest.raises(KeyError):
        sandbox.get_user(UNKNOWN_ID)

    org_id = sandbox.add_organization(name="Ó Súilleabháin Teo.")
    org = ww.data("/api/organization-info", id=org_id)
    assert org["name"] == "Ó Súilleabháin Teo." and set(org) == ORG_KEYS | DETAIL_KEYS
    new_uid = sandbox.add_user(firstName="Zoë", organizationId=org_id)
    new = ww.data("/api/user-info", id=new_uid)
    assert (new["firstName"], new["organizationName"]) == ("Zoë", "Ó Súilleabháin Teo.")
    assert set(new) == USER_KEYS and new["email"]
    assert ww.data("/api/user-info", organization=org_id)["total"] == 1
    assert ww.data("/api/user-info")["total"] == 121
    assert new_uid > max(u["_id"] for u in users)  # appended at the end of the listing

    sandbox.remove_organization(org_id)
    assert ww.data("/api/user-info", id=new_uid)["organizationId"] is None
    sandbox.remove_user(new_uid)
    assert error(ww.get("/api/user-info", id=new_uid), 404) == "User not found"
    with pytest.raises(KeyError):
        sandbox.remove_user(new_uid)
    assert sandbox.add_user(_id="aaaaaaaaaaaaaaaaaaaaaaaa", organizationId=None) == "a" * 24


def test_control_surface_over_http(ww: WW) -> None:
    control = httpx.Client(base_url=ww.url + "/_sandbox", timeout=5)  # no auth needed
    uid = ww.sandbox.users()[3]["_id"]
    assert control.get(f"/users/{uid}").json() == ww.sandbox.get_user(uid)
    patched = control.patch(f"/users/{uid}", json={"title": "Gérante", "newsOptin": True})
    assert patched.status_code == 200 and patched.json()["title"] == "Gérante"
    assert ww.data("/api/user-info", id=uid)["newsOptin"] is True
    created = control.post("/users", json={"firstName": "Éabha", "lastName": "Ní Bhriain"})
    assert created.status_code == 201 and created.json()["firstName"] == "Éabha"
    assert control.delete(f"/users/{created.json()['_id']}").status_code == 204
    assert control.get(f"/users/{created.json()['_id']}").status_code == 404
    assert control.patch(f"/users/{uid}", json={"bogus": 1}).status_code == 400
    assert control.patch(f"/users/{uid}", content=b"{").status_code == 400
    assert len(control.get("/users").json()) == 120

    org = control.post("/organizations", json={"name": "L'Atelier Zoë"}).json()
    assert set(org) == ORG_KEYS | DETAIL_KEYS
    renamed = control.patch(f"/organizations/{org['_id']}", json={"name": "Atelier Zoë"})
    assert renamed.json()["name"] == "Atelier Zoë"
    assert control.delete(f"/organizations/{org['_id']}").status_code == 204
    assert len(control.get("/organizations").json()) == 12
    assert control.get("/sites").json() == ww.sandbox.sites()
    assert len(control.get("/rooms").json()) == len(ww.sandbox.rooms())

    ww.sandbox.clear_log()
    ww.get("/api/user-info")
    log = control.get("/log", params={"path": "/api/user-info"}).json()
    assert log["count"] == 1 and log["records"][0]["status"] == 200
    assert control.delete("/log").status_code == 204 and ww.sandbox.count() == 0

    assert control.post("/faults", json={"fail_next": 1, "latency_ms": 1}).status_code == 200
    assert ww.get("/api/user-info").status_code == 500 and ww.sandbox.latency_ms == 1
    assert control.post("/faults", json={}).status_code == 200
    assert control.post("/faults", json={"fail_nxt": 1}).status_code == 400
    assert control.post("/faults", json={"status": 200}).status_code == 400
    body = {"endpoint": "organization-info", "page": 1, "kind": "html-200"}
    assert control.post("/corrupt-page", json=body).status_code == 200
    assert ww.get("/api/organization-info").headers["content-type"].startswith("text/html")
    assert control.post("/corrupt-page", json={**body, "kind": "x"}).status_code == 400
    control.close()


# ------------------------------------------------------------------------- robustness


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/api/user-info", {"params": {"id": "507f1f77bcf86cd799439011\n"}}),
        ("GET", "/api/user-info", {"params": {"email": "a@b.c\n", "limit": "²"}}),
        ("GET", "/api/user-info", {"params": [("page", "1"), ("page", "x")]}),
        ("POST", "/api/set-optin", {"content": b"\xff\xfe\x00"}),
        ("POST", "/api/set-optin", {"content": b"[" * 100_000}),
        ("POST", "/api/set-optin", {"content": b'{"user": "507f1f77bcf86cd799439011", '
                                               b'"optin": NaN}'}),
        ("POST", "/api/merge-contract", {"content": b"null"}),
        ("POST", "/api/merge-contract", {"json": {"organizationId": ["x"]}}),
        ("POST", "/api/merge-contract", {"json": {"organizationId": {"$ne": None}}}),
        ("POST", "/api/merge-contract", {"content": b'{"organizationId": "507f1f77bcf86cd7994390'
                                                    b'11", "rentalRenewal": 1e999}'}),
        ("POST", "/api/merge-contract", {"content": b"1" * 5000}),
        ("DELETE", "/api/user-info", {}),
        ("GET", "/api/merge-contract", {}),
    ],
)  # fmt: skip
def test_odd_inputs_get_envelopes_not_crashes(
    shared: WW, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = shared.client.request(method, path, **kwargs)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["retcode"] == -1


def test_rental_price_pathologies(ww: WW) -> None:
    org = ww.sandbox.organizations()[2]["_id"]
    for text in ["9" * 400, "1,2,3,4", "..", "€", "1e5", "١٢٣"]:
        response = ww.post("/api/merge-contract", {"organizationId": org, "rentalPrice": text})
        assert response.status_code == 200, (text, response.text)
    assert ww.sandbox.get_organization(org)["basePrice"] is None  # no ASCII digits
