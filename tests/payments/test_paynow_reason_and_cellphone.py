"""Issue 15, finding 4: Pay Now outcomes by `Reason` for any Method, and `m11` in local format.

CONTRACTS 2.1 (corrected 2026-12): a notify is pending when `Reason` contains "pending"
(case-insensitive) for ANY `Method`; "cancelled" in `Reason` is a customer cancellation; `m11` is
"SA only, 10 digits starting with a 0" (`0821234567`, not E.164).
"""

from decimal import Decimal

import pytest

from billing.models import Invoice, LedgerEntry
from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from payments.clients import netcash
from payments.models import PaymentTransaction
from payments.services.netcash_paynow import CANCELLED_REASON
from payments.services.paynow_checkout import invoice_checkout
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice, notify_fields, post_notify

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def invoice():
    return make_invoice(CustomerFactory(), "499.00")


# --- pending by Reason, any Method ---------------------------------------------------------------------
@pytest.mark.parametrize("method, reason", [
    ("1", "Pending"),                                   # card: old code keyed pending on Method 2/3 only
    ("4", "Transaction pending at bank"),               # instant EFT
    ("9", "PENDING"),                                   # case-insensitive
    ("2", "Pending"),                                   # the old case still works
])
def test_pending_reason_is_pending_for_any_method(client, invoice, method, reason):
    ref = f"{invoice.number}-PND{method:0>3}"
    for _ in range(2):  # posted twice, one effect
        assert post_notify(client, notify_fields(ref, "499.00", accepted=False, method=method,
                                                 reason=reason)).status_code == 200
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.failure_reason) == ("pending", "")
    assert WebhookEvent.objects.get().event_type == "paynow.pending"
    assert not LedgerEntry.objects.exists()
    assert not NotificationLog.objects.exists()  # no "payment failed" email for a pending payment
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID


def test_pending_then_accepted_completes_once(client, invoice):
    ref = f"{invoice.number}-PND111"
    post_notify(client, notify_fields(ref, "499.00", accepted=False, method="1", reason="Pending", trace="T-P"))
    post_notify(client, notify_fields(ref, "499.00", accepted=True, method="1", reason="Success", trace="T-A"))
    payment = PaymentTransaction.objects.get()
    assert payment.status == "completed"
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 1
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_accepted_with_pending_reason_is_not_money_yet(client, invoice):
    # A notify that says "pending" is not proof that money arrived, whatever TransactionAccepted says.
    post_notify(client, notify_fields(f"{invoice.number}-PND222", "499.00", accepted=True, reason="Pending"))
    assert PaymentTransaction.objects.get().status == "pending"
    assert not LedgerEntry.objects.exists()


def test_a_plain_card_decline_is_still_a_decline(client, invoice):
    # Positive control: without "pending"/"cancelled" in Reason a refusal stays a decline, with its email.
    post_notify(client, notify_fields(f"{invoice.number}-DEC222", "499.00", accepted=False, method="1",
                                      reason="Declined by issuer"))
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.raw_response["error_code"]) == ("failed", "card_declined")
    assert WebhookEvent.objects.get().event_type == "paynow.declined"
    assert NotificationLog.objects.filter(event="payment_failed").count() == 1


# --- cancelled by Reason ----------------------------------------------------------------------------------
@pytest.mark.parametrize("method, reason", [("1", "Cancelled"), ("4", "Transaction cancelled by user")])
def test_cancelled_reason_is_a_customer_cancellation(client, invoice, method, reason):
    ref = f"{invoice.number}-CAN{method:0>3}"
    for _ in range(2):
        assert post_notify(client, notify_fields(ref, "0.00", signed_amount="499.00", accepted=False,
                                                 method=method, reason=reason)).status_code == 200
    payment = PaymentTransaction.objects.get()
    # Staff read a cancellation, not a card decline; NetCash's own words are kept.
    assert (payment.status, payment.failure_reason) == ("failed", CANCELLED_REASON)
    assert payment.raw_response["error_code"] == "cancelled"
    assert payment.raw_response["provider_error"] == reason
    assert WebhookEvent.objects.get().event_type == "paynow.cancelled"
    assert not NotificationLog.objects.exists()  # no "your payment failed" email for closing the page
    assert not LedgerEntry.objects.exists()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID


def test_result_page_says_cancelled_not_declined(client):
    user = UserFactory()
    invoice = make_invoice(CustomerFactory(user=user), "499.00")
    post_notify(client, notify_fields(f"{invoice.number}-CAN001", "499.00", accepted=False, reason="Cancelled",
                                      trace="C-1"))
    post_notify(client, notify_fields(f"{invoice.number}-DEC001", "499.00", accepted=False, reason="Declined",
                                      trace="D-1"))
    client.force_login(user)
    cancelled = client.get(f"/payments/result/{invoice.number}-CAN001")
    declined = client.get(f"/payments/result/{invoice.number}-DEC001")
    assert cancelled.context["state"] == "cancelled"
    assert "You cancelled this payment" in cancelled.content.decode()
    assert declined.context["state"] == "declined"  # positive control


@pytest.mark.parametrize("accepted, reason, kind", [
    (True, "Success", "accepted"),
    (True, "Pending", "pending"),
    (False, "pending", "pending"),
    (False, "Cancelled", "cancelled"),
    (False, "Payment was canceled", "cancelled"),
    (False, "Declined", "declined"),
    (False, "", "declined"),
])
def test_outcome_table(accepted, reason, kind):
    assert netcash.paynow_outcome(accepted=accepted, reason=reason) == kind


# --- m11 in local format -----------------------------------------------------------------------------------
@pytest.mark.parametrize("phone, expected", [
    ("+27821234567", "0821234567"),
    ("27821234567", "0821234567"),
    ("+27 82 123 4567", "0821234567"),
    ("082-123-4567", "0821234567"),
    ("0821234567", "0821234567"),
    ("+447911123456", ""),        # not South African: left out, never sent in a wrong format
    ("12345", ""),
    ("", ""),
])
def test_cellphone_is_ten_digits_starting_with_zero(phone, expected):
    assert netcash.paynow_cellphone(phone) == expected


def test_checkout_form_sends_m11_in_local_format(settings):
    settings.NETCASH = {**settings.NETCASH, "PAYNOW_SERVICE_KEY": "svc-key", "NOTIFY_TOKEN": "t" * 40}
    invoice = make_invoice(CustomerFactory(phone="+27821234567"), "499.00")
    form = invoice_checkout(invoice=invoice)
    assert form.fields["m11"] == "0821234567"
    assert form.fields["p4"] == "499.00"


def test_checkout_leaves_out_m11_for_a_foreign_number_and_for_the_public_page(settings):
    settings.NETCASH = {**settings.NETCASH, "PAYNOW_SERVICE_KEY": "svc-key", "NOTIFY_TOKEN": "t" * 40}
    foreign = make_invoice(CustomerFactory(phone="+447911123456"), "499.00")
    assert "m11" not in invoice_checkout(invoice=foreign).fields
    local = make_invoice(CustomerFactory(phone="+27821234567"), "499.00")
    assert "m11" not in invoice_checkout(invoice=local, include_contact=False).fields
