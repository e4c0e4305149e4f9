"""The DRF exception handler maps domain errors to {"message", "extra"} with the right status."""

import pytest
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from circletel.errors import ApplicationError, ConflictError, NotFoundError


class PaymentError(ApplicationError):
    status_code = 402


def view_raising(exc):
    class Raising(APIView):
        authentication_classes = []
        permission_classes = [AllowAny]

        def get(self, request):
            raise exc

    return Raising.as_view()


def get(exc):
    response = view_raising(exc)(APIRequestFactory().get("/x"))
    return response.status_code, response.data


@pytest.mark.parametrize(("exc", "status", "body"), [
    (ApplicationError("Bad billing day.", {"field": "billing_day"}), 400,
     {"message": "Bad billing day.", "extra": {"field": "billing_day"}}),
    (NotFoundError("No such invoice."), 404, {"message": "No such invoice.", "extra": {}}),
    (ConflictError("Invoice already paid.", {"invoice": 7}), 409, {"message": "Invoice already paid.",
                                                                   "extra": {"invoice": 7}}),
    (PaymentError("Card declined."), 402, {"message": "Card declined.", "extra": {}}),
    (Http404(), 404, {"message": "Not found.", "extra": {}}),
    (PermissionDenied(), 403, {"message": "You do not have permission to perform this action.", "extra": {}}),
])
def test_errors_map_to_message_and_extra(exc, status, body):
    assert get(exc) == (status, body)


def test_validation_errors_list_the_fields():
    status, body = get(serializers.ValidationError({"amount": ["Must be positive."]}))

    assert status == 400
    assert body["message"] == "Validation error"
    assert {k: [str(m) for m in v] for k, v in body["extra"]["fields"].items()} == {"amount": ["Must be positive."]}


def test_django_validation_error_becomes_a_400():
    status, body = get(DjangoValidationError({"phone": ["Enter a valid phone."]}))

    assert status == 400
    assert body["message"] == "Validation error"
    assert [str(m) for m in body["extra"]["fields"]["phone"]] == ["Enter a valid phone."]


def test_unhandled_exceptions_are_left_to_django():
    with pytest.raises(KeyError):
        get(KeyError("bug"))
