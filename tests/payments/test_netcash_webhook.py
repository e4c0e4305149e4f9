from decimal import Decimal
from urllib.parse import urlencode

import pytest

from billing.models import Invoice, LedgerEntry
from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from payments.clients import netcash
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice, notify_fields, notify_url, post_notify

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def invoice():
    return make_invoice(CustomerFactory(), "499.00")


def _nothing_changed():
    assert PaymentTransaction.objects.count() == 0
    assert WebhookEvent.objects.count() == 0
    assert LedgerEntry.objects.count() == 0
    assert NotificationLog.objects.count() == 0


def test_accepted_notify_completes_payment_once_when_posted_twice(client, invoice):
    fields = notify_fields(f"{invoice.number}-ABC123", "499.00")
    first = post_notify(client, fields)
    second = post_notify(client, fields)
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == b"OK duplicate"
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.amount, payment.invoice_id) == ("completed", D("499.00"), invoice.pk)
    assert (payment.provider, payment.method, payment.provider_transaction_id) == ("netcash", "card", "TRACE-1")
    assert LedgerEntry.objects.filter(reference=f"payment:{payment.pk}").count() == 1
    assert NotificationLog.objects.filter(event="payment_received").count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED


def test_customer_return_and_notify_with_different_traces_apply_once(client, invoice):
    ref = f"{invoice.number}-ABC123"
    post_notify(client, notify_fields(ref, "499.00", trace="T-A"))
    post_notify(client, notify_fields(ref, "499.00", trace="T-B"))
    assert PaymentTransaction.objects.count() == 1
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 1
    assert WebhookEvent.objects.count() == 2


def test_declined_notify_records_failed_payment(client, invoice):
    resp = post_notify(client, notify_fields(f"{invoice.number}-DEC111", "499.00", accepted=False,
                                             reason="Insufficient funds (51) acq ref 88231"))
    assert resp.status_code == 200
    payment = PaymentTransaction.objects.get()
    # The customer sees our words for the decline; NetCash's own text is kept for staff.
    assert (payment.status, payment.failure_reason) == (
        "failed", "Your card has insufficient funds. Please use another card or payment method.")
    assert payment.raw_response["error_code"] == "insufficient_funds"
    assert payment.raw_response["provider_error"] == "Insufficient funds (51) acq ref 88231"
    assert not LedgerEntry.objects.exists()
    assert NotificationLog.objects.filter(event="payment_failed").count() == 1


def test_later_decline_for_completed_reference_is_flagged(client, invoice):
    ref = f"{invoice.number}-ABC123"
    post_notify(client, notify_fields(ref, "499.00", trace="T-1"))
    resp = post_notify(client, notify_fields(ref, "499.00", accepted=False, trace="T-2"))
    assert resp.status_code == 200
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.needs_review) == ("completed", True)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_pending_eft_stays_pending(client, invoice):
    post_notify(client, notify_fields(f"{invoice.number}-EFT111", "499.00", accepted=False, method="2",
                                      reason="Pending"))
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.method) == ("pending", "eft")
    assert not LedgerEntry.objects.exists()


def test_zero_amount_accepted_is_not_a_payment(client, invoice):
    resp = post_notify(client, notify_fields(f"{invoice.number}-ZER000", "0.00", signed_amount="499.00"))
    assert resp.status_code == 400
    _nothing_changed()


@pytest.mark.parametrize("mutate, status", [
    (lambda f: f.pop("Extra3"), 401),                                     # unsigned
    (lambda f: f.update(Extra3="0" * 64), 403),                           # bad HMAC
    (lambda f: f.update(Extra2="500.00"), 403),                           # signed amount tampered
    (lambda f: f.update(Amount="100.00"), 400),                           # wrong amount
    (lambda f: f.update(Amount="49900"), 400),                            # cents instead of Rands
    (lambda f: f.update(Amount="4.99e2"), 400),                           # wrong amount type
    (lambda f: f.update(Amount="abc"), 400),                              # wrong amount type
    (lambda f: f.pop("RequestTrace"), 400),                               # malformed: missing field
])
def test_bad_notifications_are_refused_and_change_nothing(client, invoice, mutate, status):
    fields = notify_fields(f"{invoice.number}-ABC123", "499.00")
    mutate(fields)
    resp = post_notify(client, fields)
    assert resp.status_code == status
    assert resp.json()["message"]
    _nothing_changed()


