"""Browser: paying an invoice by card through the Payment Element, against the local Stripe stand-in
(payments/stripe_standin.py: Stripe's documented test cards, its 3-D Secure test page, signed webhooks).

Issue 18, "Card payments through Stripe": a new card (saved for next time), a saved card reused, 3-D
Secure completed and failed, a decline offering another try. Money moves only on the stand-in's signed
webhook (or the server-side answer for a saved card); the page only displays.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.models import Invoice
from billing.services.invoices import LineSpec, invoice_create
from billing.services.ledger_check import ledger_differences
from payments.models import PaymentMethod, PaymentTransaction
from payments.stripe_standin import StripeStandIn
from tests.browser import BROWSER_MARKS, live_page, sign_in
from tests.portal.factories import customer_with_login

pytestmark = BROWSER_MARKS

SECRET, PUBLISHABLE, WHSEC = "sk_test_standin_browser", "pk_test_standin_browser", "whsec_standin_browser"
CARD_FRAME = 'iframe[name^="__privateStripeFrame"]'
CHALLENGE_FRAME = 'iframe[name="stripe-challenge-frame"]'


@pytest.fixture
def standin(live_server, settings):
    s = StripeStandIn(secret_key=SECRET, publishable_key=PUBLISHABLE, webhook_secret=WHSEC, synchronous_webhooks=True,
                      webhook_url=f"{live_server.url}/api/webhooks/stripe").start(port=0)
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": SECRET, "PUBLISHABLE_KEY": PUBLISHABLE,
                       "WEBHOOK_SECRET": WHSEC, "API_BASE": s.url, "JS_URL": s.js_url}
    yield s
    s.stop()


@pytest.fixture
def page(browser, live_server, settings, standin, tasks_run_inline):
    with live_page(browser, live_server, settings, timeout_ms=15_000) as pg:
        pg.csp_violations = []
        pg.on("console", lambda msg: "Content Security Policy" in msg.text and pg.csp_violations.append(msg.text))
        yield pg


def _invoice(customer, amount="799.00"):
    return invoice_create(customer=customer, invoice_type="adjustment",
                          lines=[LineSpec(description="Router", amount=Decimal(amount))])


def _fill_card(page, number, expiry="12 / 34", cvc="123"):
    frame = page.frame_locator(CARD_FRAME)
    frame.get_by_label("Card number").fill(number)
    frame.get_by_label("Expiration date").fill(expiry)
    frame.get_by_label("Security code").fill(cvc)


def _sign_in_to_pay(page, customer, invoice):
    sign_in(page, customer.user, f"/billing/invoices/{invoice.number}/pay")
    expect(page.get_by_test_id("card-submit")).to_be_enabled()  # the Payment Element is mounted


def _open_pay_page(page, invoice):
    page.goto(f"/billing/invoices/{invoice.number}/pay")
    expect(page.get_by_test_id("card-submit")).to_be_enabled()  # the Payment Element is mounted


def _expect_paid(page, invoice):
    expect(page.get_by_test_id("payment-state")).to_have_attribute("data-state", "paid", timeout=20_000)
    expect(page.get_by_test_id("receipt-link")).to_be_visible()
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_new_card_saved_then_reused_for_the_next_invoice(page, standin):
    customer = customer_with_login(first_name="Lerato")
    first, second = _invoice(customer, "799.00"), _invoice(customer, "450.00")
    _sign_in_to_pay(page, customer, first)
    expect(page.get_by_test_id("pay-amount")).to_have_text("R 799.00")
    expect(page.get_by_test_id("paynow-submit")).to_be_visible()  # Pay Now (sandbox) stays offered beside cards
    expect(page.get_by_test_id("saved-cards")).to_have_count(0)

    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_test_id("save-card").check()
    page.get_by_test_id("card-submit").click()

    _expect_paid(page, first)
    payment = PaymentTransaction.objects.get(invoice=first)
    assert (payment.status, payment.provider, payment.amount) == ("completed", "stripe", Decimal("799.00"))
    card = PaymentMethod.objects.get(customer=customer)  # recorded by the follow-up of the success webhook
    assert (card.display_name, card.last_four, card.provider_token.startswith("pm_")) == ("Visa ***4242", "4242", True)
    intent = [c for c in standin.calls if c[:2] == ("POST", "/v1/payment_intents")][0][2]
    assert intent["setup_future_usage"] == "off_session" and intent["customer"].startswith("cus_")

    _open_pay_page(page, second)
    page.get_by_test_id(f"pay-saved-{card.pk}").click()  # charged by our server, no card typed
    _expect_paid(page, second)
    assert PaymentTransaction.objects.get(invoice=second).payment_method_id == card.pk
    assert PaymentMethod.objects.filter(customer=customer).count() == 1  # reuse saves nothing new
    assert ledger_differences() == [] and page.csp_violations == []


def test_three_d_secure_in_the_page_for_a_new_and_a_saved_card(page, standin):
    customer = customer_with_login()
    first, second = _invoice(customer, "300.00"), _invoice(customer, "200.00")
    _sign_in_to_pay(page, customer, first)
    _fill_card(page, "4000 0027 6000 3184")  # Stripe's test card that always asks for 3-D Secure
    page.get_by_test_id("save-card").check()
    page.get_by_test_id("card-submit").click()
    challenge = page.frame_locator(CHALLENGE_FRAME)
    expect(challenge.get_by_text("3D Secure 2 Test Page")).to_be_visible()
    assert PaymentTransaction.objects.get(invoice=first).status == "pending"  # nothing until the bank says
    challenge.get_by_test_id("3ds-complete").click()
    _expect_paid(page, first)

    card = PaymentMethod.objects.get(customer=customer)
    _open_pay_page(page, second)
    page.get_by_test_id(f"pay-saved-{card.pk}").click()
    page.frame_locator(CHALLENGE_FRAME).get_by_test_id("3ds-complete").click()  # asked again, on-session
    _expect_paid(page, second)
    assert ledger_differences() == [] and page.csp_violations == []


def test_failed_authentication_and_a_decline_take_nothing_and_another_card_pays(page, standin):
    customer = customer_with_login()
    invoice = _invoice(customer, "650.00")
    _sign_in_to_pay(page, customer, invoice)

    _fill_card(page, "4000 0027 6000 3184")
    page.get_by_test_id("card-submit").click()
    page.frame_locator(CHALLENGE_FRAME).get_by_test_id("3ds-fail").click()
    expect(page.get_by_test_id("card-error")).to_be_visible()
    expect(page.get_by_test_id("card-submit")).to_be_enabled()  # the customer can try again here

    _fill_card(page, "4000 0000 0000 9995")  # insufficient funds
    page.get_by_test_id("card-submit").click()
    expect(page.get_by_test_id("card-error")).to_contain_text("insufficient funds")
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID and invoice.amount_paid == Decimal("0.00")
    assert not PaymentTransaction.objects.filter(invoice=invoice, status="completed").exists()

    _fill_card(page, "4242 4242 4242 4242")  # positive control: the same form, a good card
    page.get_by_test_id("card-submit").click()
    _expect_paid(page, invoice)
    assert PaymentTransaction.objects.filter(invoice=invoice, status="completed").count() == 1
    assert not PaymentMethod.objects.filter(customer=customer).exists()  # not asked to save: nothing saved
    # The failed attempts' intents are cancelled at Stripe: nobody can charge them later.
    assert sorted(i["status"] for i in standin.intents.values()) == ["canceled", "canceled", "succeeded"]
    assert ledger_differences() == [] and page.csp_violations == []


def test_an_incomplete_card_is_refused_in_the_page_before_anything_is_created(page, standin):
    customer = customer_with_login()
    invoice = _invoice(customer, "120.00")
    _sign_in_to_pay(page, customer, invoice)
    page.frame_locator(CARD_FRAME).get_by_label("Card number").fill("4242 4242")
    page.get_by_test_id("card-submit").click()
    expect(page.get_by_test_id("card-error")).to_be_visible()
    assert PaymentTransaction.objects.count() == 0
    assert not [c for c in standin.calls if c[1] == "/v1/payment_intents"]


def test_two_windows_cannot_both_charge_one_invoice(page, standin):
    """Probe finding: two tabs with different choices made two intents, both payable. The newest attempt now
    cancels the older one. (Tabs with the same choice share one intent: Stripe charges it once.)"""
    customer = customer_with_login()
    invoice = _invoice(customer, "999.00")
    _sign_in_to_pay(page, customer, invoice)
    _fill_card(page, "4000 0027 6000 3184")
    page.get_by_test_id("save-card").check()  # another choice than the second tab's: its own attempt and intent
    page.get_by_test_id("card-submit").click()
    expect(page.frame_locator(CHALLENGE_FRAME).get_by_text("3D Secure 2 Test Page")).to_be_visible()

    second = page.context.new_page()  # the same customer, another tab
    _open_pay_page(second, invoice)
    _fill_card(second, "4242 4242 4242 4242")
    second.get_by_test_id("card-submit").click()
    _expect_paid(second, invoice)

    page.frame_locator(CHALLENGE_FRAME).get_by_test_id("3ds-complete").click()  # the first tab's bank says yes...
    expect(page.get_by_test_id("card-error")).to_contain_text("This payment attempt was stopped")  # ...no charge
    completed = PaymentTransaction.objects.filter(invoice=invoice, status="completed")
    assert [p.amount for p in completed] == [Decimal("999.00")]
    assert [i["status"] for i in standin.intents.values()] == ["canceled", "succeeded"]
    assert not PaymentMethod.objects.filter(customer=customer).exists()  # the cancelled attempt saved nothing
    assert ledger_differences() == []


def test_an_amount_due_that_changes_while_the_page_is_open_is_shown_before_anything_is_charged(page, standin):
    from payments.services.payments import payment_complete

    customer = customer_with_login()
    invoice = _invoice(customer, "799.00")
    _sign_in_to_pay(page, customer, invoice)
    payment_complete(reference="EFT-PART-1", amount=Decimal("300.00"), customer=customer, method="eft",
                     provider="manual", invoice=invoice)  # an EFT lands while the customer is on the page

    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_test_id("card-submit").click()
    expect(page.get_by_test_id("card-error")).to_contain_text("The amount due is now R 499.00")
    expect(page.get_by_test_id("card-submit")).to_have_text("Pay R 499.00")
    assert not [i for i in standin.intents.values() if i["status"] == "succeeded"]  # nothing charged yet
    page.get_by_test_id("card-submit").click()

    _expect_paid(page, invoice)
    card = PaymentTransaction.objects.get(invoice=invoice, provider="stripe", status="completed")
    assert card.amount == Decimal("499.00") and not card.needs_review
    assert PaymentTransaction.objects.filter(provider="stripe").count() == 1  # the R 499 attempt was reused
    assert ledger_differences() == []


def test_cards_stripe_no_longer_holds_are_removed_and_a_new_card_still_pays(page, standin):
    """Probe finding: a Stripe customer Stripe forgot (the demo stand-in restarted; live keys after test keys)
    blocked every card payment. Now it is replaced, and the saved cards that went with it are removed."""
    customer = customer_with_login()
    first, second = _invoice(customer, "250.00"), _invoice(customer, "260.00")
    _sign_in_to_pay(page, customer, first)
    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_test_id("save-card").check()
    page.get_by_test_id("card-submit").click()
    _expect_paid(page, first)
    card = PaymentMethod.objects.get(customer=customer)

    standin.customers.clear()  # Stripe no longer knows the customer, nor its cards
    standin.methods.clear()
    _open_pay_page(page, second)
    page.get_by_test_id(f"pay-saved-{card.pk}").click()
    expect(page.get_by_test_id("card-error")).to_contain_text("no longer available")
    card.refresh_from_db()
    assert card.deleted_at is not None

    _open_pay_page(page, second)
    expect(page.get_by_test_id(f"pay-saved-{card.pk}")).to_have_count(0)
    _fill_card(page, "5555 5555 5555 4444")
    page.get_by_test_id("save-card").check()
    page.get_by_test_id("card-submit").click()
    _expect_paid(page, second)
    assert PaymentMethod.objects.get(customer=customer, deleted_at__isnull=True).display_name == "Mastercard ***4444"
    assert ledger_differences() == []
