from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from billing.models import CustomerService, Invoice, ServiceActionLog, Suspension
from billing.services.dunning import (
    customer_payment_received,
    dunning_run,
    invoices_mark_overdue,
    invoices_send_pre_due,
    invoices_send_reminders,
    services_suspend_for_non_payment,
)
from billing.services.invoices import LineSpec, invoice_create
from billing.services.ledger import invoice_apply_payment
from notifications.models import NotificationLog
from tests.billing.factories import service as make_service

D = Decimal
SAST = ZoneInfo("Africa/Johannesburg")
pytestmark = pytest.mark.django_db


def active_with_invoice(due=date(2026, 2, 1), total=None):
    total = total or D("499.00")
    svc = make_service(status=CustomerService.Status.ACTIVE, activation_date=date(2026, 1, 1),
                       next_billing_date=date(2026, 3, 1))
    invoice = invoice_create(customer=svc.customer, service=svc, invoice_type="recurring",
                             lines=[LineSpec("Fibre", total)], issue_date=due - timedelta(days=7),
                             period_start=due, period_end=due + timedelta(days=28))
    assert invoice.due_date == due
    return svc, invoice


def events(key_prefix):
    return list(NotificationLog.objects.filter(idempotency_key__startswith=key_prefix)
                .values_list("channel", flat=True).order_by("channel"))


def test_pre_due_reminder_is_sent_once_five_days_before():
    _, invoice = active_with_invoice()
    assert invoices_send_pre_due(today=date(2026, 1, 26)) == 0  # six days before
    assert invoices_send_pre_due(today=date(2026, 1, 27)) == 1
    assert invoices_send_pre_due(today=date(2026, 1, 28)) == 0
    assert events(f"invoice_pre_due:{invoice.pk}") == ["email", "sms"]  # SMS too, as the preferences allow (issue 18)


def test_overdue_marking_notifies_once():
    _, invoice = active_with_invoice()
    assert invoices_mark_overdue(today=date(2026, 2, 1)) == 0  # due today: not yet
    assert invoices_mark_overdue(today=date(2026, 2, 2)) == 1
    assert invoices_mark_overdue(today=date(2026, 2, 3)) == 0
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.OVERDUE and invoice.overdue_notified_at is not None
    assert events(f"invoice_overdue:{invoice.pk}") == ["email", "sms"]


def test_reminders_follow_the_windows_max_three_at_least_24h_apart():
    _, invoice = active_with_invoice()
    invoices_mark_overdue(today=date(2026, 2, 2))
    Invoice.objects.filter(pk=invoice.pk).update(overdue_notified_at=datetime(2026, 2, 2, 7, tzinfo=SAST))
    sent = []
    for day in range(2, 15):
        today = date(2026, 2, day)
        now = datetime(2026, 2, day, 7, 5, tzinfo=SAST)
        if invoices_send_reminders(today=today, now=now):
            sent.append(day - 1)  # days overdue
        # a second pass the same day sends nothing (24 h rule)
        assert invoices_send_reminders(today=today, now=now + timedelta(hours=1)) == 0
    assert sent == [2, 4, 8]
    invoice.refresh_from_db()
    assert invoice.reminders_sent == 3
    assert NotificationLog.objects.filter(event="invoice_reminder").count() == 6  # email + sms, three times


def test_suspends_for_non_payment_after_14_days_with_system_actor_and_reason():
    svc, invoice = active_with_invoice()
    invoices_mark_overdue(today=date(2026, 2, 2))
    assert services_suspend_for_non_payment(today=date(2026, 2, 14)) == 0  # 13 days overdue
    assert services_suspend_for_non_payment(today=date(2026, 2, 15)) == 1
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.SUSPENDED
    suspension = Suspension.objects.get(service=svc)
    assert suspension.kind == "non_payment" and not suspension.skip_billing
    log = ServiceActionLog.objects.get(service=svc, action="suspend")
    assert log.actor is None and log.actor_label == "system"
    assert log.reason == f"Non-payment: invoice {invoice.number} is 14 days overdue (R 499.00 due)."
    assert services_suspend_for_non_payment(today=date(2026, 2, 16)) == 0


def test_never_suspends_during_a_period_already_paid_for():
    svc, old = active_with_invoice(due=date(2026, 1, 1))  # an old invoice still overdue
    current = invoice_create(customer=svc.customer, service=svc, invoice_type="recurring",
                             lines=[LineSpec("Fibre", D("499.00"))], issue_date=date(2026, 1, 25),
                             period_start=date(2026, 2, 1), period_end=date(2026, 3, 1))
    invoice_apply_payment(invoice_id=current.pk, amount=current.total)
    invoices_mark_overdue(today=date(2026, 2, 20))
    assert services_suspend_for_non_payment(today=date(2026, 2, 20)) == 0
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.ACTIVE and not Suspension.objects.exists()


def test_payment_in_full_reactivates_with_a_logged_reason_partial_does_not():
    svc, invoice = active_with_invoice()
    dunning_run(today=date(2026, 2, 2))
    services_suspend_for_non_payment(today=date(2026, 2, 16))
    invoice_apply_payment(invoice_id=invoice.pk, amount=D("100.00"))
    assert customer_payment_received(customer=svc.customer, today=date(2026, 2, 17)) == []
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.SUSPENDED
    invoice_apply_payment(invoice_id=invoice.pk, amount=D("399.00"))
    assert customer_payment_received(customer=svc.customer, today=date(2026, 2, 17)) == [svc]
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.ACTIVE
    assert Suspension.objects.get(service=svc).reactivated_on == date(2026, 2, 17)
    log = ServiceActionLog.objects.get(service=svc, action="reactivate")
    assert log.reason.startswith("Payment received") and log.actor_label == "system"


def test_customer_requested_suspension_is_not_lifted_by_payment():
    from billing.services.lifecycle import service_suspend

    svc, invoice = active_with_invoice()
    service_suspend(service=svc, reason="on holiday", kind="customer_request", on=date(2026, 1, 20))
    invoice_apply_payment(invoice_id=invoice.pk, amount=invoice.total)
    assert customer_payment_received(customer=svc.customer, today=date(2026, 2, 2)) == []
    svc.refresh_from_db()
    assert svc.status == CustomerService.Status.SUSPENDED


def test_daily_run_records_a_job_run():
    from circletel.models import JobRun

    active_with_invoice()
    job_id = dunning_run(today=date(2026, 2, 2))
    job = JobRun.objects.get(pk=job_id)
    assert job.job_name == "dunning" and job.details["marked_overdue"] == 1 and job.status == "succeeded"
