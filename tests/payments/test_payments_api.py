"""Payments API: authorisation, customer isolation, validation, flows (Stripe mocked at HTTP)."""

from decimal import Decimal

import pytest
import responses
from rest_framework.test import APIClient

from payments.models import PaymentMethod, PaymentTransaction, Refund
from payments.services.payments import payment_complete
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import make_invoice

STRIPE = "https://api.stripe.com/v1"


def _saved_card():
    """A signed-in customer with a R 120.00 invoice and a saved Visa; Stripe knows them as cus_1."""
    customer, client = _customer_client()
    invoice = make_invoice(customer, "120.00")
    method = PaymentMethod.objects.create(customer=customer, method_type="card", display_name="Visa ***4242",
                                          last_four="4242", provider_token="pm_card_4242")
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_1", "object": "customer"})
    return client, invoice, method


def _pay_with_saved_card(client, invoice, method):
    return client.post("/api/payments/process", {"flow": "saved_method", "invoice_id": invoice.pk,
                                                 "payment_method_id": method.pk}, format="json")


def _customer_client():
    user = UserFactory()
    customer = CustomerFactory(user=user)
    client = APIClient()
    client.force_authenticate(user)
    return customer, client


def _paid(customer, total="250.00", provider="netcash", suffix="P1"):
    invoice = make_invoice(customer, total)
    return payment_complete(reference=f"{invoice.number}-{suffix}", amount=Decimal(total), customer=customer,
                            method="eft", provider=provider, invoice=invoice, provider_transaction_id=f"T-{suffix}")


@pytest.mark.django_db
@pytest.mark.parametrize("method,url", [("get", "/api/payments/history"), ("get", "/api/payments/1"),
                                        ("post", "/api/payments/process"), ("get", "/api/payments/methods"),
                                        ("post", "/api/payments/refund"), ("get", "/api/payments/1/receipt")])
