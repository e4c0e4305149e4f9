from decimal import Decimal

import pytest

from billing.models import Invoice
from inbox.models import WebhookEvent
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_invoice():
    user = UserFactory()
    customer = CustomerFactory(user=user)
    return user, make_invoice(customer, "499.00")


def _checkout_fields(resp):
    form = resp.context["form"]
    return form.action_url, form.fields


def test_dashboard_pay_goes_through_sandbox_end_to_end(client, owner_invoice):
    user, invoice = owner_invoice
    client.force_login(user)
    resp = client.get(f"/billing/invoices/{invoice.number}/pay")
    assert resp.status_code == 200
    action, fields = _checkout_fields(resp)
    assert action == "/payments/sandbox/checkout"
    assert fields["p4"] == "499.00"
    assert fields["p2"].startswith(f"{invoice.number}-")
    page = client.post(action, fields)
    assert page.status_code == 200
    assert "Pay R 499.00" in page.content.decode()
    done = client.post("/payments/sandbox/complete", {**fields, "decision": "approve"})
    assert done.status_code == 302
    assert done["Location"] == f"/payments/result/{fields['p2']}"
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.provider, payment.amount) == ("completed", "sandbox", Decimal("499.00"))
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert "Payment received" in client.get(done["Location"]).content.decode()


def test_sandbox_decline_records_failed_payment(client, owner_invoice):
    user, invoice = owner_invoice
    client.force_login(user)
    _, fields = _checkout_fields(client.get(f"/billing/invoices/{invoice.number}/pay"))
    client.post("/payments/sandbox/complete", {**fields, "decision": "decline"})
    assert PaymentTransaction.objects.get().status == "failed"
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID


def test_sandbox_cannot_forge_an_amount(client, owner_invoice):
    user, invoice = owner_invoice
    client.force_login(user)
    _, fields = _checkout_fields(client.get(f"/billing/invoices/{invoice.number}/pay"))
    client.post("/payments/sandbox/complete", {**fields, "p4": "1.00", "decision": "approve"})
    assert PaymentTransaction.objects.count() == 0
    assert WebhookEvent.objects.count() == 0


def test_sandbox_off_refuses_every_sandbox_page(client, owner_invoice, settings):
    # Production default: no Pay Now key and the switch off (DEBUG=False, SANDBOX_GATEWAY_ENABLED unset).
    user, invoice = owner_invoice
    settings.SANDBOX_GATEWAY_ENABLED = False
    client.force_login(user)
    resp = client.get(f"/billing/invoices/{invoice.number}/pay")
    assert resp.status_code == 302
    assert client.post("/payments/sandbox/checkout", {"p4": "499.00"}).status_code == 404
    assert client.post("/payments/sandbox/complete", {"p2": f"{invoice.number}-ABCDEF", "p4": "499.00",
                                                      "decision": "approve"}).status_code == 404
    assert PaymentTransaction.objects.count() == 0 and WebhookEvent.objects.count() == 0


def test_sandbox_on_serves_its_checkout(client, owner_invoice, settings):
    settings.SANDBOX_GATEWAY_ENABLED = True
    page = client.post("/payments/sandbox/checkout", {"p4": "499.00"})
    assert page.status_code == 200
    assert "Pay R 499.00" in page.content.decode()


def test_other_users_invoice_is_404(client, owner_invoice):
    _, invoice = owner_invoice
    client.force_login(UserFactory())
    assert client.get(f"/billing/invoices/{invoice.number}/pay").status_code == 404


def test_public_pay_shows_amount_due_only_for_matching_account(client):
    customer = CustomerFactory()
    invoice = make_invoice(customer, "499.00")
    bad = client.post("/pay/", {"invoice_number": invoice.number, "account_number": "CT-2026-00000"})
    assert bad.status_code == 400
    good = client.post("/pay/", {"invoice_number": invoice.number, "account_number": customer.account_number})
    assert good.status_code == 200
    body = good.content.decode()
    assert "R 499.00" in body
    assert customer.email not in body and customer.last_name not in body
    assert good.context["form"].fields["p4"] == "499.00"


def test_public_pay_is_rate_limited(client):
    for _ in range(10):
        assert client.post("/pay/", {"invoice_number": "INV-X", "account_number": "CT-X"}).status_code == 400
    assert client.post("/pay/", {"invoice_number": "INV-X", "account_number": "CT-X"}).status_code == 429
