"""Workadu (API v2) source: typed client (``workadu.client``), models
(``workadu.models``) and the mapping to HubSpot (``workadu.mapping``).

Nothing is imported here, so declaring the Workadu streams does not load the
client and its models until a Workadu stream runs."""
