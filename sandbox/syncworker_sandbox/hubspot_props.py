"""Property definitions and groups of the HubSpot sandbox store (properties API v3).

:class:`PropertyRegistry` is a mixin of :class:`~syncworker_sandbox.hubspot_store.HubSpotStore`;
its methods expect the caller to hold the store's lock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from syncworker_sandbox.hubspot_common import (
    JSON,
    ApiError,
    BatchOutcome,
    invalid_json,
    iso_ms,
    missing_attributes,
    standard_error,
)
from syncworker_sandbox.hubspot_schema import (
    MAX_UNIQUE_PROPERTIES,
    build_group,
    build_property,
    patch_property,
)


class PropertyRegistry:
    """Property definitions and groups per object type, and the unique-value indexes."""

    clock: Callable[[], float]
    props: dict[str, dict[str, JSON]]
    groups: dict[str, dict[str, JSON]]
    # object type -> unique property -> normalized value -> object id
    _unique: dict[str, dict[str, dict[str, str]]]

    def property(self, object_type: str, name: str, archived: bool = False) -> JSON:
        definition = self.props[object_type].get(name)
        if definition is None or definition["archived"] != archived:
            raise ApiError(
                404,
                f"Unable to find property {name} for object type {object_type}",
                "OBJECT_NOT_FOUND",
                context={"propertyName": [name]},
            )
        return copy.deepcopy(definition)

    def list_properties(self, object_type: str, archived: bool = False) -> list[JSON]:
        return [
            copy.deepcopy(d) for d in self.props[object_type].values() if d["archived"] == archived
        ]

    def create_property(self, object_type: str, body: Any) -> JSON:
        definition = build_property(body, self.groups[object_type], self.clock())
        name = definition["name"]
        if name in self.props[object_type]:
            raise ApiError(
                409,
                f"Property named '{name}' already exists.",
                "OBJECT_ALREADY_EXISTS",
                context={"name": [name]},
            )
        if definition["hasUniqueValue"]:
            count = sum(1 for d in self.props[object_type].values() if d["hasUniqueValue"])
            if count >= MAX_UNIQUE_PROPERTIES:
                raise ApiError(
                    400,
                    f"Cannot create property {name}: the {object_type} object "
                    f"already has the maximum of {MAX_UNIQUE_PROPERTIES} "
                    "unique value properties.",
                    context={"limit": [str(MAX_UNIQUE_PROPERTIES)]},
                )
            self._unique[object_type][name] = {}
        self.props[object_type][name] = definition
        return copy.deepcopy(definition)

    def update_property(self, object_type: str, name: str, body: Any) -> JSON:
        current = self.property(object_type, name)
        updated = patch_property(current, body, self.groups[object_type], self.clock())
        self.props[object_type][name] = updated
        return copy.deepcopy(updated)

    def delete_property(self, object_type: str, name: str) -> None:
        """Archive a property, as HubSpot's DELETE does (and an admin deleting it in
        the settings): it leaves every listing; its name stays taken."""
        current = self.property(object_type, name)
        current["archived"] = True
        current["archivedAt"] = iso_ms(self.clock())
        self.props[object_type][name] = current

    def batch_create_properties(self, object_type: str, body: Any) -> BatchOutcome:
        outcome = BatchOutcome()
        for item in _inputs(body, "BatchInputPropertyCreate"):
            try:
                outcome.results.append(self.create_property(object_type, item))
            except ApiError as exc:
                outcome.errors.append(
                    standard_error(exc.message, exc.category, exc.context or {}, exc.errors)
                )
        return outcome

    def batch_read_properties(self, object_type: str, body: Any) -> BatchOutcome:
        archived = bool(body.get("archived", False)) if isinstance(body, dict) else False
        outcome = BatchOutcome()
        missing: list[str] = []
        for item in _inputs(body, "BatchReadInputPropertyName"):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise missing_attributes("PropertyName", ["name"])
            try:
                outcome.results.append(self.property(object_type, item["name"], archived))
            except ApiError:
                missing.append(item["name"])
        if missing:
            outcome.errors.append(
                standard_error(
                    f"Unable to find properties {missing} for object type {object_type}",
                    "OBJECT_NOT_FOUND",
                    {"propertyName": missing},
                )
            )
        return outcome

    def group(self, object_type: str, name: str) -> JSON:
        group = self.groups[object_type].get(name)
        if group is None:
            raise ApiError(
                404,
                f"Unable to find property group {name} for object type {object_type}",
                "OBJECT_NOT_FOUND",
                context={"groupName": [name]},
            )
        return dict(group)

    def create_group(self, object_type: str, body: Any) -> JSON:
        group = build_group(body)
        if group["name"] in self.groups[object_type]:
            raise ApiError(
                409,
                f"Property group named '{group['name']}' already exists.",
                "OBJECT_ALREADY_EXISTS",
                context={"name": [group["name"]]},
            )
        self.groups[object_type][group["name"]] = group
        return dict(group)


def _inputs(body: Any, model: str) -> list[Any]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise missing_attributes(model, ["inputs"])
    inputs: list[Any] = body["inputs"]
    if not inputs:
        raise invalid_json(f"{model}.inputs must not be empty")
    return inputs
