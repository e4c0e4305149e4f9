"""send(): typed provider errors at the HTTP boundary; with_retries(): retries only what may succeed."""

import pytest
import requests
import responses

from circletel.http import (
    PermanentProviderError,
    ProviderTimeoutError,
    RateLimitedError,
    RetryableProviderError,
    send,
    with_retries,
)

URL = "https://api.example.test/v1/things"


@responses.activate
def test_success_returns_the_response_and_passes_an_explicit_timeout():
    responses.add(responses.GET, URL, json={"ok": True}, status=200)

    response = send("GET", URL, provider="acme", timeout=(2, 7))

    assert response.json() == {"ok": True}
    assert responses.calls[0].request.req_kwargs["timeout"] == (2, 7)


@responses.activate
def test_default_timeout_is_always_set():
    responses.add(responses.GET, URL, status=204)

    send("GET", URL, provider="acme")

    assert responses.calls[0].request.req_kwargs["timeout"] == (5, 20)


@responses.activate
@pytest.mark.parametrize("exc", [requests.ReadTimeout("slow"), requests.ConnectTimeout("slow")])
def test_timeout_is_a_provider_timeout_error(exc):
    responses.add(responses.POST, URL, body=exc)

    with pytest.raises(ProviderTimeoutError) as info:
        send("POST", URL, provider="acme", json={})

    assert info.value.retryable is True
    assert (info.value.provider, info.value.message) == ("acme", "acme timed out")


@responses.activate
def test_connection_error_is_retryable():
    responses.add(responses.GET, URL, body=requests.ConnectionError("refused"))

    with pytest.raises(RetryableProviderError) as info:
        send("GET", URL, provider="acme")

    assert not isinstance(info.value, ProviderTimeoutError)
    assert info.value.message == "acme could not be reached"


@responses.activate
def test_429_is_rate_limited_with_retry_after():
    responses.add(responses.GET, URL, status=429, body="slow down", headers={"Retry-After": "7"})

    with pytest.raises(RateLimitedError) as info:
        send("GET", URL, provider="zoho")

    assert (info.value.retry_after, info.value.http_status, info.value.retryable) == (7.0, 429, True)
    assert info.value.raw == "slow down"


@responses.activate
def test_429_with_an_http_date_retry_after_has_no_number():
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})

    with pytest.raises(RateLimitedError) as info:
        send("GET", URL, provider="zoho")

    assert info.value.retry_after is None


@responses.activate
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retryable(status):
    responses.add(responses.GET, URL, status=status, body="upstream")

    with pytest.raises(RetryableProviderError) as info:
        send("GET", URL, provider="acme")

    assert (info.value.http_status, info.value.retryable) == (status, True)
    assert info.value.message == f"acme is unavailable ({status})"


@responses.activate
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_permanent(status):
    responses.add(responses.POST, URL, status=status, json={"error": "bad field"})

    with pytest.raises(PermanentProviderError) as info:
        send("POST", URL, provider="acme", json={})

    assert (info.value.http_status, info.value.retryable) == (status, False)
    assert info.value.raw == '{"error": "bad field"}'
    assert info.value.message == f"acme rejected the request ({status})"


# --- with_retries -----------------------------------------------------------------------------------


def call():
    return send("GET", URL, provider="acme").json()


@responses.activate
def test_retries_retryable_errors_until_success():
    for _ in range(4):
        responses.add(responses.GET, URL, status=503)
    responses.add(responses.GET, URL, json={"n": 5})
    sleeps = []

    assert with_retries(call, sleep=sleeps.append) == {"n": 5}

    assert len(responses.calls) == 5
    assert len(sleeps) == 4
    # full jitter: each wait is in [0, base * 2**(attempt-1)], capped
    assert all(0 <= s <= bound for s, bound in zip(sleeps, [0.5, 1.0, 2.0, 4.0], strict=True))


@responses.activate
def test_stops_after_five_attempts_and_reraises_the_last_error():
    responses.add(responses.GET, URL, status=500)
    sleeps = []

    with pytest.raises(RetryableProviderError):
        with_retries(call, sleep=sleeps.append)

    assert len(responses.calls) == 5
    assert len(sleeps) == 4


