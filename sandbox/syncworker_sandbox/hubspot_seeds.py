"""HubSpot's own property definitions and groups, as the sandbox seeds them."""

from __future__ import annotations

from syncworker_sandbox.hubspot_common import JSON, iso_ms
from syncworker_sandbox.hubspot_pipelines import default_pipelines, pipeline_options, stage_options

_SEED_TIME = iso_ms(1_565_059_312.302)  # when HubSpot's own properties were "created"


def options_of(*pairs: tuple[str, str]) -> list[JSON]:
    return [
        {"label": label, "value": value, "displayOrder": i, "hidden": False}
        for i, (value, label) in enumerate(pairs)
    ]


_LANGUAGES = options_of(
    ("en", "English"),
    ("en-gb", "English - United Kingdom"),
    ("en-us", "English - United States"),
    ("fr", "French"),
    ("de", "German"),
    ("es", "Spanish"),
    ("it", "Italian"),
    ("nl", "Dutch"),
    ("pt", "Portuguese"),
    ("pt-br", "Portuguese - Brazil"),
    ("el", "Greek"),
    ("pl", "Polish"),
    ("sv", "Swedish"),
    ("da", "Danish"),
    ("fi", "Finnish"),
    ("no", "Norwegian"),
    ("ja", "Japanese"),
    ("zh-cn", "Chinese - China"),
)
_LIFECYCLE = options_of(
    ("subscriber", "Subscriber"),
    ("lead", "Lead"),
    ("marketingqualifiedlead", "Marketing Qualified Lead"),
    ("salesqualifiedlead", "Sales Qualified Lead"),
    ("opportunity", "Opportunity"),
    ("customer", "Customer"),
    ("evangelist", "Evangelist"),
    ("other", "Other"),
)
_INDUSTRY = options_of(
    ("COMPUTER_SOFTWARE", "Computer Software"),
    ("INFORMATION_TECHNOLOGY_AND_SERVICES", "Information Technology and Services"),
    ("MARKETING_AND_ADVERTISING", "Marketing and Advertising"),
    ("REAL_ESTATE", "Real Estate"),
    ("FINANCIAL_SERVICES", "Financial Services"),
    ("DESIGN", "Design"),
    ("MANAGEMENT_CONSULTING", "Management Consulting"),
    ("NON_PROFIT_ORGANIZATION_MANAGEMENT", "Non-Profit Organization Management"),
)

