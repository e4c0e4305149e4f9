"""Issue 15, finding 3: PayPal takes no ZAR (CONTRACTS 4 "Currency (2026-12)";
developer.paypal.com/reference/currency-codes).

Invoices (ZAR) are offered through PayPal in PAYPAL_CURRENCY at PAYPAL_ZAR_RATE; the quote is recorded on
the payment and shown to the payer before approval; the ledger stays in ZAR; a capture that does not
match the quote is refused; ZAR never reaches PayPal; the deploy check payments.E001 refuses a
configuration that could send it. Every refusal sits beside its positive control.
"""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import responses
from rest_framework.test import APIClient

from billing.models import LedgerEntry
from inbox.models import WebhookEvent
from payments.checks import paypal_currency_check
from payments.clients import paypal as paypal_client
from payments.models import PaymentTransaction
from payments.services import paypal_currency
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice
from tests.payments.test_paypal_invoices import API, HEADERS, ORDER_A, ORDERS, _order_mock, _token
from tests.webhooks import deliver, event_status

D = Decimal
CAPTURE = f"{API}/v2/checkout/orders/{ORDER_A}/capture"


@pytest.fixture
def paypal_on(settings, db):
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "csecret", "WEBHOOK_ID": "WH-ID-1",
                       "API_BASE": API, "CURRENCY": "USD", "ZAR_RATE": "18.50"}
    return settings.PAYPAL


def _create(invoice, client=None):
    return (client or APIClient()).post("/api/paypal/create-order", {
        "kind": "invoice", "invoice_number": invoice.number, "account_number": invoice.customer.account_number},
        format="json")


def _capture(invoice, client=None):
    return (client or APIClient()).post("/api/paypal/capture", {
        "order_id": ORDER_A, "invoice_number": invoice.number, "account_number": invoice.customer.account_number},
        format="json")


def _capture_mock(payment_reference, currency, value):
    responses.add(responses.POST, CAPTURE, json={
        "id": ORDER_A, "status": "COMPLETED", "purchase_units": [{"payments": {"captures": [{
            "id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": payment_reference,
            "amount": {"currency_code": currency, "value": value}}]}}]})


def _order_calls():
    return [c for c in responses.calls if c.request.url == ORDERS]


# --- the order: converted, recorded, shown -----------------------------------------------------------------
@pytest.mark.django_db
@responses.activate
def test_invoice_order_is_in_usd_at_the_configured_rate_recorded_and_shown(paypal_on):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "499.00")

    created = _create(invoice)

    assert created.status_code == 201
    body = json.loads(_order_calls()[0].request.body)
    unit = body["purchase_units"][0]
    # R 499.00 / 18.50 = 26.972... -> USD 26.97 (half-up). Never ZAR.
    assert unit["amount"] == {"currency_code": "USD", "value": "26.97"}
    text = "R 499.00 is charged as USD 26.97 through PayPal (R 18.50 = USD 1)"
    assert text in unit["description"]  # PayPal shows the description on its approval page
    assert created.json()["paypal"] == {"currency": "USD", "amount": "26.97", "amount_zar": "499.00",
                                        "rate": "18.50", "text": text}
    payment = PaymentTransaction.objects.get()
    assert (payment.amount, payment.currency, payment.status) == (D("499.00"), "ZAR", "pending")
    assert payment.raw_response["paypal_quote"] == {"currency": "USD", "amount": "26.97", "source_currency": "ZAR",
                                                    "source_amount": "499.00", "rate": "18.50"}


@pytest.mark.django_db
@responses.activate
def test_matching_capture_credits_the_invoice_in_zar(paypal_on):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "499.00")
    _create(invoice)
    payment = PaymentTransaction.objects.get()
    _capture_mock(payment.reference, "USD", "26.97")

    captured = _capture(invoice)

    assert captured.status_code == 200 and captured.json()["status"] == "completed"
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.amount, payment.currency, payment.status) == (D("499.00"), "ZAR", "completed")
    assert payment.raw_response["paypal_quote"]["amount"] == "26.97"  # kept for refunds
    assert (invoice.status, invoice.amount_paid) == ("paid", D("499.00"))
    assert LedgerEntry.objects.get(payment=payment).amount == D("-499.00")


@pytest.mark.django_db
@responses.activate
def test_a_replayed_order_keeps_the_quote_of_the_first_request_when_the_rate_changed(paypal_on, settings):
    settings.PROVIDER_RETRY = {"ATTEMPTS": 1, "BASE_SECONDS": 0, "CAP_SECONDS": 0}
    _token()
    _order_mock(ORDER_A, status=503)  # the first create's outcome is unknown
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "499.00")
    client = APIClient()
    assert _create(invoice, client).status_code == 402
    settings.PAYPAL = {**settings.PAYPAL, "ZAR_RATE": "20.00"}

    again = _create(invoice, client)

    assert again.status_code == 201
    bodies = [json.loads(c.request.body)["purchase_units"][0]["amount"] for c in _order_calls()]
    assert bodies == [{"currency_code": "USD", "value": "26.97"}] * 2  # the same request, the same amount
    assert again.json()["paypal"]["rate"] == "18.50"


