"""Workways → HubSpot field mapping: one declarative table per object.

The README's mapping table is this file, in prose. Each :class:`FieldMap` says
where one Workways field lives in HubSpot, how its value is normalised, and
whether HubSpot edits flow back to Workways (``writeback``). Values are
normalised once, here, into the exact strings HubSpot stores, so that an
unchanged record never looks changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from functools import cached_property, lru_cache
from typing import Any

# json's own string encoder (the C one when available) for ensure_ascii=False
_json_str: Callable[[str], str] = json.encoder.encode_basestring
_json_keys: dict[str, str] = {}  # property name -> its JSON encoding and ":"

PROPERTY_GROUP = "workways"
PROPERTY_GROUP_LABEL = "Workways"
ARCHIVED_PROPERTY = "workways_archived"


class Kind(Enum):
    """Value kinds, with the HubSpot ``type`` / ``fieldType`` they are created as."""

    # (our name, HubSpot type, HubSpot fieldType): the first item keeps members distinct
    STRING = ("string", "string", "text")
    TEXT = ("text", "string", "textarea")
    EMAIL = ("email", "string", "text")
    PHONE = ("phone", "string", "phonenumber")
    BOOL = ("bool", "bool", "booleancheckbox")
    NUMBER = ("number", "number", "number")
    DATE = ("date", "date", "date")
    DATETIME = ("datetime", "datetime", "date")

    @property
    def hubspot_type(self) -> str:
        return self.value[1]

    @property
    def field_type(self) -> str:
        return self.value[2]


def normalise(kind: Kind, value: Any) -> str:
    """The string HubSpot stores for ``value``; ``""`` (clears the property) for null."""
    return _NORMALISERS.get(kind, _text)(value)


# One function per kind (null included), so that mapping a record does not
# re-dispatch on the kind for every field of every record.


def _text(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value.strip()
    return str(value).strip()


def _email(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        return value.strip().lower()
    return str(value).strip().lower()


def _bool(value: Any) -> str:
    if value is None:
        return ""
    return "true" if value else "false"


def _number(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


@lru_cache(maxsize=4096)
def _day(text: str) -> str:
    """A stripped, non-empty date text as HubSpot's ``YYYY-MM-DD`` (ValueError if no date)."""
    return date.fromisoformat(text[:10]).isoformat()


