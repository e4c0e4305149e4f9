"""Our Pay Now references and who handles them.

A reference is `<target>-<6 hex>` (unique per attempt, NetCash wants a new `p2` each time):
`INV-2026-00042-1A2B3C` pays invoice INV-2026-00042. Other apps register a prefix handler, e.g.
reservations for deposits (`DEP-...`) in their AppConfig.ready():

    from payments.services.references import ReferenceHandler, register_reference_handler
    register_reference_handler("DEP-", ReferenceHandler(validate=..., apply=...))

`validate(notify)` runs before anything is stored (raise `NotifyRejected` for unknown targets or
wrong amounts); `apply(notify)` runs inside the webhook processing transaction and must be
idempotent by state.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from billing.models import Invoice

_HANDLERS: dict[str, ReferenceHandler] = {}


@dataclass(frozen=True)
class ReferenceHandler:
    validate: Callable
    apply: Callable
    # True when `apply` itself rejects what `validate` would (saves the validate query when applying).
    validates_on_apply: bool = False


def register_reference_handler(prefix: str, handler: ReferenceHandler) -> None:
    _HANDLERS[prefix] = handler


def handler_for(reference: str) -> ReferenceHandler | None:
    for prefix in sorted(_HANDLERS, key=len, reverse=True):
        if reference.startswith(prefix):
            return _HANDLERS[prefix]
    return None


def invoice_payment_reference(invoice: Invoice) -> str:
    return f"{invoice.number}-{secrets.token_hex(3).upper()}"


def invoice_number_from_reference(reference: str) -> str:
    return reference.rsplit("-", 1)[0] if reference.count("-") >= 3 else ""
