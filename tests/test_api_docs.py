"""The API docs explain themselves and the schema matches what the API answers (issue 18): how to sign
in and what each group is for, a summary on every operation, the 4xx answers in our error envelope,
paginated lists described as paginated, and unknown /api/ URLs answered in JSON."""

import json

import pytest
import yaml
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from circletel.errors import not_found
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory, UserFactory
from tests.portal.factories import PaymentFactory

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def schema(client, db):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def _error_ref(response):
    return response["content"]["application/json"]["schema"]["$ref"]


# --- what the docs say first ---------------------------------------------------------------------------

def test_the_docs_open_with_how_to_authenticate_and_the_error_shape(schema):
    description = schema["info"]["description"]
    assert "Authorization: Token <key>" in description
    assert "/accounts/login/" in description and "CSRF" in description
    assert '{"message": "Validation error", "extra": {"fields":' in description


def test_every_group_is_described_and_every_operation_has_a_summary_and_a_group(schema):
    described = {tag["name"]: tag.get("description", "") for tag in schema["tags"]}
    used = set()
    for path, method, op in _operations(schema):
        assert op.get("summary"), (method, path)
        assert op.get("tags"), (method, path)
        used.update(op["tags"])
    assert used <= set(described), used - set(described)
    assert all(described[name] for name in used)


def test_the_docs_page_is_served(client, db):
    client.force_login(UserFactory())
    page = client.get("/api/docs/")
    assert page.status_code == 200 and b"swagger-ui" in page.content


# --- documented 4xx answers -----------------------------------------------------------------------------

def test_the_error_envelope_is_a_component_with_message_and_extra(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"message", "extra"}
    assert error["properties"]["extra"]["type"] == "object"


def test_signed_in_operations_document_401_and_403_and_public_ones_do_not(schema):
    checked_private = checked_public = 0
    for path, method, op in _operations(schema):
        if {} in op.get("security", [{}]):
            assert "401" not in op["responses"], (method, path)
            checked_public += 1
        else:
            for code in ("401", "403"):
                assert _error_ref(op["responses"][code]) == "#/components/schemas/Error", (code, method, path)
            checked_private += 1
    assert checked_private > 20 and checked_public >= 4  # payments, dashboard, admin; paypal, reservations, health


def test_bodies_and_path_ids_document_400_and_404(schema):
    for path, method, op in _operations(schema):
        if "requestBody" in op:
            assert "400" in op["responses"], (method, path)
        if "{" in path:
            assert "404" in op["responses"], (method, path)
    process = schema["paths"]["/api/payments/process"]["post"]["responses"]
    assert {"400", "402", "404", "409", "422"} <= set(process)
    reserve = schema["paths"]["/api/reservations/"]["post"]["responses"]
    assert {"400", "404", "409", "429"} <= set(reserve)


def test_an_anonymous_call_is_401_with_the_token_challenge_as_documented(db):
    user = UserFactory()
    CustomerFactory(user=user)
    token = Token.objects.create(user=user).key

    anonymous = APIClient().get("/api/payments/history")
    with_token = APIClient().get("/api/payments/history", HTTP_AUTHORIZATION=f"Token {token}")

    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    assert anonymous.json() == {"message": "Authentication credentials were not provided.", "extra": {}}
    assert with_token.status_code == 200


# --- paginated lists ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/payments/history", "/api/dashboard/invoices"])
def test_paginated_lists_are_described_as_paginated(schema, path):
    op = schema["paths"][path]["get"]
    ref = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {"count", "next", "previous", "results"}
    params = {p["name"]: p for p in op["parameters"]}
    assert params["limit"]["schema"]["minimum"] == 1 and params["offset"]["schema"]["minimum"] == 0


def test_the_payment_history_answers_the_paginated_shape(db):
    user = UserFactory()
    customer = CustomerFactory(user=user)
    for _ in range(3):
        PaymentFactory(customer=customer, invoice=None)
    client = APIClient()
    client.force_authenticate(user)

    page = client.get("/api/payments/history", {"limit": 2}).json()

    assert set(page) == {"count", "next", "previous", "results"}
    assert page["count"] == PaymentTransaction.objects.filter(customer=customer).count() == 3
    assert len(page["results"]) == 2 and "offset=2" in page["next"]


