"""Card payments on the invoice pay page (issue 18): the API's `save_card`, the card saved after the
payment by a follow-up of the success webhook, the pay page and its Content-Security-Policy, the result
page while Stripe's webhook is on its way, the stand-in check. Stripe mocked at the HTTP boundary
(`responses`); the browser side is tests/payments/test_card_pay_browser.py."""

import json
import re
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
import responses
from django.core.checks import run_checks
from rest_framework.test import APIClient

from billing.services.invoices import LineSpec, invoice_create
from billing.services.ledger_check import ledger_differences
from circletel.models import FollowUp
from notifications.models import NotificationLog
from payments.models import PaymentMethod, PaymentTransaction, StripeCustomer
from payments.services.stripe_payments import stripe_card_save_after_payment
from portal.selectors import online_payment_unavailable_reason
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice
from tests.payments.stripe_helpers import event, intent, post_event

pytestmark = pytest.mark.django_db
STRIPE = "https://api.stripe.com/v1"
CARD_SAVES = FollowUp.objects.filter(func="payments.services.stripe_payments.stripe_card_save_after_payment")


def _signed_in(invoice_total="350.00"):
    user = UserFactory()
    customer = CustomerFactory(user=user, email=user.email)
    client = APIClient()
    client.force_authenticate(user)
    return customer, client, make_invoice(customer, invoice_total)


def _intent_answer(cents=35000, pi="pi_3Card01"):
    return {"id": pi, "object": "payment_intent", "amount": cents, "currency": "zar",
            "status": "requires_payment_method", "client_secret": f"{pi}_secret_x", "latest_charge": None,
            "metadata": {}}


def _sent(call) -> dict:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def _pay(client, invoice, **extra):
    return client.post("/api/payments/process", {"flow": "stripe", "invoice_id": invoice.pk, **extra}, format="json")


# --- the API: save_card -----------------------------------------------------------------------------------
@responses.activate
def test_save_card_asks_stripe_to_keep_the_card_on_our_customer_and_returns_the_result_url(stripe_on):
    customer, client, invoice = _signed_in()
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_77", "object": "customer"})
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=_intent_answer())

    response = _pay(client, invoice, save_card=True)

    assert response.status_code == 201, response.json()
    body = response.json()
    payment = PaymentTransaction.objects.get()
    assert body["client_secret"] == "pi_3Card01_secret_x"
    assert body["return_url"] == f"http://testserver/payments/result/{payment.reference}"
    sent = _sent(responses.calls[1])
    assert sent["setup_future_usage"] == "off_session" and sent["customer"] == "cus_77"
    assert sent["metadata[save_card]"] == "1" and sent["metadata[reference]"] == payment.reference
    assert "confirm" not in sent  # the browser confirms, through the Payment Element
    assert StripeCustomer.objects.get(customer=customer).stripe_customer_id == "cus_77"


@responses.activate
def test_without_save_card_no_customer_and_no_future_usage(stripe_on):
    _, client, invoice = _signed_in()
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=_intent_answer())

    assert _pay(client, invoice).status_code == 201

    assert len(responses.calls) == 1  # no Stripe customer created
    sent = _sent(responses.calls[0])
    assert "setup_future_usage" not in sent and "customer" not in sent and "metadata[save_card]" not in sent


@responses.activate
def test_a_repeated_click_replays_the_intent_and_a_changed_choice_gets_its_own(stripe_on):
    _, client, invoice = _signed_in()
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_77", "object": "customer"})
    responses.add_callback(  # Stripe: one intent per idempotency key
        responses.POST, f"{STRIPE}/payment_intents", content_type="application/json",
        callback=lambda request: (200, {}, json.dumps(
            _intent_answer(pi="pi_" + request.headers["Idempotency-Key"].replace(":", "_")))))

    responses.add(responses.POST, re.compile(rf"{STRIPE}/payment_intents/pi_payment_\d+/cancel"),
                  json=_intent_answer() | {"status": "canceled"})

    _pay(client, invoice)
    _pay(client, invoice)
    _pay(client, invoice, save_card=True)

    intents = [c for c in responses.calls if c.request.url.endswith("/payment_intents")]
    keys = [c.request.headers["Idempotency-Key"] for c in intents]
    plain, saving = PaymentTransaction.objects.order_by("pk")
    # One payment row never gets two intents: the same key for the repeat (Stripe replays it), a new
    # row and key when the parameters change (Stripe refuses a replayed key with new parameters).
    assert keys == [f"payment:{plain.pk}", f"payment:{plain.pk}", f"payment:{saving.pk}"]
    assert saving.raw_response["save_card"] is True
    # ...and the older attempt is cancelled at Stripe before the new one is handed out: one payable intent.
    cancel = [c for c in responses.calls if c.request.url.endswith("/cancel")]
    assert [c.request.url for c in cancel] == [f"{STRIPE}/payment_intents/pi_payment_{plain.pk}/cancel"]
    assert _sent(cancel[0]) == {"cancellation_reason": "duplicate"}
    plain.refresh_from_db()
    assert (plain.status, plain.raw_response["error_code"], saving.status) == ("failed", "superseded", "pending")


