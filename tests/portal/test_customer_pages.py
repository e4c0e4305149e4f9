"""Issue 18, customer pages (without a browser; tests/portal/test_customer_pages_browser.py drives the same
in Chromium): the balance card's pay button, the links after paying, dates and states that read the
same everywhere, the sign-in error, and the payment-method pages (remove asks first, form errors
beside their fields)."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount
from payments.models import PaymentMethod, PaymentTransaction
from portal.templatetags.customer_dates import period_text
from tests.factories import CustomerServiceFactory
from tests.portal.factories import InvoiceFactory, customer_with_login, payment_method

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(signed_in_customer):
    return signed_in_customer


def _invoice(customer, total, **kwargs):
    total = Decimal(total)
    vat = (total * 15 / 115).quantize(Decimal("0.01"))
    return InvoiceFactory(customer=customer, total=total, subtotal=total - vat, vat_amount=vat, **kwargs)


def _owe(customer, amount):
    BillingAccount.objects.filter(customer=customer).update(balance=Decimal(amount))


# --- 1. paying ----------------------------------------------------------------------------------------

def test_balance_card_offers_to_pay_what_is_owed(client, customer):
    today = timezone.localdate()
    invoice = _invoice(customer, "1798.00", issue_date=today - timedelta(days=3))
    _owe(customer, "1798.00")
    body = client.get("/dashboard/").content.decode()
    pay = reverse("dashboard:invoice_pay", args=[invoice.number])
    assert f'href="{pay}" data-testid="pay-balance">Pay R 1,798.00</a>' in body
    assert "due first" not in body  # one invoice: the amount is all that is owed


def test_balance_card_with_two_open_invoices_pays_the_one_due_first(client, customer):
    today = timezone.localdate()
    later = _invoice(customer, "899.00", issue_date=today, due_date=today + timedelta(7))
    first = _invoice(customer, "499.00", issue_date=today - timedelta(30),
                           due_date=today - timedelta(2))
    _owe(customer, "1398.00")
    body = client.get("/dashboard/").content.decode()
    assert f'href="{reverse("dashboard:invoice_pay", args=[first.number])}" data-testid="pay-balance">Pay R 499.00' in body
    assert f"invoice {first.number}, due first" in body and later.number not in body.split("pay-balance")[1][:200]


@pytest.mark.parametrize(("balance", "status"), [("0.00", "unpaid"), ("-50.00", "unpaid"), ("899.00", "paid")])
def test_no_pay_button_when_nothing_is_owed(client, customer, balance, status):
    InvoiceFactory(customer=customer, status=status, amount_paid=Decimal("899.00") if status == "paid" else Decimal(0))
    _owe(customer, balance)
    body = client.get("/dashboard/").content.decode()
    assert 'data-testid="pay-balance"' not in body
    assert 'data-testid="balance"' in body  # the card itself is there


def test_home_page_links_the_public_pay_page(client):
    body = client.get("/").content.decode()
    assert f'href="{reverse("dashboard:public_pay")}"' in body and "without signing in" in body


def test_public_pay_page_prefills_the_invoice_number_from_the_email_link(client):
    body = client.get("/pay/?invoice=inv-2026-00042").content.decode()
    assert 'value="INV-2026-00042"' in body
    assert 'name="account_number" value=""' in body  # nothing looked up, nothing else filled


def test_invoice_email_links_the_public_pay_page():
    from notifications.rendering import render

    context = {"invoice_number": "INV-2026-00042", "customer_name": "Thandi", "account_number": "CT-2026-00001",
               "total": Decimal("899.00"), "amount_due": Decimal("899.00"), "due_date": date(2026, 12, 8),
               "issue_date": date(2026, 12, 1), "period_start": date(2026, 12, 1), "period_end": date(2027, 1, 1),
               "auto_pay": False}
    message = render(event="invoice_issued", channel="email", context=context)
    assert "/pay/?invoice=INV-2026-00042" in message.body and "/pay/?invoice=INV-2026-00042" in message.html
    assert "1 December 2026 to 31 December 2026" in message.body  # the period's last day, not the exclusive end
    auto = render(event="invoice_issued", channel="email", context={**context, "auto_pay": True})
    assert "/pay/" not in auto.body  # positive control: collected by debit order, no pay link


@pytest.mark.parametrize("event", ["invoice_pre_due", "invoice_overdue", "invoice_reminder"])
def test_invoice_reminders_link_the_public_pay_page(event):
    from notifications.rendering import render

    context = {"invoice_number": "INV-2026-00042", "customer_name": "Thandi", "amount_due": Decimal("899.00"),
               "due_date": date(2026, 12, 8), "days_overdue": 3, "reminder_number": 1}
    message = render(event=event, channel="email", context=context)
    assert "/pay/?invoice=INV-2026-00042" in message.body and "/pay/?invoice=INV-2026-00042" in message.html
    given = render(event=event, channel="email", context={**context, "pay_url": "https://x.example/pay/1"})
    assert "/pay/?invoice=" not in given.body and "https://x.example/pay/1" in given.body  # a given link wins


def _paid_through_sandbox(client, settings, invoice):
    settings.SANDBOX_GATEWAY_ENABLED = True
    page = client.get(reverse("dashboard:invoice_pay", args=[invoice.number]))
    fields = page.context["form"].fields
    done = client.post("/payments/sandbox/complete", {**fields, "decision": "approve"})
    return done["Location"]


def test_payment_success_page_links_the_receipt_and_the_invoice(client, customer, settings, tasks_run_inline):
    invoice = _invoice(customer, "499.00", issue_date=timezone.localdate())
    result = _paid_through_sandbox(client, settings, invoice)
    payment = PaymentTransaction.objects.get(status="completed")
    body = client.get(result).content.decode()
    assert "Payment received" in body
    receipt = reverse("dashboard:payment-receipt", args=[payment.pk])
    assert f'href="{receipt}" data-testid="receipt-link"' in body
    assert f'href="{reverse("dashboard:invoice", args=[invoice.pk])}" data-testid="invoice-link"' in body
    assert client.get(receipt)["Content-Type"] == "application/pdf"  # the link works
    client.logout()  # positive control: a payer who is not signed in gets no links to pages they cannot open
    anonymous = client.get(result).content.decode()
    assert "Payment received" in anonymous and "receipt-link" not in anonymous


# --- 2. dates and states ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("start", "end", "text"), [
    (date(2026, 12, 1), date(2027, 1, 1), "1-31 Dec 2026"),
    (date(2026, 11, 25), date(2026, 12, 25), "25 Nov - 24 Dec 2026"),
    (date(2026, 12, 15), date(2027, 1, 15), "15 Dec 2026 - 14 Jan 2027"),
    (date(2026, 12, 5), date(2026, 12, 6), "5 Dec 2026"),
])
def test_periods_print_their_last_day(start, end, text):
    assert period_text(start, end) == text


def test_invoice_pages_show_the_inclusive_period(client, customer):
    invoice = InvoiceFactory(customer=customer, period_start=date(2026, 12, 1), period_end=date(2027, 1, 1))
    detail = client.get(reverse("dashboard:invoice", args=[invoice.pk])).content.decode()
    assert 'data-testid="invoice-period">1-31 Dec 2026<' in detail and "1 Jan 2027" not in detail
    assert "1-31 Dec 2026" in client.get("/dashboard/invoices/").content.decode()


def test_invoice_pdf_prints_the_last_day_of_the_period(customer):
    from billing.services.pdf import invoice_pdf_html

    invoice = InvoiceFactory(customer=customer, period_start=date(2026, 12, 1), period_end=date(2027, 1, 1))
    html = invoice_pdf_html(invoice)
    assert "Period 1 Dec 2026 &ndash; 31 Dec 2026<br>" in html and "exclusive" not in html


def test_an_unpaid_invoice_past_its_due_date_reads_overdue(client, customer):
    today = timezone.localdate()
    late = InvoiceFactory(customer=customer, issue_date=today - timedelta(20), due_date=today - timedelta(1))
    on_time = InvoiceFactory(customer=customer, issue_date=today - timedelta(5), due_date=today)
    paid_late = InvoiceFactory(customer=customer, issue_date=today - timedelta(40), due_date=today - timedelta(30),
                               status="paid", amount_paid=Decimal("899.00"))
    rows = client.get("/dashboard/invoices/").content.decode()
    assert rows.count('<span class="badge badge-overdue">Overdue</span>') == 1
    assert rows.count('<span class="badge badge-unpaid">Unpaid</span>') == 1  # due today: not yet overdue
    assert rows.count('<span class="badge badge-paid">Paid</span>') == 1  # paid: never overdue
    detail = client.get(reverse("dashboard:invoice", args=[late.pk])).content.decode()
    assert 'data-testid="overdue"' in detail and ">Overdue</span></h1>" in detail
    assert 'data-testid="overdue"' not in client.get(reverse("dashboard:invoice", args=[on_time.pk])).content.decode()
    assert paid_late.status == "paid"


def test_suspended_and_cancelled_services_show_no_next_billing_date(client, customer):
    active = CustomerServiceFactory(customer=customer, status="active", next_billing_date=date(2027, 1, 1))
    suspended = CustomerServiceFactory(customer=customer, status="suspended", next_billing_date=date(2027, 1, 1))
    cancelled = CustomerServiceFactory(customer=customer, status="cancelled", next_billing_date=date(2027, 1, 1))
    page = client.get("/dashboard/services/").content.decode()
    assert f'data-testid="next-billing-{active.pk}">1 Jan 2027<' in page
    assert f'data-testid="next-billing-{suspended.pk}">None while suspended<' in page
    assert f'data-testid="next-billing-{cancelled.pk}">None: cancelled<' in page
    detail = client.get(reverse("dashboard:service", args=[suspended.pk])).content.decode()
    assert "None while suspended" in detail and "1 Jan 2027" not in detail


def test_service_cycle_reads_to_its_last_day(client, customer):
    service = CustomerServiceFactory(customer=customer, status="active", billing_day=1)
    body = client.get(reverse("dashboard:service", args=[service.pk])).content.decode()
    today = timezone.localdate()
    start = today.replace(day=1)
    last = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    assert f"This cycle ({period_text(start, last, inclusive=True, year=False)})" in body


def test_sign_in_error_says_email_not_username(client):
    user = customer_with_login().user
    body = client.post("/accounts/login/", {"username": user.email, "password": "wrong-password"}).content.decode()
    assert "Enter the email and password of your account" in body
    assert "username" not in body.split("<main", 1)[-1].lower().replace('name="username"', "").replace(
        'id_username', "")
    ok = client.post("/accounts/login/", {"username": user.email, "password": "correct-horse-battery"})
    assert ok.status_code == 302  # positive control: the right password signs in


# --- 4. payment methods ---------------------------------------------------------------------------------

def test_removal_asks_first_and_says_who_becomes_primary(client, customer):
    primary = payment_method(customer, primary=True, last_four="4242")
    other = payment_method(customer, last_four="1111", brand="Mastercard")
    url = reverse("dashboard:method-remove", args=[primary.pk])
    page = client.get(url).content.decode()
    assert "Remove Visa ***4242?" in page and "<strong>Mastercard ***1111</strong> becomes primary" in page
    assert client.post(url).status_code == 200  # no confirmation: the question again, nothing removed
    primary.refresh_from_db()
    assert primary.deleted_at is None
    done = client.post(url, {"confirm": "yes"}, follow=True).content.decode()
    assert "Visa ***4242 was removed. Mastercard ***1111 is now your primary payment method." in done
    other.refresh_from_db()
    assert other.is_primary is True


def test_removing_the_only_method_says_auto_pay_is_off(client, customer):
    primary = payment_method(customer, primary=True)
    BillingAccount.objects.filter(customer=customer).update(auto_pay=True)
    url = reverse("dashboard:method-remove", args=[primary.pk])
    assert "auto-pay will be turned off" in client.get(url).content.decode()
    done = client.post(url, {"confirm": "yes"}, follow=True).content.decode()
    assert "Auto-pay is off" in done
    assert BillingAccount.objects.get(customer=customer).auto_pay is False


def test_removing_another_customers_method_is_404(client, customer):
    theirs = payment_method(customer_with_login(), primary=True)
    url = reverse("dashboard:method-remove", args=[theirs.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"confirm": "yes"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.deleted_at is None


FORM = {"account_holder": "T Mokoena", "bank_name": "FNB", "account_number": "62001234567", "branch_code": "25",
        "account_type": "savings", "make_primary": "on", "consent": "on"}


@pytest.mark.django_db(transaction=True)  # adding a debit order refuses to run inside a transaction
def test_debit_order_errors_show_beside_their_field_and_keep_what_was_typed(client, customer, settings):
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": ""}
    response = client.post(reverse("dashboard:method-add-debit-order"), FORM)
    assert response.status_code == 400
    form = response.content.decode().split('data-testid="debit-order-form"')[1]
    branch = form.split('id="id_branch_code"')[1].split("</div>")[0]
    assert 'data-testid="error-branch_code">Enter a valid branch code (5 or 6 digits).' in branch
    assert 'data-testid="debit-order-errors"' not in form  # not a message on top of the form
    assert 'value="T Mokoena"' in form and 'value="25"' in form
    assert '<option value="FNB" selected>' in form and '<option value="savings" selected>' in form
    assert "62001234567" not in form and 'data-testid="retype-account-number"' in form  # never echoed back
    assert not PaymentMethod.objects.exists()
