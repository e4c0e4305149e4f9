from datetime import timedelta

import pytest
import requests
import responses
from django.core.exceptions import ImproperlyConfigured

from tests.zoho_sync.conftest import API, TOKEN_URL
from zoho_sync.clients import zoho
from zoho_sync.models import ApiCallCounter
from zoho_sync.ratelimit import RateLimiter, calls_today

pytestmark = pytest.mark.django_db

CUSTOMER = {"customer_id": "903000000000099", "display_name": "Thandi Mokoena", "email": "thandi@example.co.za"}


def test_token_is_refreshed_once_across_many_calls_and_clients(client_factory, token, rsps):
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": [CUSTOMER]})

    for _ in range(5):
        assert client_factory().find_customers_by_email("thandi@example.co.za") == [CUSTOMER]

    token_calls = [c for c in rsps.calls if c.request.url.startswith(TOKEN_URL)]
    api_calls = [c for c in rsps.calls if c.request.url.startswith(API)]
    assert len(token_calls) == 1
    assert "grant_type=refresh_token" in token_calls[0].request.body
    assert len(api_calls) == 5
    assert api_calls[0].request.headers["Authorization"] == "Zoho-oauthtoken 1000.tok1"
    assert api_calls[0].request.headers["X-com-zoho-subscriptions-organizationid"] == "700000001"
    assert calls_today() == 5


def test_401_refreshes_the_token_and_retries_once(client_factory, rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "1000.old", "expires_in": 3600})
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "1000.new", "expires_in": 3600})
    rsps.add(responses.GET, f"{API}/customers", status=401, json={"code": 57, "message": "You are not authorized"})
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": [CUSTOMER]})

    assert client_factory().find_customers_by_email("x@example.co.za") == [CUSTOMER]

    api = [c.request.headers["Authorization"] for c in rsps.calls if c.request.url.startswith(API)]
    assert api == ["Zoho-oauthtoken 1000.old", "Zoho-oauthtoken 1000.new"]


def test_401_twice_raises_authentication_error_after_one_refresh(client_factory, rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "1000.a", "expires_in": 3600})
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "1000.b", "expires_in": 3600})
    rsps.add(responses.GET, f"{API}/customers", status=401, json={"code": 57, "message": "not authorized"})

    with pytest.raises(zoho.ZohoAuthError):
        client_factory().find_customers_by_email("x@example.co.za")
    assert len([c for c in rsps.calls if c.request.url.startswith(TOKEN_URL)]) == 2
    assert len([c for c in rsps.calls if c.request.url.startswith(API)]) == 2


def test_short_429_waits_as_told_then_retries(client_factory, token, rsps, sleeps):
    rsps.add(responses.POST, f"{API}/customers", status=429, headers={"Retry-After": "2"},
             json={"code": 44, "message": "exceeded the maximum number of requests per minute"})
    rsps.add(responses.POST, f"{API}/customers", status=201,
             json={"code": 0, "message": "The customer has been created", "customer": CUSTOMER})

    assert client_factory().create_customer({"display_name": "Thandi"})["customer_id"] == "903000000000099"
    assert sleeps == [2.0]
    assert len([c for c in rsps.calls if c.request.url.startswith(API)]) == 2


def test_finding4_a_long_429_never_holds_the_worker_it_pauses_every_worker(client_factory, token, rsps, sleeps):
    """Issue 17 finding 4: a 429 without Retry-After used to sleep 60 s three times (~270 s per entity).
    Now nothing sleeps: the shared minute breaker opens for the wait and the call raises."""
    from zoho_sync import breaker

    rsps.add(responses.POST, f"{API}/customers", status=429, json={"code": 44, "message": "too many requests"})

    with pytest.raises(breaker.CircuitOpenError) as exc:
        client_factory().create_customer({"display_name": "x"})
    assert sleeps == []
    assert exc.value.name == "minute"
    assert breaker.open_until() is not None  # every other worker sees it too
    calls_before = len(rsps.calls)
    with pytest.raises(breaker.CircuitOpenError):
        client_factory().get_invoice("1")  # not even sent while open
    assert len(rsps.calls) == calls_before


def test_finding4_daily_limit_trips_the_daily_breaker_until_the_day_resets(client_factory, token, rsps, sleeps):
    from django.utils import timezone

    from zoho_sync import breaker

    rsps.add(responses.GET, f"{API}/invoices/1", status=429,
             json={"code": 45, "message": "exceeded the maximum call rate limit of 1000"})

    with pytest.raises(breaker.CircuitOpenError) as exc:
        client_factory().get_invoice("1")
    assert exc.value.name == "daily" and sleeps == []
    assert len([c for c in rsps.calls if c.request.url.startswith(API)]) == 1  # a read is not retried into it
    reopens = timezone.localtime(breaker.open_until())
    assert (reopens.hour, reopens.minute) == (0, 5) and reopens.date() == timezone.localdate() + timedelta(days=1)
    # Positive control: it closes by itself once the time has passed.
    from zoho_sync.models import CircuitBreaker

    CircuitBreaker.objects.update(open_until=timezone.now() - timedelta(seconds=1))
    rsps.replace(responses.GET, f"{API}/invoices/1", json={"code": 0, "message": "success",
                                                           "invoice": {"invoice_id": "1"}})
    assert client_factory().get_invoice("1") == {"invoice_id": "1"}


