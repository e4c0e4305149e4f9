"""PayPal for invoices: create-order / capture endpoints and the verified capture webhooks."""

import json
from decimal import Decimal

import pytest
import responses
from django.test import TestCase
from rest_framework.test import APIClient

from billing.models import LedgerEntry
from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from payments.models import PaymentTransaction, Refund
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice
from tests.webhooks import deliver, event_status

API = "https://api-m.sandbox.paypal.com"
RATE = {"CURRENCY": "USD", "ZAR_RATE": "20.00"}
HEADERS = {"HTTP_PAYPAL_AUTH_ALGO": "SHA256withRSA", "HTTP_PAYPAL_CERT_URL": f"{API}/cert.pem",
           "HTTP_PAYPAL_TRANSMISSION_ID": "tx-1", "HTTP_PAYPAL_TRANSMISSION_SIG": "sig",
           "HTTP_PAYPAL_TRANSMISSION_TIME": "2026-08-01T10:00:00Z"}


@pytest.fixture
def paypal_on(settings, db):
    # The cached access token starts empty: every test has its own cache namespace (tests/conftest.py).
    # PayPal takes no ZAR: invoices are offered in USD at R 20.00 = USD 1 (issue 15).
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "csecret", "WEBHOOK_ID": "WH-ID-1",
                       "API_BASE": API, **RATE}


def _token():
    responses.add(responses.POST, f"{API}/v1/oauth2/token", json={"access_token": "A21AA", "expires_in": 32400})


def _order(invoice, client):
    responses.add(responses.POST, f"{API}/v2/checkout/orders", status=201, json={
        "id": "5O190127TN364715T", "status": "PAYER_ACTION_REQUIRED",
        "links": [{"rel": "payer-action", "href": "https://www.sandbox.paypal.com/checkoutnow?token=5O190127TN364715T"}]})
    return client.post("/api/paypal/create-order", _proof(invoice, kind="invoice"), format="json")


def _proof(invoice, **more):
    """What the public flow knows: the invoice number and the customer's account number."""
    return {"invoice_number": invoice.number, "account_number": invoice.customer.account_number, **more}


def _ordered():
    """A PayPal order created for a R 100.00 invoice: (API client, its pending payment). Called inside
    the test, where `responses` is active."""
    _token()
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()
    _order(invoice, client)
    return client, PaymentTransaction.objects.get()


def paypal_amount(payment) -> dict:
    """What PayPal captures for the payment: the quote recorded when its order was created."""
    payment.refresh_from_db(fields=["raw_response"])
    quote = payment.raw_response["paypal_quote"]
    return {"currency_code": quote["currency"], "value": quote["amount"]}


def _capture_response(payment, status="COMPLETED"):
    return {"id": "5O190127TN364715T", "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [{
        "id": "3C679366HH908993F", "status": status, "custom_id": payment.reference,
        "amount": paypal_amount(payment)}]}}]}


def _webhook(client, event):
    responses.add(responses.POST, f"{API}/v1/notifications/verify-webhook-signature",
                  json={"verification_status": "SUCCESS"})
    return deliver(client, "/api/paypal/webhook", json.dumps(event), **HEADERS)


