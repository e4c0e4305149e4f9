"""One sandbox switch for invoices and deposits (issue 13, finding 3).

Production settings (DEBUG off, SANDBOX_GATEWAY_ENABLED unset, no provider keys): every invoice and
deposit path is tried and nothing is paid. The positive control turns only the switch on and the
same paths pay through the sandbox, end to end.
"""

import pytest

from billing.models import Invoice
from circletel.sandbox import sandbox_gateway_active
from inbox.models import WebhookEvent
from payments.models import PaymentTransaction
from reservations.errors import ReservationError
from reservations.models import Puppy, Reservation
from reservations.services import sandbox_approve
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice
from tests.reservations.factories import PuppyFactory, ReservationFactory

pytestmark = pytest.mark.django_db
BUYER = {"name": "Thandi Nkosi", "email": "thandi@example.co.za", "phone": "082 123 4567"}


@pytest.fixture
def production(settings, tasks_run_inline):
    settings.DEBUG = False
    settings.SANDBOX_GATEWAY_ENABLED = False
    settings.NETCASH = {**settings.NETCASH, "PAYNOW_SERVICE_KEY": ""}
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "", "WEBHOOK_SECRET": ""}
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "", "CLIENT_SECRET": "", "WEBHOOK_ID": ""}
    return settings


@pytest.fixture
def owner_invoice():
    user = UserFactory()
    customer = CustomerFactory(user=user)
    return user, customer, make_invoice(customer, "499.00")


def _try_every_invoice_path(client, user, customer, invoice) -> list[int]:
    client.force_login(user)
    statuses = [client.get(f"/billing/invoices/{invoice.number}/pay").status_code]
    for flow in ("netcash", "stripe", "paypal"):
        statuses.append(client.post("/api/payments/process", {"invoice_id": invoice.pk, "flow": flow},
                                    content_type="application/json").status_code)
    statuses.append(client.post("/api/paypal/create-order", {"kind": "invoice", "invoice_number": invoice.number,
                                                             "account_number": customer.account_number},
                                content_type="application/json").status_code)
    client.logout()
    statuses.append(client.post("/pay/", {"invoice_number": invoice.number,
                                          "account_number": customer.account_number}).status_code)
    reference = f"{invoice.number}-ABC123"
    statuses.append(client.post("/payments/sandbox/checkout", {"p2": reference, "p4": "499.00"}).status_code)
    statuses.append(client.post("/payments/sandbox/complete", {"p2": reference, "p4": "499.00",
                                                               "decision": "approve"}).status_code)
    return statuses


def _try_every_deposit_path(client) -> list[int]:
    statuses = []
    for provider in ("stripe", "paypal"):
        puppy = PuppyFactory()
        statuses.append(client.post(f"/puppies/{puppy.slug}/reserve", {**BUYER, "provider": provider}).status_code)
        statuses.append(client.post("/api/reservations/", {**BUYER, "provider": provider, "puppy": puppy.slug},
                                    content_type="application/json").status_code)
    # A hold the sandbox took before it was switched off cannot be approved afterwards.
    held = ReservationFactory(sandbox=True)
    statuses.append(client.post(f"/puppies/checkout/{held.reference}/sandbox/", {"action": "approve"}).status_code)
    with pytest.raises(ReservationError):
        sandbox_approve(reservation=held)
    return statuses


def test_production_without_keys_pays_nothing_on_any_path(client, production, owner_invoice):
    user, customer, invoice = owner_invoice
    assert sandbox_gateway_active() is False

    invoice_statuses = _try_every_invoice_path(client, user, customer, invoice)
    deposit_statuses = _try_every_deposit_path(client)

    assert all(status in (302, 400, 402, 404, 409, 422, 503) for status in invoice_statuses), invoice_statuses
    assert 404 in invoice_statuses[-2:] and invoice_statuses[-2:] == [404, 404]
    assert deposit_statuses[-1] == 404
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.UNPAID, 0)
    assert not PaymentTransaction.objects.filter(status="completed").exists()
    assert WebhookEvent.objects.count() == 0
    assert not Reservation.objects.filter(status=Reservation.Status.PAID).exists()
    assert not Puppy.objects.filter(status=Puppy.Status.RESERVED).exclude(reservations__sandbox=True).exists()


def test_positive_control_the_switch_alone_makes_the_sandbox_pay(client, production, owner_invoice):
    production.SANDBOX_GATEWAY_ENABLED = True
    user, customer, invoice = owner_invoice
    client.force_login(user)
    form = client.get(f"/billing/invoices/{invoice.number}/pay").context["form"]
    done = client.post("/payments/sandbox/complete", {**form.fields, "decision": "approve"})
    assert done.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID

    puppy = PuppyFactory()
    checkout = client.post(f"/puppies/{puppy.slug}/reserve", {**BUYER, "provider": "stripe"})
    reservation = Reservation.objects.get(puppy=puppy)
    assert checkout["Location"].endswith(f"/puppies/checkout/{reservation.reference}/sandbox/")
    client.post(checkout["Location"], {"action": "approve"})
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.PAID