def _date(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is str:
        text = value.strip()
    else:
        text = value.isoformat() if isinstance(value, date) else str(value).strip()
    return _day(text) if text else ""


def _datetime(value: Any) -> str:  # a day, at midnight UTC, as HubSpot prints it
    day = _date(value)
    return f"{day}T00:00:00Z" if day else ""


_NORMALISERS: dict[Kind, Callable[[Any], str]] = {
    Kind.STRING: _text,
    Kind.TEXT: _text,
    Kind.EMAIL: _email,
    Kind.PHONE: _text,
    Kind.BOOL: _bool,
    Kind.NUMBER: _number,
    Kind.DATE: _date,
    Kind.DATETIME: _datetime,
}


@dataclass(frozen=True)
class FieldMap:
    """One Workways field and its HubSpot home."""

    source: str  # the Workways API name ("firstName", "_id")
    target: str  # the HubSpot property name
    kind: Kind
    label: str
    standard: bool = False  # a HubSpot built-in property: never created by us
    unique: bool = False  # the record's key (hasUniqueValue)
    personal: bool = False  # personal data: masked in dry-run output, never logged
    writeback: str | None = None  # the Workways write-back parameter (HubSpot → Workways)
    summarise: Callable[[Any], str] | None = None  # detail arrays → readable text
    # Sent along with the record's other changes, never alone: Workways bumps
    # ``updatedAt`` on every write, write-backs included, and pushing that
    # alone would echo every write-back.
    passenger: bool = False
    # Identity data another source owns for people it shares with this one: not
    # sent to a contact this source merged into (see the README's source table).
    yields_to_owner: bool = False


@dataclass(frozen=True)
class ObjectMapping:
    """How one Workways record type becomes one HubSpot object type."""

    object_type: str  # "contacts" | "companies"
    fields: tuple[FieldMap, ...]
    detail_fields: tuple[FieldMap, ...] = ()  # single-mode arrays, fetched per record
    # Edited in HubSpot only and written back; Workways does not return them, so
    # the sync never pushes them.
    hubspot_fields: tuple[FieldMap, ...] = ()

    @cached_property
    def _listed_plan(self) -> tuple[tuple[str, str, Callable[[Any], str]], ...]:
        """(source, target, normaliser) of each listed field, in order."""
        return tuple((f.source, f.target, _NORMALISERS[f.kind]) for f in self.fields)

    @property
    def key(self) -> FieldMap:
        return next(f for f in self.fields if f.unique)

    @property
    def all_fields(self) -> tuple[FieldMap, ...]:
        return self.fields + self.detail_fields

    def to_properties(
        self, record: Mapping[str, Any], detail: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """Normalised HubSpot properties for a record in the API's own field names."""
        get = record.get
        props = {target: norm(get(source)) for source, target, norm in self._listed_plan}
        if detail is not None:
            for f in self.detail_fields:
                raw = detail.get(f.source)
                props[f.target] = f.summarise(raw) if f.summarise else normalise(f.kind, raw)
        return props

    def passenger_properties(self) -> frozenset[str]:
        return frozenset(f.target for f in self.all_fields if f.passenger)

    def yielding_properties(self) -> frozenset[str]:
        return frozenset(f.target for f in self.all_fields if f.yields_to_owner)

    def personal_properties(self) -> frozenset[str]:
        return frozenset(f.target for f in self.all_fields if f.personal)

    def writeback_fields(self) -> tuple[FieldMap, ...]:
        """The two-way fields: HubSpot edits flow back to Workways."""
        return tuple(f for f in self.all_fields + self.hubspot_fields if f.writeback)


def content_hash(properties: Mapping[str, str]) -> str:
    """A stable digest of a record's normalised properties."""
    if not isinstance(properties, dict):
        return _json_hash(properties)
    try:
        # What json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        # writes for string keys and values, without the encoder's set-up per call
        # (and with each property name encoded once per process).
        parts = []
        for name in sorted(properties):
            key = _json_keys.get(name)
            if key is None:
                key = _json_str(name) + ":"
                if len(_json_keys) < 10_000:
                    _json_keys[name] = key
            parts.append(key + _json_str(properties[name]))
        payload = "{" + ",".join(parts) + "}"
    except TypeError:  # a key or value that is not a string: let json say how it looks
        return _json_hash(properties)
    return hashlib.sha256(payload.encode()).hexdigest()


def _json_hash(properties: Mapping[str, str]) -> str:
    payload = json.dumps(properties, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


# ------------------------------------------------------------------ summaries


def _summary(items: Any, render: Callable[[Mapping[str, Any]], str]) -> str:
    if not isinstance(items, Sequence) or isinstance(items, str):
        return ""
    return "\n".join(render(item) for item in items if isinstance(item, Mapping))


def _price(value: Any) -> str:
    return "" if value is None else f", {normalise(Kind.NUMBER, value)} €/month"


def summarise_rooms(items: Any) -> str:
    def line(room: Mapping[str, Any]) -> str:
        until = room.get("contractEndDate") or ""
        return (
            f"{room.get('name', '')}"
            + (f" (until {until})" if until else "")
            + _price(room.get("price"))
        )

    return _summary(items, line)


def summarise_sites(items: Any) -> str:
    return _summary(items, lambda s: f"{s.get('name', '')} ({str(s.get('country') or '').upper()})")


def summarise_options(items: Any) -> str:
    def line(option: Mapping[str, Any]) -> str:
        text = f"{option.get('name', '')} ×{option.get('quantity', 1)}"
        text += _price(option.get("price"))
        start, end = option.get("startDate") or "", option.get("endDate") or ""
        if start or end:
            text += f" [{start} → {end}]" if end else f" [from {start}]"
        return text

    return _summary(items, line)


# --------------------------------------------------------------------- tables

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


@dataclass(frozen=True)
class PropertyDefinition:
    """A custom HubSpot property syncworker creates (in the ``workways`` group)."""

    object_type: str
    name: str
    label: str
    kind: Kind
    unique: bool = False


def custom_properties(*mappings: ObjectMapping) -> list[PropertyDefinition]:
    """Every non-standard property of the given mappings, once each."""
    seen: dict[tuple[str, str], PropertyDefinition] = {}
    for mapping in mappings:
        for f in mapping.all_fields + mapping.hubspot_fields:
            if not f.standard:
                seen.setdefault(
                    (mapping.object_type, f.target),
                    PropertyDefinition(mapping.object_type, f.target, f.label, f.kind, f.unique),
                )
    return list(seen.values())
