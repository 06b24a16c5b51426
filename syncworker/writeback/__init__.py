"""HubSpot → Workways: two-way fields written back through an outbox.

Events (webhooks) and polling only say *that* something changed. The service
re-reads the current values from HubSpot, compares them with the snapshot,
records an outbox intent for each difference, then calls Workways. After
Workways confirms, the snapshot takes the new value, so the next Workways →
HubSpot sync sees nothing to push: no echo, no ping-pong.
"""