@responses.activate
def test_save_card_at_the_limit_is_refused_before_stripe_is_called(stripe_on, settings):
    customer, client, invoice = _signed_in()
    settings.PAYMENT_METHODS_MAX_PER_CUSTOMER = 1
    PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***1111",
                                 last_four="1111", provider_token="pm_old")
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=_intent_answer())

    refused = _pay(client, invoice, save_card=True)

    assert refused.status_code == 409 and "at most 1" in refused.json()["message"]
    assert len(responses.calls) == 0 and PaymentTransaction.objects.count() == 0
    assert _pay(client, invoice).status_code == 201  # positive control: paying without saving still works


def test_save_card_only_with_the_new_card_flow(stripe_on):
    _, client, invoice = _signed_in()
    response = client.post("/api/payments/process", {"flow": "netcash", "invoice_id": invoice.pk, "save_card": True},
                           format="json")
    assert response.status_code == 400 and "save_card" in response.json()["extra"]["fields"]
    assert client.post("/api/payments/process", {"flow": "netcash", "invoice_id": invoice.pk},
                       format="json").status_code == 200  # positive control


# --- the card saved after the payment ---------------------------------------------------------------------
def _pending(customer, invoice, *, save=True, pi="pi_3Card01"):
    StripeCustomer.objects.create(customer=customer, stripe_customer_id="cus_77")
    return PaymentTransaction.objects.create(
        customer=customer, invoice=invoice, amount=invoice.total, method="stripe", provider="stripe",
        reference=f"{invoice.number}-ABC123", status="pending", provider_transaction_id=pi,
        raw_response={"save_card": save})


def _succeeded(payment, *, save=True, card="pm_saved01"):
    obj = intent(payment) | {"payment_method": card}
    if save:
        obj["metadata"]["save_card"] = "1"
    return obj


def _card_at_stripe(card="pm_saved01", customer="cus_77", status=200):
    body = ({"id": card, "object": "payment_method", "type": "card", "customer": customer,
             "card": {"brand": "mastercard", "last4": "4444", "exp_month": 9, "exp_year": 2031}}
            if status == 200 else {"error": {"type": "invalid_request_error", "code": "resource_missing"}})
    responses.add(responses.GET, f"{STRIPE}/payment_methods/{card}", json=body, status=status)


@responses.activate
def test_the_success_webhook_saves_the_card_stripe_keeps_for_this_customer(client, stripe_on):
    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice)
    _card_at_stripe()

    post_event(client, event("evt_card_1", "payment_intent.succeeded", _succeeded(payment)))

    payment.refresh_from_db()
    assert payment.status == "completed"
    card = PaymentMethod.objects.get(customer=customer)
    assert (card.display_name, card.last_four, card.card_expiry_year, card.provider_token) == (
        "Mastercard ***4444", "4444", 2031, "pm_saved01")
    assert CARD_SAVES.get().status == "done"
    # The same event again (Stripe retries): nothing new, and the follow-up is not written twice.
    post_event(client, event("evt_card_1", "payment_intent.succeeded", _succeeded(payment)))
    assert PaymentMethod.objects.count() == 1 and CARD_SAVES.count() == 1


@responses.activate
def test_no_card_is_saved_when_the_customer_did_not_ask(client, stripe_on):
    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice, save=False)
    _card_at_stripe()

    post_event(client, event("evt_card_2", "payment_intent.succeeded", _succeeded(payment, save=False)))

    payment.refresh_from_db()
    assert payment.status == "completed"  # positive control: the payment itself is booked
    assert not PaymentMethod.objects.exists() and not CARD_SAVES.exists()
    assert not [c for c in responses.calls if "/payment_methods/" in c.request.url]


@responses.activate
def test_a_card_stripe_holds_for_someone_else_or_no_longer_is_not_saved(stripe_on):
    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice)
    _card_at_stripe(card="pm_other", customer="cus_someone_else")
    _card_at_stripe(card="pm_gone", status=404)
    _card_at_stripe(card="pm_mine")

    assert stripe_card_save_after_payment(payment.pk, "pm_other") is None
    assert stripe_card_save_after_payment(payment.pk, "pm_gone") is None  # permanent: not retried
    assert not PaymentMethod.objects.exists()
    saved = stripe_card_save_after_payment(payment.pk, "pm_mine")  # positive control
    assert saved is not None and saved.provider_token == "pm_mine"
    assert stripe_card_save_after_payment(payment.pk, "pm_mine") == saved  # safe to run twice


