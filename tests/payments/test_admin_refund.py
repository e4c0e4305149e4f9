"""The payments admin refund action: asks for amount and reason, then refunds through the service."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from payments.models import PaymentTransaction, Refund
from tests.factories import UserFactory
from tests.payments.test_refunds import _paid

URL = "admin:payments_paymenttransaction_changelist"


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.mark.django_db
def test_refund_action_asks_first_then_refunds_the_amount_given(staff_client):
    payment, _ = _paid(provider="netcash", txn="TRACE-ADMIN-1")
    base = {"action": "refund", ACTION_CHECKBOX_NAME: [payment.pk]}

    ask = staff_client.post(reverse(URL), base)
    assert ask.status_code == 200 and b"Refund payments" in ask.content
    assert Refund.objects.count() == 0

    staff_client.post(reverse(URL), {**base, "apply": "1", "reason": "Customer moved", "amount": "120.00"})

    refund = Refund.objects.get()
    payment.refresh_from_db()
    assert (refund.amount, refund.reason, refund.status) == (Decimal("120.00"), "Customer moved", "manual")
    assert payment.status == PaymentTransaction.Status.PARTIALLY_REFUNDED


@pytest.mark.django_db
def test_refund_action_reports_a_rule_violation_and_refunds_nothing(staff_client):
    payment, _ = _paid(provider="netcash", txn="TRACE-ADMIN-2")

    response = staff_client.post(reverse(URL), {"action": "refund", ACTION_CHECKBOX_NAME: [payment.pk],
                                                "apply": "1", "reason": "Too much", "amount": "900.00"},
                                 follow=True)

    assert Refund.objects.count() == 0
    assert any("At most R 500.00" in str(m) for m in response.context["messages"])
