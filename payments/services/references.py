"""Our Pay Now references: `<target>-<6 hex>`, unique per attempt (NetCash wants a new `p2` each
time): `INV-2026-00042-1A2B3C` pays invoice INV-2026-00042."""

from __future__ import annotations

import secrets

from billing.models import Invoice


def invoice_payment_reference(invoice: Invoice) -> str:
    return f"{invoice.number}-{secrets.token_hex(3).upper()}"


def invoice_number_from_reference(reference: str) -> str:
    return reference.rsplit("-", 1)[0] if reference.count("-") >= 3 else ""
