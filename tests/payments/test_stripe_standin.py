"""The Stripe stand-in (payments.stripe_standin): driven by the real stripe-python SDK (server side) and by
`requests` (the browser's calls), with a small local receiver checking each webhook's signature."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import stripe

from payments.stripe_standin import StripeStandIn

SK, PK, WHSEC = "sk_test_standin", "pk_test_standin", "whsec_standin_tests"


class Receiver:
    """A webhook endpoint on 127.0.0.1: answers 200 to correctly signed events (500 to the first `fail_first`)."""

    def __init__(self, fail_first: int = 0):
        self.received: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.attempts += 1
                try:
                    stripe.WebhookSignature.verify_header(body, self.headers["Stripe-Signature"], WHSEC)
                    status = 500 if receiver.attempts <= fail_first else 200
                except stripe.SignatureVerificationError:
                    status = 400
                if status == 200:
                    receiver.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/stripe"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def standin(receiver):
    s = StripeStandIn(secret_key=SK, publishable_key=PK, webhook_url=receiver.url, webhook_secret=WHSEC).start()
    yield s
    s.stop()


def sdk(s: StripeStandIn, key: str = SK) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": s.url}, http_client=stripe.RequestsClient(),
                               max_network_retries=0)


def new_intent(s, **params):
    return sdk(s).v1.payment_intents.create(params={"amount": 29900, "currency": "ZAR", "metadata": {"reference": "R1"},
                                                    "automatic_payment_methods": {"enabled": True}, **params})


def browser_confirm(s, pi, number="4242 4242 4242 4242", exp_year="34", key=PK, client_secret=None):
    """What the Payment Element iframe POSTs (form-encoded, publishable key + client secret)."""
    return requests.post(f"{s.url}/v1/payment_intents/{pi['id']}/confirm", data={
        "key": key, "client_secret": client_secret or pi["client_secret"], "payment_method_data[type]": "card",
        "payment_method_data[card][number]": number, "payment_method_data[card][exp_month]": "12",
        "payment_method_data[card][exp_year]": exp_year, "payment_method_data[card][cvc]": "123",
        "return_url": "http://127.0.0.1:8000/pay/return"}, timeout=5)


def authenticate(s, pi, outcome):
    return requests.post(f"{s.url}/v1/payment_intents/{pi['id']}/authenticate", data={
        "key": PK, "client_secret": pi["client_secret"], "outcome": outcome}, timeout=5)


def test_customer_create(standin):
    cus = sdk(standin).v1.customers.create(params={"email": "a@example.com", "name": "Ann",
                                                   "metadata": {"account_number": "CT-1"}})
    assert cus.id.startswith("cus_") and cus.object == "customer"
    assert (cus.email, cus.name, cus.metadata.to_dict()) == ("a@example.com", "Ann", {"account_number": "CT-1"})
    assert standin.calls[-1][:2] == ("POST", "/v1/customers")


def test_intent_create_replays_same_key_and_refuses_changed_params(standin):
    client = sdk(standin)
    params = {"amount": 29900, "currency": "ZAR", "metadata": {"reference": "R1"},
              "automatic_payment_methods": {"enabled": True}}
    first = client.v1.payment_intents.create(params=params, options={"idempotency_key": "invoice:1"})
    assert first.status == "requires_payment_method" and first.amount == 29900 and first.currency == "zar"
    assert first.client_secret.startswith(first.id + "_secret_") and first.latest_charge is None
    assert standin.calls[-1][2]["automatic_payment_methods"] == {"enabled": "true"}
    again = client.v1.payment_intents.create(params=params, options={"idempotency_key": "invoice:1"})
    assert again.id == first.id and len(standin.intents) == 1
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(params={**params, "amount": 100}, options={"idempotency_key": "invoice:1"})
    other = client.v1.payment_intents.create(params={**params, "amount": 100}, options={"idempotency_key": "invoice:2"})
    assert other.id != first.id and other.amount == 100


def test_browser_confirm_4242_succeeds_and_sends_one_signed_event(standin, receiver):
    pi = new_intent(standin)
    answer = browser_confirm(standin, pi)
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "*"
    body = answer.json()
    assert body["status"] == "succeeded" and body["amount_received"] == 29900
    assert body["latest_charge"].startswith("ch_") and body["payment_method"].startswith("pm_")
    events = standin.wait_for_events(1)
    assert [e["type"] for e in events] == ["payment_intent.succeeded"] and events[0]["status"] == 200
    (event,) = receiver.received  # signature verified by the receiver
    assert event["data"]["object"]["id"] == pi.id and event["api_version"] == "2026-06-24.dahlia"
    assert event["data"]["object"]["metadata"] == {"reference": "R1"}
    pm = sdk(standin).v1.payment_methods.retrieve(body["payment_method"])
    assert (pm.card.brand, pm.card.last4, pm.customer) == ("visa", "4242", None)
    # never twice
    again = browser_confirm(standin, pi)
    assert again.status_code == 400 and again.json()["error"]["code"] == "payment_intent_unexpected_state"


def test_decline_9995_then_a_new_card_succeeds(standin, receiver):
    pi = new_intent(standin)
    declined = browser_confirm(standin, pi, number="4000000000009995")
    assert declined.status_code == 402
    error = declined.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", "card_declined",
                                                                     "insufficient_funds")
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["last_payment_error"]["payment_method"]["card"]["last4"] == "9995"
    assert standin.wait_for_events(1)[0]["type"] == "payment_intent.payment_failed"
    # positive control: the same intent takes a good card after the decline
    assert browser_confirm(standin, pi, number="5555555555554444").json()["status"] == "succeeded"
    assert [e["type"] for e in standin.wait_for_events(2)] == ["payment_intent.payment_failed",
                                                               "payment_intent.succeeded"]


@pytest.mark.parametrize(("number", "exp_year", "code", "decline_code"), [
    ("4000000000000002", "34", "card_declined", "generic_decline"),
    ("4242424242424242", "20", "expired_card", "expired_card"),
    ("4242424242424241", "34", "incorrect_number", None),
])
def test_other_card_errors(standin, number, exp_year, code, decline_code):
    error = browser_confirm(standin, new_intent(standin), number=number, exp_year=exp_year).json()["error"]
    assert (error["code"], error["decline_code"]) == (code, decline_code)


def test_3ds_card_needs_authentication_then_complete_succeeds(standin):
    pi = new_intent(standin)
    body = browser_confirm(standin, pi, number="4000 0027 6000 3184").json()
    assert body["status"] == "requires_action"
    assert body["next_action"] == {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
    done = authenticate(standin, pi, "complete").json()
    assert done["status"] == "succeeded" and done["latest_charge"]
    assert [e["type"] for e in standin.wait_for_events(1)] == ["payment_intent.succeeded"]


def test_3ds_fail_leaves_authentication_failure(standin):
    pi = new_intent(standin)
    browser_confirm(standin, pi, number="4000002760003184")
    failed = authenticate(standin, pi, "fail").json()
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    assert standin.wait_for_events(1)[0]["type"] == "payment_intent.payment_failed"


def saved_card(s, customer, number):
    """A card saved during an on-session payment (setup_future_usage + customer); returns its pm id."""
    pi = new_intent(s, customer=customer, setup_future_usage="off_session")
    body = browser_confirm(s, pi, number=number).json()
    if body["status"] == "requires_action":
        body = authenticate(s, pi, "complete").json()
    assert body["status"] == "succeeded"
    return body["payment_method"]


def test_setup_future_usage_attaches_the_card_to_the_customer(standin):
    client = sdk(standin)
    cus = client.v1.customers.create(params={"email": "a@example.com"})
    pm_id = saved_card(standin, cus.id, "5555 5555 5555 4444")
    pm = client.v1.payment_methods.retrieve(pm_id)
    assert (pm.customer, pm.card.brand, pm.card.last4, pm.card.exp_month, pm.card.exp_year) == (
        cus.id, "mastercard", "4444", 12, 2034)
    # control: without setup_future_usage the card is not kept
    plain = browser_confirm(standin, new_intent(standin, customer=cus.id)).json()
    assert client.v1.payment_methods.retrieve(plain["payment_method"]).customer is None
    detached = client.v1.payment_methods.detach(pm_id)
    assert detached.customer is None
    assert client.v1.payment_methods.attach(pm_id, params={"customer": cus.id}).customer == cus.id


def test_saved_card_server_side_confirm(standin):
    client = sdk(standin)
    ann, bob = (client.v1.customers.create(params={"email": f"{n}@example.com"}) for n in ("ann", "bob"))
    visa, three_ds = saved_card(standin, ann.id, "4242424242424242"), saved_card(standin, ann.id, "4000002760003184")
    paid = new_intent(standin, customer=ann.id, payment_method=visa, confirm=True)
    assert paid.status == "succeeded" and paid.payment_method == visa
    needs_action = new_intent(standin, customer=ann.id, payment_method=three_ds, confirm=True,
                              return_url="http://127.0.0.1:8000/r")
    assert needs_action.status == "requires_action"
    assert needs_action.next_action.use_stripe_sdk.type == "three_d_secure_redirect"
    with pytest.raises(stripe.InvalidRequestError) as refused:
        new_intent(standin, customer=bob.id, payment_method=visa, confirm=True)
    assert refused.value.http_status == 400


def test_server_side_decline_is_a_402_card_error_carrying_the_intent(standin):
    client = sdk(standin)
    cus = client.v1.customers.create(params={"email": "a@example.com"})
    declined = browser_confirm(standin, new_intent(standin), number="4000000000009995").json()["error"]
    pm_id = declined["payment_method"]["id"]
    client.v1.payment_methods.attach(pm_id, params={"customer": cus.id})  # as a card saved earlier would be
    with pytest.raises(stripe.CardError) as refused:
        new_intent(standin, customer=cus.id, payment_method=pm_id, confirm=True)
    assert (refused.value.http_status, refused.value.code) == (402, "card_declined")
    assert refused.value.error.decline_code == "insufficient_funds"
    assert refused.value.error.payment_intent.status == "requires_payment_method"
    three_ds = saved_card(standin, cus.id, "4000002760003184")
    with pytest.raises(stripe.CardError) as off_session:
        new_intent(standin, customer=cus.id, payment_method=three_ds, confirm=True, off_session=True)
    assert off_session.value.code == "authentication_required"


def test_wrong_secret_is_401(standin):
    with pytest.raises(stripe.AuthenticationError):
        sdk(standin, key="sk_test_wrong").v1.customers.create(params={"email": "a@example.com"})
    assert requests.post(f"{standin.url}/v1/customers", timeout=5).json()["error"]["message"] == \
        "Invalid API Key provided"
    assert sdk(standin).v1.customers.create(params={"email": "a@example.com"}).id  # control


def test_browser_calls_need_the_publishable_key_and_the_client_secret(standin):
    pi = new_intent(standin)
    assert browser_confirm(standin, pi, key="pk_test_other").status_code == 401
    assert browser_confirm(standin, pi, client_secret=pi.id + "_secret_nope").status_code == 400
    # the publishable key cannot create anything
    assert requests.post(f"{standin.url}/v1/customers", data={"key": PK}, timeout=5).status_code == 401
    got = requests.get(f"{standin.url}/v1/payment_intents/{pi.id}",
                       params={"key": PK, "client_secret": pi.client_secret}, timeout=5)
    assert got.status_code == 200 and got.json()["id"] == pi.id  # control
    missing = requests.get(f"{standin.url}/v1/payment_intents/pi_nope", params={"key": PK}, timeout=5)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"


def test_refund_sends_charge_refunded_and_refuses_more_than_remains(standin):
    pi = new_intent(standin)
    browser_confirm(standin, pi)
    client = sdk(standin)
    refund = client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 10000, "reason":
                                              "requested_by_customer", "metadata": {"ref": "RF1"}})
    assert (refund.object, refund.amount, refund.status, refund.payment_intent) == ("refund", 10000, "succeeded",
                                                                                    pi.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.refunds.create(params={"payment_intent": pi.id, "amount": 20000})
    rest = client.v1.refunds.create(params={"payment_intent": pi.id})  # control: the remaining 19900
    assert rest.amount == 19900
    events = standin.wait_for_events(3)
    charge = events[-1]["data"]["object"]
    assert events[-1]["type"] == "charge.refunded" and charge["id"] == refund.charge
    assert (charge["amount_refunded"], charge["refunded"]) == (29900, True)
    assert [r["id"] for r in charge["refunds"]["data"]] == [refund.id, rest.id]


def test_webhook_retried_after_a_500():
    receiver = Receiver(fail_first=1)
    s = StripeStandIn(secret_key=SK, publishable_key=PK, webhook_url=receiver.url, webhook_secret=WHSEC).start()
    try:
        browser_confirm(s, new_intent(s))
        (event,) = s.wait_for_events(1)
        assert receiver.attempts == 2 and event["status"] == 200
    finally:
        s.stop()
        receiver.stop()


def test_serves_stripe_js_and_the_frames(standin):
    js = requests.get(standin.js_url, timeout=5)
    assert js.headers["Content-Type"].startswith("application/javascript")
    assert "window.Stripe = Stripe" in js.text and standin.url in js.text
    form = requests.get(f"{standin.url}/elements/payment", params={"key": PK}, timeout=5).text
    assert all(label in form for label in ("Card number", "Expiration date", "Security code"))
    three_ds = requests.get(f"{standin.url}/3ds", params={"key": PK, "client_secret": "x"}, timeout=5).text
    assert "3D Secure 2 Test Page" in three_ds and 'data-testid="3ds-complete"' in three_ds
    assert 'data-testid="3ds-fail"' in three_ds


def test_management_command_prints_its_url_and_stops_on_sigterm():
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "circletel.settings_test", "STRIPE_SECRET_KEY": SK,
           "STRIPE_PUBLISHABLE_KEY": PK, "STRIPE_WEBHOOK_SECRET": WHSEC}
    proc = subprocess.Popen([sys.executable, "manage.py", "stripe_standin", "--port", "0", "--webhook-url", ""],
                            cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Stripe stand-in on http://127.0.0.1:"), (line, proc.stderr.read())
        url = line.split()[3]
        assert requests.get(f"{url}/v3/", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cancel_stops_an_open_intent_and_a_charged_one_cannot_be_cancelled(standin):
    open_one, charged = new_intent(standin), new_intent(standin)
    assert browser_confirm(standin, charged).json()["status"] == "succeeded"  # positive control below

    cancelled = sdk(standin).v1.payment_intents.cancel(open_one.id, params={"cancellation_reason": "duplicate"})

    assert (cancelled.status, cancelled.cancellation_reason) == ("canceled", "duplicate")
    assert browser_confirm(standin, open_one).json()["error"]["code"] == "payment_intent_unexpected_state"
    with pytest.raises(stripe.InvalidRequestError):
        sdk(standin).v1.payment_intents.cancel(charged.id)
    assert standin.intents[charged.id]["status"] == "succeeded"
    types = [e["type"] for e in standin.wait_for_events(2)]
    assert sorted(types) == ["payment_intent.canceled", "payment_intent.succeeded"]
