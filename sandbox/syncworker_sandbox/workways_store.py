"""The thread-safe state behind the Workways sandbox: users, organizations, rooms, sites.

API-facing methods raise :class:`ApiError` carrying the spec's status and message;
control methods (used by tests through :class:`~syncworker_sandbox.workways.WorkwaysSandbox`)
raise ``KeyError`` for unknown ids and ``ValueError`` for refused values.

Records are kept sorted by ``_id``, which is the order of every list page.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import re
import threading
from collections.abc import Callable

from syncworker_sandbox import population as pop
from syncworker_sandbox.population import OBJECT_ID, JsonDict

USER_FIELDS = (
    "_id",
    "firstName",
    "lastName",
    "email",
    "title",
    "language",
    "phone",
    "mobilePhone",
    "role",
    "newsOptin",
    "mailValid",
    "isUserArchived",
    "organizationId",
    "organizationName",
    "isOrganizationArchived",
    "updatedAt",
)
USER_DERIVED = frozenset(("organizationName", "isOrganizationArchived"))
ORG_FIELDS = (
    "_id",
    "name",
    "description",
    "language",
    "isArchived",
    "principalSiteId",
    "principalSiteName",
    "principalSiteCountry",
    "sitesCount",
    "maxResidentUsers",
    "isMember",
    "contractStartDate",
    "contractEndDate",
    "renewalMonths",
    "basePrice",
    "lastAccessDate",
    "accountType",
    "billingName",
    "billingEmail",
    "billingAddress",
    "vatNumber",
    "companyNumber",
    "contactName",
    "contactPhone",
    "updatedAt",
)
ORG_DETAIL_FIELDS = ("allocatedRooms", "accessibleSites", "contractOptions")
# Stored by merge-contract; shown only once set. Real Workways does not return them.
ORG_EXTRA_FIELDS = ("rentalComment", "rentalUrl")
DEFAULT_LIMIT, MAX_LIMIT = 50, 200
EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+\Z")


class ApiError(Exception):
    """An answer in the spec's error shape: ``{"retcode": -1, "message": ...}``."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


def email_key(email: str) -> str:
    return email.strip().lower()


def _copy_org(org: JsonDict, detail: bool) -> JsonDict:
    view = {key: org[key] for key in ORG_FIELDS}
    if detail:
        for key in ORG_DETAIL_FIELDS:
            view[key] = [dict(item) for item in org[key]]
    for key in ORG_EXTRA_FIELDS:
        if org.get(key) is not None:
            view[key] = org[key]
    return view


