"""Request bodies no HubSpot endpoint accepts: each must get a 400, never a 5xx."""

from __future__ import annotations

from typing import Any

GARBAGE: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    {"inputs": None},
    {"inputs": "x"},
    {"inputs": [None]},
    {"inputs": [1, "a"]},
    {"inputs": [{"id": {"a": 1}, "properties": []}]},
    {"inputs": [{"id": True, "properties": {"email": {"x": 1}}}]},
    {"inputs": [{"from": 1, "to": [None], "types": "x"}]},
    {"inputs": [{"id": "1", "after": {}}]},
    {"filterGroups": [{"filters": [{"propertyName": 1, "operator": "EQ"}]}]},
    {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "IN", "values": 3}]}]},
    {"filterGroups": "x", "sorts": [{"propertyName": 3}], "limit": "x", "after": []},
    {"sorts": [None], "properties": [1], "query": 5},
    {"limit": True, "after": "-1"},
    {"name": 1, "label": [], "type": "x", "fieldType": None, "groupName": {}, "options": [1]},
    {
        "name": "a",
        "label": "a",
        "type": "enumeration",
        "fieldType": "select",
        "groupName": "contactinformation",
        "options": [{"label": 1}],
    },
    {"inputs": [{"name": None}]},
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    "[" * 100_000,
    '{"limit": 1e400, "after": 1e400, "inputs": [{"id": 1e400}]}',
    "NaN",
    '{"after": Infinity}',
    b"\xff\xfe{",
]
