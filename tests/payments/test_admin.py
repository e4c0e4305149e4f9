import pytest

from inbox.models import WebhookEvent
from payments.services.methods import payment_method_add_debit_order
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice, notify_fields, post_notify

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_admin_pages_render_and_methods_are_masked(staff, client):
    customer = CustomerFactory()
    payment_method_add_debit_order(customer=customer, account_holder="T Mokoena", account_number="62001234567",
                                   branch_code="250655")
    invoice = make_invoice(customer, "499.00")
    post_notify(client, notify_fields(f"{invoice.number}-ABC123", "499.00"))
    for model in ("payments/paymenttransaction", "inbox/webhookevent", "payments/paymentmethod", "payments/mandate",
                  "payments/debitorderrun", "payments/debitorderitem"):
        resp = staff.get(f"/admin/{model}/")
        assert resp.status_code == 200, model
        assert "62001234567" not in resp.content.decode()
    from payments.models import PaymentMethod

    detail = staff.get(f"/admin/payments/paymentmethod/{PaymentMethod.objects.get().pk}/change/")
    assert detail.status_code == 200
    assert "62001234567" not in detail.content.decode() and "gAAAAA" not in detail.content.decode()
    event = WebhookEvent.objects.get()
    page = staff.get(f"/admin/inbox/webhookevent/{event.pk}/change/")
    assert page.status_code == 200 and "TransactionAccepted" in page.content.decode()


def test_reprocess_action_is_safe_to_repeat(staff):
    invoice = make_invoice(CustomerFactory(), "499.00")
    post_notify(staff, notify_fields(f"{invoice.number}-ABC123", "499.00"))
    event = WebhookEvent.objects.get()
    for _ in range(2):
        resp = staff.post("/admin/inbox/webhookevent/", {"action": "reprocess", "_selected_action": [event.pk]})
        assert resp.status_code == 302
    from payments.models import PaymentTransaction

    assert PaymentTransaction.objects.count() == 1
    event.refresh_from_db()
    assert event.status == "processed"
