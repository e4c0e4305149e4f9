"""Idempotency-Key on POST /api/payments/refund and /process: replay, conflict, validation,
expiry, and two concurrent requests with one key (PostgreSQL)."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from payments.models import IdempotencyKey, Refund
from payments.services.idempotency import idempotency_keys_prune
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
    assert Refund.objects.count() == 1


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