# --- refusals before any PayPal call ------------------------------------------------------------------------
@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("paypal_settings", [
    {"ZAR_RATE": ""}, {"ZAR_RATE": "abc"}, {"ZAR_RATE": "0"}, {"ZAR_RATE": "-18.50"},
    {"CURRENCY": "ZAR"}, {"CURRENCY": "XYZ"},
])
def test_no_valid_conversion_means_no_paypal_and_nothing_sent(paypal_on, settings, paypal_settings):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "499.00")
    settings.PAYPAL = {**settings.PAYPAL, **paypal_settings}

    refused = _create(invoice)

    assert refused.status_code == 400
    assert refused.json()["message"] == "PayPal payments are not available right now."
    assert not _order_calls() and not PaymentTransaction.objects.exists()
    assert not paypal_currency.paypal_available_for(amount=D("499.00"))
    # Positive control: the same invoice with USD at a valid rate gets its order.
    settings.PAYPAL = {**settings.PAYPAL, "CURRENCY": "USD", "ZAR_RATE": "18.50"}
    assert _create(invoice).status_code == 201
    assert paypal_currency.paypal_available_for(amount=D("499.00"))


@pytest.mark.django_db
@responses.activate
def test_the_client_never_sends_zar(settings):
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "cs", "API_BASE": API}
    _token()
    _order_mock(ORDER_A)
    for currency in ("ZAR", "zar", "", "XYZ"):
        with pytest.raises(paypal_client.CurrencyNotSupported):
            paypal_client.order_create(amount=D("499.00"), currency=currency, reference="INV-1", description="x",
                                       return_url="https://x/r", cancel_url="https://x/c", request_id="r-1")
        with pytest.raises(paypal_client.CurrencyNotSupported):
            paypal_client.capture_refund(capture_id="3C679366HH908993F", amount=D("10.00"), currency=currency,
                                         request_id="rf-1")
    assert not responses.calls  # not even a token
    # Positive control: USD goes out; a zero-decimal currency is sent whole.
    order = paypal_client.order_create(amount=D("26.97"), currency="USD", reference="INV-1", description="x",
                                       return_url="https://x/r", cancel_url="https://x/c", request_id="r-1")
    assert order.id == ORDER_A
    assert json.loads(_order_calls()[0].request.body)["purchase_units"][0]["amount"] == {
        "currency_code": "USD", "value": "26.97"}
    assert paypal_client._paypal_money(D("4010.4"), "JPY") == {"currency_code": "JPY", "value": "4010"}


# --- captures that do not match the quote ---------------------------------------------------------------------
@pytest.mark.django_db
@responses.activate
@pytest.mark.parametrize("currency, value", [("ZAR", "499.00"), ("USD", "26.00"), ("EUR", "26.97")])
def test_a_capture_that_does_not_match_the_order_is_refused_and_flagged(paypal_on, currency, value):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "499.00")
    _create(invoice)
    payment = PaymentTransaction.objects.get()
    _capture_mock(payment.reference, currency, value)

    refused = _capture(invoice)

    assert refused.status_code == 409
    assert "does not match" in refused.json()["message"]
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.needs_review) == ("pending", True)
    assert f"was {currency} {value}, the order was for USD 26.97; not booked" in payment.review_note
    assert invoice.status == "unpaid" and not LedgerEntry.objects.filter(payment=payment).exists()


@pytest.mark.django_db
@responses.activate
def test_a_webhook_capture_that_does_not_match_is_not_booked_and_flagged_once(paypal_on):
    _token()
    _order_mock(ORDER_A)
    invoice = make_invoice(CustomerFactory(), "499.00")
    _create(invoice)
    payment = PaymentTransaction.objects.get()
    responses.add(responses.POST, f"{API}/v1/notifications/verify-webhook-signature",
                  json={"verification_status": "SUCCESS"})

    def event(event_id, currency, value):
        return json.dumps({"id": event_id, "event_type": "PAYMENT.CAPTURE.COMPLETED", "resource_type": "capture",
                           "event_version": "1.0", "resource": {
                               "id": "3C679366HH908993F", "status": "COMPLETED", "custom_id": payment.reference,
                               "amount": {"currency_code": currency, "value": value}}})

    client = APIClient()
    deliver(client, "/api/paypal/webhook", event("WH-BAD1", "ZAR", "499.00"), **HEADERS)
    deliver(client, "/api/paypal/webhook", event("WH-BAD2", "ZAR", "499.00"), **HEADERS)
    payment.refresh_from_db()
    assert (event_status("WH-BAD1"), event_status("WH-BAD2")) == ("processed", "processed")
    assert (payment.status, payment.needs_review) == ("pending", True)
    assert payment.review_note.count("not booked") == 1  # flagged (and ops alerted) once

    # Positive control: the capture PayPal made for our order completes the payment in ZAR.
    deliver(client, "/api/paypal/webhook", event("WH-OK", "USD", "26.97"), **HEADERS)
    payment.refresh_from_db()
    assert (event_status("WH-OK"), payment.status, payment.amount) == ("processed", "completed", D("499.00"))
    assert WebhookEvent.objects.count() == 3