def paginate(ids: list[str], page: int, limit: int) -> tuple[list[str], JsonDict]:
    """The ids of one page and the pagination fields of the list envelope."""
    total = len(ids)
    start = (page - 1) * limit
    chunk = ids[start : start + limit] if start < total else []
    return chunk, {"total": total, "page": page, "limit": limit, "pages": -(-total // limit)}


class WorkwaysStore:
    """Every record of the sandbox, behind one re-entrant lock."""

    def __init__(self, population: pop.Population, seed: int, today: Callable[[], dt.date]) -> None:
        self.lock = threading.RLock()
        self.today = today
        self.sites = population.sites
        self.sites_by_id = {s["_id"]: s for s in self.sites}
        self.rooms_by_id = {r["_id"]: r for r in population.rooms}
        self._rng = random.Random(f"{seed}:additions")
        self._user_id_factory, self._org_id_factory = population.user_ids, population.org_ids
        self._users: dict[str, JsonDict] = {}
        self._user_ids: list[str] = []
        self._by_email: dict[str, str] = {}
        # The spec does not promise unique e-mails: tests of two users sharing one
        # turn the check off (the look-up by e-mail then finds the last one written).
        self.duplicate_emails = False
        self._by_org: dict[str, list[str]] = {}
        self._orgs = {o["_id"]: o for o in population.organizations}
        self._org_ids = sorted(self._orgs)
        for user in sorted(population.users, key=lambda u: str(u["_id"])):
            self._index_user(user)

    # ------------------------------------------------------------------ indexes

    def _index_user(self, user: JsonDict) -> None:
        uid = user["_id"]
        self._users[uid] = user
        _insort(self._user_ids, uid)
        self._by_email[email_key(user["email"])] = uid
        if user["organizationId"]:
            _insort(self._by_org.setdefault(user["organizationId"], []), uid)

    def _unindex_user(self, user: JsonDict) -> None:
        uid = user["_id"]
        del self._users[uid]
        _remove_sorted(self._user_ids, uid)
        if self._by_email.get(email_key(user["email"])) == uid:
            del self._by_email[email_key(user["email"])]
        if user["organizationId"]:
            _remove_sorted(self._by_org.get(user["organizationId"], []), uid)

    # -------------------------------------------------------------------- views

    def _user_view(self, user: JsonDict) -> JsonDict:
        org = self._orgs.get(user["organizationId"] or "")
        view = {key: user.get(key) for key in USER_FIELDS}
        view["organizationName"] = org["name"] if org else None
        view["isOrganizationArchived"] = org["isArchived"] if org else None
        return view

    def _user(self, user_id: str) -> JsonDict:
        try:
            return self._users[user_id]
        except KeyError:
            raise KeyError(f"no user {user_id!r}") from None

    def _org(self, org_id: str) -> JsonDict:
        try:
            return self._orgs[org_id]
        except KeyError:
            raise KeyError(f"no organization {org_id!r}") from None

    # --------------------------------------------------------------- API reads

    def user_page(self, page: int, limit: int, organization: str | None) -> JsonDict:
        with self.lock:
            ids = self._user_ids if organization is None else self._by_org.get(organization, [])
            chunk, meta = paginate(ids, page, limit)
            return {"items": [self._user_view(self._users[i]) for i in chunk], **meta}

    def org_page(self, page: int, limit: int, site: str | None) -> JsonDict:
        with self.lock:
            ids = self._org_ids
            if site is not None:
                ids = [i for i in ids if _org_has_site(self._orgs[i], site)]
            chunk, meta = paginate(ids, page, limit)
            return {"items": [_copy_org(self._orgs[i], False) for i in chunk], **meta}

    def api_user_by_id(self, user_id: str) -> JsonDict:
        with self.lock:
            user = self._users.get(user_id.lower())
            if user is None:
                raise ApiError(404, "User not found")
            return self._user_view(user)

    def api_user_by_email(self, email: str) -> JsonDict:
        with self.lock:
            uid = self._by_email.get(email_key(email))
            if uid is None:
                raise ApiError(404, "User not found")
            return self._user_view(self._users[uid])

    def api_org_by_id(self, org_id: str) -> JsonDict:
        with self.lock:
            org = self._orgs.get(org_id.lower())
            if org is None:
                raise ApiError(404, "Organization not found")
            return _copy_org(org, True)

    # -------------------------------------------------------------- API writes

    def api_set_optin(self, user_id: str, value: bool) -> JsonDict:
        with self.lock:
            user = self._users.get(user_id.lower())
            if user is None:
                raise ApiError(404, "User not found")
            previous = bool(user["newsOptin"])
            if previous != value:  # like a Mongo save: no change, no new updatedAt
                user["newsOptin"] = value
                user["updatedAt"] = self.today().isoformat()
            return {
                "userId": user["_id"],
                "email": user["email"],
                "newsOptin": value,
                "previousValue": previous,
            }

    def api_merge(self, org_id: str, apply: Callable[[JsonDict], None]) -> JsonDict:
        """Run ``apply`` on a copy of the organization, then commit it (all or nothing)."""
        with self.lock:
            org = self._orgs.get(org_id.lower())
            if org is None:
                raise ApiError(404, "Organization not found")
            draft = _copy_org(org, True)
            for key in ORG_EXTRA_FIELDS:
                draft[key] = org.get(key)
            apply(draft)
            pop.refresh_sites(draft, self.sites_by_id)
            draft["updatedAt"] = self.today().isoformat()
            org.update(draft)
            return {"organizationId": org["_id"], "organizationName": org["name"]}

    # ----------------------------------------------------------- control: reads

    def users(self) -> list[JsonDict]:
        with self.lock:
            return [self._user_view(self._users[i]) for i in self._user_ids]

    def organizations(self) -> list[JsonDict]:
        with self.lock:
            return [_copy_org(self._orgs[i], False) for i in self._org_ids]

    def rooms(self) -> list[JsonDict]:
        with self.lock:
            return [dict(r) for r in self.rooms_by_id.values()]

    def get_user(self, user_id: str) -> JsonDict:
        with self.lock:
            return self._user_view(self._user(user_id))

    def get_organization(self, org_id: str) -> JsonDict:
        with self.lock:
            return _copy_org(self._org(org_id), True)

    # ---------------------------------------------------------- control: writes

    def _check_user_fields(self, user: JsonDict, fields: JsonDict) -> None:
        unknown = set(fields) - set(USER_FIELDS) - {"_id"}
        if unknown | (set(fields) & USER_DERIVED):
            raise ValueError(
                f"cannot set user fields {sorted(unknown | set(fields) & USER_DERIVED)}"
                " (organizationName/isOrganizationArchived come from the org)"
            )
        if "email" in fields:
            email = fields["email"]
            if not isinstance(email, str):
                raise ValueError("email must be a string")
            owner = self._by_email.get(email_key(email))
            if owner is not None and owner != user.get("_id") and not self.duplicate_emails:
                raise ValueError(f"email already used by user {owner}")
        org_id = fields.get("organizationId")
        if org_id is not None and org_id not in self._orgs:
            raise ValueError(f"no organization {org_id!r}")

    def update_user(self, user_id: str, fields: JsonDict) -> None:
        with self.lock:
            user = self._user(user_id)
            self._check_user_fields(user, {k: v for k, v in fields.items() if k != "_id"})
            if "_id" in fields and fields["_id"] != user_id:
                raise ValueError("cannot change a user's _id")
            self._unindex_user(user)
            user.update(fields)
            if "updatedAt" not in fields:
                user["updatedAt"] = self.today().isoformat()
            self._index_user(user)

    def add_user(self, fields: JsonDict) -> str:
        with self.lock:
            uid = self._new_id(fields, self._users, self._user_id_factory)
            if "organizationId" in fields:
                org = self._orgs.get(fields["organizationId"] or "")
            else:
                orgs = list(self._orgs.values())
                org = self._rng.choice(orgs) if orgs and self._rng.random() < 0.85 else None
            user = pop.make_user(self._rng, uid, org, self.today(), set(self._by_email))
            self._check_user_fields(user, {k: v for k, v in fields.items() if k != "_id"})
            user.update(fields)
            user["_id"] = uid
            self._index_user(user)
            return uid

    def remove_user(self, user_id: str) -> None:
        with self.lock:
            self._unindex_user(self._user(user_id))

    def _check_org_fields(self, fields: JsonDict) -> None:
        allowed = set(ORG_FIELDS) | set(ORG_DETAIL_FIELDS) | set(ORG_EXTRA_FIELDS)
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown organization fields {sorted(unknown)}")
        for key in ORG_DETAIL_FIELDS:
            if key in fields and not (
                isinstance(fields[key], list) and all(isinstance(i, dict) for i in fields[key])
            ):
                raise ValueError(f"{key} must be a list of objects")

    def _set_org_fields(self, org: JsonDict, fields: JsonDict) -> None:
        org.update(
            {k: ([dict(i) for i in v] if k in ORG_DETAIL_FIELDS else v) for k, v in fields.items()}
        )
        if not {"allocatedRooms", "accessibleSites"}.isdisjoint(fields):
            explicit = {k: org[k] for k in fields if k.startswith("principalSite")}
            pop.refresh_sites(org, self.sites_by_id)
            org.update(explicit)

    def update_organization(self, org_id: str, fields: JsonDict) -> None:
        with self.lock:
            org = self._org(org_id)
            self._check_org_fields(fields)
            if "_id" in fields and fields["_id"] != org_id:
                raise ValueError("cannot change an organization's _id")
            self._set_org_fields(org, fields)
            if "updatedAt" not in fields:
                org["updatedAt"] = self.today().isoformat()

    def add_organization(self, fields: JsonDict) -> str:
        with self.lock:
            self._check_org_fields(fields)
            oid = self._new_id(fields, self._orgs, self._org_id_factory)
            org = pop.make_organization(self._rng, oid, self.sites, self.today())
            self._set_org_fields(org, {k: v for k, v in fields.items() if k != "_id"})
            self._orgs[oid] = org
            _insort(self._org_ids, oid)
            return oid

    def remove_organization(self, org_id: str) -> None:
        """Remove it; its users are detached (no organization) and their updatedAt bumped."""
        with self.lock:
            self._org(org_id)
            for uid in list(self._by_org.get(org_id, [])):
                self.update_user(uid, {"organizationId": None})
            del self._orgs[org_id]
            self._by_org.pop(org_id, None)
            _remove_sorted(self._org_ids, org_id)

    @staticmethod
    def _new_id(fields: JsonDict, existing: dict[str, JsonDict], factory: pop.IdFactory) -> str:
        if "_id" not in fields:
            new = factory.next()
            while new in existing:
                new = factory.next()
            return new
        given = fields["_id"]
        if not isinstance(given, str) or not OBJECT_ID.match(given):
            raise ValueError("_id must be 24 hexadecimal characters")
        if given in existing:
            raise ValueError(f"_id {given} already exists")
        return given


def _org_has_site(org: JsonDict, site: str) -> bool:
    if org.get("principalSiteId") == site:
        return True
    return any(s.get("_id") == site for s in org["accessibleSites"])


def _insort(ids: list[str], value: str) -> None:
    if not ids or ids[-1] < value:
        ids.append(value)
    else:
        bisect.insort(ids, value)


def _remove_sorted(ids: list[str], value: str) -> None:
    at = bisect.bisect_left(ids, value)
    if at < len(ids) and ids[at] == value:
        del ids[at]
