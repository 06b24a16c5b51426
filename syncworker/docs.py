"""Generates the README's mapping table from :mod:`syncworker.mapping`.

``python -m syncworker.docs`` prints it; a test checks the README holds it verbatim.
"""

from __future__ import annotations

from syncworker.mapping import FieldMap, ObjectMapping
from syncworker.sources.workadu.mapping import CUSTOMER_MAPPING, DEAL_STAGES, ORDER_MAPPING
from syncworker.sources.workways.mapping import COMPANY_MAPPING, CONTACT_MAPPING


def _row(f: FieldMap, detail: bool) -> str:
    notes = []
    if f.unique:
        notes.append("unique key")
    if f.standard:
        notes.append("HubSpot standard")
    if f.personal:
        notes.append("personal data")
    if f.writeback:
        notes.append(f"two-way: `{f.writeback}`")
    if detail:  # the summariser's docstring says what a line holds
        how = (f.summarise.__doc__ or "").strip().splitlines() if f.summarise else []
        notes.append("single-mode detail, summarised" + (f": {how[0]}" if how else ""))
    if f.passenger:
        notes.append("sent with other changes only")
    if f.yields_to_owner:
        notes.append("Workways wins for shared people")
    source = f"`{f.source}`" if f.source else "— (HubSpot only)"
    return f"| {source} | `{f.target}` | {f.kind.hubspot_type} | {', '.join(notes)} |"


def mapping_table(mapping: ObjectMapping) -> str:
    rows = ["| Workways field | HubSpot property | type | notes |", "|---|---|---|---|"]
    rows += [_row(f, False) for f in mapping.fields]
    rows += [_row(f, True) for f in mapping.detail_fields]
    rows += [_row(f, False) for f in mapping.hubspot_fields]
    return "\n".join(rows)


def mapping_tables() -> str:
    return (
        "#### Users → contacts\n\n" + mapping_table(CONTACT_MAPPING) + "\n\n"
        "#### Organizations → companies\n\n" + mapping_table(COMPANY_MAPPING) + "\n"
    )


def workadu_tables() -> str:
    stages = ["| Workadu order status | HubSpot deal stage |", "|---|---|"]
    stages += [f"| `{status}` | `{stage}` |" for status, stage in DEAL_STAGES.items()]
    stages.append("| anything else | `appointmentscheduled` |")
    return (
        "#### Customers → contacts\n\n" + mapping_table(CUSTOMER_MAPPING) + "\n\n"
        "#### Orders → deals\n\n" + mapping_table(ORDER_MAPPING) + "\n\n"
        "#### Order status → deal stage (pipeline `default`)\n\n" + "\n".join(stages) + "\n"
    )


if __name__ == "__main__":
    print(mapping_tables())
    print(workadu_tables())
