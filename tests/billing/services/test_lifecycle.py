from datetime import date
from decimal import Decimal

import pytest

from billing.models import CreditNote, CustomerService, Invoice, ServiceActionLog, Suspension
from billing.services.lifecycle import (
    IllegalTransitionError,
    LifecycleError,
    service_activate,
    service_cancel,
    service_reactivate,
    service_suspend,
)
from notifications.models import NotificationLog
from tests.billing.factories import service as make_service
from tests.factories import UserFactory

D = Decimal
S = CustomerService.Status
pytestmark = pytest.mark.django_db


def test_activation_issues_the_explained_pro_rata_invoice_with_fees():
    svc = make_service(monthly_price=D("499.00"), installation_fee=D("999.00"), router_fee=D("1499.00"),
                       router_model="TP-Link Archer", billing_day=1)
    staff = UserFactory(email="ops@circletel.co.za")
    invoice = service_activate(service=svc, reason="installed by technician", actor=staff,
                               activation_date=date(2026, 1, 15))
    svc.refresh_from_db()
    assert (svc.status, svc.activation_date, svc.next_billing_date) == (S.ACTIVE, date(2026, 1, 15), date(2026, 2, 1))
    lines = list(invoice.lines.order_by("position"))
    assert [x.amount for x in lines] == [D("273.65"), D("999.00"), D("1499.00")]
    first = lines[0]
    assert first.description == "Fibre 50/50, 15-31 Jan 2026 (17 of 31 days)"
    assert (first.period_start, first.period_end, first.days_charged, first.days_in_period) == (
        date(2026, 1, 15), date(2026, 2, 1), 17, 31)
    assert first.unrounded_amount == D("273.6451612903")
    assert lines[2].description == "Router TP-Link Archer (once-off)"
    assert invoice.invoice_type == Invoice.InvoiceType.PRO_RATA
    assert (invoice.total, invoice.vat_amount) == (D("2771.65"), D("361.52"))
    assert invoice.due_date == date(2026, 1, 22)
    log = ServiceActionLog.objects.get(service=svc)
    assert (log.action, log.reason, log.actor, log.actor_label) == ("activate", "installed by technician", staff,
                                                                     "ops@circletel.co.za")
    assert log.previous_state["status"] == "pending" and log.new_state["status"] == "active"
    assert log.new_state["next_billing_date"] == "2026-02-01"
    assert NotificationLog.objects.filter(event="service_activated").exists()
    assert svc.zoho_sync_status == "pending"


@pytest.mark.parametrize(("status", "action"), [
    (S.PENDING, "suspend"), (S.PENDING, "reactivate"), (S.ACTIVE, "activate"), (S.ACTIVE, "reactivate"),
    (S.SUSPENDED, "activate"), (S.SUSPENDED, "suspend"), (S.CANCELLED, "activate"), (S.CANCELLED, "suspend"),
    (S.CANCELLED, "reactivate"), (S.CANCELLED, "cancel"),
])
def test_illegal_transitions_raise_and_change_nothing(status, action):
    svc = make_service(status=status, next_billing_date=date(2026, 2, 1))
    before = CustomerService.objects.filter(pk=svc.pk).values().get()
    fn = {"activate": service_activate, "suspend": service_suspend, "reactivate": service_reactivate,
          "cancel": service_cancel}[action]
    with pytest.raises(IllegalTransitionError) as exc:
        fn(service=svc, reason="try it")
    assert exc.value.extra["status"] == status
    assert CustomerService.objects.filter(pk=svc.pk).values().get() == before
    assert not ServiceActionLog.objects.exists() and not Suspension.objects.exists()
    assert not Invoice.objects.exists() and not NotificationLog.objects.exists()


def test_reason_is_required():
    svc = make_service()
    with pytest.raises(LifecycleError, match="reason"):
        service_activate(service=svc, reason="   ")
    svc.refresh_from_db()
    assert svc.status == S.PENDING and not Invoice.objects.exists()


