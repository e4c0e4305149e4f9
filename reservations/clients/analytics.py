"""Server-side conversion events: GA4 Measurement Protocol and Meta Conversions API (CONTRACTS 6).

Each is off unless configured (`settings.GA4`, `settings.META_CAPI`). Email and phone are
normalised then SHA-256 hashed before they leave us; IP and user agent are sent as-is (Meta says
not to hash them). One small typed function per call, explicit timeouts, typed errors via
`circletel.http.send`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from circletel.http import send

GA4_URL = "https://www.google-analytics.com/mp/collect"
META_GRAPH = "https://graph.facebook.com"
META_API_VERSION = "v21.0"
TIMEOUT = (3, 10)


@dataclass(frozen=True)
class Purchase:
    transaction_id: str
    value: Decimal
    currency: str
    item_id: str
    item_name: str
    item_category: str
    email: str
    phone: str
    event_time: int
    client_id: str = ""
    client_ip: str | None = None
    client_user_agent: str = ""
    event_source_url: str = ""


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def ga4_enabled() -> bool:
    return bool(settings.GA4.get("MEASUREMENT_ID") and settings.GA4.get("API_SECRET"))


def meta_enabled() -> bool:
    return bool(settings.META_CAPI.get("PIXEL_ID") and settings.META_CAPI.get("ACCESS_TOKEN"))


def _number(amount: Decimal) -> float:
    # GA4/Meta take a JSON number; the Decimal is already rounded to cents.
    return float(amount.quantize(Decimal("0.01")))  # not money: wire format only


def ga4_payload(p: Purchase) -> dict:
    return {
        "client_id": p.client_id,
        "timestamp_micros": p.event_time * 1_000_000,
        "events": [{"name": "purchase", "params": {
            "transaction_id": p.transaction_id, "value": _number(p.value), "currency": p.currency,
            "engagement_time_msec": 1,
            "items": [{"item_id": p.item_id, "item_name": p.item_name, "item_category": p.item_category,
                       "price": _number(p.value), "quantity": 1}],
        }}],
    }


def ga4_send_purchase(p: Purchase) -> None:
    send("POST", settings.GA4.get("URL", GA4_URL), provider="ga4", timeout=TIMEOUT, json=ga4_payload(p),
         params={"measurement_id": settings.GA4["MEASUREMENT_ID"], "api_secret": settings.GA4["API_SECRET"]})


def meta_payload(p: Purchase, *, normalised_email: str, normalised_phone: str) -> dict:
    user_data: dict = {"em": [sha256_hex(normalised_email)], "ph": [sha256_hex(normalised_phone)]}
    if p.client_ip:
        user_data["client_ip_address"] = p.client_ip
    if p.client_user_agent:
        user_data["client_user_agent"] = p.client_user_agent
    event = {
        "event_name": "Purchase", "event_time": p.event_time, "event_id": p.transaction_id,
        # "website" requires a user agent and source URL; without them report a system event.
        "action_source": "website" if p.client_user_agent and p.event_source_url else "system_generated",
        "user_data": user_data,
        "custom_data": {"currency": p.currency, "value": _number(p.value), "content_ids": [p.item_id],
                        "content_type": "product", "order_id": p.transaction_id},
    }
    if p.event_source_url:
        event["event_source_url"] = p.event_source_url
    body: dict = {"data": [event]}
    if settings.META_CAPI.get("TEST_EVENT_CODE"):
        body["test_event_code"] = settings.META_CAPI["TEST_EVENT_CODE"]
    return body


def meta_send_purchase(p: Purchase, *, normalised_email: str, normalised_phone: str) -> None:
    url = f"{META_GRAPH}/{settings.META_CAPI.get('API_VERSION', META_API_VERSION)}/{settings.META_CAPI['PIXEL_ID']}/events"
    send("POST", url, provider="meta_capi", timeout=TIMEOUT,
         json=meta_payload(p, normalised_email=normalised_email, normalised_phone=normalised_phone),
         params={"access_token": settings.META_CAPI["ACCESS_TOKEN"]})
