"""The payments admin refund action says, per payment, what happened to the refund (payments/admin.py)."""


import pytest
import responses
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from payments.models import Refund
from tests.factories import UserFactory
from tests.payments.test_refunds import STRIPE_REFUNDS, _paid

URL = "admin:payments_paymenttransaction_changelist"
pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _refund(client, payment, amount="100.00") -> list[tuple[int, str]]:
    response = client.post(reverse(URL), {"action": "refund", ACTION_CHECKBOX_NAME: [payment.pk], "apply": "1",
                                          "reason": "Customer asked", "amount": amount}, follow=True)
    return [(m.level, str(m)) for m in response.context["messages"]]


def _stripe_answers(status: int, body: dict):
    responses.add(responses.POST, STRIPE_REFUNDS, status=status, json=body)


def _stripe_refund(rid: str, status: str) -> dict:
    return {"id": rid, "object": "refund", "amount": 10000, "charge": "ch_1", "payment_intent": "pi_3Refundable01",
            "currency": "zar", "status": status, "metadata": {}}


def test_the_confirmation_page_says_invoices_may_reopen_and_the_customer_is_emailed(staff_client):
    payment, _ = _paid(provider="netcash", txn="TRACE-OUT-0")

    page = staff_client.post(reverse(URL), {"action": "refund", ACTION_CHECKBOX_NAME: [payment.pk]})

    body = page.content.decode()
    assert "off the invoices it paid" in body and "reopen as unpaid or overdue" in body
    assert "the customer is emailed" in body


def test_a_manual_refund_says_finance_pays_it_back_by_hand(staff_client):
    payment, _ = _paid(provider="netcash", txn="TRACE-OUT-1")

    shown = _refund(staff_client, payment, "120.00")

    assert shown == [(messages.SUCCESS, f"{payment}: R 120.00 recorded; finance pays it back by hand.")]


@responses.activate
def test_a_stripe_refund_names_the_amount_and_stripes_refund_id(staff_client, stripe_on):
    payment, _ = _paid()
    _stripe_answers(200, _stripe_refund("re_ok1", "succeeded"))

    shown = _refund(staff_client, payment)

    assert shown == [(messages.SUCCESS, f"{payment}: R 100.00 refunded through Stripe (re_ok1).")]


@responses.activate
def test_a_refund_stripe_has_not_finished_says_it_is_booked_when_stripe_confirms(staff_client, stripe_on):
    payment, _ = _paid()
    _stripe_answers(200, _stripe_refund("re_wait1", "pending"))

    [(level, text)] = _refund(staff_client, payment)

    assert level == messages.SUCCESS
    assert text.startswith(f"{payment}: R 100.00 sent to Stripe;") and "when Stripe confirms it" in text


@responses.activate
def test_a_refund_with_no_answer_says_it_is_retried_automatically(staff_client, stripe_on, settings):
    settings.PROVIDER_RETRY = {"ATTEMPTS": 2}
    payment, _ = _paid()
    _stripe_answers(503, {"error": {"type": "api_error"}})

    [(level, text)] = _refund(staff_client, payment)

    assert Refund.objects.get().status == Refund.Status.PENDING
    assert level == messages.SUCCESS
    assert "R 100.00 sent to Stripe but the provider did not answer; retried automatically" in text


@responses.activate
def test_a_refused_refund_is_an_error_row_with_the_reason(staff_client, stripe_on):
    payment, _ = _paid()
    _stripe_answers(400, {"error": {"type": "invalid_request_error", "code": "charge_already_refunded",
                                    "message": "Charge already refunded"}})

    [(level, text)] = _refund(staff_client, payment)

    assert level == messages.ERROR
    assert text.startswith(f"{payment}: R 100.00 not refunded through Stripe:") and "charge_already_refunded" in text
    assert Refund.objects.get().status == Refund.Status.FAILED