@responses.activate
def test_permanent_errors_are_not_retried():
    responses.add(responses.GET, URL, status=400)
    sleeps = []

    with pytest.raises(PermanentProviderError):
        with_retries(call, sleep=sleeps.append)

    assert len(responses.calls) == 1 and sleeps == []


def test_other_exceptions_are_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        with_retries(broken, sleep=lambda s: None)

    assert calls == [1]


@responses.activate
def test_honours_retry_after_capped():
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "3"})
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "120"})
    responses.add(responses.GET, URL, json={"ok": 1})
    sleeps = []

    assert with_retries(call, sleep=sleeps.append, cap=30.0) == {"ok": 1}

    assert sleeps == [3.0, 30.0]


@responses.activate
def test_broken_transfer_is_retryable():
    responses.add(responses.GET, URL, body=requests.exceptions.ChunkedEncodingError("cut off"))

    with pytest.raises(RetryableProviderError):
        send("GET", URL, provider="acme")


@responses.activate
@pytest.mark.parametrize("exc", [requests.TooManyRedirects("loop"), requests.exceptions.InvalidURL("bad")])
def test_other_request_failures_are_permanent_typed_errors(exc):
    responses.add(responses.GET, URL, body=exc)

    with pytest.raises(PermanentProviderError) as info:
        send("GET", URL, provider="acme")

    assert info.value.message == f"acme request failed ({type(exc).__name__})"


# --- with_retries(retry_if=...) ------------------------------------------------------------------------


@responses.activate
def test_retry_if_decides_instead_of_the_exception_class():
    # A 400 is permanent by class, but the predicate says yes: retried until success.
    responses.add(responses.GET, URL, status=400)
    responses.add(responses.GET, URL, json={"ok": 2})
    seen, sleeps = [], []

    def retry_if(exc):
        seen.append(exc)
        return True

    assert with_retries(call, sleep=sleeps.append, retry_if=retry_if) == {"ok": 2}

    assert len(responses.calls) == 2 and len(sleeps) == 1
    assert [type(e) for e in seen] == [PermanentProviderError]


@responses.activate
def test_retry_if_can_refuse_a_retryable_error():
    responses.add(responses.GET, URL, status=503)
    sleeps = []

    with pytest.raises(RetryableProviderError):
        with_retries(call, sleep=sleeps.append, retry_if=lambda exc: False)

    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_retry_if_keeps_attempts_retry_after_and_reraises_the_last_error():
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "2"})
    responses.add(responses.GET, URL, status=429, headers={"Retry-After": "9"})
    responses.add(responses.GET, URL, status=502)
    sleeps = []

    with pytest.raises(RetryableProviderError) as info:
        with_retries(call, attempts=3, cap=5.0, sleep=sleeps.append, retry_if=lambda exc: exc.retryable)

    assert info.value.http_status == 502
    assert len(responses.calls) == 3
    assert sleeps == [2.0, 5.0]  # Retry-After honoured, capped


def test_retry_if_false_for_other_exceptions_is_not_retried():
    calls = []

    def broken():
        calls.append(1)
        raise KeyError("bug")

    with pytest.raises(KeyError):
        with_retries(broken, sleep=lambda s: None,
                     retry_if=lambda exc: isinstance(exc, RetryableProviderError))

    assert calls == [1]


@responses.activate
def test_max_seconds_stops_retrying_once_the_budget_is_spent(monkeypatch):
    # A slow first failure (a provider that took 20 s to time out) uses up a 8 s budget: no retry.
    responses.add(responses.GET, URL, status=503)
    responses.add(responses.GET, URL, json={"ok": 1})
    clock = iter([100.0, 100.0, 120.0, 120.0, 120.0, 120.0])
    monkeypatch.setattr("time.monotonic", lambda: next(clock, 120.0))
    sleeps = []

    with pytest.raises(RetryableProviderError):
        with_retries(call, sleep=sleeps.append, max_seconds=8)

    assert len(responses.calls) == 1 and sleeps == []


@responses.activate
def test_max_seconds_still_retries_a_fast_failure():
    responses.add(responses.GET, URL, status=503)
    responses.add(responses.GET, URL, json={"ok": 1})
    sleeps = []

    assert with_retries(call, sleep=sleeps.append, max_seconds=8, base=0.01, cap=0.01) == {"ok": 1}
    assert len(responses.calls) == 2 and len(sleeps) == 1