# name, label, type, fieldType, group, read-only value, options
_Seed = tuple[str, str, str, str, str, bool, list[JSON]]
_CONTACT_SEEDS: list[_Seed] = [
    ("email", "Email", "string", "text", "contactinformation", False, []),
    ("firstname", "First Name", "string", "text", "contactinformation", False, []),
    ("lastname", "Last Name", "string", "text", "contactinformation", False, []),
    ("jobtitle", "Job Title", "string", "text", "contactinformation", False, []),
    ("phone", "Phone Number", "string", "phonenumber", "contactinformation", False, []),
    (
        "mobilephone",
        "Mobile Phone Number",
        "string",
        "phonenumber",
        "contactinformation",
        False,
        [],
    ),
    ("company", "Company Name", "string", "text", "contactinformation", False, []),
    ("website", "Website URL", "string", "text", "contactinformation", False, []),
    ("address", "Street Address", "string", "text", "contactinformation", False, []),
    ("city", "City", "string", "text", "contactinformation", False, []),
    ("zip", "Postal Code", "string", "text", "contactinformation", False, []),
    ("country", "Country/Region", "string", "text", "contactinformation", False, []),
    (
        "hs_language",
        "Preferred language",
        "enumeration",
        "select",
        "contactinformation",
        False,
        _LANGUAGES,
    ),
    (
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "contactinformation",
        False,
        _LIFECYCLE,
    ),
    ("createdate", "Create Date", "datetime", "date", "contactinformation", True, []),
    ("lastmodifieddate", "Last Modified Date", "datetime", "date", "contactinformation", True, []),
    ("hs_object_id", "Record ID", "number", "number", "contactinformation", True, []),
    (
        "hs_merged_object_ids",
        "Merged Contact IDs",
        "enumeration",
        "checkbox",
        "contactinformation",
        True,
        [],
    ),
]
_COMPANY_SEEDS: list[_Seed] = [
    ("name", "Company name", "string", "text", "companyinformation", False, []),
    ("description", "Description", "string", "textarea", "companyinformation", False, []),
    ("domain", "Company Domain Name", "string", "text", "companyinformation", False, []),
    ("website", "Website URL", "string", "text", "companyinformation", False, []),
    ("phone", "Phone Number", "string", "phonenumber", "companyinformation", False, []),
    ("address", "Street Address", "string", "text", "companyinformation", False, []),
    ("address2", "Street Address 2", "string", "text", "companyinformation", False, []),
    ("city", "City", "string", "text", "companyinformation", False, []),
    ("zip", "Postal Code", "string", "text", "companyinformation", False, []),
    ("state", "State/Region", "string", "text", "companyinformation", False, []),
    ("country", "Country/Region", "string", "text", "companyinformation", False, []),
    ("industry", "Industry", "enumeration", "select", "companyinformation", False, _INDUSTRY),
    (
        "numberofemployees",
        "Number of Employees",
        "number",
        "number",
        "companyinformation",
        False,
        [],
    ),
    ("annualrevenue", "Annual Revenue", "number", "number", "companyinformation", False, []),
    (
        "lifecyclestage",
        "Lifecycle Stage",
        "enumeration",
        "radio",
        "companyinformation",
        False,
        _LIFECYCLE,
    ),
    ("createdate", "Create Date", "datetime", "date", "companyinformation", True, []),
    (
        "hs_lastmodifieddate",
        "Last Modified Date",
        "datetime",
        "date",
        "companyinformation",
        True,
        [],
    ),
    ("hs_object_id", "Record ID", "number", "number", "companyinformation", True, []),
    (
        "hs_merged_object_ids",
        "Merged Company IDs",
        "enumeration",
        "checkbox",
        "companyinformation",
        True,
        [],
    ),
]
_DEAL_PIPELINES = default_pipelines()["deals"]
_YES_NO = options_of(("true", "Yes"), ("false", "No"))
_DEAL = "dealinformation"
_DEAL_SEEDS: list[_Seed] = [
    ("dealname", "Deal Name", "string", "text", _DEAL, False, []),
    ("amount", "Amount", "number", "number", _DEAL, False, []),
    ("closedate", "Close Date", "datetime", "date", _DEAL, False, []),
    (
        "dealstage",
        "Deal Stage",
        "enumeration",
        "radio",
        _DEAL,
        False,
        stage_options(_DEAL_PIPELINES),
    ),
    (
        "pipeline",
        "Pipeline",
        "enumeration",
        "select",
        _DEAL,
        False,
        pipeline_options(_DEAL_PIPELINES),
    ),
    (
        "dealtype",
        "Deal Type",
        "enumeration",
        "radio",
        _DEAL,
        False,
        options_of(("newbusiness", "New Business"), ("existingbusiness", "Existing Business")),
    ),
    ("description", "Deal Description", "string", "textarea", _DEAL, False, []),
    (
        "hs_priority",
        "Priority",
        "enumeration",
        "select",
        _DEAL,
        False,
        options_of(("low", "Low"), ("medium", "Medium"), ("high", "High")),
    ),
    ("hs_next_step", "Next step", "string", "textarea", _DEAL, False, []),
    ("closed_won_reason", "Closed Won Reason", "string", "textarea", _DEAL, False, []),
    ("closed_lost_reason", "Closed Lost Reason", "string", "textarea", _DEAL, False, []),
    ("hs_deal_stage_probability", "Deal probability", "number", "number", _DEAL, True, []),
    ("hs_is_closed", "Is Deal Closed?", "bool", "booleancheckbox", _DEAL, True, _YES_NO),
    ("hs_is_closed_won", "Is Closed Won", "bool", "booleancheckbox", _DEAL, True, _YES_NO),
    ("createdate", "Create Date", "datetime", "date", _DEAL, True, []),
    ("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", _DEAL, True, []),
    ("hs_object_id", "Record ID", "number", "number", _DEAL, True, []),
]
_SEEDS: dict[str, list[_Seed]] = {
    "contacts": _CONTACT_SEEDS,
    "companies": _COMPANY_SEEDS,
    "deals": _DEAL_SEEDS,
}
SEED_GROUPS: dict[str, list[tuple[str, str]]] = {
    "contacts": [
        ("contactinformation", "Contact information"),
        ("emailinformation", "Email information"),
        ("conversioninformation", "Conversion information"),
    ],
    "companies": [
        ("companyinformation", "Company information"),
        ("social_media_information", "Social media information"),
    ],
    "deals": [
        ("dealinformation", "Deal information"),
        ("deal_activity", "Deal activity"),
    ],
}


def seed_properties(object_type: str) -> dict[str, JSON]:
    seeds = _SEEDS[object_type]
    out: dict[str, JSON] = {}
    for order, (name, label, type_, field_type, group, read_only, options) in enumerate(seeds):
        out[name] = {
            "name": name,
            "label": label,
            "type": type_,
            "fieldType": field_type,
            "description": "",
            "groupName": group,
            "options": [dict(o) for o in options],
            "displayOrder": order,
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": False,
            "hidden": False,
            "hubspotDefined": True,
            "modificationMetadata": {
                "archivable": False,
                "readOnlyDefinition": True,
                "readOnlyValue": read_only,
                "readOnlyOptions": not options,
            },
            "formField": not read_only,
            "dataSensitivity": "non_sensitive",
            "createdAt": _SEED_TIME,
            "updatedAt": _SEED_TIME,
            "archived": False,
        }
    return out


def seed_groups(object_type: str) -> dict[str, JSON]:
    return {
        name: {"name": name, "label": label, "displayOrder": i, "archived": False}
        for i, (name, label) in enumerate(SEED_GROUPS[object_type])
    }
