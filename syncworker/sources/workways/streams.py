"""The Workways streams: organizations (companies) and users (contacts)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from syncworker.sources.streams import Association, SourcePage, Stream, as_record
from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING


def _organization_pages(client: Any) -> Iterator[SourcePage]:
    return iter(client.iter_organization_pages())


def _user_pages(client: Any) -> Iterator[SourcePage]:
    return iter(client.iter_user_pages())


def _organization_detail(client: Any, org_id: str) -> Mapping[str, Any]:
    return as_record(client.get_organization(org_id))


WORKWAYS_ORGANIZATIONS = Stream(
    name="workways.organizations",
    entity="organizations",
    source="workways",
    mapping=COMPANY_MAPPING,
    pages=_organization_pages,
    detail=_organization_detail,
    page=lambda client, number: client.organization_page(number),
    pages_per_partition=1,  # each record costs a detail call: small partitions spread them
    adopt_by_name=True,  # HubSpot has no domain from Workways: by name, when opted in
)

WORKWAYS_USERS = Stream(
    name="workways.users",
    entity="users",
    source="workways",
    mapping=CONTACT_MAPPING,
    pages=_user_pages,
    page=lambda client, number: client.user_page(number),
    # 2,000 users: a partition links its users to their companies itself, and 2,000
    # is what one association call takes (engine/fanout.py).
    pages_per_partition=10,
    association=Association(WORKWAYS_ORGANIZATIONS.name, "workways_organization_id"),
    adopt_by_email=True,
)

# Run order matters: organizations first, so users find their company.
WORKWAYS_STREAMS: tuple[Stream, ...] = (WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS)