def _capture_event(event_id, event_type, payment, *, status="COMPLETED", capture_id="3C679366HH908993F"):
    return {"id": event_id, "event_type": event_type, "resource_type": "capture", "event_version": "1.0",
            "resource": {"id": capture_id, "status": status, "custom_id": payment.reference,
                         "amount": paypal_amount(payment)}}


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
        captured = client.post("/api/paypal/capture", _proof(invoice, order_id="5O190127TN364715T"), format="json")
    webhook = _webhook(client, _capture_event("WH-1", "PAYMENT.CAPTURE.COMPLETED", payment))

    assert created.status_code == 201
    assert created.json()["approve_url"].endswith("token=5O190127TN364715T")
    order_body = json.loads(responses.calls[1].request.body)
    assert order_body["purchase_units"][0]["custom_id"] == payment.reference
    assert order_body["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "22.50"}  # R 450.00 / 20
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
                                 "amount": {"currency_code": "USD", "value": "2.00"},  # R 40.00 at 20.00
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
def test_create_order_for_unknown_invoice_is_the_generic_404(paypal_on):
    """More refusals, each with its control: tests/payments/test_paypal_invoice_access.py."""
    customer = CustomerFactory()
    response = APIClient().post("/api/paypal/create-order", {"kind": "invoice", "invoice_number": "INV-2026-99999",
                                                             "account_number": customer.account_number},
                                format="json")

    assert response.status_code == 404
    assert response.json() == {"message": "We could not find an open invoice with those details.", "extra": {}}
    assert PaymentTransaction.objects.count() == 0


# --- one order per invoice and amount; anonymous posts are rate limited ---------------------------------------
ORDERS = f"{API}/v2/checkout/orders"
ORDER_A, ORDER_B = "1AB23456CD789012E", "9ZY87654XW321098V"


def _order_mock(order_id, *, status=201):
    if status != 201:
        responses.add(responses.POST, ORDERS, status=status, json={"name": "INTERNAL_SERVER_ERROR"})
        return
    responses.add(responses.POST, ORDERS, status=201, json={
        "id": order_id, "status": "PAYER_ACTION_REQUIRED",
        "links": [{"rel": "payer-action", "href": f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}"}]})


def _create(client, invoice, ip="203.0.113.7"):
    return client.post("/api/paypal/create-order", _proof(invoice, kind="invoice"),
                       format="json", REMOTE_ADDR=ip)


def _order_creates():
    return [c for c in responses.calls if c.request.url == ORDERS]


@pytest.mark.django_db
@responses.activate
def test_repeat_create_order_returns_the_same_order_without_a_new_row_or_paypal_order(paypal_on):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()

    first = _create(client, invoice)
    second = _create(client, invoice)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json()["order_id"] == first.json()["order_id"] == ORDER_A
    approve = f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER_A}"
    assert second.json()["approve_url"] == first.json()["approve_url"] == approve
    assert second.json()["reference"] == first.json()["reference"]
    assert len(_order_creates()) == 1
    assert list(PaymentTransaction.objects.values_list("status", "provider_transaction_id")) == [("pending", ORDER_A)]


@pytest.mark.django_db
@responses.activate
def test_changed_amount_due_closes_the_old_order_and_creates_a_new_one(paypal_on):
    _token()
    _order_mock(ORDER_A)
    _order_mock(ORDER_B)
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()
    first = _create(client, invoice)
    # R 40.00 arrived another way meanwhile (amount_due is the generated total - amount_paid).
    type(invoice).objects.filter(pk=invoice.pk).update(amount_paid=Decimal("40.00"), status="partial")

    second = _create(client, invoice)
    late_capture = client.post("/api/paypal/capture", _proof(invoice, order_id=ORDER_A), format="json")

    assert (first.json()["order_id"], second.status_code, second.json()["order_id"]) == (ORDER_A, 201, ORDER_B)
    assert json.loads(_order_creates()[1].request.body)["purchase_units"][0]["amount"] == {
        "currency_code": "USD", "value": "3.00"}  # R 60.00 at R 20.00 = USD 1
    old = PaymentTransaction.objects.get(provider_transaction_id=ORDER_A)
    new = PaymentTransaction.objects.get(provider_transaction_id=ORDER_B)
    assert (old.status, old.amount) == ("failed", Decimal("100.00"))
    assert "amount due changed" in old.failure_reason
    assert (new.status, new.amount, new.reference != old.reference) == ("pending", Decimal("60.00"), True)
    # The replaced order can no longer be captured through us.
    assert late_capture.json()["status"] == "failed"
    assert not [c for c in responses.calls if c.request.url.endswith("/capture")]


@pytest.mark.django_db
@responses.activate
def test_create_after_a_timed_out_create_replays_the_same_request_id_on_the_same_row(paypal_on, settings):
    settings.PROVIDER_RETRY = {"ATTEMPTS": 1, "BASE_SECONDS": 0, "CAP_SECONDS": 0}
    _token()
    _order_mock("", status=503)
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()

    failed = _create(client, invoice)
    retried = _create(client, invoice)

    payment = PaymentTransaction.objects.get()
    assert (failed.status_code, retried.status_code, retried.json()["order_id"]) == (402, 201, ORDER_A)
    assert [c.request.headers["PayPal-Request-Id"] for c in _order_creates()] == [f"payment-{payment.pk}"] * 2
    assert (payment.status, payment.provider_transaction_id) == ("pending", ORDER_A)


@pytest.mark.django_db
@responses.activate
def test_create_order_is_rate_limited_per_client_address(paypal_on, settings):
    settings.PAYPAL_INVOICE_RATE_LIMIT_PER_IP = 2
    _token()
    for order_id in ("1AB23456CD7890001", "1AB23456CD7890002", "1AB23456CD7890003"):
        _order_mock(order_id)
    customer = CustomerFactory()
    one, two, three = (make_invoice(customer, "100.00") for _ in range(3))
    client = APIClient()

    answers = [_create(client, one), _create(client, two), _create(client, three)]
    elsewhere = _create(client, three, ip="198.51.100.9")

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json() == {"message": "Too many attempts. Please try again in a few minutes.", "extra": {}}
    assert answers[2]["Retry-After"] == "600"
    assert elsewhere.status_code == 201  # the limit is per client address
    assert len(_order_creates()) == 3
    assert PaymentTransaction.objects.filter(invoice=three).count() == 1


@pytest.mark.django_db
@responses.activate
def test_create_order_is_rate_limited_per_invoice_across_addresses(paypal_on, settings):
    settings.PAYPAL_INVOICE_RATE_LIMIT_PER_INVOICE = 2
    settings.PAYPAL_INVOICE_RATE_WINDOW = 120
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()

    answers = [_create(client, invoice, ip=f"192.0.2.{n}") for n in (1, 2, 3)]

    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2]["Retry-After"] == "120"
    assert len(_order_creates()) == 1
    assert PaymentTransaction.objects.count() == 1


@pytest.mark.django_db
@responses.activate
def test_invoice_capture_counts_towards_the_address_limit(paypal_on, settings):
    settings.PAYPAL_INVOICE_RATE_LIMIT_PER_IP = 1
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()
    _create(client, invoice)

    captured = client.post("/api/paypal/capture", _proof(invoice, order_id=ORDER_A), format="json",
                           REMOTE_ADDR="203.0.113.7")

    assert captured.status_code == 429
    assert captured.json()["extra"] == {}
    assert not [c for c in responses.calls if c.request.url.endswith("/capture")]
    assert PaymentTransaction.objects.get().status == "pending"


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize(("status", "paid"), [("paid", "100.00"), ("void", "0.00"), ("unpaid", "100.00")])
def test_create_order_for_a_settled_invoice_is_the_generic_404_without_calling_paypal(paypal_on, status, paid):
    invoice = make_invoice(CustomerFactory(), "100.00")
    type(invoice).objects.filter(pk=invoice.pk).update(status=status, amount_paid=Decimal(paid))  # unpaid: zero due

    response = _create(APIClient(), invoice)

    # The same answer as an unknown invoice: the public endpoint does not tell that it is paid.
    assert response.status_code == 404
    assert response.json() == {"message": "We could not find an open invoice with those details.", "extra": {}}
    assert len(responses.calls) == 0
    assert PaymentTransaction.objects.count() == 0


@pytest.mark.django_db
@responses.activate
def test_pending_order_older_than_the_reuse_window_is_replaced(paypal_on, settings):
    settings.PAYPAL_ORDER_REUSE_SECONDS = 0  # every existing order counts as lapsed
    _token()
    _order_mock(ORDER_A)
    _order_mock(ORDER_B)
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()

    first, second = _create(client, invoice), _create(client, invoice)

    assert (first.json()["order_id"], second.json()["order_id"]) == (ORDER_A, ORDER_B)
    old = PaymentTransaction.objects.get(provider_transaction_id=ORDER_A)
    assert (old.status, old.failure_reason) == ("failed", "Replaced: the PayPal order expired before payment.")
    assert PaymentTransaction.objects.get(provider_transaction_id=ORDER_B).status == "pending"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@responses.activate
def test_two_concurrent_create_orders_make_one_pending_payment(paypal_on):
    from payments.services.paypal_payments import paypal_order_create_for_invoice
    from tests.concurrency import run_concurrently

    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "100.00")

    outcomes = run_concurrently(
        lambda: paypal_order_create_for_invoice(invoice=invoice, build_url=lambda path: f"https://t.example{path}"),
        [(), ()])

    assert [o["order_id"] for o in outcomes] == [ORDER_A, ORDER_A], outcomes
    assert outcomes[0]["reference"] == outcomes[1]["reference"]
    payments = PaymentTransaction.objects.filter(invoice=invoice)
    assert list(payments.values_list("status", flat=True)) == ["pending"]
    # The second request waited for the invoice lock; if the first had not stored its order yet it
    # asked PayPal again with the same PayPal-Request-Id (a replay), never with a new one.
    assert {c.request.headers["PayPal-Request-Id"] for c in _order_creates()} == {f"payment-{payments.get().pk}"}
