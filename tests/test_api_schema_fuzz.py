"""Schemathesis against our own OpenAPI schema (issue 18): every operation, called in-process through
the WSGI app on the test database, as a customer and as staff, with a bounded number of generated
requests each. It must find no server error (5xx other than the documented provider 502s) and no
answer that contradicts the schema (status code, content type, body, headers).

`API_FUZZ_EXAMPLES` (default 10) sets the examples per operation; `make test-api` runs this module
alone with more."""

import os

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from tests.factories import CustomerServiceFactory, UserFactory
from tests.portal.factories import (
    InvoiceFactory,
    InvoiceLineFactory,
    PaymentFactory,
    UsageFactory,
    customer_with_login,
    payment_method,
)

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))

# The schema as the docs pages serve it, with calls going to the same app in this process.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
# NUL characters are generated too: circletel.middleware.RejectNulBytesMiddleware answers them before any
# view, under /api/ in the API's error envelope.

STAFF_ONLY = r"^/api/(admin/|payments/refund$)"


@pytest.fixture
def world(transactional_db):
    """A customer with a service, an invoice (with a line), a payment, usage and a saved card; another
    customer with the same; a staff user. Tokens for the first customer and the staff user.

    Committed (not inside a test transaction), as in production: adding a debit order calls NetCash and
    refuses to run inside an open transaction."""
    out = {}
    for key in ("mine", "theirs"):
        customer = customer_with_login()
        service = CustomerServiceFactory(customer=customer, status="active", data_cap_gb=100)
        invoice = InvoiceFactory(customer=customer, service=service)
        InvoiceLineFactory(invoice=invoice)
        PaymentFactory(customer=customer, invoice=invoice)
        UsageFactory(service=service)
        payment_method(customer, primary=True)
        out[key] = customer
    out["customer_token"] = Token.objects.create(user=out["mine"].user).key
    out["staff_token"] = Token.objects.create(user=UserFactory(is_staff=True, is_superuser=True)).key
    return out


def _call(case, token):
    """One generated request with the token; the answer is checked against the schema: no 5xx but a
    documented one, status code, content type, headers and body as documented, and invalid input refused.

    Not checked: that every schema-valid request is accepted (`positive_data_acceptance`). The views
    refuse, with a documented 400, combinations a JSON schema does not express (a debit order needs
    bank details, `from` before `to`, a saved card for `saved_method`). Invalid input is checked in
    JSON bodies only: in a form body DRF reads a blank field as not given (HTML form semantics)."""
    excluded = [positive_data_acceptance]
    if case.media_type not in (None, "application/json"):
        excluded.append(negative_data_rejection)
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, excluded_checks=excluded)


@schema.exclude(path_regex=STAFF_ONLY).parametrize()
@FUZZ
def test_customer_operations_answer_as_documented(case, world):
    _call(case, world["customer_token"])


@schema.include(path_regex=STAFF_ONLY).parametrize()
@FUZZ
def test_staff_operations_answer_as_documented(case, world):
    _call(case, world["staff_token"])
