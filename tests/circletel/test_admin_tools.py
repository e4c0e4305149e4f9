"""Shared admin pieces: money columns and the reason flow's per-row outcome messages."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from billing.models import Invoice
from circletel.admin_tools import MoneyColumnsMixin, reason_action, zar_column
from circletel.errors import ApplicationError


class _InvoiceAdmin(MoneyColumnsMixin, admin.ModelAdmin):
    list_display = ["number", "status", "total", "amount_paid", "amount_due"]


def test_money_fields_in_list_display_read_as_rand():
    model_admin = _InvoiceAdmin(Invoice, admin.site)
    columns = model_admin.get_list_display(RequestFactory().get("/"))
    assert columns[:2] == ["number", "status"] and columns[4] == "amount_due"  # not a money field: as is
    total, paid = columns[2], columns[3]
    assert (total.short_description, total.admin_order_field) == ("total", "total")
    assert total(Invoice(total=Decimal("2183.85"))) == "R 2,183.85"
    assert paid(Invoice(amount_paid=Decimal("-52"))) == "-R 52.00"
    assert zar_column("amount_paid")(Invoice(amount_paid=Decimal("0"))) == "R 0.00"


def _post(data):
    request = RequestFactory().post("/", data)
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


@pytest.mark.django_db
def test_reason_action_reports_each_rows_outcome_and_errors():
    model_admin = _InvoiceAdmin(Invoice, admin.site)
    request = _post({"apply": "1", "reason": "Customer asked"})
    rows = ["A", "B", "C"]

    def apply(obj, data):
        if obj == "B":
            raise ApplicationError("cannot do B")
        return f"done with {obj} ({data['reason']})" if obj == "A" else None

    assert reason_action(model_admin, request, rows, title="Do things?", apply=apply) is None

    shown = [(m.level_tag, m.message) for m in request._messages]
    assert shown == [("success", "A: done with A (Customer asked)"), ("error", "B: cannot do B"),
                     ("success", "Do things: 1 done.")]


@pytest.mark.django_db
def test_reason_action_without_a_reason_changes_nothing():
    from tests.factories import UserFactory

    model_admin = _InvoiceAdmin(Invoice, admin.site)
    called = []
    request = _post({"apply": "1", "reason": ""})
    request.user = UserFactory(is_staff=True, is_superuser=True)

    response = reason_action(model_admin, request, ["A"], title="Do things", apply=lambda o, d: called.append(o))

    assert response is not None and response.status_code == 200  # the form again, with its error
    assert called == []
    assert "This field is required." in str(response.context_data["form"].errors)