def test_a_page_size_or_offset_that_is_not_a_whole_number_is_a_400(db):
    user = UserFactory()
    CustomerFactory(user=user)
    client = APIClient()
    client.force_authenticate(user)

    bad_limit = client.get("/api/payments/history", {"limit": "abc"})
    bad_offset = client.get("/api/payments/history", {"offset": "-1"})
    zero_limit = client.get("/api/dashboard/invoices", {"limit": "0"})

    assert bad_limit.status_code == bad_offset.status_code == zero_limit.status_code == 400
    assert bad_limit.json()["extra"]["fields"] == {"limit": ["Give a whole number of at least 1."]}
    assert bad_offset.json()["extra"]["fields"] == {"offset": ["Give a whole number of at least 0."]}
    # Positive controls: empty is "not given" (as a form sends it), and a valid page answers.
    assert client.get("/api/payments/history", {"limit": "", "offset": ""}).status_code == 200
    assert client.get("/api/dashboard/invoices", {"limit": "1", "offset": "0"}).status_code == 200


def test_the_zoho_log_page_is_described_as_the_page_it_answers(schema):
    ref = schema["paths"]["/api/admin/zoho-sync/logs"]["get"]["responses"]["200"]["content"]["application/json"]
    name = ref["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schema["components"]["schemas"][name]["properties"]) == {"count", "limit", "offset", "results"}


# --- 404 in JSON ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [("get", "/api/nothing-here"), ("post", "/api/payments/not-a-thing"),
                                         ("delete", "/api/dashboard/invoices/abc"), ("get", "/api/")])
def test_an_unknown_api_url_is_a_json_404(client, db, method, path):
    response = getattr(client, method)(path)  # a post without a CSRF token too: 404, not the CSRF 403

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"message": "There is no API endpoint at this URL.", "extra": {}}


def test_a_missing_trailing_slash_redirects_a_get_and_tells_a_post(client, db):
    get = client.get("/api/docs?x=1")
    post = client.post("/api/reservations", data=json.dumps({}), content_type="application/json")

    assert (get.status_code, get["Location"]) == (301, "/api/docs/?x=1")
    assert post.status_code == 404 and post.json()["extra"] == {"path": "/api/reservations/"}


def test_pages_keep_the_html_404(client, db):
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_the_404_handler_answers_json_under_api_only(db):
    factory = RequestFactory()

    api = not_found(factory.get("/api/something"), Exception("x"))
    page = not_found(factory.get("/something"), Exception("x"))

    assert (api.status_code, json.loads(api.content)) == (404, {"message": "Not found.", "extra": {}})
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


# --- what the schema run found ---------------------------------------------------------------------------

def test_saving_a_card_without_stripe_configured_is_a_400_not_a_500(db, settings):
    settings.STRIPE = {**settings.STRIPE, "SECRET_KEY": ""}
    user = UserFactory()
    CustomerFactory(user=user)
    client = APIClient()
    client.force_authenticate(user)

    response = client.post("/api/payments/methods", {"stripe_payment_method_id": "pm_card_visa"}, format="json")
    invalid = client.post("/api/payments/methods", {"stripe_payment_method_id": "card"}, format="json")

    assert (response.status_code, response.json()) == (
        400, {"message": "Card payments are not available right now.", "extra": {}})
    assert invalid.status_code == 400 and "stripe_payment_method_id" in invalid.json()["extra"]["fields"]


@pytest.mark.parametrize("fmt", ["multipart", "json"])
def test_an_idempotency_key_works_for_form_bodies_too(db, fmt):
    """A multipart body is parsed before the view (the NUL guard reads it): the key's fingerprint was a
    500 (`request.body` after the stream was read). Now a repeat replays and a different body is a 422."""
    user = UserFactory()
    CustomerFactory(user=user)
    client = APIClient()
    client.force_authenticate(user)
    body = {"flow": "saved_method", "invoice_id": 5}  # a 400 (no card chosen): stored under the key

    first = client.post("/api/payments/process", body, format=fmt, HTTP_IDEMPOTENCY_KEY="key-0001-abc")
    again = client.post("/api/payments/process", body, format=fmt, HTTP_IDEMPOTENCY_KEY="key-0001-abc")
    other = client.post("/api/payments/process", {**body, "invoice_id": 6}, format=fmt,
                        HTTP_IDEMPOTENCY_KEY="key-0001-abc")

    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()
    assert "Idempotent-Replayed" not in first and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 422


def test_a_nul_byte_under_api_is_refused_in_the_error_envelope_and_a_page_keeps_plain_text(client):
    api = client.get("/api/payments/history?status=%00")
    assert api.status_code == 400 and api["Content-Type"].startswith("application/json")
    assert api.json() == {"message": "Request contains a NUL byte.", "extra": {}}
    page = client.get("/pay/?invoice=%00")
    assert (page.status_code, page.content) == (400, b"Request contains a NUL byte")
    assert client.get("/api/payments/history?status=").status_code in (401, 403)  # no NUL: on to the view
