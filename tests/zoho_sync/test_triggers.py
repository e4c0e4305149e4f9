"""Every domain trigger marks its entity pending inside the service's transaction and, with
ENABLE_ZOHO_SYNC on, queues exactly that entity's sync task on commit (observed at the outbox's
`enqueue_task`). Rows start `synced` so the move to `pending` is the trigger's doing."""

from datetime import date
from decimal import Decimal

import pytest

from billing.models import Customer, CustomerService, Invoice
from billing.services.customers import customer_sign_up
from billing.services.invoices import LineSpec, credit_note_create, invoice_create, invoice_void
from billing.services.lifecycle import service_activate, service_cancel, service_reactivate, service_suspend
from payments.models import PaymentTransaction
from payments.services.payments import payment_complete, payment_reverse
from portal.services import customer_contact_update
from tests.factories import CustomerFactory, CustomerServiceFactory
from zoho_sync.models import SyncStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(zoho_settings, monkeypatch):
    calls = []
    monkeypatch.setattr("zoho_sync.services.outbox.enqueue_task", lambda entity_type, pk: calls.append((entity_type, pk)))
    return calls


def synced(obj, zoho_id="Z1"):
    type(obj).objects.filter(pk=obj.pk).update(zoho_sync_status=SyncStatus.SYNCED, zoho_id=zoho_id,
                                               zoho_next_attempt_at=None)
    return obj


def status_of(obj):
    return type(obj).objects.values_list("zoho_sync_status", flat=True).get(pk=obj.pk)


def line(amount="999.00", text="Fibre installation"):
    return LineSpec(description=text, amount=Decimal(amount), quantity=Decimal("1"), unit_price=Decimal(amount))


