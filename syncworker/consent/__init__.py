"""Newsletter consent as HubSpot keeps it: the status of one subscription type.

Workways' ``newsOptin`` stands for the subscription type named by
``HUBSPOT_NEWSLETTER_SUBSCRIPTION``. The sync subscribes and unsubscribes
contacts through Communication Preferences (:mod:`.sync`), the write-back
carries HubSpot's changes to Workways (:mod:`.writeback`), and every decision
is recorded (:mod:`.audit`). The snapshot keeps the status HubSpot confirmed
under :data:`CONSENT_KEY`, a key no HubSpot property has, so the usual
confirm-before-advance, failures, retries and quarantine apply to it.
"""

from __future__ import annotations

CONSENT_KEY = "syncworker:newsletter_consent"  # snapshot only: never sent as a property
OPTIN_PROPERTY = "workways_newsletter_optin"  # the readable mirror of the opt-in
SUBSCRIBED, UNSUBSCRIBED, NOT_SPECIFIED = "SUBSCRIBED", "UNSUBSCRIBED", "NOT_SPECIFIED"
STATUSES = (SUBSCRIBED, UNSUBSCRIBED, NOT_SPECIFIED)


def optout_property(subscription_id: str) -> str:
    """The contact property HubSpot keeps per subscription type ("true": opted out)."""
    return f"hs_email_optout_{subscription_id}"


OPTOUT_ALL_PROPERTY = "hs_email_optout"  # unsubscribed from all e-mail
# Communication Preferences' legal bases (PublicStatusRequest.legalBasis, 2026-09 spec).
CONSENT_LEGAL_BASES = (
    "CONSENT_WITH_NOTICE",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "LEGITIMATE_INTEREST_PQL",
    "NON_GDPR",
    "PERFORMANCE_OF_CONTRACT",
    "PROCESS_AND_STORE",
)