def test_suspend_reactivate_cancel_log_and_suspension_rows():
    svc = make_service()
    service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    suspension = service_suspend(service=svc, reason="customer travelling", kind=Suspension.Kind.CUSTOMER_REQUEST,
                                 on=date(2026, 1, 10))
    assert svc.status == S.SUSPENDED and suspension.reactivated_on is None
    service_reactivate(service=svc, reason="back home", on=date(2026, 1, 20))
    suspension.refresh_from_db()
    assert suspension.reactivated_on == date(2026, 1, 20) and svc.status == S.ACTIVE
    service_cancel(service=svc, reason="moved overseas", on=date(2026, 1, 25))
    svc.refresh_from_db()
    assert (svc.status, svc.cancellation_date) == (S.CANCELLED, date(2026, 1, 25))
    assert list(ServiceActionLog.objects.order_by("pk").values_list("action", flat=True)) == [
        "activate", "suspend", "reactivate", "cancel"]
    assert NotificationLog.objects.filter(event__in=["service_suspended", "service_reactivated"]).count() >= 2
    # a non-skip-billing suspension credits nothing; the cancellation credits the 7 unused days (25-31 Jan)
    notes = list(CreditNote.objects.values_list("reason", flat=True))
    assert len(notes) == 1 and notes[0].startswith("Service cancelled on 2026-01-25") and "7/31 days" in notes[0]


def test_skip_billing_suspension_days_are_credited_on_reactivation():
    svc = make_service(monthly_price=D("310.00"))
    invoice = service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))  # full January
    assert invoice.total == D("310.00")
    service_suspend(service=svc, reason="technical fault", kind=Suspension.Kind.TECHNICAL, skip_billing=True,
                    on=date(2026, 1, 11))
    service_reactivate(service=svc, reason="fault fixed", on=date(2026, 1, 21))
    note = invoice.credit_notes.get()
    assert note.total == D("100.00")  # 10/31 days of R 310.00
    assert "10/31 days" in note.reason


@pytest.mark.parametrize("policy, january_owed", [("bill_to_period_end", D("499.00")),
                                                   ("credit_unused", D("434.61"))])  # 4/31 days of R 499 back
def test_cancelling_voids_unpaid_invoices_for_later_periods_and_credits_paid_ones(settings, policy, january_owed):
    from billing.services.invoice_run import invoice_run
    from billing.services.ledger import invoice_apply_payment, ledger_balance

    settings.BILLING = {**settings.BILLING, "CANCELLATION_POLICY": policy}

    unpaid = make_service(monthly_price=D("499.00"))
    paid = make_service(monthly_price=D("499.00"))
    for svc in (unpaid, paid):
        service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    invoice_run(run_date=date(2026, 1, 27))  # February invoiced in advance
    feb_paid = Invoice.objects.get(service=paid, invoice_type="recurring")
    invoice_apply_payment(invoice_id=feb_paid.pk, amount=feb_paid.total)
    service_cancel(service=unpaid, reason="emigrating", on=date(2026, 1, 28))
    service_cancel(service=paid, reason="emigrating", on=date(2026, 1, 28))
    assert Invoice.objects.get(service=unpaid, invoice_type="recurring").status == Invoice.Status.VOID
    assert feb_paid.credit_notes.get().total == D("499.00")
    assert ledger_balance(customer_id=unpaid.customer_id) == january_owed  # January stays owed (or 27 days of it)
    # January owed; February invoiced then credited (the payment here moved only the paid amount)
    assert ledger_balance(customer_id=paid.customer_id) == january_owed


def test_reactivation_after_the_billing_date_bills_the_rest_of_the_period_pro_rata():
    from billing.services.invoice_run import invoice_run

    svc = make_service(monthly_price=D("280.00"))
    service_activate(service=svc, reason="live", activation_date=date(2026, 1, 1))
    service_suspend(service=svc, reason="holiday", skip_billing=True, on=date(2026, 1, 22))
    assert invoice_run(run_date=date(2026, 1, 28)).created == 0  # skipped while suspended
    service_reactivate(service=svc, reason="back", on=date(2026, 2, 15))
    svc.refresh_from_db()
    assert svc.next_billing_date == date(2026, 3, 1)
    january = Invoice.objects.get(service=svc, invoice_type="pro_rata", period_start=date(2026, 1, 1))
    assert january.credit_notes.get().total == D("90.32")  # 10/31 days of R 280.00 (22 Jan - 31 Jan)
    rest = Invoice.objects.get(service=svc, invoice_type="pro_rata", period_start=date(2026, 2, 15))
    line = rest.lines.get()
    assert (line.days_charged, line.days_in_period, line.amount) == (14, 28, D("140.00"))
