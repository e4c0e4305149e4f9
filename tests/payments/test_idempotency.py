"""Idempotency-Key on POST /api/payments/refund (the /process cases are at the end of
test_payments_api.py): replay, conflict, canonical JSON bodies, validation, expiry, "try again"
answers not stored, stale locks of crashed requests taken over once, and two concurrent requests
with one key (PostgreSQL)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import IdempotencyKey, Refund
from payments.services.idempotency import (
    _take_over,
    idempotency_begin,
    idempotency_finish,
    idempotency_keys_prune,
    idempotency_release,
    legacy_request_fingerprint,
    request_fingerprint,
)
from payments.services.payments import payment_complete
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice

URL = "/api/payments/refund"


def _paid(total="300.00"):
    customer = CustomerFactory()
    invoice = make_invoice(customer, total)
    return payment_complete(reference=f"{invoice.number}-IDEM", amount=Decimal(total), customer=customer,
                            method="eft", provider="netcash", invoice=invoice)


def _staff():
    user = UserFactory(is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return user, client


def _post(client, body, key):
    return client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_repeat_with_same_key_and_body_replays_without_a_second_refund():
    payment = _paid()
    _, client = _staff()
    body = {"payment_id": payment.pk, "amount": "100.00", "reason": "Goodwill"}

    first = _post(client, body, "key-aaaa-0001")
    second = _post(client, body, "key-aaaa-0001")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1
    record = IdempotencyKey.objects.get()
    assert (record.state, record.response_status, record.method, record.path) == ("complete", 201, "POST", URL)
    assert timedelta(hours=23, minutes=59) < record.expires_at - record.created_at <= timedelta(hours=24, seconds=1)


@pytest.mark.django_db
def test_same_key_different_body_is_422_and_runs_nothing():
    payment = _paid()
    _, client = _staff()
    _post(client, {"payment_id": payment.pk, "amount": "100.00", "reason": "Goodwill"}, "key-bbbb-0001")

    response = _post(client, {"payment_id": payment.pk, "amount": "150.00", "reason": "Goodwill"}, "key-bbbb-0001")

    assert response.status_code == 422
    assert response.json()["message"] == "This Idempotency-Key was used for a different request."
    assert list(Refund.objects.values_list("amount", flat=True)) == [Decimal("100.00")]


@pytest.mark.django_db
def test_errors_below_500_are_replayed_too():
    payment = _paid()
    _, client = _staff()
    body = {"payment_id": payment.pk, "amount": "999.00", "reason": "x"}

    first = _post(client, body, "key-cccc-0001")
    second = _post(client, body, "key-cccc-0001")

    assert first.status_code == second.status_code == 400
    assert second.json() == first.json()


@pytest.mark.django_db
def test_keys_are_per_user():
    payment = _paid()
    _, a = _staff()
    _, b = _staff()
    body = {"payment_id": payment.pk, "amount": "10.00", "reason": "x"}

    assert _post(a, body, "shared-key-01").status_code == 201
    assert _post(b, body, "shared-key-01").status_code == 201
    assert Refund.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["short", "has space in it", "x" * 256, "tab\there-123"])
def test_invalid_keys_are_400_and_nothing_runs(key):
    payment = _paid()
    _, client = _staff()

    response = _post(client, {"payment_id": payment.pk, "amount": "10.00", "reason": "x"}, key)

    assert response.status_code == 400
    assert response.json()["extra"] == {"Idempotency-Key": "invalid"}
    assert Refund.objects.count() == 0 and IdempotencyKey.objects.count() == 0


@pytest.mark.django_db
def test_a_locked_key_answers_409_in_progress(monkeypatch):
    """A request still running under the key (state locked): the repeat waits briefly, then 409."""
    payment = _paid()
    _, client = _staff()
    body = {"payment_id": payment.pk, "amount": "10.00", "reason": "x"}
    _post(client, body, "key-locked-01")
    IdempotencyKey.objects.update(state="locked", response_status=None, response_body=None)
    monkeypatch.setattr("payments.services.idempotency.WAIT_SECONDS", 0.1)

    response = _post(client, body, "key-locked-01")

    assert response.status_code == 409
    assert response.json()["message"] == "A request with this Idempotency-Key is still in progress; retry shortly."
    assert response["Retry-After"] == "2"
    assert Refund.objects.count() == 1
    assert IdempotencyKey.objects.get().state == "locked"  # a lock younger than the staleness is kept


@pytest.mark.django_db
def test_expired_keys_are_pruned_and_an_expired_key_runs_again():
    payment = _paid()
    _, client = _staff()
    body = {"payment_id": payment.pk, "amount": "10.00", "reason": "x"}
    _post(client, body, "key-expire-01")
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    assert _post(client, body, "key-expire-01").status_code == 201
    assert Refund.objects.count() == 2
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert idempotency_keys_prune() == 1
    assert IdempotencyKey.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_execute_once():
    payment = _paid()
    user, _ = _staff()
    body = {"payment_id": payment.pk, "amount": "100.00", "reason": "Concurrent"}
    def worker():
        client = APIClient()
        client.force_authenticate(user)
        response = _post(client, body, "key-concurrent-01")
        return response.status_code, response.json()

    results = run_concurrently(worker, [()] * 4)

    assert Refund.objects.count() == 1
    statuses = sorted(code for code, _ in results)
    assert all(code in (201, 409) for code in statuses) and statuses.count(201) >= 1
    bodies = {json.dumps(b, sort_keys=True) for code, b in results if code == 201}
    assert len(bodies) == 1  # every 201 is the same (replayed) response


# --- Stale locks: a request that crashed (no cleanup ran) ----------------------------------------


def _crashed(client, body, key, *, age_seconds):
    """The key as a killed request leaves it: locked, no response, locked `age_seconds` ago."""
    _post(client, body, key)
    IdempotencyKey.objects.update(state="locked", response_status=None, response_body=None,
                                  created_at=timezone.now() - timedelta(seconds=age_seconds))


@pytest.mark.django_db
def test_a_stale_lock_is_taken_over_and_the_repeat_runs():
    payment = _paid()
    _, client = _staff()
    body = {"payment_id": payment.pk, "amount": "10.00", "reason": "x"}
    _crashed(client, body, "key-stale-001", age_seconds=301)  # default staleness 300 s

    response = _post(client, body, "key-stale-001")

    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response
    assert Refund.objects.count() == 2
    record = IdempotencyKey.objects.get()
    assert (record.state, record.response_status) == ("complete", 201)
    assert timezone.now() - record.created_at < timedelta(seconds=30)  # re-stamped by the takeover
    assert _post(client, body, "key-stale-001")["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 2


@pytest.mark.django_db
def test_lock_staleness_comes_from_settings(settings, monkeypatch):
    payment = _paid()
    _, client = _staff()
    body = {"payment_id": payment.pk, "amount": "10.00", "reason": "x"}
    monkeypatch.setattr("payments.services.idempotency.WAIT_SECONDS", 0.1)
    settings.IDEMPOTENCY_LOCK_STALE_SECONDS = 600
    _crashed(client, body, "key-stale-002", age_seconds=400)

    assert _post(client, body, "key-stale-002").status_code == 409

    settings.IDEMPOTENCY_LOCK_STALE_SECONDS = 60

    assert _post(client, body, "key-stale-002").status_code == 201
    assert Refund.objects.count() == 2


@pytest.mark.django_db
def test_a_stale_lock_with_a_different_body_is_still_422():
    payment = _paid()
    _, client = _staff()
    _crashed(client, {"payment_id": payment.pk, "amount": "10.00", "reason": "x"}, "key-stale-003", age_seconds=900)

    response = _post(client, {"payment_id": payment.pk, "amount": "20.00", "reason": "x"}, "key-stale-003")

    assert response.status_code == 422
    assert Refund.objects.count() == 1 and IdempotencyKey.objects.get().state == "locked"


@pytest.mark.django_db
def test_two_repeats_that_read_the_same_stale_row_cannot_both_take_it_over():
    """The takeover is a compare-and-swap on the `created_at` read: the second UPDATE matches nothing."""
    user = UserFactory()
    first = idempotency_begin(user=user, key="key-stale-004", method="POST", path=URL, body=b"{}").record
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=301))
    seen_by_a = IdempotencyKey.objects.get()
    seen_by_b = IdempotencyKey.objects.get()

    taken_a = _take_over(existing=seen_by_a, fingerprint=first.fingerprint)
    taken_b = _take_over(existing=seen_by_b, fingerprint=first.fingerprint)

    assert taken_a is not None and taken_b is None
    assert IdempotencyKey.objects.get().created_at == taken_a.created_at


@pytest.mark.django_db
def test_a_slow_request_that_lost_its_stale_lock_cannot_release_or_overwrite_the_new_owner():
    user = UserFactory()
    slow = idempotency_begin(user=user, key="key-stale-005", method="POST", path=URL, body=b"{}").record
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(seconds=301))
    slow.refresh_from_db()
    taker = idempotency_begin(user=user, key="key-stale-005", method="POST", path=URL, body=b"{}")
    assert taker.replay is None and taker.record.pk == slow.pk

    idempotency_release(record=slow)
    idempotency_finish(record=slow, status=201, body={"who": "slow"})

    row = IdempotencyKey.objects.get()
    assert (row.state, row.response_body) == ("locked", None)
    idempotency_finish(record=taker.record, status=201, body={"who": "taker"})
    row.refresh_from_db()
    assert (row.state, row.response_status, row.response_body) == ("complete", 201, {"who": "taker"})


# --- "Try again" answers are not stored ----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("status,retryable", [(402, True), (409, True), (503, False)])
def test_a_retryable_or_server_error_answer_releases_the_key(status, retryable):
    user = UserFactory()
    record = idempotency_begin(user=user, key="key-retry-001", method="POST", path=URL, body=b"{}").record

    idempotency_finish(record=record, status=status, body={"extra": {"retryable": retryable}}, retryable=retryable)

    assert IdempotencyKey.objects.count() == 0
    again = idempotency_begin(user=user, key="key-retry-001", method="POST", path=URL, body=b"{}")
    assert again.replay is None and again.record.state == "locked"


@pytest.mark.django_db
def test_a_permanent_answer_below_500_is_stored():
    user = UserFactory()
    record = idempotency_begin(user=user, key="key-retry-002", method="POST", path=URL, body=b"{}").record

    idempotency_finish(record=record, status=402, body={"extra": {"retryable": False}}, retryable=False)

    again = idempotency_begin(user=user, key="key-retry-002", method="POST", path=URL, body=b"{}")
    assert again.replay == (402, {"extra": {"retryable": False}})


# --- "Same body": canonical JSON ----------------------------------------------------------------


def _post_raw(client, raw: str, key: str, content_type="application/json"):
    return client.post(URL, data=raw, content_type=content_type, HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.django_db
def test_same_json_with_other_key_order_and_whitespace_replays():
    payment = _paid()
    _, client = _staff()
    first = _post_raw(client, f'{{"payment_id": {payment.pk}, "amount": "100.00", "reason": "Goodwill"}}',
                      "key-canon-001")

    second = _post_raw(client, f'{{\n  "reason":"Goodwill",\n  "amount":"100.00",  "payment_id":{payment.pk}\n}}',
                       "key-canon-001")

    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true" and second.json() == first.json()
    assert Refund.objects.count() == 1


@pytest.mark.django_db
def test_a_row_stored_with_the_old_raw_bytes_fingerprint_still_replays():
    """Rows written before canonical JSON hold sha256 of the raw bytes: the same bytes still match."""
    payment = _paid()
    _, client = _staff()
    raw = f'{{"payment_id": {payment.pk}, "amount": "100.00", "reason": "Goodwill"}}'
    _post_raw(client, raw, "key-canon-002")
    IdempotencyKey.objects.update(fingerprint=legacy_request_fingerprint(method="POST", path=URL, body=raw.encode()))

    response = _post_raw(client, raw, "key-canon-002")

    assert response.status_code == 201 and response["Idempotent-Replayed"] == "true"
    assert Refund.objects.count() == 1


def test_fingerprint_canonicalises_json_only():
    def fp(body: bytes, ct: str | None = None) -> str:
        return request_fingerprint(method="POST", path=URL, body=body, content_type=ct)

    assert fp(b'{"a": 1, "b": [1, 2]}') == fp(b'{"b":[1,2],"a":1}') == fp(b'{"b":[1,2],"a":1}', "application/json")
    assert fp(b'{"a": 1}') != fp(b'{"a": 2}')
    assert fp(b'{"a": "1"}') != fp(b'{"a": 1}')
    # not JSON (form body, a JSON-looking body sent as a form, NaN, broken JSON): the raw bytes count
    assert fp(b"a=1&b=2") != fp(b"b=2&a=1")
    assert fp(b'{"a": 1}', "application/x-www-form-urlencoded") != fp(b'{"a":1}', "application/x-www-form-urlencoded")
    assert fp(b'{"a": NaN}') != fp(b'{"a":NaN}')
    assert fp(b'{"a": 1') != fp(b'{"a":1')
    assert fp(b"a=1") == legacy_request_fingerprint(method="POST", path=URL, body=b"a=1")