# --- the quote arithmetic -----------------------------------------------------------------------------------
def test_quote_rules(settings):
    settings.PAYPAL = {**settings.PAYPAL, "CURRENCY": "USD", "ZAR_RATE": "18.50"}
    direct = paypal_currency.paypal_quote(amount=D("25.00"), currency="usd")
    assert (direct.currency, direct.amount, direct.converted) == ("USD", D("25.00"), False)
    converted = paypal_currency.paypal_quote(amount=D("0.10"), currency="ZAR")
    assert (converted.currency, converted.amount, converted.rate) == ("USD", D("0.01"), D("18.50"))
    with pytest.raises(paypal_currency.PayPalUnavailable):
        paypal_currency.paypal_quote(amount=D("0.09"), currency="ZAR")  # rounds to USD 0.00
    with pytest.raises(paypal_currency.PayPalUnavailable):
        paypal_currency.paypal_quote(amount=D("10.00"), currency="NGN")
    # Refunds: rands to the capture's currency at the recorded rate (never more than captured) and back.
    quote = paypal_currency.paypal_quote(amount=D("499.00"), currency="ZAR")
    assert paypal_currency.refund_in_paypal_currency(quote, amount=D("100.00")) == (D("5.41"), "USD")
    assert paypal_currency.refund_in_paypal_currency(quote, amount=D("499.00")) == (D("26.97"), "USD")
    assert paypal_currency.ledger_amount(quote, amount=D("26.97"), currency="USD") == D("499.00")
    assert paypal_currency.ledger_amount(quote, amount=D("5.41"), currency="USD") == D("100.09")
    assert paypal_currency.ledger_amount(quote, amount=D("5.41"), currency="ZAR") is None


def test_a_deposit_in_zar_is_never_converted_without_a_record(settings):
    # Reservation deposits have nowhere to record a rate: PayPal only for a deposit priced in a PayPal currency.
    settings.PAYPAL = {**settings.PAYPAL, "CURRENCY": "USD", "ZAR_RATE": "18.50"}
    with pytest.raises(paypal_client.CurrencyNotSupported):
        paypal_currency.paypal_direct_quote(amount=D("500.00"), currency="ZAR")
    quote = paypal_currency.paypal_direct_quote(amount=D("50.00"), currency="USD")
    assert (quote.currency, quote.amount) == ("USD", D("50.00"))


# --- the deploy check ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("paypal, errors", [
    ({"CLIENT_ID": "cid", "CURRENCY": "ZAR", "ZAR_RATE": "18.50"}, 1),
    ({"CLIENT_ID": "cid", "CURRENCY": "USD", "ZAR_RATE": ""}, 1),
    ({"CLIENT_ID": "cid", "CURRENCY": "USD", "ZAR_RATE": "eighteen"}, 1),
    ({"CLIENT_ID": "cid", "CURRENCY": "USD", "ZAR_RATE": "0"}, 1),
    ({"CLIENT_ID": "cid", "CURRENCY": "", "ZAR_RATE": "18.50"}, 1),
    ({"CLIENT_ID": "cid", "CURRENCY": "USD", "ZAR_RATE": "18.50"}, 0),  # positive control
    ({"CLIENT_ID": "cid", "CURRENCY": "EUR", "ZAR_RATE": "20.10"}, 0),  # positive control
    ({"CLIENT_ID": "", "CURRENCY": "ZAR", "ZAR_RATE": ""}, 0),  # PayPal off: nothing can be sent
])
def test_deploy_check_refuses_a_paypal_configuration_that_could_send_zar(settings, paypal, errors):
    settings.PAYPAL = {**settings.PAYPAL, **paypal}
    found = paypal_currency_check(None)
    assert [e.id for e in found] == ["payments.E001"] * errors


ROOT = Path(__file__).resolve().parents[2]


def _manage_check(tmp_path, **paypal_env):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'e001.sqlite3'}", "DJANGO_SETTINGS_MODULE": "circletel.settings",
           "DEBUG": "true", "PAYPAL_CLIENT_ID": "cid", "PAYPAL_CLIENT_SECRET": "cs", "PAYPAL_WEBHOOK_ID": "WH-1",
           **paypal_env}
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_manage_py_check_stops_on_paypal_in_zar(tmp_path):
    refused = _manage_check(tmp_path, PAYPAL_CURRENCY="ZAR", PAYPAL_ZAR_RATE="18.50")
    assert refused.returncode != 0 and "payments.E001" in refused.stdout + refused.stderr
    ok = _manage_check(tmp_path, PAYPAL_CURRENCY="USD", PAYPAL_ZAR_RATE="18.50")
    assert ok.returncode == 0, ok.stdout + ok.stderr
