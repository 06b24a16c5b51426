"""``syncworker sandbox``: the sandboxes served on fixed local ports until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading

from syncworker.cli import EXIT_OK
from syncworker_sandbox.runner import Sandboxes


def serve(args: argparse.Namespace) -> int:
    """``syncworker sandbox``: serve the sandboxes on fixed ports until Ctrl-C."""

    with Sandboxes(
        users=args.users,
        orgs=args.orgs,
        seed=args.seed,
        host=args.host,
        workways_port=args.workways_port,
        hubspot_port=args.hubspot_port,
        workadu_port=args.workadu_port,
        customers=args.customers,
        orders=args.orders,
        invoices=args.invoices,
        rate_limit_per_10s=args.rate_limit,
        daily_limit=args.daily_limit,
        latency_ms=args.latency_ms,
    ) as boxes:
        seeded = getattr(args, "seed_portal", 0) or 0
        if seeded:  # a portal that is not empty: contacts holding users' e-mails, and others
            emails = [u["email"] for u in boxes.workways.users()[:seeded]]
            boxes.hubspot.seed_portal(emails, unrelated=max(1, seeded // 6))
        print(
            f"Workways sandbox: {boxes.workways_url}  ({args.users} users, {args.orgs} "
            "organizations)"
        )
        print(
            f"HubSpot sandbox:  {boxes.hubspot_url}"
            + (f"  ({seeded} contacts holding Workways users' e-mails)" if seeded else "")
        )
        print(
            f"Workadu sandbox:  {boxes.workadu_url}  ({args.customers} customers, "
            f"{args.orders} orders, {args.invoices} invoices)"
        )
        print("Credentials: see README (Sandbox credentials). Ctrl-C to stop.")
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopping")
    return EXIT_OK