def test_unknown_invoice_is_404_and_changes_nothing(client, invoice):
    resp = post_notify(client, notify_fields("INV-2026-99999-ABC123", "499.00"))
    assert resp.status_code == 404
    resp = post_notify(client, notify_fields("XYZ-1", "499.00"))
    assert resp.status_code == 404
    _nothing_changed()


def test_malformed_bodies_are_4xx(client, invoice):
    assert client.post(notify_url(), data=b"\xff\xfe", content_type="application/x-www-form-urlencoded").status_code == 400
    assert client.post(notify_url(), data="a&&=b", content_type="application/x-www-form-urlencoded").status_code == 400
    assert client.post(notify_url(), data='{"a": 1}', content_type="application/json").status_code == 415
    assert client.get(notify_url()).status_code == 405
    _nothing_changed()


def test_oversized_body_is_413(client, invoice, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    fields = notify_fields(f"{invoice.number}-ABC123", "499.00")
    fields["Extra1"] = "x" * 2000
    resp = client.post(notify_url(), data=urlencode(fields),
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 413
    _nothing_changed()


def test_refuses_when_secret_not_configured(client, invoice, settings):
    fields = notify_fields(f"{invoice.number}-ABC123", "499.00")
    settings.NETCASH = {**settings.NETCASH, "PAYNOW_HMAC_SECRET": ""}
    resp = post_notify(client, fields)
    assert resp.status_code == 503
    _nothing_changed()


def test_units_paynow_rands_and_batch_cents():
    assert netcash.rands(D("899")) == "899.00"
    assert netcash.rands(D("499.5")) == "499.50"
    assert netcash.cents(D("899.00")) == 89900
    assert netcash.cents(D("0.01")) == 1
    form = netcash.paynow_form(reference="INV-2026-00001-AAAAAA", amount=D("899.00"), description="Invoice")
    assert form.fields["p4"] == "899.00"
    assert netcash.paynow_verify(reference="INV-2026-00001-AAAAAA", amount=D("899.00"), signature=form.fields["m6"])
    assert not netcash.paynow_verify(reference="INV-2026-00001-AAAAAA", amount=D("8.99"), signature=form.fields["m6"])


@pytest.mark.parametrize("accepted, method, reason, status", [
    (True, "1", "Success", "completed"),
    (False, "1", "Declined", "failed"),
    (False, "2", "Pending", "pending"),
])
def test_each_outcome_posted_twice_has_one_effect(client, invoice, accepted, method, reason, status):
    fields = notify_fields(f"{invoice.number}-TWICE1", "499.00", accepted=accepted, method=method, reason=reason)
    for _ in range(2):
        assert post_notify(client, fields).status_code == 200
    assert list(PaymentTransaction.objects.values_list("status", flat=True)) == [status]
    assert WebhookEvent.objects.count() == 1
    assert LedgerEntry.objects.filter(entry_type="payment").count() == (1 if accepted else 0)
    assert NotificationLog.objects.count() == (1 if status != "pending" else 0)


def test_customer_return_post_only_displays_and_the_notify_applies_once(client, invoice):
    fields = notify_fields(f"{invoice.number}-RET001", "499.00")
    resp = client.post("/payments/netcash/return", data=urlencode(fields),
                       content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 302 and resp["Location"] == f"/payments/result/{invoice.number}-RET001"
    assert PaymentTransaction.objects.count() == 0 and WebhookEvent.objects.count() == 0
    assert post_notify(client, fields).status_code == 200
    assert PaymentTransaction.objects.get().status == "completed"
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 1
