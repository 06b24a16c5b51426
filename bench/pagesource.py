"""The reference for a no-change run: page through the source and do nothing else.

``python -m bench.pagesource`` (same environment as ``syncworker sync``) pages
through every organization and every user with syncworker's own Workways
client (200 a page, records parsed), holding one page at a time, and prints
one JSON line with the counts.
"""

from __future__ import annotations

import json

from syncworker.app.container import Container
from syncworker.config import Settings


def main() -> None:
    services = Container(Settings.from_env())
    counts = {"organizations": 0, "users": 0, "pages": 0}
    with services.workways() as client:
        for page in client.iter_organization_pages():
            counts["organizations"] += len(page.items)
            counts["pages"] += 1
        for user_page in client.iter_user_pages():
            counts["users"] += len(user_page.items)
            counts["pages"] += 1
        counts["calls"] = client.calls
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
