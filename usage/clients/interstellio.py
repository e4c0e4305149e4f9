"""Interstellio / NebularStack telemetry client: a subscriber's daily data usage.

Contract (CONTRACTS.md section 7, all [3P] from the circletel project, no official source):
    POST {TELEMETRY_URL}/v1/subscriber/{subscriber_id}/data/daily
    headers X-Auth-Token, X-Domain, X-Tenant-ID, X-Timezone
    body    {"start": "2025-12-01T00:00:00+02:00", "end": "2025-12-15T23:59:59+02:00"}  (see "Windows" below)
    answer  {"payload": [{"time", "download_kb", "upload_kb", "combined_kb", ...}]} or a bare list
    errors  {"error": {"title", "description", "request_id"}}; 402 out of credits, 429 rate limited
    at most 128 days per request for daily aggregation; 1 KB = 1024 bytes.

Because none of this is confirmed, the provider-specific parts sit behind one adapter boundary:
the endpoint path comes from `INTERSTELLIO["USAGE_PATH"]` (formatted with `subscriber_id`) and
`parse_daily_usage(payload, tz)` is the only function that knows the answer's shape. Swapping in
the real endpoint means changing the setting and, if the shape differs, that one function.

Windows (CONTRACTS 7, corrected 2026-12, from docs.interstellio.io/subscriber/api/telemetry): the
`X-Timezone` header applies to the *response* values, so the window is asked for in the same zone,
with its offset (SAST `2026-12-01T00:00:00+02:00`); a window in UTC (`...T00:00:00Z`, 02:00 SAST)
would make each of our "days" straddle two of the provider's. The zone is the one the billing day
boundaries are computed in (`settings.TIME_ZONE`, which `timezone.localdate()` and
`billing.proration.billing_period` use); `INTERSTELLIO_TIMEZONE` must name the same zone or the
sync refuses to run (`ImproperlyConfigured`), because a usage day must be a billing day.

Settings are read lazily (on each call) so a missing token is an `ImproperlyConfigured` at the
moment of use, not at import. Only services call this module; it never touches the database.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from circletel.http import PermanentProviderError, ProviderError, send, with_retries

PROVIDER = "interstellio"
KB_PER_MB = Decimal(1024)
MB_PLACES = Decimal("0.01")


@dataclass(frozen=True)
class DailyUsage:
    """One day's usage for one subscriber, in MB (1 MB = 1024 KB), rounded half-up to 2 places."""

    date: dt.date
    upload_mb: Decimal
    download_mb: Decimal

    @property
    def total_mb(self) -> Decimal:
        return self.upload_mb + self.download_mb


@dataclass(frozen=True)
class InterstellioConfig:
    telemetry_url: str
    token: str
    domain: str
    tenant_id: str
    usage_path: str
    timezone: str
    timeout: float  # not money
    retry_attempts: int
    retry_base: float  # not money
    max_days: int


def get_config() -> InterstellioConfig:
    """Read `settings.INTERSTELLIO` now; raise `ImproperlyConfigured` if the usage sync cannot run."""
    raw = getattr(settings, "INTERSTELLIO", None) or {}
    token = (raw.get("API_TOKEN") or "").strip()
    url = (raw.get("TELEMETRY_URL") or raw.get("API_URL") or "").strip().rstrip("/")
    path = raw.get("USAGE_PATH") or "/v1/subscriber/{subscriber_id}/data/daily"
    missing = [name for name, value in (("INTERSTELLIO_API_TOKEN", token), ("INTERSTELLIO_TELEMETRY_URL", url))
               if not value]
    if missing:
        raise ImproperlyConfigured(f"Interstellio usage sync is not configured: set {', '.join(missing)}.")
    if "{subscriber_id}" not in path:
        raise ImproperlyConfigured("INTERSTELLIO_USAGE_PATH must contain {subscriber_id}.")
    zone_name = raw.get("TIMEZONE") or settings.TIME_ZONE
    if zone_name != settings.TIME_ZONE:
        # The usage days must be the billing days (CONTRACTS 7: X-Timezone applies to the answer).
        raise ImproperlyConfigured(
            f"INTERSTELLIO_TIMEZONE ({zone_name}) must be the billing time zone TIME_ZONE ({settings.TIME_ZONE}): "
            "otherwise a usage day straddles two billing days.")
    return InterstellioConfig(
        telemetry_url=url, token=token, domain=(raw.get("DOMAIN") or "").strip(),
        tenant_id=(raw.get("TENANT_ID") or "").strip(), usage_path=path,
        timezone=zone_name,
        timeout=float(raw.get("TIMEOUT_SECONDS", 20)),  # not money
        retry_attempts=max(1, int(raw.get("RETRY_ATTEMPTS", 3))),
        retry_base=float(raw.get("RETRY_BASE_SECONDS", 0.5)),  # not money
        max_days=max(1, int(raw.get("MAX_DAYS_PER_REQUEST", 128))),
    )


def _headers(cfg: InterstellioConfig) -> dict:
    headers = {"X-Auth-Token": cfg.token, "X-Timezone": cfg.timezone, "Accept": "application/json"}
    if cfg.domain:
        headers["X-Domain"] = cfg.domain
    if cfg.tenant_id:
        headers["X-Tenant-ID"] = cfg.tenant_id
    return headers


