"""Who applies which webhook event: handlers registered by the apps that own the objects.

    # payments/apps.py, in PaymentsConfig.ready():
    register(provider="stripe", event_types=["charge.refunded"], handler=invoice_charge_refunded,
             match=charge_is_an_invoice_payment, owner="payments")

One matching rule for every provider: an event goes to the first registration for its
(provider, event type) whose `match(event)` is true (a registration without `match` takes every
event of its types). Registrations are tried in the order they were made, so a narrow match
(an invoice payment we know) should be registered before a catch-all. An event no registration
matches is stored as ignored ("no handler"). The inbox imports no domain app: apps register here
from their AppConfig.ready(), so handlers travel up by registration, never by import.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Handler = Callable[["WebhookEvent"], None]  # noqa: F821 - inbox.models.WebhookEvent
Match = Callable[["WebhookEvent"], bool]  # noqa: F821


@dataclass(frozen=True)
class Route:
    provider: str
    event_type: str
    handler: Handler
    match: Match | None = None
    owner: str = ""

    @property
    def name(self) -> str:
        return f"{self.owner or self.handler.__module__}.{self.handler.__name__}"


_ROUTES: dict[tuple[str, str], list[Route]] = defaultdict(list)


def register(*, provider: str, event_types: Iterable[str], handler: Handler, match: Match | None = None,
             owner: str = "") -> None:
    """Add a route per event type. Registering the same (handler, match) again is a no-op, so a
    `ready()` that runs twice (tests) does not double a route."""
    for event_type in event_types:
        routes = _ROUTES[(provider, event_type)]
        if any(r.handler is handler and r.match is match for r in routes):
            continue
        routes.append(Route(provider=provider, event_type=event_type, handler=handler, match=match, owner=owner))


def route_for(event) -> Route | None:
    """The first route for the event's (provider, type) whose match accepts it, else None."""
    for route in _ROUTES.get((event.provider, event.event_type), ()):
        if route.match is None or route.match(event):
            return route
    return None


def providers() -> set[str]:
    """Every provider some app takes events from (the webhook health report lists each)."""
    return {provider for provider, _ in _ROUTES}


def routes() -> list[Route]:
    return [route for key in sorted(_ROUTES) for route in _ROUTES[key]]


def event_json(event) -> dict:
    """The stored body parsed as JSON, once per event object (match functions and the handler share it)."""
    cached = getattr(event, "_inbox_json", None)
    if cached is None:
        cached = json.loads(event.body)
        event._inbox_json = cached
    return cached
