"""Issue 16, finding 1: account credit pays new invoices; dunning and suspension act on what is owed."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from billing.models import BillingAccount, Invoice, LedgerEntry
from billing.models.invoices import CreditNoteAllocation
from billing.services.credit import credit_apply_sweep, unapplied_credit
from billing.services.dunning import dunning_run, services_suspend_for_non_payment
from billing.services.invoice_run import invoice_run
from billing.services.invoices import LineSpec, credit_note_create, invoice_create
from billing.services.ledger import ledger_balance, ledger_post
from billing.services.ledger_check import ledger_differences
from billing.services.lifecycle import service_activate
from notifications.models import NotificationLog
from payments.models import PaymentAllocation
from payments.services.payments import payment_complete, payment_reverse
from tests.billing.factories import service as make_service

D = Decimal
pytestmark = pytest.mark.django_db


def pay(customer, amount, ref, invoice=None):
    return payment_complete(reference=ref, amount=D(amount), customer=customer, method="eft", provider="manual",
                            invoice=invoice)


def balance(customer) -> Decimal:
    return BillingAccount.objects.get(customer=customer).balance


def test_prepaid_credit_pays_the_new_invoice_and_dunning_leaves_the_account_alone():
    """The audit's case: R 2,000 prepaid, then an R 899 invoice. It must be paid from credit, never
    marked overdue, never suspend the service (before: overdue, suspended at -R 1,101)."""
    svc = make_service(monthly_price=D("899.00"), billing_day=1)
    prepaid = pay(svc.customer, "2000.00", "PREPAY-1")
    assert balance(svc.customer) == D("-2000.00")
    # positive control: the same service for a customer without credit stays owed
    control = make_service(monthly_price=D("899.00"), billing_day=1)

    invoice = service_activate(service=svc, reason="installed", activation_date=date(2026, 3, 1))
    owed = service_activate(service=control, reason="installed", activation_date=date(2026, 3, 1))

    assert (invoice.status, invoice.amount_paid, invoice.amount_due) == (Invoice.Status.PAID, D("899.00"), D("0.00"))
    assert PaymentAllocation.objects.get(invoice=invoice).payment == prepaid
    assert balance(svc.customer) == D("-1101.00") == ledger_balance(customer_id=svc.customer_id)
    assert unapplied_credit(svc.customer_id) == D("1101.00")
    assert owed.status == Invoice.Status.UNPAID and owed.amount_due == D("899.00")
    # the "credit covers this invoice" wording can now show
    issued = NotificationLog.objects.filter(event="invoice_issued", customer=svc.customer).first()
    assert issued is not None and D(str(issued.context["amount_due"])) == D("0.00")

    dunning_run(today=date(2026, 3, 1) + timedelta(days=40))
    svc.refresh_from_db()
    control.refresh_from_db()
    assert svc.status == "active"
    assert Invoice.objects.get(pk=invoice.pk).status == Invoice.Status.PAID
    assert (control.status, Invoice.objects.get(pk=owed.pk).status) == ("suspended", Invoice.Status.OVERDUE)
    assert ledger_differences() == []


def test_the_invoice_run_pays_from_credit_oldest_credit_first():
    svc = make_service(monthly_price=D("500.00"), billing_day=1)
    service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    first = pay(svc.customer, "700.00", "OVER-1")  # pays January (500) + R 200 credit
    second = pay(svc.customer, "400.00", "OVER-2")  # all credit
    control = make_service(monthly_price=D("500.00"), billing_day=1)
    service_activate(service=control, reason="live", activation_date=date(2026, 1, 1))

    invoice_run(run_date=date(2026, 1, 25))

    feb = Invoice.objects.get(service=svc, invoice_type="recurring")
    assert feb.status == Invoice.Status.PAID
    allocations = {a.payment.reference: a.amount for a in PaymentAllocation.objects.filter(invoice=feb)}
    assert allocations == {"OVER-1": D("200.00"), "OVER-2": D("300.00")}  # oldest credit first
    assert balance(svc.customer) == D("-100.00") and unapplied_credit(svc.customer_id) == D("100.00")
    assert Invoice.objects.get(service=control, invoice_type="recurring").status == Invoice.Status.UNPAID
    assert first.pk != second.pk and ledger_differences() == []


def test_a_credit_note_remainder_pays_the_other_open_invoice():
    svc = make_service(monthly_price=D("300.00"), billing_day=1)
    january = service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    pay(svc.customer, "300.00", "JAN", invoice=january)
    invoice_run(run_date=date(2026, 1, 25))
    february = Invoice.objects.get(service=svc, invoice_type="recurring")
    assert february.status == Invoice.Status.UNPAID

    note = credit_note_create(invoice=january, amount=D("120.00"), reason="outage compensation")

    assert note.applied_amount == D("0.00")  # January was paid: the whole credit is account credit...
    february.refresh_from_db()
    assert (february.amount_paid, february.amount_due) == (D("120.00"), D("180.00"))  # ...and pays February
    assert CreditNoteAllocation.objects.get(credit_note=note).invoice == february
    assert balance(svc.customer) == D("180.00") and unapplied_credit(svc.customer_id) == D("0.00")
    assert ledger_differences() == []


def test_a_reversed_payment_reopens_its_invoice_and_other_credit_pays_it():
    svc = make_service(monthly_price=D("400.00"), billing_day=1)
    january = service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    bounced = pay(svc.customer, "400.00", "DEBIT-1", invoice=january)
    adjustment = invoice_create(customer=svc.customer, invoice_type="adjustment",
                                lines=[LineSpec(description="Router", amount=D("100.00"))])
    pay(svc.customer, "100.00", "ROUTER", invoice=adjustment)
    credit_note_create(invoice=adjustment, amount=D("100.00"), reason="router returned")  # R 100 account credit

    # The credit went nowhere (nothing open) until the debit order bounces:
    assert unapplied_credit(svc.customer_id) == D("100.00")
    payment_reverse(payment=bounced, reason="insufficient funds")

    january.refresh_from_db()
    assert (january.amount_paid, january.amount_due) == (D("100.00"), D("300.00"))
    assert unapplied_credit(svc.customer_id) == D("0.00")
    assert balance(svc.customer) == D("300.00") and ledger_differences() == []


def test_a_reversed_payment_s_own_credit_is_never_spent():
    svc = make_service(monthly_price=D("400.00"), billing_day=1)
    service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    bounced = pay(svc.customer, "1000.00", "DEBIT-BIG")  # R 400 to January, R 600 credit
    payment_reverse(payment=bounced, reason="unpaid", unpaid_fee=D("50.00"))
    fee = Invoice.objects.get(invoice_type="adjustment")
    assert fee.status == Invoice.Status.UNPAID  # the bounced money does not pay the unpaid fee
    assert balance(svc.customer) == D("450.00") and ledger_differences() == []


def test_check_ledger_finds_an_open_invoice_beside_credit_and_the_sweep_heals_it():
    svc = make_service(monthly_price=D("250.00"), billing_day=1)
    pay(svc.customer, "250.00", "EARLY")
    assert ledger_differences() == []  # positive control: credit alone is fine
    # Books written before credit was applied automatically: an invoice issued around the engine.
    legacy = Invoice.objects.create(number="INV-2025-00001", customer=svc.customer, invoice_type="adjustment",
                                    issue_date=date(2025, 12, 1), due_date=date(2025, 12, 8),
                                    prices_include_vat=True, subtotal=D("217.39"), vat_amount=D("32.61"),
                                    total=D("250.00"))
    ledger_post(customer=svc.customer, entry_type=LedgerEntry.EntryType.INVOICE, amount=D("250.00"),
                reference=f"invoice:{legacy.pk}", description="legacy", invoice=legacy)

    differences = ledger_differences()
    assert [(d.kind, d.stored) for d in differences] == [("unapplied_credit", D("250.00"))]

    assert credit_apply_sweep()["amount"] == D("250.00")
    legacy.refresh_from_db()
    assert legacy.status == Invoice.Status.PAID and ledger_differences() == []


def test_suspension_never_touches_an_account_that_owes_nothing():
    """The guard behind the sweep: an overdue invoice on an account whose balance is <= 0 is not chased."""
    svc = make_service(monthly_price=D("250.00"), billing_day=1)
    service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    control = make_service(monthly_price=D("250.00"), billing_day=1)
    service_activate(service=control, reason="live", activation_date=date(2026, 1, 1))
    today = date(2026, 2, 20)
    Invoice.objects.update(status=Invoice.Status.OVERDUE)
    # The account's balance says it owes nothing (money staff recorded straight on the ledger).
    ledger_post(customer=svc.customer, entry_type=LedgerEntry.EntryType.ADJUSTMENT, amount=D("-250.00"),
                reference="adjustment:test", description="goodwill")

    assert services_suspend_for_non_payment(today=today) == 1
    svc.refresh_from_db()
    control.refresh_from_db()
    assert (svc.status, control.status) == ("active", "suspended")