def test_customer_sign_up(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        customer = customer_sign_up(email="lerato@example.co.za", password="a-Long-pass-2026!", first_name="Lerato",
                                    last_name="Dlamini")
    assert status_of(customer) == "pending"
    assert queued == [("customer", customer.pk)]


def test_customer_profile_update(queued, django_capture_on_commit_callbacks):
    customer = synced(CustomerFactory())
    with django_capture_on_commit_callbacks(execute=True):
        customer_contact_update(customer=customer, city="Durban")
    assert status_of(customer) == "pending"
    assert queued == [("customer", customer.pk)]


def test_service_activation_queues_the_service_and_its_pro_rata_invoice(queued, django_capture_on_commit_callbacks):
    service = synced(CustomerServiceFactory(status=CustomerService.Status.PENDING))
    with django_capture_on_commit_callbacks(execute=True):
        invoice = service_activate(service=service, reason="installed", activation_date=date(2026, 11, 10))
    assert status_of(service) == "pending"
    assert invoice.invoice_type == Invoice.InvoiceType.PRO_RATA and status_of(invoice) == "pending"
    assert sorted(queued) == sorted([("service", service.pk), ("invoice", invoice.pk)])


@pytest.mark.parametrize("action", ["suspend", "reactivate", "cancel"])
def test_service_suspend_reactivate_cancel(queued, django_capture_on_commit_callbacks, action):
    service = CustomerServiceFactory(status=CustomerService.Status.ACTIVE, activation_date=date(2026, 10, 1))
    if action == "reactivate":
        service_suspend(service=service, reason="holiday", on=date(2026, 11, 3))
    synced(service)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        if action == "suspend":
            service_suspend(service=service, reason="customer request", on=date(2026, 11, 3))
        elif action == "reactivate":
            service_reactivate(service=service, reason="back home", on=date(2026, 11, 20))
        else:
            service_cancel(service=service, reason="moving overseas", on=date(2026, 11, 20))
    assert status_of(service) == "pending"
    assert queued == [("service", service.pk)]


def test_manual_invoice_creation_and_void(queued, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_create(customer=customer, invoice_type=Invoice.InvoiceType.INSTALLATION, lines=[line()])
    assert status_of(invoice) == "pending"
    assert queued == [("invoice", invoice.pk)]

    synced(invoice)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        invoice_void(invoice=invoice, reason="raised in error")
    assert status_of(invoice) == "pending"
    assert queued == [("invoice", invoice.pk)]


def test_recurring_invoice_is_not_queued_but_left_pending_for_the_sweep(queued, django_capture_on_commit_callbacks):
    service = CustomerServiceFactory(status=CustomerService.Status.ACTIVE, activation_date=date(2026, 10, 1))
    with django_capture_on_commit_callbacks(execute=True):
        invoice = invoice_create(customer=service.customer, service=service, lines=[line("899.00", "Fibre 50/50")],
                                 invoice_type=Invoice.InvoiceType.RECURRING, period_start=date(2026, 11, 1),
                                 period_end=date(2026, 12, 1), issue_date=date(2026, 11, 1))
    assert (status_of(invoice), Invoice.objects.get(pk=invoice.pk).zoho_next_attempt_at) == ("pending", None)
    assert queued == []


def test_credit_note_marks_its_invoice_pending(queued, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    invoice = invoice_create(customer=customer, invoice_type=Invoice.InvoiceType.EQUIPMENT, lines=[line()])
    synced(invoice)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_create(invoice=invoice, amount=Decimal("100.00"), reason="router returned")
    assert status_of(invoice) == "pending"
    assert queued == [("invoice", invoice.pk)]
    assert note.zoho_id == ""


def test_credit_note_on_a_recurring_invoice_also_queues_it(queued, django_capture_on_commit_callbacks):
    service = CustomerServiceFactory(status=CustomerService.Status.ACTIVE, activation_date=date(2026, 10, 1))
    invoice = invoice_create(customer=service.customer, service=service, lines=[line("899.00", "Fibre 50/50")],
                             invoice_type=Invoice.InvoiceType.RECURRING, period_start=date(2026, 11, 1),
                             period_end=date(2026, 12, 1), issue_date=date(2026, 11, 1))
    synced(invoice)
    with django_capture_on_commit_callbacks(execute=True):
        credit_note_create(invoice=invoice, amount=Decimal("89.90"), reason="outage credit")
    assert status_of(invoice) == "pending"
    assert queued == [("invoice", invoice.pk)]


def test_refused_credit_note_changes_nothing_and_queues_nothing(queued, django_capture_on_commit_callbacks):
    from billing.services.invoices import InvoiceError

    invoice = invoice_create(customer=CustomerFactory(), invoice_type=Invoice.InvoiceType.EQUIPMENT, lines=[line()])
    synced(invoice)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(InvoiceError):
        credit_note_create(invoice=invoice, amount=Decimal("1000.00"), reason="too much")
    assert status_of(invoice) == "synced"
    assert queued == []


def test_payment_completion_and_reversal(queued, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    invoice = invoice_create(customer=customer, invoice_type=Invoice.InvoiceType.INSTALLATION, lines=[line()])
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_complete(reference="PAY-TRIG-1", amount=Decimal("999.00"), customer=customer,
                                   method=PaymentTransaction.Method.EFT, provider=PaymentTransaction.Provider.MANUAL,
                                   invoice=invoice)
    assert status_of(payment) == "pending"
    assert ("payment", payment.pk) in queued

    synced(payment)
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        payment_reverse(payment=payment, reason="debit returned unpaid")
    assert status_of(payment) == "pending"
    assert ("payment", payment.pk) in queued


def test_sync_off_marks_pending_and_queues_nothing(queued, settings, django_capture_on_commit_callbacks):
    settings.ENABLE_ZOHO_SYNC = False
    customer = synced(CustomerFactory())
    with django_capture_on_commit_callbacks(execute=True):
        customer_contact_update(customer=customer, city="Polokwane")
    row = Customer.objects.get(pk=customer.pk)
    assert (row.zoho_sync_status, row.zoho_next_attempt_at) == ("pending", None)
    assert queued == []
