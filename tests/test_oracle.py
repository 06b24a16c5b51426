"""The hand-written oracle (``tests/oracle.py``) can fail.

A copy of the production mapping table with two fields' targets swapped, or
one field dropped, maps sandbox records to properties the oracle rejects; the
table as shipped maps them to exactly what the oracle expects. And the oracle's
rules hold on the spec's own example records, whose expected strings are
written out here by hand.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest
from syncworker_sandbox.runner import Sandboxes

from syncworker.mapping import FieldMap, ObjectMapping
from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING
from syncworker.sources.workways.streams import WORKWAYS_ORGANIZATIONS, WORKWAYS_USERS
from tests.checks import assert_hubspot_equals_workways
from tests.conftest import Wired
from tests.oracle import differences, expected_company, expected_contact

# ------------------------------------------------ the spec's examples, by hand

# /api/user-info, "Success Response - Paginated List"
JEAN = {
    "_id": "507f1f77bcf86cd799439011",
    "firstName": "Jean",
    "lastName": "Dupont",
    "email": "jean.dupont@acme.com",
    "title": "Directeur Commercial",
    "language": "fr",
    "phone": "+33 1 23 45 67 89",
    "mobilePhone": "+33 6 12 34 56 78",
    "role": "principal-admin",
    "newsOptin": True,
    "mailValid": True,
    "isUserArchived": False,
    "organizationId": "507f191e810c19729de860ea",
    "organizationName": "Acme Corp",
    "isOrganizationArchived": False,
    "updatedAt": "2025-01-15",
}
JEAN_IN_HUBSPOT = {
    "workways_user_id": "507f1f77bcf86cd799439011",
    "firstname": "Jean",
    "lastname": "Dupont",
    "email": "jean.dupont@acme.com",
    "jobtitle": "Directeur Commercial",
    "phone": "+33 1 23 45 67 89",
    "mobilephone": "+33 6 12 34 56 78",
    "workways_language": "fr",
    "workways_role": "principal-admin",
    "workways_newsletter_optin": "true",
    "workways_mail_valid": "true",
    "workways_archived": "false",
    "workways_organization_id": "507f191e810c19729de860ea",
    "company": "Acme Corp",
    "workways_organization_archived": "false",
    "workways_updated_at": "2025-01-15",
}

# The second user of that example, with untidy text added: nulls clear.
MARIE = {
    "_id": "507f1f77bcf86cd799439012",
    "firstName": " Marie ",
    "lastName": "Martin",
    "email": "  Marie.Martin@Example.COM\t",
    "title": None,
    "language": "en",
    "phone": None,
    "mobilePhone": None,
    "role": "user",
    "newsOptin": False,
    "mailValid": True,
    "isUserArchived": False,
    "organizationId": None,
    "organizationName": None,
    "isOrganizationArchived": None,
    "updatedAt": "2025-01-10",
}
MARIE_IN_HUBSPOT = {
    "workways_user_id": "507f1f77bcf86cd799439012",
    "firstname": "Marie",
    "lastname": "Martin",
    "email": "marie.martin@example.com",
    "jobtitle": "",
    "phone": "",
    "mobilephone": "",
    "workways_language": "en",
    "workways_role": "user",
    "workways_newsletter_optin": "false",
    "workways_mail_valid": "true",
    "workways_archived": "false",
    "workways_organization_id": "",
    "company": "",
    "workways_organization_archived": "",
    "workways_updated_at": "2025-01-10",
}

# /api/organization-info, "Success Response - Single Organization" (two more
# options added to show the other period forms and a fractional price).
ACME = {
    "_id": "507f1f77bcf86cd799439011",
    "name": "Acme Corp",
    "description": "Technology solutions company",
    "language": "fr",
    "isArchived": False,
    "principalSiteId": "507f1f77bcf86cd799439022",
    "principalSiteName": "Workways Paris",
    "principalSiteCountry": "fr",
    "sitesCount": 2,
    "maxResidentUsers": 10,
    "isMember": True,
    "contractStartDate": "2024-01-01",
    "contractEndDate": "2025-12-31",
    "renewalMonths": 12,
    "basePrice": 1300.0,
    "lastAccessDate": "2025-01-27",
    "accountType": "customer",
    "billingName": "Acme Corp SAS",
    "billingEmail": "Comptabilite@Acme.com",
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
            "siteId": "507f1f77bcf86cd799439022",
        },
        {"_id": "507f191e810c19729de860eb", "name": "Box 3", "contractEndDate": "", "price": None},
    ],
    "accessibleSites": [
        {"_id": "507f1f77bcf86cd799439022", "name": "Workways Paris", "country": "fr"},
        {"_id": "507f1f77bcf86cd799439033", "name": "Workways Lyon", "country": "fr"},
    ],
    "contractOptions": [
        {
            "id": 1,
            "name": "Place de parking",
            "key": "parking",
            "quantity": 2,
            "price": 150,
            "pricePromo": None,
            "startDate": "2024-01-01",
            "endDate": "",
        },
        {
            "id": 2,
            "name": "Location téléviseur",
            "quantity": 1,
            "price": 29.5,
            "startDate": "2024-02-01",
            "endDate": "2024-12-31",
        },
        {"id": 3, "name": "Forfait salles", "quantity": 1, "price": None, "startDate": ""},
    ],
}
ACME_IN_HUBSPOT = {
    "workways_org_id": "507f1f77bcf86cd799439011",
    "name": "Acme Corp",
    "description": "Technology solutions company",
    "workways_language": "fr",
    "workways_archived": "false",
    "workways_principal_site_id": "507f1f77bcf86cd799439022",
    "workways_principal_site": "Workways Paris",
    "workways_principal_site_country": "fr",
    "workways_sites_count": "2",
    "workways_max_resident_users": "10",
    "workways_is_member": "true",
    "workways_contract_start_date": "2024-01-01",
    "workways_contract_end_date": "2025-12-31",
    "workways_renewal_months": "12",
    "workways_base_price": "1300",
    "workways_last_access_date": "2025-01-27",
    "workways_account_type": "customer",
    "workways_billing_name": "Acme Corp SAS",
    "workways_billing_email": "comptabilite@acme.com",
    "workways_billing_address": "123 Avenue des Champs-Elysees, 75008 Paris",
    "workways_vat_number": "FR12345678901",
    "workways_company_number": "123456789",
    "workways_contact_name": "Jean Dupont",
    "workways_contact_phone": "+33 1 23 45 67 89",
    "workways_updated_at": "2025-01-15",
    "workways_allocated_rooms": (
        "Bureau Premium A12 (until 2025-12-31), 850 €/month "
        "[room 507f191e810c19729de860ea, site 507f1f77bcf86cd799439022]\n"
        "Box 3 [room 507f191e810c19729de860eb]"
    ),
    "workways_accessible_sites": (
        "Workways Paris (FR) [site 507f1f77bcf86cd799439022]\n"
        "Workways Lyon (FR) [site 507f1f77bcf86cd799439033]"
    ),
    "workways_contract_options": (
        "Place de parking ×2, 150 €/month [from 2024-01-01] [option parking #1]\n"
        "Location téléviseur ×1, 29.5 €/month [2024-02-01 → 2024-12-31] [option #2]\n"
        "Forfait salles ×1 [option #3]"
    ),
}

# The second organization of the list example: nulls, and no detail arrays.
BETA = {
    "_id": "507f1f77bcf86cd799439012",
    "name": "Beta Industries",
    "description": None,
    "language": "en",
    "isArchived": False,
    "principalSiteId": "507f1f77bcf86cd799439033",
    "principalSiteName": "Workways Brussels",
    "principalSiteCountry": "be",
    "sitesCount": 1,
    "maxResidentUsers": 5,
    "isMember": True,
    "contractStartDate": "2024-06-01",
    "contractEndDate": None,
    "renewalMonths": None,
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
    "updatedAt": "2025-01-10",
    "allocatedRooms": [],
    "accessibleSites": [],
    "contractOptions": [],
}
BETA_IN_HUBSPOT = {
    "workways_org_id": "507f1f77bcf86cd799439012",
    "name": "Beta Industries",
    "description": "",
    "workways_language": "en",
    "workways_archived": "false",
    "workways_principal_site_id": "507f1f77bcf86cd799439033",
    "workways_principal_site": "Workways Brussels",
    "workways_principal_site_country": "be",
    "workways_sites_count": "1",
    "workways_max_resident_users": "5",
    "workways_is_member": "true",
    "workways_contract_start_date": "2024-06-01",
    "workways_contract_end_date": "",
    "workways_renewal_months": "",
    "workways_base_price": "800",
    "workways_last_access_date": "2025-01-26",
    "workways_account_type": "customer",
    "workways_billing_name": "Beta Industries SPRL",
    "workways_billing_email": "finance@beta.be",
    "workways_billing_address": "45 Rue de la Loi, 1040 Brussels",
    "workways_vat_number": "BE0123456789",
    "workways_company_number": "0123.456.789",
    "workways_contact_name": "Marie Martin",
    "workways_contact_phone": "+32 2 123 45 67",
    "workways_updated_at": "2025-01-10",
    "workways_allocated_rooms": "",
    "workways_accessible_sites": "",
    "workways_contract_options": "",
}


@pytest.mark.parametrize(
    ("user", "stored"), [(JEAN, JEAN_IN_HUBSPOT), (MARIE, MARIE_IN_HUBSPOT)], ids=["jean", "marie"]
)
def test_spec_users_map_to_the_hand_written_properties(
    user: dict[str, Any], stored: dict[str, str]
) -> None:
    assert expected_contact(user) == stored
    assert CONTACT_MAPPING.to_properties(user) == stored


@pytest.mark.parametrize(
    ("org", "stored"), [(ACME, ACME_IN_HUBSPOT), (BETA, BETA_IN_HUBSPOT)], ids=["acme", "beta"]
)
def test_spec_organizations_map_to_the_hand_written_properties(
    org: dict[str, Any], stored: dict[str, str]
) -> None:
    assert expected_company(org, org) == stored
    assert COMPANY_MAPPING.to_properties(org, org) == stored


# ------------------------------------------- mutated copies of the production table


def swapped(mapping: ObjectMapping, a: str, b: str) -> ObjectMapping:
    """A copy of ``mapping`` in which the fields named ``a`` and ``b`` trade targets."""
    target = {f.source: f.target for f in mapping.all_fields}

    def swap(f: FieldMap) -> FieldMap:
        if f.source in (a, b):
            return dataclasses.replace(f, target=target[b if f.source == a else a])
        return f

    return dataclasses.replace(
        mapping,
        fields=tuple(map(swap, mapping.fields)),
        detail_fields=tuple(map(swap, mapping.detail_fields)),
    )


def dropped(mapping: ObjectMapping, source: str) -> ObjectMapping:
    """A copy of ``mapping`` without the field named ``source``."""
    return dataclasses.replace(
        mapping,
        fields=tuple(f for f in mapping.fields if f.source != source),
        detail_fields=tuple(f for f in mapping.detail_fields if f.source != source),
    )


def oracle_problems(
    contacts: ObjectMapping, companies: ObjectMapping, boxes: Sandboxes
) -> list[str]:
    """What the oracle says of the properties these tables give the sandbox's records."""
    problems = []
    for user in boxes.workways.users():
        stored = contacts.to_properties(user)
        problems += differences(user["_id"], expected_contact(user), stored)
    for org in boxes.workways.organizations():
        detail = boxes.workways.get_organization(org["_id"])
        stored = companies.to_properties(org, detail)
        problems += differences(org["_id"], expected_company(org, detail), stored)
    return problems


