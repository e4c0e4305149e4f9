"""Issue 16, findings 2, 3 and 7: billing-day and price changes through services, VAT-correct credits
from the invoiced line, and cancellation that credits unused days (the billing date included)."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import CreditNote, Invoice, ServiceActionLog
from billing.services.invoice_run import invoice_run
from billing.services.ledger import ledger_balance
from billing.services.ledger_check import ledger_differences
from billing.services.lifecycle import (
    IllegalTransitionError,
    LifecycleError,
    billing_day_change_quote,
    price_change_quote,
    service_activate,
    service_cancel,
    service_cancellation_quote,
    service_change_billing_day,
    service_change_price,
    service_reactivate,
    service_suspend,
)
from payments.services.payments import payment_complete
from tests.billing.factories import business_customer
from tests.billing.factories import service as make_service

D = Decimal
pytestmark = pytest.mark.django_db


def live(price="899.00", day=1, on=date(2026, 1, 1), **kwargs):
    svc = make_service(monthly_price=D(price), billing_day=day, **kwargs)
    service_activate(service=svc, reason="installed", activation_date=on)
    return svc


# --- finding 2: billing day ---------------------------------------------------------------------------------

def test_day_1_to_5_bills_the_stub_1_to_4_feb_pro_rata_then_full_months_from_the_5th():
    svc = live()
    quote = billing_day_change_quote(service=svc, new_day=5, on=date(2026, 1, 20))
    stub = service_change_billing_day(service=svc, new_day=5, reason="salary on the 5th", on=date(2026, 1, 20))

    assert (stub.period_start, stub.period_end, stub.total) == (date(2026, 2, 1), date(2026, 2, 5), D("116.00"))
    assert stub.lines.get().description.endswith("1-4 Feb 2026 (4 of 31 days)")  # 899 x 4/31, explained
    assert quote["amount"] == stub.total and quote["next_billing_date"] == date(2026, 2, 5)
    svc.refresh_from_db()
    assert (svc.billing_day, svc.next_billing_date) == (5, date(2026, 2, 5))
    log = ServiceActionLog.objects.filter(service=svc, action="update").get()
    assert (log.reason, log.previous_state["billing_day"], log.new_state["billing_day"]) == ("salary on the 5th", 1, 5)

    invoice_run(run_date=date(2026, 1, 29))
    month = Invoice.objects.get(service=svc, invoice_type="recurring")
    assert (month.period_start, month.period_end, month.total) == (date(2026, 2, 5), date(2026, 3, 5), D("899.00"))
    assert ledger_balance(customer_id=svc.customer_id) == D("899.00") + D("116.00") + D("899.00")
    assert ledger_differences() == []


def test_a_day_change_after_the_run_voids_the_unpaid_advance_invoice_or_credits_a_paid_one():
    unpaid, paid = live(), live()
    invoice_run(run_date=date(2026, 1, 25))  # February [1 Feb, 1 Mar) invoiced in advance
    feb_paid = Invoice.objects.get(service=paid, invoice_type="recurring")
    for ref, invoice in (("JAN", Invoice.objects.get(service=paid, invoice_type="pro_rata")), ("FEB", feb_paid)):
        payment_complete(reference=ref, amount=D("899.00"), customer=paid.customer, method="eft", provider="manual",
                         invoice=invoice)

    for svc in (unpaid, paid):
        service_change_billing_day(service=svc, new_day=5, reason="asked", on=date(2026, 1, 27))

    assert Invoice.objects.get(service=unpaid, invoice_type="recurring").status == Invoice.Status.VOID
    assert feb_paid.credit_notes.get().total == D("899.00")
    stub = Invoice.objects.get(service=paid, invoice_type="pro_rata", period_start=date(2026, 2, 1))
    assert stub.status == Invoice.Status.PAID  # the credit from February pays the stub at once
    invoice_run(run_date=date(2026, 1, 29))
    for svc in (unpaid, paid):
        assert Invoice.objects.filter(service=svc, invoice_type="recurring", period_start=date(2026, 2, 5)).exists()
    # Both customers owe exactly: January + stub + the month from 5 Feb, less what was paid; the paid
    # customer's February came back as credit, which paid the stub and most of the month from 5 Feb.
    assert ledger_balance(customer_id=unpaid.customer_id) == D("1914.00")
    assert ledger_balance(customer_id=paid.customer_id) == D("1914.00") - D("1798.00")
    month = Invoice.objects.get(service=paid, invoice_type="recurring", period_start=date(2026, 2, 5))
    assert (month.amount_paid, month.amount_due) == (D("783.00"), D("116.00"))
    assert ledger_differences() == []


def test_day_25_to_1_bills_25_to_28_feb_of_a_28_day_period():
    svc = live(day=25, on=date(2026, 1, 25))
    stub = service_change_billing_day(service=svc, new_day=1, reason="asked", on=date(2026, 2, 1))
    assert (stub.period_start, stub.period_end) == (date(2026, 2, 25), date(2026, 3, 1))
    assert stub.total == D("128.43")  # 899 x 4/28


def test_billing_day_changes_refuse_bad_input_and_change_nothing():
    svc = live()
    with pytest.raises(LifecycleError, match="one of 1, 5, 25, 30"):
        service_change_billing_day(service=svc, new_day=15, reason="x", on=date(2026, 1, 20))
    with pytest.raises(LifecycleError, match="reason"):
        service_change_billing_day(service=svc, new_day=5, reason=" ", on=date(2026, 1, 20))
    with pytest.raises(LifecycleError, match="already"):
        service_change_billing_day(service=svc, new_day=1, reason="x", on=date(2026, 1, 20))
    service_suspend(service=svc, reason="travel", on=date(2026, 1, 21))
    with pytest.raises(IllegalTransitionError):
        service_change_billing_day(service=svc, new_day=5, reason="x", on=date(2026, 1, 22))
    svc.refresh_from_db()
    assert svc.billing_day == 1 and Invoice.objects.count() == 1
    # positive control: a pending service simply takes the new day
    pending = make_service(billing_day=1)
    assert service_change_billing_day(service=pending, new_day=30, reason="asked") is None
    pending.refresh_from_db()
    assert pending.billing_day == 30


def test_billing_day_and_price_are_read_only_in_the_admin(admin_client):
    from django.utils import timezone

    svc = live(on=timezone.localdate())
    change = admin_client.get(reverse("admin:billing_customerservice_change", args=[svc.pk])).content.decode()
    assert 'name="billing_day"' not in change and 'name="monthly_price"' not in change
    add = admin_client.get(reverse("admin:billing_customerservice_add")).content.decode()
    assert 'name="billing_day"' in add and 'name="monthly_price"' in add  # positive control

    response = admin_client.post(reverse("admin:billing_customerservice_changelist"), {
        "action": "change_billing_day", "_selected_action": [svc.pk], "apply": "1", "reason": "asked by phone",
        "billing_day": "25"})
    assert response.status_code == 302
    svc.refresh_from_db()
    assert svc.billing_day == 25


# --- price changes -------------------------------------------------------------------------------------------

def test_a_price_change_from_the_next_period_keeps_the_invoiced_period():
    svc = live(price="500.00")
    quote = price_change_quote(service=svc, new_price=D("800.00"), immediate=False)
    assert quote["amount"] == D("0.00") and quote["starts"] == date(2026, 2, 1)
    assert service_change_price(service=svc, new_price=D("800.00"), reason="upgrade to 100 Mbps") is None
    invoice_run(run_date=date(2026, 1, 25))
    assert Invoice.objects.get(service=svc, invoice_type="recurring").total == D("800.00")
    assert Invoice.objects.get(service=svc, invoice_type="pro_rata").total == D("500.00")
    assert ServiceActionLog.objects.filter(service=svc, action="update", reason="upgrade to 100 Mbps").exists()


def test_an_immediate_price_change_credits_the_old_price_and_bills_the_new_one_pro_rata():
    svc = live(price="500.00")
    january = Invoice.objects.get(service=svc)
    quote = price_change_quote(service=svc, new_price=D("800.00"), immediate=True, on=date(2026, 1, 16))
    invoice = service_change_price(service=svc, new_price=D("800.00"), reason="upgrade", immediate=True,
                                   on=date(2026, 1, 16))
    assert january.credit_notes.get().total == D("258.06")  # 16/31 of the invoiced R 500
    assert (invoice.period_start, invoice.period_end, invoice.total) == (date(2026, 1, 16), date(2026, 2, 1),
                                                                         D("412.90"))  # 16/31 of R 800
    assert quote["amount"] == D("412.90") - D("258.06")
    assert ledger_balance(customer_id=svc.customer_id) == D("500.00") - D("258.06") + D("412.90")
    assert ledger_differences() == []


# --- finding 3: VAT-correct credit notes from the invoiced line ------------------------------------------------

def test_a_business_skip_billing_credit_includes_vat():
    """R 1,000 excl. VAT, 10 of 31 days skipped: R 370.97 (was R 322.58, the VAT left out)."""
    svc = make_service(customer=business_customer(), monthly_price=D("1000.00"), billing_day=1)
    invoice = service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    assert invoice.total == D("1150.00")
    service_suspend(service=svc, reason="fault", skip_billing=True, on=date(2026, 1, 11))
    service_reactivate(service=svc, reason="fixed", on=date(2026, 1, 21))
    note = invoice.credit_notes.get()
    assert (note.total, note.subtotal, note.vat_amount) == (D("370.97"), D("322.58"), D("48.39"))


def test_credits_use_the_invoiced_price_not_today_s():
    svc = live(price="310.00")
    invoice = Invoice.objects.get(service=svc)
    service_change_price(service=svc, new_price=D("620.00"), reason="new package from February")
    service_suspend(service=svc, reason="fault", skip_billing=True, on=date(2026, 1, 11))
    service_reactivate(service=svc, reason="fixed", on=date(2026, 1, 21))
    assert invoice.credit_notes.get().total == D("100.00")  # 10/31 of the invoiced R 310 (not R 200 at R 620)


def test_a_consumer_credit_of_every_day_is_exactly_the_invoice_total():
    svc = live(price="333.33")
    invoice = Invoice.objects.get(service=svc)
    service_suspend(service=svc, reason="fault", skip_billing=True, on=date(2026, 1, 1))
    service_reactivate(service=svc, reason="fixed", on=date(2026, 2, 1))
    assert invoice.credit_notes.get().total == invoice.total


# --- finding 7: cancellation --------------------------------------------------------------------------------

def test_cancelling_credits_unused_days_and_the_quote_is_what_happens():
    svc = live(price="620.00")
    quote = service_cancellation_quote(service=svc, on=date(2026, 1, 22))
    assert quote["credit"] == D("200.00")  # 10 of 31 days of R 620
    service_cancel(service=svc, reason="moving", on=date(2026, 1, 22))
    assert CreditNote.objects.get().total == D("200.00")
    assert ledger_balance(customer_id=svc.customer_id) == quote["balance_after"] == D("420.00")


def test_cancelling_on_the_billing_date_does_not_keep_that_period(settings):
    for policy in ("credit_unused", "bill_to_period_end"):
        settings.BILLING = {**settings.BILLING, "CANCELLATION_POLICY": policy}
        svc = live(price="450.00")
        invoice_run(run_date=date(2026, 1, 25))
        feb = Invoice.objects.get(service=svc, invoice_type="recurring")
        service_cancel(service=svc, reason="moving", on=date(2026, 2, 1))
        feb.refresh_from_db()
        assert feb.status == Invoice.Status.VOID, policy  # not a day of February was used
        assert ledger_balance(customer_id=svc.customer_id) == D("450.00"), policy  # January only


def test_bill_to_period_end_keeps_the_current_period(settings):
    settings.BILLING = {**settings.BILLING, "CANCELLATION_POLICY": "bill_to_period_end"}
    svc = live(price="620.00")
    assert service_cancellation_quote(service=svc, on=date(2026, 1, 22))["credit"] == D("0.00")
    service_cancel(service=svc, reason="moving", on=date(2026, 1, 22))
    assert not CreditNote.objects.exists() and ledger_balance(customer_id=svc.customer_id) == D("620.00")


def test_cancelling_while_suspended_without_billing_credits_the_suspended_days_too():
    svc = live(price="310.00")
    service_suspend(service=svc, reason="travel", skip_billing=True, on=date(2026, 1, 11))
    service_cancel(service=svc, reason="not coming back", on=date(2026, 1, 21))
    # 10 suspended days (11-20 Jan) + 11 unused days (21-31 Jan) of the invoiced R 310
    assert sorted(CreditNote.objects.values_list("total", flat=True)) == [D("100.00"), D("110.00")]
    assert ledger_balance(customer_id=svc.customer_id) == D("100.00") and ledger_differences() == []


def test_an_unknown_cancellation_policy_is_a_deploy_error(settings):
    from billing.checks import cancellation_policy_check

    assert cancellation_policy_check(None) == []  # positive control: the default
    settings.BILLING = {**settings.BILLING, "CANCELLATION_POLICY": "credit_everything"}
    assert [e.id for e in cancellation_policy_check(None)] == ["billing.E001"]


def test_a_service_added_in_the_admin_without_a_day_takes_the_customer_s_preferred_day(rf, admin_user):
    from django.contrib.admin.sites import site

    from billing.models import BillingAccount, CustomerService
    from tests.factories import CustomerFactory

    customer = CustomerFactory()
    BillingAccount.objects.filter(customer=customer).update(preferred_billing_day=25)
    model_admin = site._registry[CustomerService]
    request = rf.get("/")
    request.user = admin_user
    form_class = model_admin.get_form(request, None)
    assert form_class.base_fields["billing_day"].required is False
    fields = {"customer": customer.pk, "service_type": "fibre", "package_name": "Fibre 20/10",
              "monthly_price": "399.00", "installation_fee": "0", "router_fee": "0", "download_mbps": 20,
              "upload_mbps": 10}
    for day, expected in (("", 25), ("5", 5)):  # empty: the preferred day; a chosen day wins (positive control)
        form = form_class(data={**fields, "billing_day": day})
        assert form.is_valid(), form.errors
        service = form.save(commit=False)
        model_admin.save_model(request, service, form, change=False)
        assert CustomerService.objects.get(pk=service.pk).billing_day == expected


# --- probe findings (a day is given back once; voids before credits; bounds) -----------------------------------

def test_switching_the_billing_day_back_and_forth_never_gives_a_day_back_twice():
    svc = live(price="999.00")
    before = ledger_balance(customer_id=svc.customer_id)
    for day in (30, 1, 30, 1):
        service_change_billing_day(service=svc, new_day=day, reason="probe", on=date(2026, 1, 7))
    jan = Invoice.objects.get(service=svc, invoice_type="pro_rata", period_start=date(2026, 1, 1))
    # January's last day (31 Jan) was given back once in all, never the days the customer used
    assert sum(jan.credit_notes.values_list("total", flat=True)) <= jan.total
    credited = sorted({(n.period_start, n.period_end) for n in jan.credit_notes.all()})
    assert credited == [(date(2026, 1, 30), date(2026, 2, 1))]
    # the round trips net to what the days cost: back on day 1 from 1 Feb, nothing extra owed or given
    assert ledger_balance(customer_id=svc.customer_id) == before
    assert ledger_differences() == []


def test_changing_the_price_and_back_on_the_same_day_leaves_the_balance_unchanged():
    svc = live(price="899.00")
    before = ledger_balance(customer_id=svc.customer_id)
    service_change_price(service=svc, new_price=D("999.00"), reason="up", immediate=True, on=date(2026, 1, 7))
    service_change_price(service=svc, new_price=D("899.00"), reason="back", immediate=True, on=date(2026, 1, 7))
    assert ledger_balance(customer_id=svc.customer_id) == before
    assert ledger_differences() == []


def test_cancelling_with_the_current_invoice_paid_and_the_next_one_issued_works():
    svc = live(price="450.00")
    january = Invoice.objects.get(service=svc)
    payment_complete(reference="JAN", amount=D("450.00"), customer=svc.customer, method="eft", provider="manual",
                     invoice=january)
    invoice_run(run_date=date(2026, 1, 25))  # February issued ahead, unpaid
    service_cancel(service=svc, reason="moving", on=date(2026, 1, 28))  # was refused: credit paid Feb, then void
    feb = Invoice.objects.get(service=svc, invoice_type="recurring")
    assert feb.status == Invoice.Status.VOID
    assert january.credit_notes.get().total == D("58.06")  # 4/31 of R 450, now account credit
    assert ledger_balance(customer_id=svc.customer_id) == D("-58.06") and ledger_differences() == []


def test_an_absurd_price_is_refused_and_changes_nothing():
    svc = live(price="899.00")
    with pytest.raises(LifecycleError, match="not accepted"):
        service_change_price(service=svc, new_price=D("9999999999.99"), reason="typo", immediate=True,
                             on=date(2026, 1, 7))
    svc.refresh_from_db()
    assert svc.monthly_price == D("899.00") and Invoice.objects.count() == 1
    assert service_change_price(service=svc, new_price=D("100000.00"), reason="max") is None  # the bound itself


def test_vat_numbers_take_ascii_digits_only():
    from billing.services.customers import CustomerError, vat_number_clean

    assert vat_number_clean("4123456789", account_type="business") == "4123456789"  # positive control
    for odd in ("4١٢٣٤٥٦٧٨٩", "4１２３４５６７８９"):
        with pytest.raises(CustomerError):
            vat_number_clean(odd, account_type="business")
