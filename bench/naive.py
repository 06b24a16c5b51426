"""The naive baseline: how simple integrations sync, one HubSpot call per record.

Run as its own process (``python -m bench.naive --users N --orgs M``) with the
same environment as ``syncworker sync``. No snapshot, no diff, no batching:
page through Workways with plain httpx, fetch each organization's detail, then
create each company and each contact with one HubSpot request apiece, one after
the other, waiting and retrying on a 429. A contact's company association rides
in its create request (HubSpot's ``associations`` field), so every record costs
exactly one HubSpot call.

The HubSpot sandbox has no single-object ``POST /crm/v3/objects/{type}`` route,
so each create is ``POST /crm/v3/objects/{type}/batch/create`` with one input:
one request per record either way, paced by the same 10-second window.

Records are mapped with syncworker's own mapping table so both sides send the
same properties. Prints one JSON line with what it did and how long each phase took.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx

from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING

CONTACT_TO_COMPANY = 279  # HubSpot's default (unlabelled) contact→company association


class Naive:
    def __init__(self) -> None:
        env = os.environ
        self.workways = httpx.Client(
            base_url=env["WORKWAYS_BASE_URL"],
            headers={"Authorization": f"Bearer {env['WORKWAYS_API_TOKEN']}"},
            timeout=30,
        )
        self.hubspot = httpx.Client(
            base_url=env["HUBSPOT_BASE_URL"],
            headers={"Authorization": f"Bearer {env['HUBSPOT_ACCESS_TOKEN']}"},
            timeout=30,
        )
        self.calls: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def ww_get(self, path: str, **params: Any) -> Any:
        self.calls["workways"] += 1
        response = self.workways.get(path, params=params)
        response.raise_for_status()
        return response.json()["data"]

    def pages(self, path: str) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            data = self.ww_get(path, page=page, limit=200)
            yield from data["items"]
            if page >= int(data.get("pages") or 0):
                return
            page += 1

    def create(self, object_type: str, item: dict[str, Any]) -> str | None:
        while True:
            self.calls["hubspot"] += 1
            response = self.hubspot.post(
                f"/crm/v3/objects/{object_type}/batch/create", json={"inputs": [item]}
            )
            if response.status_code == 429:
                self.calls["429"] += 1
                time.sleep(float(response.headers.get("Retry-After") or 1))
                continue
            if response.status_code >= 300:
                self.errors[f"{object_type} {response.status_code}"] += 1
                return None
            return str(response.json()["results"][0]["id"])


def run(users: int, orgs: int) -> dict[str, Any]:
    naive = Naive()
    companies: dict[str, str] = {}
    started = time.monotonic()
    for org in naive.pages("/api/organization-info"):
        if len(companies) >= orgs:
            break
        detail = naive.ww_get("/api/organization-info", id=org["_id"])
        props = COMPANY_MAPPING.to_properties(org, detail)
        company_id = naive.create("companies", {"properties": props})
        if company_id:
            companies[org["_id"]] = company_id
    orgs_done = time.monotonic()
    done = associated = 0
    for user in naive.pages("/api/user-info"):
        if done >= users:
            break
        done += 1
        item: dict[str, Any] = {"properties": CONTACT_MAPPING.to_properties(user)}
        company = companies.get(str(user.get("organizationId") or ""))
        if company:
            associated += 1
            item["associations"] = [
                {
                    "to": {"id": company},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": CONTACT_TO_COMPANY,
                        }
                    ],
                }
            ]
        naive.create("contacts", item)
    finished = time.monotonic()
    return {
        "orgs": len(companies),
        "users": done,
        "associated": associated,
        "orgs_seconds": orgs_done - started,
        "users_seconds": finished - orgs_done,
        "calls": dict(naive.calls),
        "errors": dict(naive.errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.naive")
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--orgs", type=int, required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.users, args.orgs)))


if __name__ == "__main__":
    main()
