"""A model-based test of the books (issue 16): random sequences of what happens to customers' money
over months, with the books checked after every step.

Steps: sign-up (personal/business, any billing day), activation, the calendar moving on (the invoice
run every day, across month ends and a leap day), payments (partial, exact, over, duplicate
deliveries), refunds, returned debit orders, credit notes, suspensions with and without skip-billing,
reactivations, billing-day and price changes, cancellations, void-and-reissue and the dunning run.

After every step: each balance = the sum of its ledger entries = invoices - payments + refunds -
credits, recomputed from the documents; each invoice's paid amount = its allocations and applied
credits <= its total; VAT is 15% of the lines rounded once; no open invoice while the account has
unapplied credit; no non-payment suspension left on an account that owes nothing after dunning;
`check_ledger` clean. Any counterexample becomes a plain regression test beside this one.

Examples: `BOOKS_EXAMPLES` x `BOOKS_STEPS` (10 x 20 in the suite; `make test-books` runs many more).
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from billing.models import BillingAccount, CreditNote, Customer, CustomerService, Invoice, LedgerEntry, Suspension
from billing.models.invoices import CreditNoteAllocation
from billing.proration import money
from billing.services.credit import unapplied_credit
from billing.services.dunning import dunning_run
from billing.services.invoice_run import eligible_services, invoice_run
from billing.services.invoices import credit_note_create, credited_total, invoice_reissue
from billing.services.ledger_check import ledger_differences
from billing.services.lifecycle import (
    service_activate,
    service_cancel,
    service_change_billing_day,
    service_change_price,
    service_reactivate,
    service_suspend,
)
from billing.vat import vat_breakdown
from circletel.errors import ApplicationError
from payments.models import PaymentAllocation, PaymentTransaction
from payments.services.payments import payment_complete, payment_reverse
from payments.services.refunds import refund_create
from tests.factories import CustomerFactory, CustomerServiceFactory

D = Decimal
ZERO = D("0.00")
PRICES = [D("299.00"), D("499.00"), D("899.00"), D("1000.00"), D("333.33")]
START = date(2027, 12, 20)  # the run crosses month ends and the leap day of 2028
EXAMPLES = int(os.environ.get("BOOKS_EXAMPLES", "10"))
STEPS = int(os.environ.get("BOOKS_STEPS", "20"))
PS = PaymentTransaction.Status


def total(qs, field="amount") -> Decimal:
    """A sum to the cent (SQLite adds decimals as floats)."""
    return money(D(str(qs.aggregate(s=Sum(field))["s"] or 0)))


def _money_in_doubt():
    """Payments still counted as money received (a reversed one was returned in full)."""
    return PaymentTransaction.objects.filter(status__in=[PS.COMPLETED, PS.PARTIALLY_REFUNDED, PS.REFUNDED])


class Books(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.atomic = transaction.atomic()
        self.atomic.__enter__()
        self.today = START
        self.refs = 0
        self.dunned = False

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)

    # --- helpers -------------------------------------------------------------------------------------------
    def _ref(self, prefix: str) -> str:
        self.refs += 1
        return f"{prefix}-{self.refs}"

    def _try(self, fn, *args, **kwargs):
        """A refusal (a rule of the product) is fine, and must change nothing: run it in a savepoint."""
        try:
            with transaction.atomic():
                return fn(*args, **kwargs)
        except ApplicationError:
            return None

    @staticmethod
    def _pick(qs, index: int):
        rows = list(qs.order_by("pk").values_list("pk", flat=True))
        return qs.model.objects.get(pk=rows[index % len(rows)]) if rows else None

    # --- steps ---------------------------------------------------------------------------------------------
    @initialize(business=st.booleans(), day=st.sampled_from([1, 5, 25, 30]), price=st.sampled_from(PRICES))
    def first_customer(self, business, day, price):
        self.sign_up(business, day, price)

    @rule(business=st.booleans(), day=st.sampled_from([1, 5, 25, 30]), price=st.sampled_from(PRICES))
    def sign_up(self, business, day, price):
        kind = Customer.AccountType.BUSINESS if business else Customer.AccountType.PERSONAL
        customer = CustomerFactory(account_type=kind, company_name="Acme (Pty) Ltd" if business else "")
        CustomerServiceFactory(customer=customer, monthly_price=price, billing_day=day,
                               installation_fee=D("0.00"), router_fee=D("0.00") if price != PRICES[2] else D("99.00"))

    @rule(i=st.integers(0, 50))
    def activate(self, i):
        svc = self._pick(CustomerService.objects.filter(status="pending"), i)
        if svc is not None:
            self._try(service_activate, service=svc, reason="installed", activation_date=self.today)

    @rule(days=st.integers(1, 20))
    def time_passes(self, days):
        for _ in range(days):
            self.today += timedelta(days=1)
            if eligible_services(self.today).exists():  # the daily run, where it has work
                invoice_run(run_date=self.today, followups=False)
        self.dunned = False

    @rule()
    def dunning(self):
        dunning_run(today=self.today)
        self.dunned = True

    @rule(i=st.integers(0, 50), kind=st.sampled_from(["partial", "exact", "over", "prepay"]),
          cents=st.integers(1, 150000))
    def pay(self, i, kind, cents):
        customer = self._pick(Customer.objects.all(), i)
        owed = BillingAccount.objects.get(customer=customer).balance
        extra = D(cents) / 100
        if kind == "partial" and owed > D("0.01"):
            amount = (owed / 2).quantize(D("0.01"))
        elif kind == "exact" and owed > 0:
            amount = owed
        elif kind == "over":
            amount = max(owed, ZERO) + extra
        else:
            amount = extra
        self._try(payment_complete, reference=self._ref("PAY"), amount=amount, customer=customer, method="eft",
                  provider="manual")

    @rule(i=st.integers(0, 50))
    def duplicate_delivery(self, i):
        payment = self._pick(PaymentTransaction.objects.all(), i)
        if payment is not None:
            before = LedgerEntry.objects.count()
            self._try(payment_complete, reference=payment.reference, amount=payment.amount, customer=payment.customer,
                      method=payment.method, provider=payment.provider)
            assert LedgerEntry.objects.count() == before, "a second delivery moved money"

    @rule(i=st.integers(0, 50), part=st.sampled_from([None, "half"]))
    def refund(self, i, part):
        payment = self._pick(PaymentTransaction.objects.filter(status__in=[PS.COMPLETED, PS.PARTIALLY_REFUNDED]), i)
        if payment is not None:
            amount = None if part is None else max((payment.amount / 4).quantize(D("0.01")), D("0.01"))
            self._try(refund_create, payment=payment, amount=amount, reason="customer asked", actor="ops")

    @rule(i=st.integers(0, 50), fee=st.booleans())
    def debit_order_returned(self, i, fee):
        payment = self._pick(PaymentTransaction.objects.filter(status=PS.COMPLETED), i)
        if payment is not None:
            self._try(payment_reverse, payment=payment, reason="insufficient funds",
                      unpaid_fee=D("75.00") if fee else None)

    @rule(i=st.integers(0, 50), share=st.sampled_from([D("0.1"), D("0.5"), D("1")]))
    def credit_note(self, i, share):
        invoice = self._pick(Invoice.objects.exclude(status="void"), i)
        if invoice is not None:
            left = invoice.total - credited_total(invoice)
            amount = (left * share).quantize(D("0.01"))
            if amount > 0:
                self._try(credit_note_create, invoice=invoice, amount=amount, reason="goodwill",
                          issue_date=self.today)

    @rule(i=st.integers(0, 50), skip=st.booleans(), kind=st.sampled_from(list(Suspension.Kind.values)))
    def suspend(self, i, skip, kind):
        svc = self._pick(CustomerService.objects.filter(status="active"), i)
        if svc is not None:
            self._try(service_suspend, service=svc, reason="test", kind=kind, skip_billing=skip, on=self.today)

    @rule(i=st.integers(0, 50))
    def reactivate(self, i):
        svc = self._pick(CustomerService.objects.filter(status="suspended"), i)
        if svc is not None:
            self._try(service_reactivate, service=svc, reason="back", on=self.today)

    @rule(i=st.integers(0, 50), day=st.sampled_from([1, 5, 25, 30]))
    def change_billing_day(self, i, day):
        svc = self._pick(CustomerService.objects.filter(status__in=["active", "pending"]), i)
        if svc is not None:
            self._try(service_change_billing_day, service=svc, new_day=day, reason="asked", on=self.today)

    @rule(i=st.integers(0, 50), price=st.sampled_from(PRICES), immediate=st.booleans())
    def change_price(self, i, price, immediate):
        svc = self._pick(CustomerService.objects.filter(status__in=["active", "pending"]), i)
        if svc is not None:
            self._try(service_change_price, service=svc, new_price=price, reason="plan change", immediate=immediate,
                      on=self.today)

    @rule(i=st.integers(0, 50))
    def cancel(self, i):
        svc = self._pick(CustomerService.objects.exclude(status="cancelled"), i)
        if svc is not None:
            self._try(service_cancel, service=svc, reason="leaving", on=self.today)

    @rule(i=st.integers(0, 50))
    def void_and_reissue(self, i):
        invoice = self._pick(Invoice.objects.filter(status__in=Invoice.OPEN_STATUSES, amount_paid=0), i)
        if invoice is not None:
            self._try(invoice_reissue, invoice=invoice, reason="wrong address")

    # --- the books -----------------------------------------------------------------------------------------
    @invariant()
    def books_agree(self):
        assert ledger_differences() == []
        for customer in Customer.objects.all():
            entries = total(LedgerEntry.objects.filter(customer=customer))
            cached = BillingAccount.objects.get(customer=customer).balance
            invoices = total(customer.invoices.exclude(status="void"), "total")
            voided_but_credited = sum((credited_total(v) for v in customer.invoices.filter(status="void")), ZERO)
            paid = total(_money_in_doubt().filter(customer=customer))
            refunded = total(_money_in_doubt().filter(customer=customer), "amount_refunded")
            credits = total(CreditNote.objects.filter(customer=customer), "total")
            documents = invoices + voided_but_credited - paid + refunded - credits
            assert cached == entries == documents, (customer.account_number, cached, entries, documents)
            if Invoice.objects.filter(customer=customer, status__in=Invoice.OPEN_STATUSES).exists():
                assert unapplied_credit(customer.pk) == ZERO, customer.account_number

    @invariant()
    def invoices_hold_together(self):
        for invoice in Invoice.objects.prefetch_related("lines"):
            assert ZERO <= invoice.amount_paid <= invoice.total, invoice.number
            if invoice.status != "void":
                allocated = total(PaymentAllocation.objects.filter(invoice=invoice).exclude(payment__status=PS.REVERSED))
                from_notes = total(CreditNoteAllocation.objects.filter(invoice=invoice))
                own = total(invoice.credit_notes.all(), "applied_amount")
                assert invoice.amount_paid == allocated + from_notes + own, invoice.number
            b = vat_breakdown(sum((x.amount for x in invoice.lines.all()), ZERO),
                              prices_include_vat=invoice.prices_include_vat)
            assert (invoice.subtotal, invoice.vat_amount, invoice.total) == (b.subtotal, b.vat, b.total), invoice.number

    @invariant()
    def nobody_cut_off_for_nothing(self):
        if not self.dunned:
            return
        owing_nothing = BillingAccount.objects.filter(balance__lte=0).values_list("customer_id", flat=True)
        assert not Suspension.objects.filter(kind=Suspension.Kind.NON_PAYMENT, reactivated_on__isnull=True,
                                             service__customer_id__in=list(owing_nothing)).exists()


@pytest.mark.django_db
def test_the_books_agree_after_any_sequence():
    run_state_machine_as_test(Books, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=not os.environ.get("BOOKS_RANDOM"),
        suppress_health_check=list(HealthCheck)))