def test_anonymous_is_refused(method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert response.status_code in (401, 403)


@pytest.mark.django_db
def test_history_shows_only_own_payments_with_filters_and_pagination():
    customer, client = _customer_client()
    mine = [_paid(customer, suffix=f"M{i}") for i in range(3)]
    other = _paid(CustomerFactory(), suffix="OTHER")
    PaymentTransaction.objects.filter(pk=mine[0].pk).update(status="failed")

    page = client.get("/api/payments/history", {"limit": 2}).json()
    completed = client.get("/api/payments/history", {"status": "completed"}).json()
    bad = client.get("/api/payments/history", {"status": "nope"})
    backwards = client.get("/api/payments/history", {"date_from": "2026-02-01", "date_to": "2026-01-01"})

    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    assert other.reference not in [p["reference"] for p in page["results"]]
    assert sorted(p["reference"] for p in completed["results"]) == sorted([mine[1].reference, mine[2].reference])
    assert bad.status_code == 400
    assert set(bad.json()["extra"]["fields"]) == {"status"}
    assert backwards.json()["extra"]["fields"] == {"date_to": ["date_to must be on or after date_from."]}


@pytest.mark.django_db
def test_another_customers_payment_is_404():
    _, client = _customer_client()
    other = _paid(CustomerFactory(), suffix="X")

    assert client.get(f"/api/payments/{other.pk}").status_code == 404
    assert client.get(f"/api/payments/{other.pk}/receipt").status_code == 404


@pytest.mark.django_db
def test_detail_and_receipt_pdf_for_own_payment():
    customer, client = _customer_client()
    payment = _paid(customer)

    detail = client.get(f"/api/payments/{payment.pk}").json()
    pdf = client.get(f"/api/payments/{payment.pk}/receipt")

    assert (detail["reference"], detail["amount"], detail["status"]) == (payment.reference, "250.00", "completed")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert client.get(f"/api/payments/{payment.pk}").json()["receipt_number"].startswith("RCT-")


@pytest.mark.django_db
def test_refund_is_staff_only():
    customer, client = _customer_client()
    payment = _paid(customer)

    response = client.post("/api/payments/refund", {"payment_id": payment.pk, "reason": "x"}, format="json")

    assert response.status_code == 403
    assert Refund.objects.count() == 0


@pytest.mark.django_db
def test_staff_refund_validation_and_success():
    payment = _paid(CustomerFactory())
    staff = APIClient()
    staff.force_authenticate(UserFactory(is_staff=True))

    invalid = staff.post("/api/payments/refund", {"payment_id": payment.pk, "amount": "-1"}, format="json")
    too_much = staff.post("/api/payments/refund", {"payment_id": payment.pk, "amount": "300.00", "reason": "x"},
                          format="json")
    ok = staff.post("/api/payments/refund", {"payment_id": payment.pk, "amount": "50.00", "reason": "Goodwill"},
                    format="json")

    assert invalid.status_code == 400 and set(invalid.json()["extra"]["fields"]) == {"amount", "reason"}
    assert too_much.status_code == 400 and too_much.json()["message"].startswith("At most R 250.00")
    assert ok.status_code == 201
    assert (ok.json()["status"], ok.json()["amount"]) == ("manual", "50.00")


@pytest.mark.django_db
def test_process_validation_and_other_customers_invoice():
    customer, client = _customer_client()
    other_invoice = make_invoice(CustomerFactory(), "100.00")

    missing = client.post("/api/payments/process", {"flow": "saved_method", "invoice_id": 1}, format="json")
    foreign = client.post("/api/payments/process", {"flow": "stripe", "invoice_id": other_invoice.pk}, format="json")

    assert missing.status_code == 400 and "payment_method_id" in missing.json()["extra"]["fields"]
    assert foreign.status_code == 404
    assert PaymentTransaction.objects.count() == 0


@pytest.mark.django_db
@responses.activate
def test_process_stripe_flow_returns_client_secret(stripe_on):
    customer, client = _customer_client()
    invoice = make_invoice(customer, "399.00")
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json={
        "id": "pi_3Api0001", "object": "payment_intent", "amount": 39900, "currency": "zar",
        "status": "requires_payment_method", "client_secret": "pi_3Api0001_secret_abc", "metadata": {}})

    response = client.post("/api/payments/process", {"flow": "stripe", "invoice_id": invoice.pk}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert (body["client_secret"], body["payment_intent"], body["publishable_key"]) == (
        "pi_3Api0001_secret_abc", "pi_3Api0001", "pk_test_1")
    payment = PaymentTransaction.objects.get()
    assert (payment.status, payment.provider_transaction_id, payment.amount) == ("pending", "pi_3Api0001",
                                                                                 Decimal("399.00"))
    sent = responses.calls[0].request
    assert sent.headers["Idempotency-Key"] == f"payment:{payment.pk}"
    assert "amount=39900" in sent.body and "currency=zar" in sent.body
    assert f"metadata[reference]={payment.reference}&metadata[invoice_number]={invoice.number}" in sent.body


@pytest.mark.django_db
@responses.activate
def test_saved_card_declined_is_402_with_safe_message(stripe_on):
    client, invoice, method = _saved_card()
    responses.add(responses.POST, f"{STRIPE}/payment_intents", status=402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds. sk_live_leak"}})

    response = _pay_with_saved_card(client, invoice, method)

    assert response.status_code == 402
    body = response.json()
    assert body["extra"]["code"] == "insufficient_funds" and body["extra"]["retryable"] is False
    assert "sk_live" not in str(body) and "insufficient funds" in body["message"]
    payment = PaymentTransaction.objects.get()
    assert payment.status == "failed"
    assert "sk_live_leak" in payment.raw_response["provider_error"]  # for staff


@pytest.mark.django_db
@responses.activate
def test_saved_card_success_completes_the_payment(stripe_on):
    client, invoice, method = _saved_card()
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json={
        "id": "pi_3Saved01", "object": "payment_intent", "amount": 12000, "currency": "zar", "status": "succeeded",
        "latest_charge": "ch_1", "client_secret": "s", "metadata": {}})

    response = _pay_with_saved_card(client, invoice, method)

    assert response.status_code == 201
    assert response.json()["payment"]["status"] == "completed"
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    sent = responses.calls[1].request.body
    # On-session (the customer is on the page; a 3-D Secure request comes back as requires_action), with
    # the result page to return to after a redirect-based authentication.
    assert "off_session" not in sent and "confirm=true" in sent and "payment_method=pm_" in sent
    assert f"return_url=http%3A%2F%2Ftestserver%2Fpayments%2Fresult%2F{invoice.number}-" in sent
    assert "customer=cus_1" in sent and "setup_future_usage" not in sent


@pytest.mark.django_db
@responses.activate
def test_save_list_and_delete_a_card(stripe_on):
    customer, client = _customer_client()
    responses.add(responses.POST, f"{STRIPE}/customers", json={"id": "cus_9", "object": "customer"})
    responses.add(responses.POST, f"{STRIPE}/payment_methods/pm_visa123/attach", json={
        "id": "pm_visa123", "object": "payment_method", "customer": "cus_9",
        "card": {"brand": "visa", "last4": "4242", "exp_month": 8, "exp_year": 2030}})
    responses.add(responses.POST, f"{STRIPE}/payment_methods/pm_visa123/detach", json={
        "id": "pm_visa123", "object": "payment_method", "customer": None, "card": {"brand": "visa", "last4": "4242"}})

    bad = client.post("/api/payments/methods", {"stripe_payment_method_id": "4242424242424242"}, format="json")
    saved = client.post("/api/payments/methods", {"stripe_payment_method_id": "pm_visa123"}, format="json")
    listed = client.get("/api/payments/methods").json()
    other_client = _customer_client()[1]
    foreign = other_client.delete(f"/api/payments/methods/{saved.json()['id']}")
    deleted = client.delete(f"/api/payments/methods/{saved.json()['id']}")

    assert bad.status_code == 400
    assert saved.status_code == 201
    assert (saved.json()["display_name"], saved.json()["last_four"]) == ("Visa ***4242", "4242")
    assert [m["display_name"] for m in listed] == ["Visa ***4242"]
    assert "provider_token" not in listed[0]
    assert foreign.status_code == 404 and deleted.status_code == 204
    assert client.get("/api/payments/methods").json() == []


@pytest.mark.django_db
def test_admin_pages_for_payments_ii_models(client):
    payment = _paid(CustomerFactory())
    from payments.services.receipts import receipt_issue

    receipt_issue(payment_id=payment.pk)
    Refund.objects.create(payment=payment, amount=Decimal("1.00"), reason="x", provider="netcash")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    for name in ("refund", "receipt", "idempotencykey", "stripecustomer"):
        assert client.get(f"/admin/payments/{name}/").status_code == 200


# --- Idempotency-Key on POST /api/payments/process (saved card; Stripe mocked at HTTP) --------------
# The /refund cases and the service's own cases are in tests/payments/test_idempotency.py.

INTENT_OK = {"id": "pi_3Idem0001", "object": "payment_intent", "amount": 12000, "currency": "zar",
             "status": "succeeded", "latest_charge": "ch_1", "client_secret": "s", "metadata": {}}


def _process_with_key(client, invoice, method, key, **extra):
    return client.post("/api/payments/process", {"flow": "saved_method", "invoice_id": invoice.pk,
                                                 "payment_method_id": method.pk, **extra},
                       format="json", HTTP_IDEMPOTENCY_KEY=key)


def _intent_calls():
    return [c for c in responses.calls if c.request.url == f"{STRIPE}/payment_intents"]


@pytest.mark.django_db
@responses.activate
def test_process_repeat_with_same_key_replays_without_charging_again(stripe_on):
    client, invoice, method = _saved_card()
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=INTENT_OK)

    first = _process_with_key(client, invoice, method, "process-key-0001")
    second = _process_with_key(client, invoice, method, "process-key-0001")

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json() and first.json()["payment"]["status"] == "completed"
    assert second["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert len(_intent_calls()) == 1
    assert PaymentTransaction.objects.count() == 1


@pytest.mark.django_db
@responses.activate
def test_process_same_key_other_body_is_422_and_charges_nothing(stripe_on):
    client, invoice, method = _saved_card()
    other = PaymentMethod.objects.create(customer=invoice.customer, method_type="card", display_name="Visa ***1111",
                                         last_four="1111", provider_token="pm_card_1111")
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=INTENT_OK)
    _process_with_key(client, invoice, method, "process-key-0002")

    response = _process_with_key(client, invoice, other, "process-key-0002")

    assert response.status_code == 422
    assert response.json()["message"] == "This Idempotency-Key was used for a different request."
    assert len(_intent_calls()) == 1
    assert list(PaymentTransaction.objects.values_list("payment_method_id", flat=True)) == [method.pk]


