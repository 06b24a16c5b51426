"""HubSpot webhook receiver: signature v3, replay guard, event parsing and storage.

``build_app`` (in :mod:`syncworker.webhooks.app`) wires them into a small ASGI
app that stores each verified delivery durably, then hands the stored ids on.
"""

from __future__ import annotations

from syncworker.webhooks.events import (
    EventFormatError,
    ParsedEvent,
    WebhookEventStore,
    parse_events,
)
from syncworker.webhooks.replay import (
    MemoryReplayGuard,
    RedisReplayGuard,
    ReplayGuard,
    ReplayStoreError,
)
from syncworker.webhooks.signature import SignatureError, sign_v3, verify_v3

__all__ = [
    "EventFormatError",
    "MemoryReplayGuard",
    "ParsedEvent",
    "RedisReplayGuard",
    "ReplayGuard",
    "ReplayStoreError",
    "SignatureError",
    "WebhookEventStore",
    "parse_events",
    "sign_v3",
    "verify_v3",
]
