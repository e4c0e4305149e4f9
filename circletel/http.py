"""Shared plumbing for provider clients: typed errors and the one retry helper.

Every provider client (`<app>/clients/<provider>.py`) raises `RetryableProviderError` for
timeouts, connection errors, 429 and 5xx, and `PermanentProviderError` for other 4xx and
validation failures. `with_retries` (tenacity: exponential backoff with full jitter, capped, at
most 5 attempts) retries only the retryable ones, honouring a server's `Retry-After` when given.
A caller may pass `retry_if` to decide per exception instead (the payment clients ask
`payments.provider_errors.classify(exc).retryable`); it must only be used around calls that are
safe to repeat (reads, or writes carrying an idempotency key).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
)

from circletel.errors import ApplicationError

T = TypeVar("T")

DEFAULT_TIMEOUT = (5, 20)  # connect, read seconds


class ProviderError(ApplicationError):
    """A provider call failed. `retryable` tells the retry helper whether to try again."""

    retryable = False
    status_code = 502

    def __init__(self, message: str, *, provider: str = "", http_status: int | None = None,
                 code: str = "", raw: str = "", retry_after: float | None = None, extra: dict | None = None):
        super().__init__(message, extra)
        self.provider = provider
        self.http_status = http_status
        self.code = code
        self.raw = raw[:2000]  # kept for staff, never shown to customers
        self.retry_after = retry_after


class RetryableProviderError(ProviderError):
    retryable = True


class PermanentProviderError(ProviderError):
    retryable = False


class RateLimitedError(RetryableProviderError):
    pass


class ProviderTimeoutError(RetryableProviderError):
    pass


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))  # not money: seconds
    except ValueError:
        return None


def raise_for_response(response: requests.Response, *, provider: str) -> None:
    """Turn an HTTP error status into the right typed error; 2xx/3xx pass."""
    status = response.status_code
    if status < 400:
        return
    raw = response.text[:2000]
    if status == 429:
        raise RateLimitedError(
            f"{provider} rate limited the request", provider=provider, http_status=status, raw=raw,
            retry_after=_parse_retry_after(response.headers.get("Retry-After")),
        )
    if status >= 500:
        raise RetryableProviderError(f"{provider} is unavailable ({status})", provider=provider,
                                     http_status=status, raw=raw)
    raise PermanentProviderError(f"{provider} rejected the request ({status})", provider=provider,
                                 http_status=status, raw=raw)


def send(method: str, url: str, *, provider: str, session: requests.Session | None = None,
         timeout=DEFAULT_TIMEOUT, **kwargs) -> requests.Response:
    """One HTTP call with an explicit timeout; transport failures become retryable errors."""
    try:
        response = (session or requests).request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        raise ProviderTimeoutError(f"{provider} timed out", provider=provider) from exc
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
        raise RetryableProviderError(f"{provider} could not be reached", provider=provider) from exc
    except requests.RequestException as exc:  # invalid URL, too many redirects ...: retrying will not help
        raise PermanentProviderError(f"{provider} request failed ({type(exc).__name__})", provider=provider) from exc
    raise_for_response(response, provider=provider)
    return response


def _wait(base: float, cap: float):
    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(float(retry_after), cap)  # not money: seconds
        # Full jitter: uniform in [0, min(cap, base * 2**attempt)].
        return random.uniform(0, min(cap, base * 2 ** (state.attempt_number - 1)))  # not money

    return wait


def with_retries(func: Callable[[], T], *, attempts: int = 5, base: float = 0.5, cap: float = 30.0,
                 sleep: Callable[[float], None] | None = None,
                 retry_if: Callable[[BaseException], bool] | None = None, max_seconds: float | None = None) -> T:
    """Call `func` until it succeeds, retrying the exceptions `retry_if` accepts (by default only
    `RetryableProviderError`s); any other exception, or the last one, is re-raised. With
    `max_seconds`, no attempt starts once that much time (including the next wait) has passed."""
    kwargs = {"sleep": sleep} if sleep is not None else {}
    retry = retry_if_exception(retry_if) if retry_if is not None else retry_if_exception_type(RetryableProviderError)
    stop = stop_after_attempt(attempts)
    if max_seconds is not None:
        stop = stop | stop_before_delay(max_seconds)
    retrying = Retrying(
        stop=stop,
        wait=_wait(base, cap),
        retry=retry,
        reraise=True,
        **kwargs,
    )
    return retrying(func)