def _kb_to_mb(value) -> Decimal:
    try:
        kb = Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        raise PermanentProviderError(f"Interstellio sent a non-numeric usage value {value!r}", provider=PROVIDER)
    if kb < 0 or not kb.is_finite():
        raise PermanentProviderError(f"Interstellio sent an invalid usage value {value!r}", provider=PROVIDER)
    return (kb / KB_PER_MB).quantize(MB_PLACES, rounding=ROUND_HALF_UP)


def _entry_date(value, tz: zoneinfo.ZoneInfo) -> dt.date:
    """A bucket's local (SAST) date: aware times are converted, naive times and bare dates taken as-is."""
    if not isinstance(value, str) or not value:
        raise PermanentProviderError(f"Interstellio usage entry has no time: {value!r}", provider=PROVIDER)
    try:
        if len(value) == 10:
            return dt.date.fromisoformat(value)
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise PermanentProviderError(f"Interstellio usage entry has an unreadable time {value!r}", provider=PROVIDER)
    if moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.date()


def parse_daily_usage(payload, *, tz: str = "Africa/Johannesburg") -> list[DailyUsage]:
    """ADAPTER BOUNDARY: map the provider's JSON to `DailyUsage` rows, one per local date.

    Accepts `{"payload": [...]}` or a bare list of `{"time", "upload_kb", "download_kb", ...}`.
    Entries that fall on the same local date are summed (the provider may split a day by time
    zone). A shape we do not recognise is a `PermanentProviderError` (retrying will not fix it).
    """
    if isinstance(payload, dict):
        entries = payload.get("payload", [])
    elif isinstance(payload, list):
        entries = payload
    else:
        raise PermanentProviderError("Interstellio usage answer has an unexpected shape", provider=PROVIDER)
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        raise PermanentProviderError("Interstellio usage payload is not a list", provider=PROVIDER)
    zone = zoneinfo.ZoneInfo(tz)
    by_day: dict[dt.date, tuple[Decimal, Decimal]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise PermanentProviderError("Interstellio usage entry is not an object", provider=PROVIDER)
        day = _entry_date(entry.get("time"), zone)
        up, down = _kb_to_mb(entry.get("upload_kb")), _kb_to_mb(entry.get("download_kb"))
        prev_up, prev_down = by_day.get(day, (Decimal("0.00"), Decimal("0.00")))
        by_day[day] = (prev_up + up, prev_down + down)
    return [DailyUsage(date=day, upload_mb=up, download_mb=down) for day, (up, down) in sorted(by_day.items())]


def window_body(start: dt.date, end: dt.date, *, tz: str) -> dict:
    """The request body for local days `start`..`end` (inclusive), in the zone named by `X-Timezone`
    and with its offset: SAST days 1..2 Dec -> {"start": "2026-12-01T00:00:00+02:00",
    "end": "2026-12-02T23:59:59+02:00"} (CONTRACTS 7, corrected 2026-12). Never UTC `Z`: 00:00Z is
    02:00 SAST, so a UTC window would cut each of our days in two."""
    zone = zoneinfo.ZoneInfo(tz)
    first = dt.datetime.combine(start, dt.time(0, 0, 0), tzinfo=zone)
    last = dt.datetime.combine(end, dt.time(23, 59, 59), tzinfo=zone)
    return {"start": first.isoformat(), "end": last.isoformat()}


def _windows(date_from: dt.date, date_to: dt.date, max_days: int):
    start = date_from
    while start <= date_to:
        end = min(date_to, start + dt.timedelta(days=max_days - 1))
        yield start, end
        start = end + dt.timedelta(days=1)


def _error_title(exc: ProviderError) -> str:
    try:
        body = json.loads(exc.raw or "")
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("title") or "")[:100] if isinstance(error, dict) else ""


def fetch_daily_usage(*, subscriber_id: str, date_from: dt.date, date_to: dt.date,
                      session: requests.Session | None = None, sleep=None) -> list[DailyUsage]:
    """A subscriber's usage per local day for `date_from`..`date_to` (both inclusive).

    Long ranges are split into windows of `MAX_DAYS_PER_REQUEST` days. Each request has an
    explicit timeout and is retried (retryable errors only: timeouts, connection errors, 429,
    5xx) up to `RETRY_ATTEMPTS` times; a 4xx (401 bad token, 402 out of credits, 404 unknown
    subscriber) raises `PermanentProviderError` at once. Days outside the range are dropped.
    """
    if not subscriber_id:
        raise ValueError("subscriber_id is required")
    if date_from > date_to:
        raise ValueError("date_from must be on or before date_to")
    cfg = get_config()
    url = cfg.telemetry_url + cfg.usage_path.format(subscriber_id=requests.utils.quote(str(subscriber_id), safe=""))
    headers = _headers(cfg)
    rows: list[DailyUsage] = []
    for start, end in _windows(date_from, date_to, cfg.max_days):
        body = window_body(start, end, tz=cfg.timezone)

        def call(body=body):
            response = send("POST", url, provider=PROVIDER, session=session, timeout=(5, cfg.timeout),
                            json=body, headers=headers)
            try:
                return response.json()
            except ValueError:
                raise PermanentProviderError("Interstellio usage answer is not JSON", provider=PROVIDER,
                                             http_status=response.status_code, raw=response.text)

        try:
            payload = with_retries(call, attempts=cfg.retry_attempts, base=cfg.retry_base,
                                   cap=max(cfg.retry_base * 8, 0.0), sleep=sleep)
        except ProviderError as exc:
            exc.code = exc.code or _error_title(exc)
            raise
        rows.extend(r for r in parse_daily_usage(payload, tz=cfg.timezone) if start <= r.date <= end)
    return rows