def test_5xx_backs_off_then_succeeds(client_factory, token, rsps, sleeps):
    rsps.add(responses.GET, f"{API}/invoices/1", status=503, body="unavailable")
    rsps.add(responses.GET, f"{API}/invoices/1", status=500, body="oops")
    rsps.add(responses.GET, f"{API}/invoices/1", json={"code": 0, "message": "success", "invoice": {"invoice_id": "1"}})

    assert client_factory().get_invoice("1") == {"invoice_id": "1"}
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0  # full jitter within 1 s, 2 s


def test_5xx_on_create_is_not_blindly_reposted(client_factory, token, rsps, sleeps):
    rsps.add(responses.POST, f"{API}/invoices", status=502, body="bad gateway")

    with pytest.raises(zoho.ZohoServerError):
        client_factory().create_invoice({"customer_id": "1"})
    assert len([c for c in rsps.calls if c.request.url.startswith(API)]) == 1
    assert sleeps == []


def test_timeout_is_a_typed_retryable_error(client_factory, token, rsps, sleeps):
    rsps.add(responses.GET, f"{API}/invoices/9", body=requests.exceptions.ReadTimeout("read timed out"))

    with pytest.raises(zoho.ZohoTimeoutError) as exc:
        client_factory(attempts=3).get_invoice("9")
    assert exc.value.retryable is True
    assert len(sleeps) == 2


def test_404_and_validation_envelope_errors(client_factory, token, rsps):
    rsps.add(responses.GET, f"{API}/plans/fibre-50", status=404, json={"code": 1002, "message": "Plan does not exist."})
    rsps.add(responses.POST, f"{API}/customers", status=200, json={"code": 3062, "message": "Email already used"})

    with pytest.raises(zoho.ZohoNotFoundError):
        client_factory().get_plan("fibre-50")
    with pytest.raises(zoho.ZohoValidationError) as exc:
        client_factory().create_customer({"display_name": "x"})
    assert exc.value.code == "3062"


def test_token_throttle_400_is_rate_limited_not_bad_credentials(client_factory, rsps):
    rsps.add(responses.POST, TOKEN_URL, status=400, json={
        "error": "Access Denied",
        "error_description": "You have made too many requests continuously. Please try again after some time."})

    with pytest.raises(zoho.ZohoRateLimitedError):
        client_factory(max_rate_limit_retries=0).access_token()


def test_revoked_refresh_token_is_an_authentication_error(client_factory, rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"error": "invalid_code"})

    with pytest.raises(zoho.ZohoAuthError, match="invalid_code"):
        client_factory().access_token()


@pytest.mark.parametrize("region,accounts,api", [
    ("eu", "https://accounts.zoho.eu", "https://www.zohoapis.eu/billing/v1"),
    ("com.au", "https://accounts.zoho.com.au", "https://www.zohoapis.com.au/billing/v1"),
    ("ca", "https://accounts.zohocloud.ca", "https://www.zohoapis.ca/billing/v1"),
    ("sa", "https://accounts.zoho.sa", "https://www.zohoapis.sa/billing/v1"),
])
def test_region_urls(zoho_settings, region, accounts, api):
    zoho_settings.ZOHO = {**zoho_settings.ZOHO, "REGION": region}
    config = zoho.load_config()
    assert (config.accounts_url, config.api_root) == (accounts, api)


def test_missing_credentials_is_improperly_configured(zoho_settings):
    zoho_settings.ZOHO = {**zoho_settings.ZOHO, "REFRESH_TOKEN": ""}
    with pytest.raises(ImproperlyConfigured, match="ZOHO_REFRESH_TOKEN"):
        zoho.load_config()


def test_rate_limiter_waits_for_the_next_window_when_full(db):
    now = [1000.2]
    waits = []

    def sleep(s):
        waits.append(round(s, 3))
        now[0] += s

    limiter = RateLimiter(per_window=3, window_seconds=1.0, concurrency=2, clock=lambda: now[0], sleep=sleep)
    for _ in range(7):
        with limiter.call():
            pass

    assert waits == [0.801, 1.0]  # 3 calls in window 1000, 3 in 1001, 1 in 1002
    windows = dict(ApiCallCounter.objects.filter(window__startswith="m:").values_list("window", "count"))
    assert windows == {"m:1000:1000": 3, "m:1000:1001": 3, "m:1000:1002": 1}
    assert calls_today() == 7


def test_a_call_in_the_last_seconds_of_a_minute_waits_once_for_the_next(zoho_settings, token, rsps):
    """The client hands its clock to the limiter with its sleep: a call 0.5 s before the minute ends
    waits 0.501 s once and goes out in the next window (not a spin of tiny waits against a clock
    that a fake sleep never moves on, which made the 429 tests depend on the second they ran in)."""
    from tests.zoho_sync.conftest import Sleeps

    sleeps = Sleeps(start=1_800_000_059.5)
    rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": [CUSTOMER]})

    assert zoho.ZohoClient(sleep=sleeps, clock=sleeps.clock).find_customers_by_email("x@example.co.za") == [CUSTOMER]

    assert [round(s, 3) for s in sleeps] == [0.501]
    minute = int(1_800_000_060 // 60)
    assert ApiCallCounter.objects.get(window=f"m:60000:{minute}").count == 1
