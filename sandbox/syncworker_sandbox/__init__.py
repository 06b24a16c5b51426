"""Local stand-ins for Workways and HubSpot, faithful to their specs.

Used by the tests, the benchmarks and ``syncworker demo``; never by production code.
"""

# Well-known credentials of the sandboxes. They open nothing but the local
# sandboxes and are documented in the README.
SANDBOX_WORKWAYS_TOKEN = "ww_dev_" + "6f1c0b8e2d4a93f7" * 4
SANDBOX_HUBSPOT_TOKEN = "pat-na1-5a4d3c2b-1e0f-4a9b-8c7d-6e5f4a3b2c1d"  # noqa: S105
SANDBOX_HUBSPOT_CLIENT_SECRET = "sandbox-client-secret-0b1c2d3e4f"  # noqa: S105
