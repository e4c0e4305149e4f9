"""Who may start or capture a PayPal order for an invoice (issue 13).

An invoice order needs what the public /pay/ page needs (invoice number + the customer's account
number) or a signed-in owner of the invoice. Every refusal answers the same status and words, so
the endpoint does not tell whether an invoice exists, belongs to someone, or is paid; no error body
carries our payment id or reference. Every refusal test has a positive control beside it, and
asserts nothing was written and PayPal was not called.
"""

import json
from decimal import Decimal

import pytest
import responses
from rest_framework.test import APIClient

from billing.models import LedgerEntry
from inbox.models import WebhookEvent
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice
from tests.payments.test_paypal_invoices import API, HEADERS, ORDER_A, RATE, _order_mock, _token, paypal_amount

GENERIC = {"message": "We could not find an open invoice with those details.", "extra": {}}
CAPTURE = f"{API}/v2/checkout/orders/{ORDER_A}/capture"


@pytest.fixture
def paypal_on(settings, db):
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "csecret", "WEBHOOK_ID": "WH-ID-1",
                       "API_BASE": API, **RATE}


def _create(client, body, ip="203.0.113.7"):
    return client.post("/api/paypal/create-order", {"kind": "invoice", **body}, format="json", REMOTE_ADDR=ip)


def _capture(client, body, ip="203.0.113.7"):
    return client.post("/api/paypal/capture", body, format="json", REMOTE_ADDR=ip)


def _paypal_calls():
    return [c for c in responses.calls if "/v2/checkout/orders" in c.request.url]


def _owner_client(customer):
    user = UserFactory()
    type(customer).objects.filter(pk=customer.pk).update(user=user)
    client = APIClient()
    client.force_login(user)
    return client


def _capture_mock(payment):
    responses.add(responses.POST, CAPTURE, json={
        "id": ORDER_A, "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [{
            "id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": payment.reference,
            "amount": paypal_amount(payment)}]}}]})


# --- create-order ---------------------------------------------------------------------------------------
@pytest.mark.django_db
@responses.activate
def test_anonymous_invoice_order_without_the_account_number_is_refused_before_any_lookup(paypal_on):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "100.00")

    missing = _create(APIClient(), {"invoice_number": invoice.number})

    assert missing.status_code == 400
    assert set(missing.json()["extra"]["fields"]) == {"account_number"}
    assert PaymentTransaction.objects.count() == 0
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_invoice_order_with_the_invoice_and_account_number_is_created(paypal_on):
    """The positive control of every create-order refusal here: the public flow's two numbers."""
    _token()
    _order_mock(ORDER_A)
    customer = CustomerFactory()
    invoice = make_invoice(customer, "100.00")

    # Typed as a person would (lower case, spaces): normalised like the public /pay/ page does.
    created = _create(APIClient(), {"invoice_number": f" {invoice.number.lower()} ",
                                    "account_number": f" {customer.account_number.lower()}"})

    payment = PaymentTransaction.objects.get()
    assert created.status_code == 201
    assert created.json() == {"order_id": ORDER_A, "reference": payment.reference, "status": "PAYER_ACTION_REQUIRED",
                              "approve_url": f"https://www.sandbox.paypal.com/checkoutnow?token={ORDER_A}",
                              "paypal": {"currency": "USD", "amount": "5.00", "amount_zar": "100.00", "rate": "20.00",
                                         "text": "R 100.00 is charged as USD 5.00 through PayPal (R 20.00 = USD 1)"}}
    assert (payment.invoice, payment.status, payment.amount) == (invoice, "pending", Decimal("100.00"))


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("case", ["unknown_invoice", "wrong_account_number", "someone_elses_account_number",
                                  "paid", "void", "nothing_due"])
def test_every_invoice_order_refusal_answers_the_same(paypal_on, case):
    _token()
    _order_mock(ORDER_A)
    owner, other = CustomerFactory(), CustomerFactory()
    invoice = make_invoice(owner, "100.00")
    make_invoice(other, "100.00")  # the other customer's account number is real and has its own invoice
    number, account = invoice.number, owner.account_number
    if case == "unknown_invoice":
        number = "INV-2026-99999"
    elif case == "wrong_account_number":
        account = "CT-2026-00001"
    elif case == "someone_elses_account_number":
        account = other.account_number
    elif case == "paid":
        type(invoice).objects.filter(pk=invoice.pk).update(status="paid", amount_paid=Decimal("100.00"))
    elif case == "void":
        type(invoice).objects.filter(pk=invoice.pk).update(status="void")
    elif case == "nothing_due":
        type(invoice).objects.filter(pk=invoice.pk).update(amount_paid=Decimal("100.00"))  # unpaid, zero due

    refused = _create(APIClient(), {"invoice_number": number, "account_number": account})

    assert (refused.status_code, refused.json()) == (404, GENERIC)
    assert PaymentTransaction.objects.count() == 0
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_signed_in_owner_orders_without_the_account_number(paypal_on):
    _token()
    _order_mock(ORDER_A)
    customer = CustomerFactory()
    invoice = make_invoice(customer, "100.00")

    created = _create(_owner_client(customer), {"invoice_number": invoice.number})

    assert (created.status_code, created.json()["order_id"]) == (201, ORDER_A)
    assert PaymentTransaction.objects.get().invoice == invoice


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("who", ["another_customer", "staff"])
def test_signed_in_non_owner_is_refused_like_an_unknown_invoice(paypal_on, who):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "100.00")
    client = APIClient()
    if who == "staff":
        client.force_login(UserFactory(is_staff=True, is_superuser=True))
    else:
        client = _owner_client(CustomerFactory())

    refused = _create(client, {"invoice_number": invoice.number})

    assert (refused.status_code, refused.json()) == (404, GENERIC)
    assert PaymentTransaction.objects.count() == 0
    assert len(responses.calls) == 0


