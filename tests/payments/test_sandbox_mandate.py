"""The sandbox's eMandate signing page (payments/sandbox_mandates.py): Sign / Decline go through
`mandate_update_status` like NetCash's postback; refusals (sandbox off, another customer's mandate,
not pending, GET, no CSRF token) change nothing, each beside a positive control."""

from decimal import Decimal

import pytest
from django.test import Client

from notifications.models import NotificationLog
from payments.models import Mandate, PaymentMethod
from payments.services.mandates import mandate_account_reference
from payments.services.methods import payment_method_add_debit_order
from tests.factories import CustomerFactory, UserFactory
from tests.portal.factories import payment_method

pytestmark = pytest.mark.django_db


def _pending(customer, *, make_primary=False) -> Mandate:
    """A debit order with its eMandate pending, as `mandate_request` leaves it (row committed, method
    pending; NetCash's answer does not matter to the sandbox page)."""
    method = payment_method_add_debit_order(customer=customer, account_holder="T Mokoena",
                                            account_number="62001234567", branch_code="250655",
                                            bank_name="FNB", make_primary=make_primary)
    reference = mandate_account_reference(method)
    PaymentMethod.objects.filter(pk=method.pk).update(mandate_reference=reference,
                                                      mandate_status=PaymentMethod.MandateStatus.PENDING)
    return Mandate.objects.create(customer=customer, payment_method=method, account_reference=reference,
                                  agreement_reference=reference, mandate_amount=Decimal("1798.00"),
                                  commencement_day="25")


@pytest.fixture
def owner():
    user = UserFactory()
    return user, CustomerFactory(user=user)


def _url(mandate, sign=False):
    return f"/payments/sandbox/mandate/{mandate.account_reference}" + ("/sign" if sign else "")


def _state(mandate):
    mandate.refresh_from_db()
    method = PaymentMethod.objects.get(pk=mandate.payment_method_id)
    return mandate.status, method.mandate_status, method.is_primary, NotificationLog.objects.count()


def test_page_shows_the_mandate_masked_and_get_changes_nothing(client, owner):
    user, customer = owner
    mandate = _pending(customer)
    before = _state(mandate)
    client.force_login(user)
    resp = client.get(_url(mandate))
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "FNB ***4567" in html and "R 1,798.00" in html
    assert "62001234567" not in html  # the account number is never shown in full
    assert 'data-testid="mandate-sign"' in html and 'data-testid="mandate-decline"' in html
    assert _state(mandate) == before == ("pending", "pending", False, 0)


def test_sign_makes_the_method_usable_and_primary_with_the_notification(client, owner):
    user, customer = owner
    mandate = _pending(customer)
    client.force_login(user)
    resp = client.post(_url(mandate, sign=True), {"decision": "sign"})
    assert resp.status_code == 302 and resp["Location"] == "/dashboard/billing/#payment-methods"
    assert _state(mandate) == ("active", "active", True, 1)
    assert NotificationLog.objects.get().event == "mandate_accepted"
    assert mandate.raw_response["postback"]["AccountRef"] == mandate.account_reference
    assert mandate.raw_response["postback"]["MandateSuccessful"] == "1"
    page = client.get(resp["Location"]).content.decode()
    assert "is signed" in page and "now your primary payment method" in page


def test_sign_keeps_a_usable_primary(client, owner):
    user, customer = owner
    card = payment_method(customer, primary=True)
    mandate = _pending(customer)
    client.force_login(user)
    client.post(_url(mandate, sign=True), {"decision": "sign"})
    assert _state(mandate) == ("active", "active", False, 1)
    card.refresh_from_db()
    assert card.is_primary is True


def test_decline_marks_it_declined_with_the_notification(client, owner):
    user, customer = owner
    mandate = _pending(customer)
    client.force_login(user)
    resp = client.post(_url(mandate, sign=True), {"decision": "decline"})
    assert resp.status_code == 302
    assert _state(mandate) == ("declined", "declined", False, 1)
    assert NotificationLog.objects.get().event == "mandate_declined"
    assert mandate.decline_reason == "Declined by the customer (sandbox)"
    assert mandate.raw_response["postback"]["MandateSuccessful"] == "0"


