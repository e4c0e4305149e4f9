"""Chaos: the real sync worker against a local fake ZOHO (bench/fake_zoho.py on 127.0.0.1) that
answers 30% of API calls with 429 (Retry-After), 500/503, hangs past our timeout or dropped
connections, and lets 15% of creates time out *after* it saved the record (issue 17).

A simulated month: customers, subscriptions, installation invoices and their payments; monthly
invoices issued 7 days ahead that ZOHO generates late; payments on them (they wait); a payment's
unallocated credit allocated later to a new invoice; a bounced debit order (reversal); partial refunds
of 20 payments, sent through ZOHO's refund endpoint (`POST /payments/{id}/refunds`, specs/refunds.yml),
then a second partial refund of each, except one whose refunded total goes *down* (a refund that failed
later: the manual list, staff fix it in ZOHO). The sweep task runs until it settles (time between
sweeps is simulated: backoff times are brought forward). Then: every entity synced, 0 duplicates in
ZOHO's store (refunds included: each payment got exactly its two refunds, even where ZOHO saved one
whose answer timed out), no undocumented call, ZOHO's applied amounts equal our allocations, and
`zoho_reconcile` reports no drift."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from bench.fake_zoho import FakeZoho, Faults
from billing.models import Customer, CustomerService, Invoice
from payments.models import PaymentAllocation, PaymentTransaction
from tests.factories import CustomerFactory, CustomerServiceFactory
from tests.factories import InvoiceFactory as MonthlyInvoiceFactory
from tests.zoho_sync.factories import InvoiceFactory, InvoiceLineFactory, PaymentFactory
from zoho_sync import breaker
from zoho_sync.clients import zoho
from zoho_sync.models import RefundManualEntry, RefundPush, SyncStatus, SyncWait
from zoho_sync.services import reconcile
from zoho_sync.services.outbox import enqueue_sync
from zoho_sync.services.sync import refund_manual_entry_mark_entered
from zoho_sync.tasks import sweep

pytestmark = pytest.mark.django_db

N_CUSTOMERS = 100
N_REFUNDS = 20
MODELS = (Customer, CustomerService, Invoice, PaymentTransaction)


@pytest.fixture
def fake_zoho(zoho_settings, monkeypatch):
    fake = FakeZoho(faults=Faults(rate=0.30, seed=2026, hang_seconds=0.3, saved_then_timeout=0.15))
    base = fake.start()
    monkeypatch.setitem(zoho.REGIONS, "fake", (base, base))
    monkeypatch.setattr(zoho, "TIMEOUT", (1.0, 0.15))  # not money: seconds; the fake hangs 0.3 s
    zoho_settings.ZOHO = {**zoho_settings.ZOHO, "REGION": "fake", "ORGANIZATION_ID": "1",
                          "RATE_LIMIT_PER_MINUTE": 1_000_000, "DAILY_CALL_LIMIT": 0}
    zoho_settings.ZOHO_SYNC = {**zoho_settings.ZOHO_SYNC, "MAX_ATTEMPTS": 40, "WAIT_CHECK_MINUTES": 0}
    # The worker never really sleeps (Retry-After 0, backoff between reads): time is simulated.
    monkeypatch.setattr("zoho_sync.services.sync.get_client",
                        lambda **kw: zoho.ZohoClient(sleep=lambda s: None, **kw))
    monkeypatch.setattr("zoho_sync.services.outbox.enqueue_task", lambda *a: None)  # the sweep picks rows up
    cache.clear()
    yield fake
    fake.stop()


def month_of_data():
    """Per customer: an installation invoice paid by a payment; every 2nd has a subscription with a
    November invoice (issued 25 Oct); every 4th paid that too; every 5th overpaid (credit)."""
    rows = {"payments": [], "credit": [], "reversal": None, "refunds": []}
    for i in range(N_CUSTOMERS):
        customer = CustomerFactory(account_number=f"CT-2026-{i + 1:05d}", email=f"chaos{i}@example.co.za")
        invoice = InvoiceFactory(customer=customer, number=f"INV-2026-{10000 + i}", status=Invoice.Status.PAID,
                                 amount_paid=Decimal("999.00"))
        InvoiceLineFactory(invoice=invoice)
        amount = Decimal("1200.00") if i % 5 == 0 else Decimal("999.00")
        payment = PaymentFactory(customer=customer, invoice=invoice, reference=f"PAY-{20000 + i}", amount=amount)
        PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("999.00"))
        rows["payments"].append(payment)
        if i % 5 == 0:
            rows["credit"].append(payment)
        if i % 2 == 0:
            service = CustomerServiceFactory(customer=customer, status=CustomerService.Status.ACTIVE,
                                             activation_date=date(2026, 10, 1), billing_day=1,
                                             monthly_price=Decimal("899.00"))
            monthly = MonthlyInvoiceFactory(customer=customer, service=service, number=f"INV-2026-{30000 + i}",
                                            period_start=date(2026, 11, 1), period_end=date(2026, 12, 1),
                                            issue_date=date(2026, 10, 25))
            if i % 4 == 0:
                p2 = PaymentFactory(customer=customer, invoice=monthly, reference=f"PAY-{40000 + i}")
                PaymentAllocation.objects.create(payment=p2, invoice=monthly, amount=Decimal("899.00"))
                Invoice.objects.filter(pk=monthly.pk).update(amount_paid=Decimal("899.00"), status=Invoice.Status.PAID)
                rows["payments"].append(p2)
    rows["reversal"] = rows["payments"][1]
    rows["refunds"] = [p for p in rows["payments"] if p.amount == Decimal("999.00")][2:2 + N_REFUNDS]
    return rows


def set_refunded(payments, total: Decimal) -> None:
    """What the refund engine leaves behind: the refunded total, the status, the row queued."""
    for payment in payments:
        PaymentTransaction.objects.filter(pk=payment.pk).update(amount_refunded=total, status="partially_refunded")
        enqueue_sync(entity=PaymentTransaction.objects.get(pk=payment.pk))


def settle(fake, *, rounds=80) -> int:
    """Run the sweep until nothing is due; between sweeps, time passes (backoffs come due)."""
    for n in range(rounds):
        now = timezone.now()
        for model in MODELS:  # simulated time: every backoff and breaker pause has passed
            model.objects.filter(zoho_sync_status__in=[SyncStatus.PENDING, SyncStatus.RETRYING],
                                 zoho_next_attempt_at__gt=now).update(zoho_next_attempt_at=now)
        breaker.reset()
        sweep(triggered_by="chaos", max_rows=100_000, max_seconds=600)
        waiting = set(SyncWait.objects.values_list("entity_type", "entity_id"))
        open_rows = {(entity_type, pk) for entity_type, model in zip(("customer", "service", "invoice", "payment"),
                                                                      MODELS, strict=True)
                     for pk in model.objects.exclude(zoho_sync_status=SyncStatus.SYNCED).values_list("pk", flat=True)}
        if open_rows <= waiting:
            return n + 1
    raise AssertionError("the sweep did not settle")


def test_chaos_month_leaves_zoho_equal_to_our_books(fake_zoho):
    fake = fake_zoho
    rows = month_of_data()

    # 1. First waves: everything but the monthly invoices (and payments applied to them) syncs;
    #    those wait, ZOHO has not generated them yet.
    settle(fake)
    waiting = SyncWait.objects.count()
    assert waiting == N_CUSTOMERS // 2 + N_CUSTOMERS // 4
    assert not Invoice.objects.filter(zoho_sync_status__in=["failed", "retrying"]).exists()

    # 2. ZOHO generates its recurring invoices, days late; the waiting rows link and pay.
    for sub in list(fake.subscriptions.values()):
        fake.generate_recurring(sub["subscription_id"], "2026-11-01")
    # 3. Later in the month: credit allocated to a new invoice, a debit order bounces, a refund.
    for payment in rows["credit"]:
        extra = InvoiceFactory(customer=payment.customer, number=f"INV-2026-5{payment.pk:04d}", total=Decimal("201.00"),
                               subtotal=Decimal("174.78"), vat_amount=Decimal("26.22"), status=Invoice.Status.PAID,
                               amount_paid=Decimal("201.00"), invoice_type=Invoice.InvoiceType.ADJUSTMENT)
        InvoiceLineFactory(invoice=extra, description="Adjustment", unit_price=Decimal("201.00"),
                           amount=Decimal("201.00"))
        PaymentAllocation.objects.create(payment=payment, invoice=extra, amount=Decimal("201.00"))
        enqueue_sync(entity=payment)
    reversed_payment, refunded = rows["reversal"], rows["refunds"]
    PaymentTransaction.objects.filter(pk=reversed_payment.pk).update(status="reversed", reversed_at=timezone.now())
    Invoice.objects.filter(pk=reversed_payment.invoice_id).update(amount_paid=Decimal("0.00"), status="unpaid")
    enqueue_sync(entity=PaymentTransaction.objects.get(pk=reversed_payment.pk))
    set_refunded(refunded, Decimal("100.00"))
    settle(fake)
    # 4. A second partial refund of each; one refund failed later instead (its total goes down).
    decreased = refunded[0]
    set_refunded(refunded[1:], Decimal("250.00"))
    set_refunded([decreased], Decimal("40.00"))
    settle(fake)

    # Every entity synced; nothing waits or failed.
    for model in MODELS:
        assert set(model.objects.values_list("zoho_sync_status", flat=True)) == {"synced"}, model.__name__
    assert SyncWait.objects.count() == 0
    # Faults really happened, including creates saved by ZOHO whose answer we never saw.
    assert fake.faults.counts["saved_then_timeout"] > 0 and fake.faults.counts["hang"] > 0
    assert fake.faults.counts["429"] > 0 and fake.faults.counts["drop"] > 0
    # Nothing duplicated or lost; only documented calls.
    assert fake.duplicates() == 0, [k for k, n in fake.creates.items() if n > 1]
    assert fake.undocumented == []
    assert len([i for i in fake.invoices.values() if i.get("subscription_id")]) == N_CUSTOMERS // 2
    # The bounced payment is gone from ZOHO; the others are applied exactly as we allocated.
    reversed_payment.refresh_from_db()
    assert reversed_payment.zoho_id not in fake.payments
    for payment in PaymentTransaction.objects.exclude(pk=reversed_payment.pk):
        ours = {}
        for a in PaymentAllocation.objects.filter(payment=payment).select_related("invoice"):
            ours[a.invoice.zoho_id] = ours.get(a.invoice.zoho_id, Decimal("0")) + a.amount
        theirs = {i["invoice_id"]: Decimal(str(i["amount_applied"])).quantize(Decimal("0.01"))
                  for i in fake.payments[payment.zoho_id]["invoices"]}
        assert theirs == ours, payment.reference
    # Refunds: each payment got exactly the refunds of its differences (100.00, then 150.00), even
    # where ZOHO saved a refund whose answer timed out (settled by reading ZOHO's total: "found").
    assert fake.faults.counts["saved_then_timeout:refund"] > 0
    assert RefundPush.objects.filter(state="found").exists()
    for payment in PaymentTransaction.objects.filter(pk__in=[p.pk for p in refunded[1:]]):
        assert [Decimal(str(r["amount"])) for r in fake.refunds_of(payment.zoho_id)] == [
            Decimal("100"), Decimal("150")], payment.reference
        assert Decimal(str(fake.payments[payment.zoho_id]["amount_refunded"])) == Decimal("250")
    # The total that went down: on the manual list (ops told once); staff fix it in ZOHO and mark it.
    decreased.refresh_from_db()
    entry = RefundManualEntry.objects.get()
    assert (entry.payment_id, entry.refunded_total, entry.zoho_total, entry.reason) == (
        decreased.pk, Decimal("40.00"), Decimal("100.00"), "decreased")
    assert [Decimal(str(r["amount"])) for r in fake.refunds_of(decreased.zoho_id)] == [Decimal("100")]
    fake.reduce_refund_by_hand(decreased.zoho_id, Decimal("60.00"))
    refund_manual_entry_mark_entered(entry_id=entry.pk, actor="ops", reason="refund reduced in ZOHO")

    # ZOHO's totals per customer equal ours.
    fake.faults.rate, fake.faults.saved_then_timeout = 0.0, 0.0
    report = reconcile.reconcile_customers(client=zoho.ZohoClient(sleep=lambda s: None))
    assert len(report) == N_CUSTOMERS
    assert [r for r in report if r["drift"]] == []