@pytest.mark.django_db
@responses.activate
def test_signed_in_order_needs_the_csrf_token(paypal_on):
    """Session auth brings Django's CSRF check: another site cannot make a signed-in browser order."""
    _token()
    _order_mock(ORDER_A)
    customer = CustomerFactory()
    invoice = make_invoice(customer, "100.00")
    user = UserFactory()
    type(customer).objects.filter(pk=customer.pk).update(user=user)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(user)

    forged = _create(browser, {"invoice_number": invoice.number})
    anonymous = _create(APIClient(enforce_csrf_checks=True), {"invoice_number": invoice.number,
                                                             "account_number": customer.account_number})

    assert forged.status_code == 403
    assert anonymous.status_code == 201  # control: no session, nothing to forge; the numbers are the proof
    assert PaymentTransaction.objects.count() == 1


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize(("paypal_status", "retryable"), [(503, True), (422, False)])
def test_declined_order_answers_without_our_payment_id_or_reference(paypal_on, settings, paypal_status, retryable):
    settings.PROVIDER_RETRY = {"ATTEMPTS": 1, "BASE_SECONDS": 0, "CAP_SECONDS": 0}
    _token()
    responses.add(responses.POST, f"{API}/v2/checkout/orders", status=paypal_status,
                  json={"name": "UNPROCESSABLE_ENTITY" if paypal_status == 422 else "INTERNAL_SERVER_ERROR"})
    _order_mock(ORDER_A)
    customer = CustomerFactory()
    invoice = make_invoice(customer, "100.00")
    body = {"invoice_number": invoice.number, "account_number": customer.account_number}

    declined = _create(APIClient(), body)
    again = _create(APIClient(), body)

    payment = PaymentTransaction.objects.order_by("pk").first()
    assert declined.status_code == 402
    assert set(declined.json()) == {"message", "extra"}
    assert set(declined.json()["extra"]) == {"code", "message", "retryable"}
    assert declined.json()["extra"]["retryable"] is retryable
    assert payment.reference not in declined.content.decode()
    assert again.status_code == 201  # control: the next click gets an order


# --- capture --------------------------------------------------------------------------------------------
def _ordered_for_capture():
    """A pending PayPal payment (order ORDER_A) for a R 100.00 invoice; `responses` must be active."""
    _token()
    _order_mock(ORDER_A)
    customer = CustomerFactory()
    invoice = make_invoice(customer, "100.00")
    _create(APIClient(), {"invoice_number": invoice.number, "account_number": customer.account_number},
            ip="198.51.100.1")
    payment = PaymentTransaction.objects.get()
    _capture_mock(payment)
    return customer, invoice, payment


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("case", ["order_id_only", "wrong_account_number", "attackers_own_invoice",
                                  "not_our_order", "unknown_order_id_only", "signed_in_non_owner"])
def test_invoice_capture_refusals_answer_the_same_and_capture_nothing(paypal_on, case):
    customer, invoice, payment = _ordered_for_capture()
    attacker = CustomerFactory()
    attackers_invoice = make_invoice(attacker, "10.00")
    client = APIClient()
    body = {"order_id": ORDER_A, "invoice_number": invoice.number, "account_number": customer.account_number}
    if case == "order_id_only":
        body = {"order_id": ORDER_A}
    elif case == "wrong_account_number":
        body["account_number"] = attacker.account_number
    elif case == "attackers_own_invoice":
        body |= {"invoice_number": attackers_invoice.number, "account_number": attacker.account_number}
    elif case == "not_our_order":
        body |= {"order_id": "8XY12345AB6789012", "kind": "invoice"}
    elif case == "unknown_order_id_only":  # neither a deposit's nor an invoice's: the same answer
        body = {"order_id": "8XY12345AB6789012"}
    elif case == "signed_in_non_owner":
        client = _owner_client(attacker)
        body = {"order_id": ORDER_A}

    refused = _capture(client, body)

    assert (refused.status_code, refused.json()) == (404, GENERIC)
    assert not [c for c in responses.calls if c.request.url.endswith("/capture")]
    payment.refresh_from_db()
    assert payment.status == "pending"
    assert LedgerEntry.objects.count() == 0
    assert PaymentTransaction.objects.count() == 1