@responses.activate
def test_a_stripe_outage_raises_so_the_follow_up_tries_again(stripe_on):
    from circletel.http import RetryableProviderError

    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice)
    responses.add(responses.GET, f"{STRIPE}/payment_methods/pm_saved01", status=503,
                  json={"error": {"type": "api_error", "message": "down"}})

    with pytest.raises(RetryableProviderError):
        stripe_card_save_after_payment(payment.pk, "pm_saved01")
    assert not PaymentMethod.objects.exists()


@responses.activate
def test_at_the_limit_the_card_is_not_saved_and_is_detached_at_stripe(stripe_on, settings):
    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice)
    settings.PAYMENT_METHODS_MAX_PER_CUSTOMER = 1
    PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***1111",
                                 last_four="1111", provider_token="pm_old")
    _card_at_stripe()
    responses.add(responses.POST, f"{STRIPE}/payment_methods/pm_saved01/detach",
                  json={"id": "pm_saved01", "object": "payment_method", "customer": None, "card": {"last4": "4444"}})

    assert stripe_card_save_after_payment(payment.pk, "pm_saved01") is None
    assert PaymentMethod.objects.count() == 1
    assert responses.calls[-1].request.url.endswith("/payment_methods/pm_saved01/detach")


# --- the pay page -----------------------------------------------------------------------------------------
def _directives(response) -> dict[str, list[str]]:
    parts = (d.split() for d in response["Content-Security-Policy"].split(";") if d.strip())
    return {p[0]: p[1:] for p in parts}


def _page_client(customer):
    from django.test import Client

    web = Client()
    web.force_login(customer.user)
    return web


def test_the_pay_page_offers_cards_with_stripe_js_allowed_on_that_page_only(stripe_on):
    customer, _, invoice = _signed_in("799.00")
    card = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                        last_four="4242", provider_token="pm_4242", card_expiry_month=1,
                                        card_expiry_year=2099)
    PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***0001",
                                 last_four="0001", provider_token="pm_expired", card_expiry_month=1,
                                 card_expiry_year=2020)
    web = _page_client(customer)

    page = web.get(f"/billing/invoices/{invoice.number}/pay")

    assert page.status_code == 200
    html = page.content.decode()
    assert '<script src="https://js.stripe.com/v3/"></script>' in html
    assert f'data-testid="pay-saved-{card.pk}"' in html and "***0001" not in html  # an expired card is not offered
    assert '"amount_cents": 79900' in html and 'data-testid="paynow-submit"' in html
    policy = _directives(page)
    assert "'self'" in policy["script-src"] and "https://js.stripe.com" in policy["script-src"]
    assert {"https://js.stripe.com", "https://hooks.stripe.com"} <= set(policy["frame-src"])
    assert policy["connect-src"] == ["'self'", "https://api.stripe.com"]
    other = web.get("/dashboard/")
    assert other.status_code == 200 and "stripe.com" not in other["Content-Security-Policy"]


def test_the_stand_in_origin_replaces_stripe_s_in_the_page_policy(stripe_on):
    stripe_on.STRIPE = {**stripe_on.STRIPE, "JS_URL": "http://127.0.0.1:8765/v3/"}
    customer, _, invoice = _signed_in()

    page = _page_client(customer).get(f"/billing/invoices/{invoice.number}/pay")

    policy = _directives(page)
    assert '<script src="http://127.0.0.1:8765/v3/"></script>' in page.content.decode()
    assert policy["frame-src"] == ["http://127.0.0.1:8765"] and "http://127.0.0.1:8765" in policy["script-src"]
    assert "stripe.com" not in page["Content-Security-Policy"]


def test_without_stripe_the_pay_page_goes_straight_to_pay_now(settings):
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": "", "PUBLISHABLE_KEY": "", "WEBHOOK_SECRET": ""}
    customer, _, invoice = _signed_in()

    page = _page_client(customer).get(f"/billing/invoices/{invoice.number}/pay")

    assert page.status_code == 200 and "payments/paynow_redirect.html" in [t.name for t in page.templates]
    assert "stripe" not in page["Content-Security-Policy"]


def test_a_paid_invoice_has_nothing_to_pay_by_card(stripe_on):
    customer, _, invoice = _signed_in()
    invoice.status, invoice.amount_paid = "paid", invoice.total
    invoice.save(update_fields=["status", "amount_paid"])

    page = _page_client(customer).get(f"/billing/invoices/{invoice.number}/pay", follow=True)

    assert "This invoice has nothing left to pay." in page.content.decode()
    assert page.redirect_chain and "/pay" not in page.redirect_chain[-1][0]


