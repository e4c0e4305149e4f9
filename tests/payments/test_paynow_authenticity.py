"""Money moves only on NetCash's server-to-server notify, at the secret notify path (issue 13).

Each attack from the probe is replayed with the fields a customer can copy from their own pay page
(`p2`, `m5`, `m6`), and sits beside its positive control: the same fields posted by NetCash to the
secret notify path are accepted and applied once.
"""

import re
from decimal import Decimal
from urllib.parse import urlencode

import pytest

from billing.models import Invoice, LedgerEntry
from inbox.models import WebhookEvent
from notifications.models import NotificationLog
from payments.models import PaymentTransaction, Receipt
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice, notify_url, post_notify

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def owner_invoice():
    user = UserFactory()
    customer = CustomerFactory(user=user)
    return user, make_invoice(customer, "499.00")


def _hidden_fields(html: str) -> dict:
    """The Pay Now form as the browser sees it (what an attacker copies from their own page)."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def _forged_notify(fields: dict, *, trace: str = "anything") -> dict:
    return {"TransactionAccepted": "true", "Reason": "Success", "RequestTrace": trace,
            "Reference": fields["p2"], "Amount": fields["p4"], "Extra1": fields.get("m4", "invoice"),
            "Extra2": fields["m5"], "Extra3": fields["m6"], "Method": "1"}


def _nothing_moved(invoice: Invoice):
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID and invoice.amount_paid == Decimal("0.00")
    assert PaymentTransaction.objects.count() == 0
    assert WebhookEvent.objects.count() == 0
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 0
    assert Receipt.objects.count() == 0
    assert not NotificationLog.objects.filter(event="payment_received").exists()


def _paid_once(invoice: Invoice):
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert PaymentTransaction.objects.get().status == "completed"
    assert LedgerEntry.objects.filter(entry_type="payment").count() == 1


@pytest.mark.parametrize("path", [
    "/api/payments/netcash/webhook",                    # the old, guessable path
    "/api/payments/netcash/webhook/",
    "/api/payments/netcash/notify/wrong-token",         # a guessed token
    "/api/payments/netcash/notify/",
])
def test_notify_forged_from_the_customers_own_pay_page_changes_nothing(client, owner_invoice, path):
    user, invoice = owner_invoice
    client.force_login(user)
    page = client.get(f"/billing/invoices/{invoice.number}/pay").content.decode()
    fields = _hidden_fields(page)
    assert {"p2", "p4", "m5", "m6"} <= fields.keys()  # the HMAC really is in the browser's form

    resp = post_notify(client, _forged_notify(fields), url=path)

    assert resp.status_code == 404
    _nothing_moved(invoice)
    # Positive control: the same fields from NetCash, at the secret path, are applied once.
    assert post_notify(client, _forged_notify(fields, trace="NC-REAL-1")).status_code == 200
    _paid_once(invoice)


def test_notify_forged_anonymously_from_the_public_pay_page_changes_nothing(client):
    customer = CustomerFactory()
    invoice = make_invoice(customer, "499.00")
    page = client.post("/pay/", {"invoice_number": invoice.number, "account_number": customer.account_number})
    fields = _hidden_fields(page.content.decode())

    assert post_notify(client, _forged_notify(fields), url="/api/payments/netcash/webhook").status_code == 404
    assert post_notify(client, _forged_notify(fields), url=notify_url("x" * 64)).status_code == 404

    _nothing_moved(invoice)
    assert post_notify(client, _forged_notify(fields, trace="NC-REAL-2")).status_code == 200
    _paid_once(invoice)


def test_notify_forged_from_the_payments_api_form_changes_nothing(client, owner_invoice):
    user, invoice = owner_invoice
    client.force_login(user)
    answer = client.post("/api/payments/process", {"invoice_id": invoice.pk, "flow": "netcash"},
                         content_type="application/json").json()
    fields = answer["fields"]

    assert post_notify(client, _forged_notify(fields), url="/api/payments/netcash/webhook").status_code == 404

    _nothing_moved(invoice)
    assert post_notify(client, _forged_notify(fields, trace="NC-REAL-3")).status_code == 200
    _paid_once(invoice)


def test_no_notify_is_accepted_without_a_configured_token(client, owner_invoice, settings):
    _, invoice = owner_invoice
    settings.NETCASH = {**settings.NETCASH, "NOTIFY_TOKEN": ""}
    from payments.clients import netcash

    fields = {"p2": f"{invoice.number}-ABC123", "p4": "499.00", "m5": "499.00",
              "m6": netcash.paynow_signature(reference=f"{invoice.number}-ABC123", amount=Decimal("499.00"))}

    assert post_notify(client, _forged_notify(fields), url=notify_url("")).status_code == 404
    assert post_notify(client, _forged_notify(fields), url="/api/payments/netcash/notify/None").status_code == 404

    _nothing_moved(invoice)


@pytest.mark.parametrize("method", ["post", "get"])
def test_the_return_page_never_applies_what_the_browser_sends(client, owner_invoice, method):
    user, invoice = owner_invoice
    client.force_login(user)
    fields = _hidden_fields(client.get(f"/billing/invoices/{invoice.number}/pay").content.decode())
    forged = _forged_notify(fields)

    if method == "post":
        resp = client.post("/payments/netcash/return", data=urlencode(forged), content_type=FORM)
    else:
        resp = client.get("/payments/netcash/return", forged)

    assert resp.status_code == 302 and resp["Location"] == f"/payments/result/{fields['p2']}"
    _nothing_moved(invoice)
    shown = client.get(resp["Location"])
    assert shown.context["state"] == "confirming"
    assert "We are confirming your payment" in shown.content.decode()
    # Positive control: the notify lands, and the same page now shows the payment.
    post_notify(client, _forged_notify(fields, trace="NC-REAL-4"))
    _paid_once(invoice)
    assert client.get(resp["Location"]).context["state"] == "paid"


@pytest.mark.parametrize("reference", ["a/b", "INV-2026-00001-ABC/..", "../../admin", "x" * 65, "", " "])
def test_a_return_with_a_reference_that_is_not_ours_is_404_not_500(client, reference):
    assert client.get("/payments/netcash/return", {"Reference": reference}).status_code == 404
    assert client.post("/payments/netcash/return", {"Reference": reference}).status_code == 404


def test_a_return_with_our_reference_goes_to_its_result_page(client):
    resp = client.get("/payments/netcash/return", {"Reference": "INV-2026-00001-ABC123"})
    assert (resp.status_code, resp["Location"]) == (302, "/payments/result/INV-2026-00001-ABC123")


def test_result_page_refreshes_while_confirming_and_stops_after_the_limit(client):
    waiting = client.get("/payments/result/INV-2026-00001-ABC123")
    assert waiting.context["state"] == "confirming"
    assert '<meta http-equiv="refresh" content="5;url=?check=1">' in waiting.content.decode()

    late = client.get("/payments/result/INV-2026-00001-ABC123", {"check": "24"})
    body = late.content.decode()
    assert 'http-equiv="refresh"' not in body
    assert "we will email you a receipt as soon as it arrives" in body
    assert client.get("/payments/result/INV-2026-00001-ABC123", {"check": "nonsense"}).status_code == 200


def test_result_page_shows_declined_and_pending_from_our_rows(client, owner_invoice):
    from tests.payments.factories import notify_fields

    _, invoice = owner_invoice
    post_notify(client, notify_fields(f"{invoice.number}-DEC001", "499.00", accepted=False, trace="D-1"))
    post_notify(client, notify_fields(f"{invoice.number}-PEN001", "499.00", accepted=False, method="2",
                                      reason="Pending", trace="P-1"))

    declined = client.get(f"/payments/result/{invoice.number}-DEC001")
    pending = client.get(f"/payments/result/{invoice.number}-PEN001")

    assert declined.context["state"] == "declined" and "refresh" not in declined.content.decode().split("<body")[0]
    assert pending.context["state"] == "pending" and 'http-equiv="refresh"' in pending.content.decode()


def test_result_page_links_the_invoice_only_for_its_owner(client, owner_invoice):
    user, invoice = owner_invoice
    url = f"/payments/result/{invoice.number}-ABC123"
    assert client.get(url).context["invoice"] is None
    client.force_login(UserFactory())
    assert client.get(url).context["invoice"] is None
    client.force_login(user)
    owner = client.get(url)
    assert owner.context["invoice"] == invoice
    assert f"/dashboard/invoices/{invoice.pk}/" in owner.content.decode()


def test_pay_now_is_refused_without_a_notify_token(client, owner_invoice, settings):
    # A Pay Now key but no secret notify path: NetCash could take money we could never book.
    user, invoice = owner_invoice
    settings.NETCASH = {**settings.NETCASH, "PAYNOW_SERVICE_KEY": "svc-key", "NOTIFY_TOKEN": ""}
    client.force_login(user)

    assert client.get(f"/billing/invoices/{invoice.number}/pay").status_code == 302

    settings.NETCASH = {**settings.NETCASH, "NOTIFY_TOKEN": "t" * 40}
    page = client.get(f"/billing/invoices/{invoice.number}/pay")
    assert page.status_code == 200 and page.context["form"].action_url == settings.NETCASH["PAYNOW_URL"]


@pytest.mark.parametrize("method", ["get", "put", "head", "delete"])
def test_a_wrong_notify_path_is_404_whatever_the_method(client, method):
    assert getattr(client, method)(notify_url("guess")).status_code == 404
    # Positive control: the real path exists, and answers 405 to anything but POST.
    assert getattr(client, method)(notify_url()).status_code == 405


@pytest.mark.parametrize("field", ["RequestTrace", "Reason", "Reference"])
def test_a_nul_in_a_notify_field_is_a_400_and_stores_nothing(client, owner_invoice, field):
    from tests.payments.factories import notify_fields

    _, invoice = owner_invoice
    fields = notify_fields(f"{invoice.number}-NUL001", "499.00", trace="NUL-1")
    fields[field] = fields[field] + "\x00x"

    assert post_notify(client, fields).status_code == 400
    _nothing_moved(invoice)
    # Positive control: the same notify without the NUL is applied.
    assert post_notify(client, notify_fields(f"{invoice.number}-NUL001", "499.00", trace="NUL-1")).status_code == 200
    _paid_once(invoice)


@pytest.mark.parametrize("status, state, words", [
    ("refunded", "refunded", "Payment refunded"), ("reversed", "reversed", "Payment reversed"),
    ("completed", "paid", "Payment received"),
])
def test_result_page_names_refunded_and_reversed_payments(client, owner_invoice, status, state, words):
    from tests.payments.factories import notify_fields

    _, invoice = owner_invoice
    post_notify(client, notify_fields(f"{invoice.number}-STA001", "499.00", trace="STA-1"))
    PaymentTransaction.objects.update(status=status)

    page = client.get(f"/payments/result/{invoice.number}-STA001")

    assert page.context["state"] == state and words in page.content.decode()
    assert 'http-equiv="refresh"' not in page.content.decode()


def test_netcash_urls_prints_what_to_paste_into_the_portal(settings, client):
    from io import StringIO

    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.SITE_URL = "https://billing.example.co.za"
    out = StringIO()
    call_command("netcash_urls", stdout=out)
    text = out.getvalue()
    notify = f"https://billing.example.co.za/api/payments/netcash/notify/{settings.NETCASH['NOTIFY_TOKEN']}"
    assert notify in text and "https://billing.example.co.za/payments/netcash/return" in text
    mandate_url = next(line.strip() for line in text.splitlines() if "/api/payments/netcash/mandate/" in line)
    # The printed mandate URL is the one the postback view accepts (a 400 for an empty body, not a 403).
    assert client.post(mandate_url.replace("https://billing.example.co.za", ""), data="",
                       content_type="application/x-www-form-urlencoded").status_code == 400

    settings.NETCASH = {**settings.NETCASH, "NOTIFY_TOKEN": "short"}
    with pytest.raises(CommandError, match="NETCASH_NOTIFY_TOKEN"):
        call_command("netcash_urls", stdout=StringIO())