@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("proof", ["numbers", "signed_in_owner"])
def test_invoice_capture_with_proof_completes_the_payment(paypal_on, proof):
    """The positive control of the capture refusals."""
    customer, invoice, payment = _ordered_for_capture()
    if proof == "numbers":
        client = APIClient()
        body = {"order_id": ORDER_A, "invoice_number": invoice.number, "account_number": customer.account_number}
    else:
        client, body = _owner_client(customer), {"order_id": ORDER_A}

    captured = _capture(client, body)
    again = _capture(client, body)  # a double click: answered from our row, no second capture

    assert captured.status_code == 200
    assert captured.json() == again.json() == {"reference": payment.reference, "status": "completed",
                                               "invoice": invoice.number}
    assert len([c for c in responses.calls if c.request.url.endswith("/capture")]) == 1
    payment.refresh_from_db()
    assert payment.status == "completed"
    assert LedgerEntry.objects.filter(payment=payment).count() == 1


@pytest.mark.django_db
@responses.activate
def test_declined_capture_answers_without_our_payment_id_or_reference(paypal_on):
    customer, invoice, payment = _ordered_for_capture()
    responses.replace(responses.POST, CAPTURE, status=422, json={"name": "UNPROCESSABLE_ENTITY",
                                                                 "details": [{"issue": "INSTRUMENT_DECLINED"}]})

    declined = _capture(APIClient(), {"order_id": ORDER_A, "invoice_number": invoice.number,
                                      "account_number": customer.account_number})

    assert declined.status_code == 402
    assert set(declined.json()["extra"]) == {"code", "message", "retryable"}
    assert payment.reference not in declined.content.decode()


# --- rate limits: the per-invoice counter also guards the account number --------------------------------
@pytest.mark.django_db
@responses.activate
def test_guessing_account_numbers_for_one_invoice_is_rate_limited_across_addresses(paypal_on, settings):
    settings.PAYPAL_INVOICE_RATE_LIMIT_PER_INVOICE = 2
    _token()
    _order_mock(ORDER_A)
    customer = CustomerFactory()
    invoice = make_invoice(customer, "100.00")

    guesses = [_create(APIClient(), {"invoice_number": invoice.number, "account_number": f"CT-2026-0000{n}"},
                       ip=f"192.0.2.{n}") for n in (1, 2)]
    right_but_late = _create(APIClient(), {"invoice_number": invoice.number,
                                           "account_number": customer.account_number}, ip="192.0.2.3")
    unknown = [_create(APIClient(), {"invoice_number": "INV-2026-99999", "account_number": customer.account_number},
                       ip=f"192.0.2.{n}") for n in (4, 5, 6)]

    assert [g.status_code for g in guesses] == [404, 404]
    assert right_but_late.status_code == 429
    # A number that does not exist is counted the same way: the 429 says nothing about existence.
    assert [u.status_code for u in unknown] == [404, 404, 429]
    assert PaymentTransaction.objects.count() == 0
    assert _paypal_calls() == []


# --- PayPal webhook: the event id must be a string --------------------------------------------------------
@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("event_id", [{"a": 1}, 12345, ["WH-1"], None, "", "W" * 201])
def test_paypal_webhook_with_a_non_string_event_id_is_refused(paypal_on, event_id):
    _token()
    responses.add(responses.POST, f"{API}/v1/notifications/verify-webhook-signature",
                  json={"verification_status": "SUCCESS"})
    event = {"id": event_id, "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource_type": "capture",
             "resource": {"id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": "INV-2026-70001-ABCDEF",
                          "amount": {"currency_code": "ZAR", "value": "100.00"}}}

    refused = APIClient().post("/api/paypal/webhook", data=json.dumps(event), content_type="application/json",
                               **HEADERS)
    control = APIClient().post("/api/paypal/webhook", data=json.dumps(event | {"id": "WH-OK-1"}),
                               content_type="application/json", **HEADERS)

    assert refused.status_code == 400
    assert refused.json()["message"] == "not a PayPal event"
    assert "id" in refused.json()["extra"]["reason"]
    assert control.status_code == 200
    assert list(WebhookEvent.objects.values_list("event_id", flat=True)) == ["WH-OK-1"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/paypal/create-order", "/api/paypal/capture"])
def test_a_json_body_that_is_not_an_object_is_a_400(paypal_on, url):
    client = APIClient()
    client.raise_request_exception = False

    response = client.post(url, [{"kind": "invoice"}], format="json")

    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert PaymentTransaction.objects.count() == 0
