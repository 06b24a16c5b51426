"""Workways → HubSpot: the mapping table of each Workways object type.

The README's Workways mapping table is this file, in prose (see ``syncworker/mapping.py``
for what each column means).
"""

from __future__ import annotations

from syncworker.mapping import ARCHIVED_PROPERTY, FieldMap, Kind, ObjectMapping
from syncworker.sources.workways.summaries import (
    summarise_options,
    summarise_rooms,
    summarise_sites,
)

S, T, E, P = Kind.STRING, Kind.TEXT, Kind.EMAIL, Kind.PHONE
B, N, D = Kind.BOOL, Kind.NUMBER, Kind.DATE

CONTACT_MAPPING = ObjectMapping(
    object_type="contacts",
    fields=(
        FieldMap("_id", "workways_user_id", S, "Workways user ID", unique=True),
        FieldMap("firstName", "firstname", S, "First name", standard=True, personal=True),
        FieldMap("lastName", "lastname", S, "Last name", standard=True, personal=True),
        FieldMap("email", "email", E, "Email", standard=True, personal=True),
        FieldMap("title", "jobtitle", S, "Job title", standard=True),
        FieldMap("phone", "phone", P, "Phone number", standard=True, personal=True),
        FieldMap("mobilePhone", "mobilephone", P, "Mobile phone", standard=True, personal=True),
        FieldMap("language", "workways_language", S, "Workways language"),
        FieldMap("role", "workways_role", S, "Workways role"),
        FieldMap(
            "newsOptin",
            "workways_newsletter_optin",
            B,
            "Workways newsletter opt-in",
            writeback="optin",
        ),
        FieldMap("mailValid", "workways_mail_valid", B, "Workways e-mail verified"),
        FieldMap("isUserArchived", ARCHIVED_PROPERTY, B, "Archived in Workways"),
        FieldMap("organizationId", "workways_organization_id", S, "Workways organization ID"),
        FieldMap("organizationName", "company", S, "Company name", standard=True),
        FieldMap(
            "isOrganizationArchived",
            "workways_organization_archived",
            B,
            "Workways organization archived",
        ),
        FieldMap("updatedAt", "workways_updated_at", D, "Workways last update", passenger=True),
    ),
)

COMPANY_MAPPING = ObjectMapping(
    object_type="companies",
    fields=(
        FieldMap("_id", "workways_org_id", S, "Workways organization ID", unique=True),
        FieldMap("name", "name", S, "Company name", standard=True),
        FieldMap("description", "description", T, "Description", standard=True),
        FieldMap("language", "workways_language", S, "Workways language"),
        FieldMap("isArchived", ARCHIVED_PROPERTY, B, "Archived in Workways"),
        FieldMap("principalSiteId", "workways_principal_site_id", S, "Principal site ID"),
        FieldMap("principalSiteName", "workways_principal_site", S, "Principal site"),
        FieldMap(
            "principalSiteCountry", "workways_principal_site_country", S, "Principal site country"
        ),
        FieldMap("sitesCount", "workways_sites_count", N, "Number of sites"),
        FieldMap("maxResidentUsers", "workways_max_resident_users", N, "Max resident users"),
        FieldMap("isMember", "workways_is_member", B, "Coworking member"),
        FieldMap(
            "contractStartDate",
            "workways_contract_start_date",
            D,
            "Contract start date",
            writeback="rentalStartAt",
        ),
        FieldMap(
            "contractEndDate",
            "workways_contract_end_date",
            D,
            "Contract end date",
            writeback="rentalEndAt",
        ),
        FieldMap(
            "renewalMonths",
            "workways_renewal_months",
            N,
            "Contract renewal (months)",
            writeback="rentalRenewal",
        ),
        FieldMap(
            "basePrice", "workways_base_price", N, "Base monthly price", writeback="rentalPrice"
        ),
        FieldMap("lastAccessDate", "workways_last_access_date", D, "Last building access"),
        FieldMap("accountType", "workways_account_type", S, "Workways account type"),
        FieldMap("billingName", "workways_billing_name", S, "Billing name"),
        FieldMap("billingEmail", "workways_billing_email", E, "Billing e-mail", personal=True),
        FieldMap("billingAddress", "workways_billing_address", T, "Billing address"),
        FieldMap("vatNumber", "workways_vat_number", S, "VAT number"),
        FieldMap("companyNumber", "workways_company_number", S, "Company number"),
        FieldMap("contactName", "workways_contact_name", S, "Primary contact", personal=True),
        FieldMap(
            "contactPhone", "workways_contact_phone", P, "Primary contact phone", personal=True
        ),
        FieldMap("updatedAt", "workways_updated_at", D, "Workways last update", passenger=True),
    ),
    detail_fields=(
        FieldMap(
            "allocatedRooms",
            "workways_allocated_rooms",
            T,
            "Allocated rooms",
            summarise=summarise_rooms,
        ),
        FieldMap(
            "accessibleSites",
            "workways_accessible_sites",
            T,
            "Accessible sites",
            summarise=summarise_sites,
        ),
        FieldMap(
            "contractOptions",
            "workways_contract_options",
            T,
            "Contract options",
            summarise=summarise_options,
        ),
    ),
    hubspot_fields=(
        FieldMap("", "workways_rental_comment", T, "Rental comment", writeback="rentalComment"),
        FieldMap("", "workways_rental_url", S, "Client documents URL", writeback="rentalUrl"),
    ),
)
