"""The ZOHO console reads money as "R 1,234.56", names refunds to enter by payment reference and
amount, and finds them by the customer's name or email (zoho_sync/admin.py, models.py, dashboard.html)."""

from decimal import Decimal

import pytest
from django.urls import reverse

from tests.factories import CustomerFactory, PaymentFactory, UserFactory
from zoho_sync.models import RefundManualEntry, SyncLog

pytestmark = pytest.mark.django_db
ENTRIES = "admin:zoho_sync_refundmanualentry_changelist"


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def entry():
    customer = CustomerFactory(first_name="Sipho", last_name="Mabaso", email="sipho.mabaso@example.co.za",
                               company_name="Mabaso Logistics")
    payment = PaymentFactory(customer=customer, reference="DEMO-PAY-1", amount=Decimal("1000.00"),
                             amount_refunded=Decimal("150.00"), status="partially_refunded")
    return RefundManualEntry.objects.create(payment=payment, refunded_total=Decimal("150.00"),
                                            previous_total=Decimal("0.00"), zoho_payment_id="P77")


def test_an_entry_names_the_payment_reference_and_amounts(entry):
    assert str(entry) == "R 150.00 refunded in total on payment DEMO-PAY-1 (R 1,000.00)"


def test_the_mark_entered_confirmation_names_the_payment_not_its_id(staff, entry):
    page = staff.post(reverse(ENTRIES), {"action": "mark_entered", "_selected_action": [entry.pk]})

    body = page.content.decode()
    assert "R 150.00 refunded in total on payment DEMO-PAY-1 (R 1,000.00)" in body
    assert f"payment #{entry.payment_id}" not in body


def test_the_list_shows_totals_in_rands(staff, entry):
    body = staff.get(reverse(ENTRIES)).content.decode()

    assert "R 150.00" in body and "R 0.00" in body


@pytest.mark.parametrize("q", ["Sipho", "Mabaso", "sipho.mabaso@example.co.za", "Logistics"])
def test_entries_are_found_by_the_customers_name_email_or_company(staff, entry, q):
    other = PaymentFactory(reference="DEMO-PAY-9", amount=Decimal("200.00"))
    RefundManualEntry.objects.create(payment=other, refunded_total=Decimal("20.00"), previous_total=Decimal("0.00"),
                                     zoho_payment_id="P78")

    response = staff.get(reverse(ENTRIES), {"q": q})

    assert [row.pk for row in response.context["cl"].result_list] == [entry.pk]


def test_the_dashboard_shows_a_payments_amount_in_rands(staff, entry):
    SyncLog.objects.create(entity_type="payment", entity_id=entry.payment_id, action="create", status="failed",
                           error="ZohoServerError")

    body = staff.get(reverse("admin:zoho_sync_syncdashboard_changelist")).content.decode()

    assert "DEMO-PAY-1 R 1,000.00" in body  # in the recent failures and in the log
    assert "R 1000.00" not in body


def test_the_dashboard_offers_retry_only_where_something_failed(staff, entry):
    from billing.models import Customer

    ok = SyncLog.objects.create(entity_type="customer", entity_id=entry.payment.customer_id, action="create",
                                status="success", zoho_id="C1")
    bad = SyncLog.objects.create(entity_type="payment", entity_id=entry.payment_id, action="create", status="failed",
                                 error="ZohoServerError")
    Customer.objects.filter(pk=entry.payment.customer_id).update(zoho_sync_status="synced", zoho_id="C1")
    type(entry.payment).objects.filter(pk=entry.payment_id).update(zoho_sync_status="failed")

    body = staff.get(reverse("admin:zoho_sync_syncdashboard_changelist")).content.decode()

    # one Retry in the recent failures, one on the failed log row; none on the successful row
    assert body.count('<button type="submit" class="button">Retry</button>') == 2
    assert f'value="{bad.entity_id}"><button type="submit" class="button">Retry</button>' in body
    assert f'name="entity_type" value="customer"><input type="hidden" name="entity_id" value="{ok.entity_id}"' \
        not in body
    assert "Retry 1 failed/retrying payments now" in body and "failed/retrying customers" not in body
