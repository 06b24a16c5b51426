"""syncworker: keeps HubSpot CRM in step with the Workways coworking platform."""

__version__ = "0.1.0"
