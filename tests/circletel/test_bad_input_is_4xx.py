"""Bad input from the attacker's probe (issue 13) is a 4xx with a reason and changes nothing; each
refusal has its positive control beside it."""

import pytest

from billing.models import Invoice
from inbox.models import WebhookEvent
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice
from tests.payments.stripe_helpers import WHSEC, event, post_event

pytestmark = pytest.mark.django_db
NESTED = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize("encoded", [True, False])
@pytest.mark.parametrize("field", ["invoice_number", "account_number"])
def test_a_nul_in_the_public_pay_form_is_a_400(client, field, encoded):
    from urllib.parse import urlencode

    customer = CustomerFactory()
    invoice = make_invoice(customer, "499.00")
    form = {"invoice_number": invoice.number, "account_number": customer.account_number}
    bad_form = {**form, field: form[field] + "\x00"}

    bad = (client.post("/pay/", urlencode(bad_form), content_type="application/x-www-form-urlencoded") if encoded
           else client.post("/pay/", bad_form))  # multipart, as the test client sends a dict

    assert bad.status_code == 400 and b"NUL" in bad.content
    assert client.post("/pay/", form).status_code == 200  # positive control


def test_absurdly_nested_json_is_a_400_on_json_endpoints(client, settings):
    settings.PAYPAL = {**settings.PAYPAL, "CLIENT_ID": "cid", "CLIENT_SECRET": "cs", "WEBHOOK_ID": "WH-1"}
    for url in ("/api/reservations/", "/api/paypal/create-order", "/api/paypal/webhook"):
        resp = client.post(url, NESTED, content_type="application/json")
        assert resp.status_code == 400, url
    # Positive control: an ordinary (invalid) JSON object is parsed and answered by the serializer.
    resp = client.post("/api/reservations/", {"puppy": "nobody"}, content_type="application/json")
    assert resp.status_code == 400 and "name" in resp.json()["extra"]["fields"]


def test_a_huge_page_size_or_offset_is_capped_not_a_500(client):
    user = UserFactory()
    customer = CustomerFactory(user=user)
    for _ in range(3):
        make_invoice(customer, "10.00")
    client.force_login(user)

    huge = client.get("/api/payments/history", {"limit": "9223372036854775808", "offset": "9223372036854775808"})
    assert huge.status_code == 200 and huge.json()["results"] == []
    page = client.get("/api/dashboard/invoices", {"limit": "9223372036854775808"})
    assert page.status_code == 200 and len(page.json()["results"]) == 3  # positive control: the rows are there
    assert Invoice.objects.count() == 3


@pytest.mark.parametrize("bad_id", ["evt_\x00nul", "evt_\ud800lone"])
def test_a_signed_stripe_event_with_an_unstorable_id_is_a_400(client, settings, bad_id):
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "sk_test_1", "WEBHOOK_SECRET": WHSEC}
    payload = event(bad_id, "payment_intent.succeeded", {"id": "pi_1", "object": "payment_intent", "metadata": {}})
    resp = post_event(client, payload)
    assert resp.status_code == 400 and "NUL or unpaired surrogate" in resp.json()["extra"]["reason"]
    assert WebhookEvent.objects.count() == 0 and PaymentTransaction.objects.count() == 0
    # Positive control: the same event with a plain id is stored (and ignored: no payment of ours).
    assert post_event(client, event("evt_plain", "payment_intent.succeeded",
                                    {"id": "pi_1", "object": "payment_intent", "metadata": {}})).status_code == 200
    assert WebhookEvent.objects.count() == 1


def test_a_declared_non_utf8_charset_is_read_as_utf8_not_a_500(client):
    """Probe 2: `charset=iso-8859-1` on a form was a BadRequest that Django's error pages re-raised,
    and `charset=utf-7` turned `%2B2AA-` in a query string into a lone surrogate (a database 500)."""
    customer = CustomerFactory()
    invoice = make_invoice(customer, "499.00")
    body = f"invoice_number={invoice.number}&account_number={customer.account_number}"

    latin = client.post("/pay/", data=body, content_type="application/x-www-form-urlencoded; charset=iso-8859-1")
    listing = client.get("/puppies/", {"breed": "+2AA-"}, CONTENT_TYPE="text/plain; charset=utf-7")

    assert latin.status_code == 200 and latin.context["invoice_number"] == invoice.number  # read as UTF-8
    assert listing.status_code == 200 and "No puppies match" in listing.content.decode()
    # Positive control: the same form without a charset.
    assert client.post("/pay/", data=body, content_type="application/x-www-form-urlencoded").status_code == 200


def test_a_non_ascii_digit_in_the_pay_url_is_a_404_not_a_500(client):
    user = UserFactory()
    customer = CustomerFactory(user=user)
    invoice = make_invoice(customer, "10.00")
    client.force_login(user)

    assert client.get("/billing/invoices/%C2%B2/pay").status_code == 404
    assert client.get(f"/billing/invoices/{invoice.pk}/pay").status_code == 200  # positive control


def test_seed_demo_is_refused_where_demo_data_is_not_allowed(settings):
    from io import StringIO

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.DEMO_DATA_ALLOWED = False
    with pytest.raises(CommandError, match="published password"):
        call_command("seed_demo", stdout=StringIO())
    assert not get_user_model().objects.filter(username="admin@circletel.co.za").exists()
