"""The expected HubSpot properties of a Workways record, written by hand.

An oracle for the end-to-end checks that does not share code with the product:
nothing here imports ``syncworker.mapping``, ``syncworker.normalise`` or
``syncworker.summaries``. Each row was written from the Workways spec's field
tables (``/api/user-info`` and ``/api/organization-info``, "Response Fields")
and the README's mapping table: the field as the API names it, the HubSpot
property it lands in, and the rule giving the string HubSpot stores for it.

The rules, from the spec's field types:

- strings: trimmed; ``null`` is the empty string (which clears a property);
- e-mails: trimmed and lower-cased;
- booleans: ``"true"`` / ``"false"``;
- numbers: as HubSpot stores them, ``1300`` and ``1300.0`` both ``"1300"``,
  ``12.5`` as ``"12.5"``;
- dates: ``YYYY-MM-DD`` (the spec's own format);
- the organization's detail arrays (``allocatedRooms``, ``accessibleSites``,
  ``contractOptions``, single mode only): one line per item, ending with the
  ids the spec gives the item, in square brackets named by kind (README's
  mapping notes): a room's ``_id`` and ``siteId``, a site's ``_id``, an
  option's ``key`` and ``id`` (unique within its organization only).

``tests/test_oracle.py`` shows that a swapped or a dropped field fails these
checks, and pins the rules on the spec's own example records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Rule = Callable[[Any], str]


# ---------------------------------------------------------------------- rules


def text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def email(value: Any) -> str:
    return text(value).lower()


def flag(value: Any) -> str:
    # Only real booleans (and null) are valid here: anything else is a KeyError,
    # so a record the spec does not allow cannot pass by accident.
    return {None: "", True: "true", False: "false"}[value]


def number(value: Any) -> str:
    if value is None:
        return ""
    return format(Decimal(str(value)).normalize(), "f")


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def day(value: Any) -> str:
    if value is None or not str(value).strip():
        return ""
    found = _DAY.match(str(value).strip())
    assert found, f"not a YYYY-MM-DD date: {value!r}"
    return found.group()


def _lines(items: Any, line: Callable[[Mapping[str, Any]], str]) -> str:
    if not isinstance(items, list):
        return ""
    return "\n".join(line(item) for item in items)


def _per_month(price: Any) -> str:
    return "" if price is None else f", {number(price)} €/month"


def _tag(named: list[str]) -> str:
    """`` [room A, site B]``, of the parts present; nothing when none is."""
    return " [" + ", ".join(named) + "]" if named else ""


def rooms(items: Any) -> str:
    """``Bureau Premium A12 (until 2025-12-31), 850 €/month [room <_id>, site <siteId>]``;
    each part optional."""

    def line(room: Mapping[str, Any]) -> str:
        until = f" (until {room['contractEndDate']})" if room.get("contractEndDate") else ""
        named = [f"room {room['_id']}"] if room.get("_id") else []
        named += [f"site {room['siteId']}"] if room.get("siteId") else []
        return f"{room.get('name', '')}{until}{_per_month(room.get('price'))}{_tag(named)}"

    return _lines(items, line)


def sites(items: Any) -> str:
    """``Workways Paris (FR) [site <_id>]``."""

    def line(site: Mapping[str, Any]) -> str:
        named = [f"site {site['_id']}"] if site.get("_id") else []
        return f"{site.get('name', '')} ({(site.get('country') or '').upper()}){_tag(named)}"

    return _lines(items, line)


def options(items: Any) -> str:
    """``Place de parking ×2, 150 €/month [from 2024-01-01] [option parking #1]``, or
    ``[start → end]``; the last brackets name the option by its key and id."""

    def line(option: Mapping[str, Any]) -> str:
        start, end = option.get("startDate") or "", option.get("endDate") or ""
        period = f" [{start} → {end}]" if end else (f" [from {start}]" if start else "")
        label = [option["key"]] if option.get("key") else []
        label += [f"#{option['id']}"] if option.get("id") is not None else []
        named = ["option " + " ".join(label)] if label else []
        return (
            f"{option.get('name', '')} ×{option.get('quantity', 1)}"
            f"{_per_month(option.get('price'))}{period}{_tag(named)}"
        )

    return _lines(items, line)


# ---------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Row:
    source: str  # the Workways API field
    target: str  # the HubSpot property
    rule: Rule  # source value -> the string HubSpot stores
    # Sent along with other changes only (README), so it may lag in HubSpot.
    passenger: bool = False


USER_ROWS: tuple[Row, ...] = (
    Row("_id", "workways_user_id", text),
    Row("firstName", "firstname", text),
    Row("lastName", "lastname", text),
    Row("email", "email", email),
    Row("title", "jobtitle", text),
    Row("phone", "phone", text),
    Row("mobilePhone", "mobilephone", text),
    Row("language", "workways_language", text),
    Row("role", "workways_role", text),
    Row("newsOptin", "workways_newsletter_optin", flag),
    Row("mailValid", "workways_mail_valid", flag),
    Row("isUserArchived", "workways_archived", flag),
    Row("organizationId", "workways_organization_id", text),
    Row("organizationName", "company", text),
    Row("isOrganizationArchived", "workways_organization_archived", flag),
    Row("updatedAt", "workways_updated_at", day, passenger=True),
)

ORGANIZATION_ROWS: tuple[Row, ...] = (
    Row("_id", "workways_org_id", text),
    Row("name", "name", text),
    Row("description", "description", text),
    Row("language", "workways_language", text),
    Row("isArchived", "workways_archived", flag),
    Row("principalSiteId", "workways_principal_site_id", text),
    Row("principalSiteName", "workways_principal_site", text),
    Row("principalSiteCountry", "workways_principal_site_country", text),
    Row("sitesCount", "workways_sites_count", number),
    Row("maxResidentUsers", "workways_max_resident_users", number),
    Row("isMember", "workways_is_member", flag),
    Row("contractStartDate", "workways_contract_start_date", day),
    Row("contractEndDate", "workways_contract_end_date", day),
    Row("renewalMonths", "workways_renewal_months", number),
    Row("basePrice", "workways_base_price", number),
    Row("lastAccessDate", "workways_last_access_date", day),
    Row("accountType", "workways_account_type", text),
    Row("billingName", "workways_billing_name", text),
    Row("billingEmail", "workways_billing_email", email),
    Row("billingAddress", "workways_billing_address", text),
    Row("vatNumber", "workways_vat_number", text),
    Row("companyNumber", "workways_company_number", text),
    Row("contactName", "workways_contact_name", text),
    Row("contactPhone", "workways_contact_phone", text),
    Row("updatedAt", "workways_updated_at", day, passenger=True),
)

# Single-mode only (``/api/organization-info?id=``): read from the detail record.
ORGANIZATION_DETAIL_ROWS: tuple[Row, ...] = (
    Row("allocatedRooms", "workways_allocated_rooms", rooms),
    Row("accessibleSites", "workways_accessible_sites", sites),
    Row("contractOptions", "workways_contract_options", options),
)

PASSENGERS = frozenset(
    r.target for r in USER_ROWS + ORGANIZATION_ROWS + ORGANIZATION_DETAIL_ROWS if r.passenger
)


def expected_contact(user: Mapping[str, Any]) -> dict[str, str]:
    return {r.target: r.rule(user.get(r.source)) for r in USER_ROWS}


def expected_company(org: Mapping[str, Any], detail: Mapping[str, Any]) -> dict[str, str]:
    props = {r.target: r.rule(org.get(r.source)) for r in ORGANIZATION_ROWS}
    props.update({r.target: r.rule(detail.get(r.source)) for r in ORGANIZATION_DETAIL_ROWS})
    return props


def differences(
    source_id: str,
    expected: Mapping[str, str],
    stored: Mapping[str, Any],
    *,
    skip: frozenset[str] = frozenset(),
) -> list[str]:
    """Each property HubSpot stores differently from the oracle (missing = "")."""
    problems = []
    for name, value in expected.items():
        have = stored.get(name) or ""
        if name not in skip and have != value:
            problems.append(f"{source_id}.{name}: HubSpot has {have!r}, expected {value!r}")
    return problems
