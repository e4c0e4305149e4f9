"""Receipt downloads from the payments page: own completed payments only."""

from decimal import Decimal

import pytest
from django.urls import reverse

from payments.models import PaymentTransaction, Receipt
from tests.portal.factories import PaymentFactory, customer_with_login


def _login(client, customer):
    client.force_login(customer.user)


@pytest.mark.django_db
def test_customer_downloads_the_receipt_of_a_completed_payment(client):
    customer = customer_with_login()
    payment = PaymentFactory(customer=customer, amount=Decimal("499.00"), status=PaymentTransaction.Status.COMPLETED)
    _login(client, customer)

    page = client.get(reverse("dashboard:payments"))
    response = client.get(reverse("dashboard:payment-receipt", args=[payment.pk]))

    assert reverse("dashboard:payment-receipt", args=[payment.pk]) in page.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert payment.receipt.number.startswith("RCT-")
    assert f'filename="{payment.receipt.number}.pdf"' in response["Content-Disposition"]


@pytest.mark.django_db
def test_no_receipt_for_a_failed_payment_and_none_for_another_customer(client):
    customer, other = customer_with_login(), customer_with_login()
    failed = PaymentFactory(customer=customer, status=PaymentTransaction.Status.FAILED)
    theirs = PaymentFactory(customer=other, status=PaymentTransaction.Status.COMPLETED)
    _login(client, customer)

    assert client.get(reverse("dashboard:payment-receipt", args=[failed.pk])).status_code == 404
    assert client.get(reverse("dashboard:payment-receipt", args=[theirs.pk])).status_code == 404
    assert Receipt.objects.filter(payment__in=[failed, theirs]).count() == 0


@pytest.mark.django_db
def test_payment_rows_name_the_receipt_number_once_issued_without_extra_queries(
        client, django_assert_max_num_queries):
    from payments.services.receipts import receipt_create

    customer = customer_with_login()
    issued = [PaymentFactory(customer=customer, status=PaymentTransaction.Status.COMPLETED) for _ in range(3)]
    waiting = PaymentFactory(customer=customer, status=PaymentTransaction.Status.COMPLETED)
    numbers = [receipt_create(payment_id=p.pk).number for p in issued]
    _login(client, customer)

    client.get(reverse("dashboard:payments"))  # warm the session and caches
    with django_assert_max_num_queries(8):
        page = client.get(reverse("dashboard:payments")).content.decode()

    assert all(f">{n}</a>" in page for n in numbers)
    waiting_link = reverse("dashboard:payment-receipt", args=[waiting.pk])
    assert f'href="{waiting_link}" title="Download the receipt (PDF)">PDF</a>' in page


@pytest.mark.django_db
def test_payment_rows_say_how_much_was_refunded_and_why_a_payment_failed(client):
    customer = customer_with_login()
    refunded = PaymentFactory(customer=customer, amount=Decimal("499.00"), amount_refunded=Decimal("150.00"),
                              status=PaymentTransaction.Status.PARTIALLY_REFUNDED)
    failed = PaymentFactory(customer=customer, status=PaymentTransaction.Status.FAILED,
                            failure_reason="Your card has expired. Please update your card details.")
    whole = PaymentFactory(customer=customer, status=PaymentTransaction.Status.COMPLETED)
    _login(client, customer)

    page = client.get(reverse("dashboard:payments")).content.decode()

    assert f'data-testid="refunded-{refunded.pk}">R 150.00 refunded' in page
    assert f'data-testid="failure-{failed.pk}">Your card has expired. Please update your card details.' in page
    assert f"refunded-{whole.pk}" not in page and f"failure-{whole.pk}" not in page