def test_cards_alone_make_online_payment_available(stripe_on):
    stripe_on.NETCASH = {**stripe_on.NETCASH, "PAYNOW_SERVICE_KEY": ""}
    stripe_on.SANDBOX_GATEWAY_ENABLED = False
    assert online_payment_unavailable_reason() == ""
    stripe_on.STRIPE = {**stripe_on.STRIPE, "WEBHOOK_SECRET": ""}  # no webhook: a card payment could never be booked
    assert online_payment_unavailable_reason() != ""


# --- the result page while Stripe's webhook is on its way --------------------------------------------------
def test_a_card_payment_waiting_for_its_webhook_reads_confirming_not_pending_at_the_bank(client):
    customer = CustomerFactory()
    invoice = make_invoice(customer, "120.00")
    PaymentTransaction.objects.create(customer=customer, invoice=invoice, amount=Decimal("120.00"), method="stripe",
                                      provider="stripe", reference=f"{invoice.number}-CARD01", status="pending")
    PaymentTransaction.objects.create(customer=customer, invoice=invoice, amount=Decimal("120.00"), method="eft",
                                      provider="netcash", reference=f"{invoice.number}-EFT001", status="pending")

    card = client.get(f"/payments/result/{invoice.number}-CARD01").content.decode()
    eft = client.get(f"/payments/result/{invoice.number}-EFT001").content.decode()

    assert 'data-state="confirming"' in card and "waiting for Stripe to confirm" in card
    assert 'data-state="pending"' in eft  # NetCash said pending: that stays as it was


# --- the stand-in check -----------------------------------------------------------------------------------
def _w001(settings, **stripe):
    settings.STRIPE = {**settings.STRIPE, **stripe}
    return [m for m in run_checks() if m.id == "payments.W001"]


def test_stripe_pointed_at_a_stand_in_with_debug_off_is_a_warning(settings):
    settings.DEBUG = False
    assert _w001(settings, API_BASE="", JS_URL="https://js.stripe.com/v3/") == []  # positive control: Stripe's own
    assert len(_w001(settings, API_BASE="http://127.0.0.1:8765", JS_URL="https://js.stripe.com/v3/")) == 1
    assert len(_w001(settings, API_BASE="", JS_URL="http://127.0.0.1:8765/v3/")) == 1
    settings.DEBUG = True
    assert _w001(settings, API_BASE="http://127.0.0.1:8765", JS_URL="http://127.0.0.1:8765/v3/") == []


# --- removing a saved card removes it at Stripe too -------------------------------------------------------
DETACHES = FollowUp.objects.filter(func="payments.services.stripe_payments.stripe_card_detach_at_stripe")


@responses.activate
def test_removing_a_card_on_the_billing_page_detaches_it_at_stripe(stripe_on, django_capture_on_commit_callbacks):
    customer, _, _ = _signed_in()
    card = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                        last_four="4242", provider_token="pm_remove_me")
    debit = PaymentMethod.objects.create(customer=customer, method_type="debit_order", display_name="FNB ***1234",
                                         last_four="1234")
    responses.add(responses.POST, f"{STRIPE}/payment_methods/pm_remove_me/detach",
                  json={"id": "pm_remove_me", "object": "payment_method", "customer": None, "card": {"last4": "4242"}})
    web = _page_client(customer)

    with django_capture_on_commit_callbacks(execute=True):  # the follow-up rings on commit (tasks run inline)
        web.post(f"/dashboard/billing/methods/{card.pk}/remove/", {"confirm": "yes"})
        web.post(f"/dashboard/billing/methods/{debit.pk}/remove/", {"confirm": "yes"})

    assert PaymentMethod.objects.filter(deleted_at__isnull=False).count() == 2
    assert [c.request.url for c in responses.calls] == [f"{STRIPE}/payment_methods/pm_remove_me/detach"]
    assert DETACHES.get().status == "done"  # one, for the card; none for the debit order


@responses.activate
def test_a_stripe_outage_does_not_stop_the_removal_and_the_detach_is_tried_again(
        stripe_on, django_capture_on_commit_callbacks):
    customer, client, _ = _signed_in()
    card = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                        last_four="4242", provider_token="pm_later")
    responses.add(responses.POST, f"{STRIPE}/payment_methods/pm_later/detach", status=503,
                  json={"error": {"type": "api_error", "message": "down"}})

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/payments/methods/{card.pk}").status_code == 204

    card.refresh_from_db()
    assert card.deleted_at is not None
    row = DETACHES.get()
    assert row.status == "pending" and row.attempts == 1 and "unavailable" in row.error  # retried with backoff