def sources(mapping: ObjectMapping) -> list[str]:
    return [f.source for f in mapping.all_fields]


def test_the_table_as_shipped_passes_the_oracle(sandboxes: Sandboxes) -> None:
    assert oracle_problems(CONTACT_MAPPING, COMPANY_MAPPING, sandboxes) == []


def test_any_two_swapped_fields_fail_the_oracle(sandboxes: Sandboxes) -> None:
    unnoticed = []
    for a, b in itertools.combinations(sources(CONTACT_MAPPING), 2):
        if not oracle_problems(swapped(CONTACT_MAPPING, a, b), COMPANY_MAPPING, sandboxes):
            unnoticed.append(f"users: {a} <-> {b}")
    for a, b in itertools.combinations(sources(COMPANY_MAPPING), 2):
        if not oracle_problems(CONTACT_MAPPING, swapped(COMPANY_MAPPING, a, b), sandboxes):
            unnoticed.append(f"organizations: {a} <-> {b}")
    assert unnoticed == []


def test_any_dropped_field_fails_the_oracle(sandboxes: Sandboxes) -> None:
    unnoticed = [
        f"users: {s}"
        for s in sources(CONTACT_MAPPING)
        if not oracle_problems(dropped(CONTACT_MAPPING, s), COMPANY_MAPPING, sandboxes)
    ] + [
        f"organizations: {s}"
        for s in sources(COMPANY_MAPPING)
        if not oracle_problems(CONTACT_MAPPING, dropped(COMPANY_MAPPING, s), sandboxes)
    ]
    assert unnoticed == []


# ------------------------------------------------------ end to end, through a sync


@pytest.mark.parametrize(
    ("users_mapping", "wrong"),
    [
        (CONTACT_MAPPING, None),
        (swapped(CONTACT_MAPPING, "firstName", "lastName"), "firstname"),
        (dropped(CONTACT_MAPPING, "title"), "jobtitle"),
    ],
    ids=["as-shipped", "first-last-swapped", "title-dropped"],
)
def test_a_sync_with_a_mutated_table_fails_the_end_to_end_check(
    wired: Wired, users_mapping: ObjectMapping, wrong: str | None
) -> None:
    users = dataclasses.replace(WORKWAYS_USERS, mapping=users_mapping)
    results = wired.run_streams((WORKWAYS_ORGANIZATIONS, users))
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    if wrong is None:
        assert_hubspot_equals_workways(wired.boxes)
    else:
        with pytest.raises(AssertionError, match=rf"\.{wrong}: HubSpot has"):
            assert_hubspot_equals_workways(wired.boxes)
