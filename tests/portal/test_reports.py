"""The admin index reports (portal/reports.py): what "Collected" and the payment-method
mix count, and that each figure's link lists exactly the rows behind it."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from portal.reports import receivables_report
from tests.factories import CustomerFactory, InvoiceFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 20)


def _at(day: date):
    return timezone.make_aware(datetime(day.year, day.month, day.day, 12, 0))


@pytest.fixture
def payments():
    """This month: a partly refunded EFT and card payment, a fully refunded one, a reversed debit
    order, a plain completed one and a pending one; earlier: one inside the 90 days, one outside."""
    customer = CustomerFactory()
    made = {}
    for key, method, amount, status, refunded, day in (
        ("eft_part", "eft", "1000.00", "partially_refunded", "150.00", date(2026, 11, 5)),
        ("card_part", "card", "1604.90", "partially_refunded", "100.00", date(2026, 11, 6)),
        ("card_full", "card", "200.00", "refunded", "200.00", date(2026, 11, 7)),
        ("reversed", "debit_order", "500.00", "reversed", "0.00", date(2026, 11, 3)),
        ("card_done", "card", "300.00", "completed", "0.00", date(2026, 11, 8)),
        ("card_oct", "card", "999.00", "completed", "0.00", date(2026, 10, 1)),
        ("card_old", "card", "50.00", "completed", "0.00", date(2026, 7, 1)),
    ):
        made[key] = PaymentFactory(customer=customer, method=method, amount=Decimal(amount), status=status,
                                   amount_refunded=Decimal(refunded), completed_at=_at(day))
    made["pending"] = PaymentFactory(customer=customer, method="card", amount=Decimal("70.00"), status="pending")
    return made


def test_collected_is_money_received_net_of_refunds_and_leaves_out_reversed_payments(payments):
    collections = receivables_report(today=TODAY)["collections"]

    # 850.00 + 1504.90 + 0.00 (fully refunded) + 300.00; the reversed debit order and the pending one add nothing.
    assert collections["collected"] == Decimal("2654.90")
    assert "refunded" in collections["collected_help"] and "reversed" in collections["collected_help"]


def test_the_payment_method_mix_counts_the_same_payments_net_of_refunds(payments):
    mix = receivables_report(today=TODAY)["mix"]

    assert [(b.label, b.amount, b.count) for b in mix] == [
        ("Card", Decimal("2803.90"), 4),  # 1504.90 + 0.00 + 300.00 + 999.00 (October); not July's
        ("EFT", Decimal("850.00"), 1),
    ]


def _listed(client, url) -> set:
    response = client.get(url)
    assert response.status_code == 200, url  # a lookup the admin refuses redirects to "?e=1"
    return {row.pk for row in response.context["cl"].queryset}


def test_each_link_lists_the_rows_its_figure_counts(client, payments):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    customer = payments["card_done"].customer
    issued = [InvoiceFactory(customer=customer, issue_date=date(2026, 11, 2)),
              InvoiceFactory(customer=customer, issue_date=date(2026, 11, 10), status="paid")]
    InvoiceFactory(customer=customer, issue_date=date(2026, 11, 4), status="void")
    InvoiceFactory(customer=customer, issue_date=date(2026, 10, 30))

    report = receivables_report(today=TODAY)
    collections = report["collections"]
    card = next(b for b in report["mix"] if b.label == "Card")

    assert _listed(client, collections["collected_url"]) == {
        payments[k].pk for k in ("eft_part", "card_part", "card_full", "card_done")}
    assert _listed(client, card.url) == {payments[k].pk for k in ("card_part", "card_full", "card_done", "card_oct")}
    assert _listed(client, collections["invoiced_url"]) == {i.pk for i in issued}
    assert collections["invoiced"] == sum((i.total for i in issued), Decimal("0.00"))


def test_the_admin_index_explains_what_collected_counts(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    body = client.get("/admin/").content.decode()

    assert "net of what was refunded of them" in body
    assert "Payment-method mix (last 90 days, net of refunds)" in body
