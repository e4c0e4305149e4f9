"""The built-in sandbox payment gateway's one switch, for invoices and deposits alike.

`SANDBOX_GATEWAY_ENABLED` defaults to DEBUG: on under `make run`, off in production. With DEBUG off
the sandbox confirms money only when the setting is explicitly true (tests, a staging demo), and
system check circletel.W001 reports that. Every path that would let the sandbox stand in for a
provider (Pay Now form, deposit checkout, sandbox pages, sandbox approve) asks this one function.
"""

from __future__ import annotations

from django.conf import settings


def sandbox_gateway_active() -> bool:
    return bool(settings.SANDBOX_GATEWAY_ENABLED)
