"""PayPal for invoices: create-order / capture endpoints and the verified capture webhooks."""

import json
from decimal import Decimal

import pytest
import responses
from django.test import TestCase
from rest_framework.test import APIClient

from billing.models import LedgerEntry
from notifications.models import NotificationLog
from payments.models import PaymentTransaction, Refund, WebhookEvent
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice
from tests.webhooks import deliver, event_status

API = "https://api-m.sandbox.paypal.com"
HEADERS = {"HTTP_PAYPAL_AUTH_ALGO": "SHA256withRSA", "HTTP_PAYPAL_CERT_URL": f"{API}/cert.pem",
           "HTTP_PAYPAL_TRANSMISSION_ID": "tx-1", "HTTP_PAYPAL_TRANSMISSION_SIG": "sig",
           "HTTP_PAYPAL_TRANSMISSION_TIME": "2026-08-01T10:00:00Z"}


@pytest.fixture
def paypal_on(settings, db):
    # The cached access token starts empty: every test has its own cache namespace (tests/conftest.py).
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "csecret", "WEBHOOK_ID": "WH-ID-1",
                       "API_BASE": API}


def _token():
    responses.add(responses.POST, f"{API}/v1/oauth2/token", json={"access_token": "A21AA", "expires_in": 32400})


def _order(invoice, client):
    responses.add(responses.POST, f"{API}/v2/checkout/orders", status=201, json={
        "id": "5O190127TN364715T", "status": "PAYER_ACTION_REQUIRED",
        "links": [{"rel": "payer-action", "href": "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T"}]})
    return client.post("/api/paypal/create-order", {"kind": "invoice", "invoice_number": invoice.number}, format="json")


def _ordered():
    """A PayPal order created for a R 100.00 invoice: (API client, its pending payment). Called inside
    the test, where `responses` is active."""
    _token()
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()
    _order(invoice, client)
    return client, PaymentTransaction.objects.get()


def _capture_response(payment, status="COMPLETED"):
    return {"id": "5O190127TN364715T", "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [{
        "id": "3C679366HH908993F", "status": status, "custom_id": payment.reference,
        "amount": {"currency_code": "ZAR", "value": str(payment.amount)}}]}}]}


def _webhook(client, event):
    responses.add(responses.POST, f"{API}/v1/notifications/verify-webhook-signature",
                  json={"verification_status": "SUCCESS"})
    return deliver(client, "/api/paypal/webhook", json.dumps(event), **HEADERS)


def _capture_event(event_id, event_type, payment, *, status="COMPLETED", capture_id="3C679366HH908993F"):
    return {"id": event_id, "event_type": event_type, "resource_type": "capture", "event_version": "1.0",
            "resource": {"id": capture_id, "status": status, "custom_id": payment.reference,
                         "amount": {"currency_code": "ZAR", "value": str(payment.amount)}}}


@pytest.mark.django_db
@responses.activate
def test_create_order_then_capture_completes_the_invoice_once(paypal_on):
    _token()
    invoice = make_invoice(CustomerFactory(), "450.00")
    client = APIClient()

    created = _order(invoice, client)
    payment = PaymentTransaction.objects.get()
    responses.add(responses.POST, f"{API}/v2/checkout/orders/5O190127TN364715T/capture",
                  json=_capture_response(payment))
    with TestCase.captureOnCommitCallbacks(execute=True):  # the receipt task runs after the capture commits
        captured = client.post("/api/paypal/capture", {"order_id": "5O190127TN364715T"}, format="json")
    webhook = _webhook(client, _capture_event("WH-1", "PAYMENT.CAPTURE.COMPLETED", payment))

    assert created.status_code == 201
    assert created.json()["approve_url"].endswith("token=5O190127TN364715T")
    order_body = json.loads(responses.calls[1].request.body)
    assert order_body["purchase_units"][0]["custom_id"] == payment.reference
    assert order_body["purchase_units"][0]["amount"] == {"currency_code": "ZAR", "value": "450.00"}
    assert responses.calls[1].request.headers["PayPal-Request-Id"] == f"payment-{payment.pk}"
    assert captured.json() == {"reference": payment.reference, "status": "completed", "invoice": invoice.number}
    assert (webhook.json(), event_status("WH-1")) == ({"status": "queued"}, "processed")
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.provider_transaction_id) == ("completed", "3C679366HH908993F")
    assert invoice.status == "paid"
    assert LedgerEntry.objects.filter(payment=payment).count() == 1
    assert NotificationLog.objects.filter(event="payment_received").count() == 1


@pytest.mark.django_db
@responses.activate
def test_denied_after_completed_does_not_undo_and_denied_pending_fails(paypal_on):
    client, payment = _ordered()

    denied = _webhook(client, _capture_event("WH-D1", "PAYMENT.CAPTURE.DENIED", payment, status="DECLINED"))
    payment.refresh_from_db()
    assert (denied.json(), event_status("WH-D1"), payment.status) == ({"status": "queued"}, "processed", "failed")

    _webhook(client, _capture_event("WH-C1", "PAYMENT.CAPTURE.COMPLETED", payment))
    late = _webhook(client, _capture_event("WH-D2", "PAYMENT.CAPTURE.DENIED", payment, status="DECLINED"))
    payment.refresh_from_db()
    assert (late.json(), event_status("WH-D2")) == ({"status": "queued"}, "ignored")
    assert payment.status == "completed"


@pytest.mark.django_db
@responses.activate
def test_refund_webhook_books_the_refund_once(paypal_on):
    client, payment = _ordered()
    _webhook(client, _capture_event("WH-C1", "PAYMENT.CAPTURE.COMPLETED", payment))
    refund_event = {"id": "WH-R1", "event_type": "PAYMENT.CAPTURE.REFUNDED", "resource_type": "refund",
                    "resource": {"id": "1JU08902781691411", "status": "COMPLETED",
                                 "amount": {"currency_code": "ZAR", "value": "40.00"},
                                 "links": [{"rel": "up", "href": f"{API}/v2/payments/captures/3C679366HH908993F"}]}}

    _webhook(client, refund_event)
    _webhook(client, refund_event | {"id": "WH-R1-again"})

    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == ("partially_refunded", Decimal("40.00"))
    assert list(Refund.objects.values_list("provider_refund_id", "amount")) == [("1JU08902781691411", Decimal("40.00"))]
    assert WebhookEvent.objects.filter(event_type="PAYMENT.CAPTURE.REFUNDED").count() == 2


@pytest.mark.django_db
@responses.activate
def test_unverified_webhook_changes_nothing(paypal_on):
    client, payment = _ordered()
    responses.add(responses.POST, f"{API}/v1/notifications/verify-webhook-signature",
                  json={"verification_status": "FAILURE"})

    response = client.post("/api/paypal/webhook", data=json.dumps(_capture_event("WH-X", "PAYMENT.CAPTURE.COMPLETED",
                                                                                 payment)),
                           content_type="application/json", **HEADERS)

    assert response.status_code == 400
    assert WebhookEvent.objects.count() == 0
    payment.refresh_from_db()
    assert payment.status == "pending"


@pytest.mark.django_db
def test_create_order_for_unknown_invoice_is_400(paypal_on):
    response = APIClient().post("/api/paypal/create-order", {"kind": "invoice", "invoice_number": "INV-2026-99999"},
                                format="json")

    assert response.status_code == 400
    assert response.json()["extra"]["fields"] == {"invoice_number": ["No such invoice."]}
    assert PaymentTransaction.objects.count() == 0