@pytest.mark.django_db
@responses.activate
def test_process_rate_limited_answer_is_not_stored_so_the_retry_runs(stripe_on):
    stripe_on.PROVIDER_RETRY = {"ATTEMPTS": 1}  # the client's own retry would hide the 429
    client, invoice, method = _saved_card()
    responses.add(responses.POST, f"{STRIPE}/payment_intents", status=429, json={"error": {
        "type": "invalid_request_error", "code": "rate_limit", "message": "Too many requests"}})
    responses.add(responses.POST, f"{STRIPE}/payment_intents", json=INTENT_OK)

    first = _process_with_key(client, invoice, method, "process-key-0003")
    second = _process_with_key(client, invoice, method, "process-key-0003")

    assert first.status_code == 402
    assert (first.json()["extra"]["code"], first.json()["extra"]["retryable"]) == ("rate_limited", True)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second
    assert second.json()["payment"]["status"] == "completed"
    assert len(_intent_calls()) == 2
    assert PaymentTransaction.objects.count() == 1  # the pending payment was reused, not doubled
    assert _process_with_key(client, invoice, method, "process-key-0003")["Idempotent-Replayed"] == "true"


@pytest.mark.django_db
@responses.activate
def test_process_permanent_decline_is_stored_and_replayed(stripe_on):
    client, invoice, method = _saved_card()
    responses.add(responses.POST, f"{STRIPE}/payment_intents", status=402, json={"error": {
        "type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Declined"}})

    first = _process_with_key(client, invoice, method, "process-key-0004")
    second = _process_with_key(client, invoice, method, "process-key-0004")

    assert first.status_code == second.status_code == 402
    assert first.json()["extra"]["retryable"] is False
    assert second.json() == first.json() and second["Idempotent-Replayed"] == "true"
    assert len(_intent_calls()) == 1
