"""Issue 18: a suspended service tells the customer why in customer words (never staff's internal
reason), and "invoice issued" / pre-due reminders go by SMS as well as email as the preferences say."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import BillingAccount, Suspension
from billing.services.dunning import invoices_send_pre_due
from billing.services.lifecycle import service_activate, service_suspend
from notifications.models import NotificationLog
from tests.billing.factories import service as make_service
from tests.portal.factories import customer_with_login

pytestmark = pytest.mark.django_db
INTERNAL = "Flagged by fraud desk, ticket 4411"


def _active(customer=None):
    svc = make_service(monthly_price=Decimal("499.00"), **({"customer": customer} if customer else {}))
    service_activate(service=svc, reason="installed", activation_date=date(2026, 1, 15))
    svc.refresh_from_db()
    return svc


def test_the_customer_sees_the_message_for_them_never_the_internal_reason(client):
    customer = customer_with_login()
    svc = _active(customer)
    service_suspend(service=svc, reason=INTERNAL, kind=Suspension.Kind.FRAUD)
    client.force_login(customer.user)

    for url in (reverse("dashboard:services"), reverse("dashboard:service", args=[svc.pk])):
        page = client.get(url).content.decode()
        assert "Suspended. Please contact us to restore it." in page  # the standard words for the kind
        assert INTERNAL not in page and "fraud" not in page.lower()
    mail = NotificationLog.objects.get(event="service_suspended", channel="email")
    assert "Suspended. Please contact us to restore it." in mail.body and INTERNAL not in mail.body + mail.html_body


def test_staffs_own_customer_message_is_used_when_given(client):
    customer = customer_with_login()
    svc = _active(customer)
    service_suspend(service=svc, reason="tower 7 maintenance, ops ticket 9", kind=Suspension.Kind.TECHNICAL,
                    customer_message="Suspended while we replace the tower near you; back by Friday.")
    client.force_login(customer.user)
    page = client.get(reverse("dashboard:services")).content.decode()
    assert "Suspended while we replace the tower near you; back by Friday." in page
    assert "ops ticket 9" not in page


def test_invoice_issued_goes_by_sms_when_the_preferences_say_so_and_not_otherwise():
    on = _active()
    off = make_service(monthly_price=Decimal("499.00"))
    BillingAccount.objects.filter(customer=off.customer).update(notify_sms=False)
    service_activate(service=off, reason="installed", activation_date=date(2026, 1, 15))

    sms_on = NotificationLog.objects.filter(event="invoice_issued", customer=on.customer, channel="sms")
    assert sms_on.count() == 1 and sms_on.get().recipient == on.customer.phone
    assert "is due" in sms_on.get().body
    assert not NotificationLog.objects.filter(event="invoice_issued", customer=off.customer, channel="sms").exists()
    assert NotificationLog.objects.filter(event="invoice_issued", customer=off.customer, channel="email").count() == 1


def test_pre_due_reminders_go_by_sms_too_once():
    svc = _active()
    invoice = svc.customer.invoices.get()
    assert invoices_send_pre_due(today=invoice.due_date - timedelta(days=1)) == 1
    channels = sorted(NotificationLog.objects.filter(event="invoice_pre_due").values_list("channel", flat=True))
    assert channels == ["email", "sms"]
    assert invoices_send_pre_due(today=invoice.due_date - timedelta(days=1)) == 0