# --- one payable card attempt per invoice, for the amount still owed (probe findings) ----------------------
@pytest.fixture
def django_db_on_commit(django_capture_on_commit_callbacks):
    """Follow-ups ring on commit (tasks run inline in these tests)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _cancel_answers(status=200, intent_status="canceled"):
    responses.add(responses.POST, re.compile(rf"{STRIPE}/payment_intents/pi_\w+/cancel"), status=status,
                  json=(_intent_answer() | {"status": intent_status}) if status == 200 else
                  {"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}})


@responses.activate
def test_a_payment_landing_meanwhile_cancels_the_open_card_attempt_for_the_old_amount(stripe_on, django_db_on_commit):
    from payments.services.payments import payment_complete

    customer, _, invoice = _signed_in("899.00")
    other = make_invoice(customer, "100.00")
    stale = _pending(customer, invoice, save=False)  # R 899 at the 3-D Secure step
    still_right = PaymentTransaction.objects.create(
        customer=customer, invoice=other, amount=Decimal("100.00"), method="stripe", provider="stripe",
        reference=f"{other.number}-OK0001", status="pending", provider_transaction_id="pi_3Other", raw_response={})
    _cancel_answers()

    with django_db_on_commit():
        payment_complete(reference="EFT-500", amount=Decimal("500.00"), customer=customer, method="eft",
                         provider="manual", invoice=invoice)

    stale.refresh_from_db()
    still_right.refresh_from_db()
    assert (stale.status, stale.raw_response["error_code"]) == ("failed", "superseded")
    assert "now owes 399.00" in stale.failure_reason
    assert still_right.status == "pending"  # positive control: its invoice still owes exactly its amount
    assert [c.request.url for c in responses.calls] == [f"{STRIPE}/payment_intents/pi_3Card01/cancel"]
    assert not NotificationLog.objects.filter(event="payment_failed").exists()  # nothing to tell the customer


@responses.activate
def test_a_card_payment_that_still_lands_on_an_invoice_owing_less_is_flagged_for_staff(client, stripe_on, django_db_on_commit):
    from payments.services.payments import payment_complete

    stripe_on.OPS_WEBHOOK_URL, stripe_on.OPS_WEBHOOK_KIND = "https://hooks.slack.com/services/T0/B0/x", "slack"
    responses.add(responses.POST, "https://hooks.slack.com/services/T0/B0/x", body="ok")
    customer, _, placeholder = _signed_in()
    placeholder.delete()  # a bare factory invoice has no ledger entry; this test checks the books
    invoice = invoice_create(customer=customer, invoice_type="adjustment",  # issued with its ledger entry
                             lines=[LineSpec(description="Router", amount=Decimal("899.00"))])
    payment = _pending(customer, invoice, save=False)
    responses.add(responses.POST, f"{STRIPE}/payment_intents/pi_3Card01/cancel", status=400,  # too late
                  json={"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}})
    responses.add(responses.GET, f"{STRIPE}/payment_intents/pi_3Card01", json=_intent_answer(89900) | {
        "status": "succeeded"})
    with django_db_on_commit():
        payment_complete(reference="EFT-ALL", amount=Decimal("899.00"), customer=customer, method="eft",
                         provider="manual", invoice=invoice)
    payment.refresh_from_db()
    assert payment.status == "pending"  # Stripe could not cancel it: it succeeded, its webhook books it

    post_event(client, event("evt_over", "payment_intent.succeeded", _succeeded(payment, save=False)))

    payment.refresh_from_db()
    assert payment.status == "completed" and payment.needs_review
    assert "arrived when invoice" in payment.review_note and "owed 0.00" in payment.review_note
    assert NotificationLog.objects.filter(event="payment_needs_review").count() == 1
    assert ledger_differences() == []


@responses.activate
def test_a_card_payment_for_exactly_what_is_owed_is_not_flagged(client, stripe_on):
    customer, _, invoice = _signed_in("350.00")
    payment = _pending(customer, invoice, save=False)
    post_event(client, event("evt_exact", "payment_intent.succeeded", _succeeded(payment, save=False)))
    payment.refresh_from_db()
    assert payment.status == "completed" and not payment.needs_review


@responses.activate
def test_a_new_attempt_is_refused_while_an_older_one_is_going_through(stripe_on):
    customer, client, invoice = _signed_in("350.00")
    older = _pending(customer, invoice, save=True)
    responses.add(responses.POST, f"{STRIPE}/payment_intents/pi_3Card01/cancel", status=400,
                  json={"error": {"type": "invalid_request_error", "code": "payment_intent_unexpected_state"}})
    responses.add(responses.GET, f"{STRIPE}/payment_intents/pi_3Card01",
                  json=_intent_answer() | {"status": "processing"})

    refused = _pay(client, invoice)

    assert refused.status_code == 409 and "already going through" in refused.json()["message"]
    assert not [c for c in responses.calls if c.request.url.endswith("/payment_intents")]  # no second intent
    older.refresh_from_db()
    assert older.status == "pending"
    assert PaymentTransaction.objects.exclude(pk=older.pk).get().status == "failed"


@responses.activate
def test_a_saved_card_is_charged_only_the_amount_the_customer_agreed_to(stripe_on):
    customer, client, invoice = _signed_in("350.00")
    card = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                        last_four="4242", provider_token="pm_4242")
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_77", "object": "customer"})
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=_intent_answer() | {
        "status": "succeeded", "latest_charge": "ch_1"})
    body = {"flow": "saved_method", "invoice_id": invoice.pk, "payment_method_id": card.pk}

    stale = client.post("/api/payments/process", body | {"expected_amount": "899.00"}, format="json")

    assert stale.status_code == 409 and stale.json()["extra"] == {"amount_due": "350.00"}
    assert len(responses.calls) == 0 and PaymentTransaction.objects.count() == 0
    agreed = client.post("/api/payments/process", body | {"expected_amount": "350.00"}, format="json")
    assert agreed.status_code == 201 and agreed.json()["payment"]["status"] == "completed"  # positive control


@responses.activate
def test_a_failed_3ds_step_says_so_and_no_email_goes_out(client, stripe_on):
    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice, save=False)
    error = {"type": "invalid_request_error", "code": "payment_intent_authentication_failure",
             "message": "We are unable to authenticate your payment method."}
    post_event(client, event("evt_3ds_fail", "payment_intent.payment_failed",
                             intent(payment, status="requires_payment_method", error=error)))
    payment.refresh_from_db()
    assert payment.status == "failed" and payment.failure_reason.startswith("Your bank could not verify this payment")
    assert not NotificationLog.objects.filter(event="payment_failed").exists()


def test_the_pay_page_is_never_cached_and_takes_the_number_in_any_case(stripe_on):
    customer, _, invoice = _signed_in()
    web = _page_client(customer)
    page = web.get(f"/billing/invoices/{invoice.number.lower()}/pay")
    assert page.status_code == 200 and f"Pay invoice {invoice.number}" in page.content.decode()
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]


# --- second probe: a Stripe customer Stripe forgot, declined intents left open, the same card saved twice ---
def _no_such(param, ident):
    return {"error": {"type": "invalid_request_error", "code": "resource_missing", "param": param,
                      "message": f"No such {'customer' if param == 'customer' else 'PaymentMethod'}: '{ident}'"}}


@responses.activate
def test_a_stripe_customer_stripe_no_longer_knows_is_replaced_for_a_new_card(stripe_on, django_db_on_commit):
    customer, client, invoice = _signed_in()
    StripeCustomer.objects.create(customer=customer, stripe_customer_id="cus_gone")
    old_card = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                            last_four="4242", provider_token="pm_on_gone", card_expiry_month=1,
                                            card_expiry_year=2099)
    # Registered for the same URL: `responses` answers them in this order (the first refuses, the retry passes).
    responses.add(responses.POST, f"{STRIPE}/payment_intents", status=400, json=_no_such("customer", "cus_gone"))
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_new", "object": "customer"})
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=_intent_answer())
    responses.add(responses.POST, f"{STRIPE}/payment_methods/pm_on_gone/detach", status=400,
                  json=_no_such("customer", "cus_gone"))

    with django_db_on_commit():
        response = _pay(client, invoice, save_card=True)

    assert response.status_code == 201, response.json()
    assert StripeCustomer.objects.get(customer=customer).stripe_customer_id == "cus_new"
    retried = [c for c in responses.calls if c.request.url.endswith("/payment_intents")]
    assert [_sent(c)["customer"] for c in retried] == ["cus_gone", "cus_new"]
    (created,) = [c for c in responses.calls if c.request.url.endswith("/customers")]
    # Its own key: within 24 h Stripe would replay `customer:<pk>`'s first answer, the forgotten id.
    assert created.request.headers["Idempotency-Key"] == f"customer:{customer.pk}:after:cus_gone"
    old_card.refresh_from_db()
    assert old_card.deleted_at is not None  # it went with the forgotten Stripe customer: no longer offered


@responses.activate
def test_a_saved_card_stripe_no_longer_knows_is_removed_and_nothing_is_charged(stripe_on):
    customer, client, invoice = _signed_in()
    StripeCustomer.objects.create(customer=customer, stripe_customer_id="cus_gone")
    card = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                        last_four="4242", provider_token="pm_on_gone")
    responses.add(responses.POST, f"{STRIPE}/payment_intents", status=400, json=_no_such("customer", "cus_gone"))

    refused = client.post("/api/payments/process", {"flow": "saved_method", "invoice_id": invoice.pk,
                                                    "payment_method_id": card.pk}, format="json")

    assert refused.status_code == 400 and "no longer available" in refused.json()["message"]
    assert refused.json()["extra"]["removed"] == [card.pk]  # the page takes its button off
    card.refresh_from_db()
    assert card.deleted_at is not None and not StripeCustomer.objects.filter(customer=customer).exists()
    assert PaymentTransaction.objects.get().status == "failed"
    assert not NotificationLog.objects.filter(event="payment_failed").exists()


@responses.activate
def test_any_other_refusal_keeps_the_stripe_customer(stripe_on):
    customer, client, invoice = _signed_in()
    StripeCustomer.objects.create(customer=customer, stripe_customer_id="cus_kept")
    responses.add(responses.POST, f"{STRIPE}/payment_intents", status=400, json={"error": {
        "type": "invalid_request_error", "code": "parameter_invalid_integer", "param": "amount", "message": "bad"}})

    assert _pay(client, invoice, save_card=True).status_code == 402
    assert StripeCustomer.objects.get(customer=customer).stripe_customer_id == "cus_kept"  # not forgotten


@responses.activate
def test_a_declined_attempt_is_cancelled_at_stripe_so_it_cannot_be_charged_later(client, stripe_on):
    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice, save=False)
    responses.add(responses.POST, f"{STRIPE}/payment_intents/pi_3Card01/cancel",
                  json=_intent_answer() | {"status": "canceled"})
    error = {"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds", "message": "No"}

    post_event(client, event("evt_decl", "payment_intent.payment_failed",
                             intent(payment, status="requires_payment_method", error=error)))

    assert [c.request.url for c in responses.calls] == [f"{STRIPE}/payment_intents/pi_3Card01/cancel"]
    assert _sent(responses.calls[0]) == {"cancellation_reason": "abandoned"}


@responses.activate
def test_a_declined_saved_card_s_intent_is_cancelled_too(stripe_on, django_db_on_commit):
    customer, client, invoice = _signed_in()
    StripeCustomer.objects.create(customer=customer, stripe_customer_id="cus_77")
    card = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                        last_four="4242", provider_token="pm_4242")
    responses.add(responses.POST, f"{STRIPE}/payment_intents", status=402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Declined",
        "payment_intent": {"id": "pi_3Declined", "object": "payment_intent", "status": "requires_payment_method"}}})
    responses.add(responses.POST, f"{STRIPE}/payment_intents/pi_3Declined/cancel",
                  json=_intent_answer(pi="pi_3Declined") | {"status": "canceled"})

    with django_db_on_commit():
        declined = client.post("/api/payments/process", {"flow": "saved_method", "invoice_id": invoice.pk,
                                                         "payment_method_id": card.pk}, format="json")

    assert declined.status_code == 402
    assert responses.calls[-1].request.url == f"{STRIPE}/payment_intents/pi_3Declined/cancel"


@responses.activate
def test_the_same_card_saved_again_is_listed_once(stripe_on, django_db_on_commit):
    customer, _, invoice = _signed_in()
    payment = _pending(customer, invoice)
    first = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Mastercard ***4444",
                                         last_four="4444", provider_token="pm_first", card_expiry_month=9,
                                         card_expiry_year=2031)
    _card_at_stripe(card="pm_again")  # the same Mastercard ***4444 09/2031, a new Stripe copy
    responses.add(responses.POST, f"{STRIPE}/payment_methods/pm_again/detach",
                  json={"id": "pm_again", "object": "payment_method", "customer": None, "card": {"last4": "4444"}})

    with django_db_on_commit():
        assert stripe_card_save_after_payment(payment.pk, "pm_again") == first
    assert PaymentMethod.objects.filter(customer=customer, deleted_at__isnull=True).count() == 1
    assert responses.calls[-1].request.url == f"{STRIPE}/payment_methods/pm_again/detach"  # no clutter at Stripe
    _card_at_stripe(card="pm_other", customer="cus_77")
    responses.replace(responses.GET, f"{STRIPE}/payment_methods/pm_other", json={
        "id": "pm_other", "object": "payment_method", "type": "card", "customer": "cus_77",
        "card": {"brand": "mastercard", "last4": "4444", "exp_month": 10, "exp_year": 2031}})
    assert stripe_card_save_after_payment(payment.pk, "pm_other") != first  # positive control: another expiry


def test_the_result_page_is_never_cached_and_refreshes_without_history(client):
    customer = CustomerFactory()
    invoice = make_invoice(customer, "120.00")
    PaymentTransaction.objects.create(customer=customer, invoice=invoice, amount=Decimal("120.00"), method="stripe",
                                      provider="stripe", reference=f"{invoice.number}-CARD02", status="pending")
    page = client.get(f"/payments/result/{invoice.number}-CARD02")
    assert "no-store" in page["Cache-Control"] or "no-cache" in page["Cache-Control"]
    assert 'window.location.replace("?check=1")' in page.content.decode()


# --- third probe: a retry after a decline is a new attempt; stopped attempts are not shown as payments ------
@responses.activate
def test_a_new_attempt_after_a_decline_never_reuses_the_open_one(stripe_on):
    customer, client, invoice = _signed_in()
    responses.add_callback(
        responses.POST, f"{STRIPE}/payment_intents", content_type="application/json",
        callback=lambda request: (200, {}, json.dumps(
            _intent_answer(pi="pi_" + request.headers["Idempotency-Key"].replace(":", "_")))))
    _cancel_answers()

    first = _pay(client, invoice).json()
    again = _pay(client, invoice).json()  # positive control: a repeat without the flag replays the attempt
    retry = _pay(client, invoice, new_attempt=True).json()

    assert first["payment_intent"] == again["payment_intent"] != retry["payment_intent"]
    old = PaymentTransaction.objects.get(reference=first["payment"]["reference"])
    assert (old.status, old.raw_response["error_code"]) == ("failed", "superseded")  # its intent cancelled
    assert [c.request.url for c in responses.calls if c.request.url.endswith("/cancel")] == [
        f"{STRIPE}/payment_intents/{first['payment_intent']}/cancel"]


def test_stopped_attempts_are_not_listed_as_payments_to_the_customer(stripe_on, admin_client):
    customer, client, invoice = _signed_in()
    base = {"customer": customer, "invoice": invoice, "amount": Decimal("350.00"), "method": "stripe",
            "provider": "stripe"}
    stopped = PaymentTransaction.objects.create(**base, reference="STOP-1", status="failed",
                                                raw_response={"error_code": "superseded"})
    declined = PaymentTransaction.objects.create(**base, reference="DECL-1", status="failed",
                                                 raw_response={"error_code": "insufficient_funds"})
    bare = PaymentTransaction.objects.create(**base, reference="BARE-1", status="failed", raw_response={})

    listed = {row["reference"] for row in client.get("/api/payments/history").json()["results"]}
    page = _page_client(customer).get("/dashboard/payments/").content.decode()

    assert listed == {"DECL-1", "BARE-1"} and stopped.reference not in page and declined.reference in page
    assert bare.reference in page
    staff = admin_client.get("/api/payments/history").json()["results"]  # staff see every row
    assert "STOP-1" in {row["reference"] for row in staff}


# --- attempts whose webhook never came: Stripe's own answer books or closes them -----------------------------
@responses.activate
def test_the_sweep_books_a_charge_whose_webhook_never_came_and_closes_the_rest(stripe_on):
    from datetime import timedelta

    from django.utils import timezone

    from payments.services.stripe_payments import stripe_pending_attempts_sweep

    customer, _, invoice = _signed_in()
    now = timezone.now()

    def attempt(ref, pi, age, inv=invoice):
        row = PaymentTransaction.objects.create(
            customer=customer, invoice=inv, amount=inv.total, method="stripe", provider="stripe", reference=ref,
            status="pending", provider_transaction_id=pi, raw_response={"save_card": False})
        PaymentTransaction.objects.filter(pk=row.pk).update(created_at=now - age)
        return row

    charged = attempt("CHARGED-1", "pi_charged", timedelta(minutes=20))
    fresh = attempt("FRESH-1", "pi_fresh", timedelta(minutes=5), inv=make_invoice(customer, "10.00"))
    stale = attempt("STALE-1", "pi_stale", timedelta(days=2), inv=make_invoice(customer, "11.00"))
    young_open = attempt("OPEN-1", "pi_open", timedelta(hours=2), inv=make_invoice(customer, "12.00"))
    responses.add(responses.GET, f"{STRIPE}/payment_intents/pi_charged", json=_intent_answer(35000, "pi_charged") | {
        "status": "succeeded", "latest_charge": "ch_9", "metadata": {"kind": "invoice_payment",
                                                                    "reference": "CHARGED-1"}})
    responses.add(responses.GET, f"{STRIPE}/payment_intents/pi_stale", json=_intent_answer(1100, "pi_stale"))
    responses.add(responses.POST, f"{STRIPE}/payment_intents/pi_stale/cancel",
                  json=_intent_answer(1100, "pi_stale") | {"status": "canceled"})
    responses.add(responses.GET, f"{STRIPE}/payment_intents/pi_open", json=_intent_answer(1200, "pi_open"))

    counts = stripe_pending_attempts_sweep(now=now)

    assert counts == {"booked": 1, "closed": 0, "cancelled": 1, "left": 1, "unreachable": 0}
    for row in (charged, fresh, stale, young_open):
        row.refresh_from_db()
    assert (charged.status, charged.provider_transaction_id) == ("completed", "pi_charged")
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert (stale.status, stale.raw_response["error_code"]) == ("failed", "superseded")
    assert fresh.status == young_open.status == "pending"  # too young to ask / open for less than a day
    assert not [c for c in responses.calls if "pi_fresh" in c.request.url]
    assert stripe_pending_attempts_sweep(now=now)["booked"] == 0  # run again: nothing twice
