"""Workadu (API v2) source: typed client and models for customers, orders and invoices."""

from syncworker.workadu.client import ACCEPT_V2, WorkaduClient
from syncworker.workadu.models import Customer, Invoice, Order, Page

__all__ = ["ACCEPT_V2", "Customer", "Invoice", "Order", "Page", "WorkaduClient"]