def test_sandbox_off_is_404_and_changes_nothing(client, owner, settings):
    user, customer = owner
    mandate = _pending(customer)
    client.force_login(user)
    settings.SANDBOX_GATEWAY_ENABLED = False
    assert client.get(_url(mandate)).status_code == 404
    assert client.post(_url(mandate, sign=True), {"decision": "sign"}).status_code == 404
    assert _state(mandate) == ("pending", "pending", False, 0)
    assert "Sign the mandate (sandbox)" not in client.get("/dashboard/billing/").content.decode()
    # positive control: the same customer and mandate with the sandbox on
    settings.SANDBOX_GATEWAY_ENABLED = True
    assert "Sign the mandate (sandbox)" in client.get("/dashboard/billing/").content.decode()
    assert client.get(_url(mandate)).status_code == 200
    assert client.post(_url(mandate, sign=True), {"decision": "sign"}).status_code == 302
    assert _state(mandate)[0] == "active"


def test_another_customers_mandate_is_404_and_changes_nothing(client, owner):
    user, customer = owner
    theirs = _pending(CustomerFactory(user=UserFactory()))
    mine = _pending(customer)
    client.force_login(user)
    assert client.get(_url(theirs)).status_code == 404
    assert client.post(_url(theirs, sign=True), {"decision": "sign"}).status_code == 404
    assert _state(theirs) == ("pending", "pending", False, 0)
    assert client.get("/payments/sandbox/mandate/CT-NOPE-1").status_code == 404  # none at all: the same answer
    # positive control: their own
    assert client.get(_url(mine)).status_code == 200
    assert client.post(_url(mine, sign=True), {"decision": "sign"}).status_code == 302
    assert _state(mine)[0] == "active"
    assert _state(theirs)[:2] == ("pending", "pending")


def test_anonymous_goes_to_sign_in_and_changes_nothing(client, owner):
    _user, customer = owner
    mandate = _pending(customer)
    resp = client.post(_url(mandate, sign=True), {"decision": "sign"})
    assert resp.status_code == 302 and resp["Location"].startswith("/accounts/login/")
    assert _state(mandate) == ("pending", "pending", False, 0)


def test_a_mandate_not_pending_says_so_and_changes_nothing(client, owner):
    user, customer = owner
    declined = _pending(customer)
    client.force_login(user)
    client.post(_url(declined, sign=True), {"decision": "decline"})
    assert _state(declined) == ("declined", "declined", False, 1)
    page = client.get(_url(declined)).content.decode()
    assert "is declined, not waiting for a signature" in page and 'data-testid="mandate-sign"' not in page
    resp = client.post(_url(declined, sign=True), {"decision": "sign"}, follow=True)
    assert "is declined, not waiting for a signature: nothing was changed." in resp.content.decode()
    assert _state(declined) == ("declined", "declined", False, 1)  # still declined, no new notification
    assert "Sign the mandate (sandbox)" not in client.get("/dashboard/billing/").content.decode()


def test_an_unknown_decision_changes_nothing(client, owner):
    user, customer = owner
    mandate = _pending(customer)
    client.force_login(user)
    assert client.post(_url(mandate, sign=True), {"decision": "approve"}).status_code == 302
    assert client.post(_url(mandate, sign=True)).status_code == 302
    assert _state(mandate) == ("pending", "pending", False, 0)
    client.post(_url(mandate, sign=True), {"decision": "sign"})  # positive control
    assert _state(mandate)[0] == "active"


def test_post_needs_the_csrf_token(owner):
    user, customer = owner
    mandate = _pending(customer)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(_url(mandate, sign=True), {"decision": "sign"}).status_code == 403
    assert _state(mandate) == ("pending", "pending", False, 0)
    client.get(_url(mandate))  # the page sets the CSRF cookie its form uses
    token = client.cookies["csrftoken"].value
    assert client.post(_url(mandate, sign=True), {"decision": "sign", "csrfmiddlewaretoken": token}).status_code == 302
    assert _state(mandate)[0] == "active"


def test_get_on_the_sign_url_is_refused(client, owner):
    user, customer = owner
    mandate = _pending(customer)
    client.force_login(user)
    assert client.get(_url(mandate, sign=True), {"decision": "sign"}).status_code == 405
    assert _state(mandate) == ("pending", "pending", False, 0)
