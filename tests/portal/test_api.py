"""Customer and staff API behaviour, OpenAPI coverage and the admin receivables report."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import CustomerService, ServiceActionLog, Suspension
from payments.models import PaymentMethod
from portal.reports import receivables_report
from tests.factories import CustomerServiceFactory
from tests.portal.factories import InvoiceFactory, PaymentFactory, customer_with_login, payment_method


@pytest.fixture
def api(client, world):
    client.force_login(world["a"]["customer"].user)
    return client


def test_summary_payload(api, world):
    data = api.get("/api/dashboard/summary").json()
    assert data["account_number"] == world["a"]["customer"].account_number
    assert data["amount_due"] == "899.00"
    assert data["open_invoice_count"] == 1
    assert [s["service"]["id"] for s in data["services"]] == [world["a"]["service"].pk]
    assert [i["number"] for i in data["recent_invoices"]] == [world["a"]["invoice"].number]


def test_invoice_detail_has_lines_vat_and_payments(api, world):
    data = api.get(f"/api/dashboard/invoices/{world['a']['invoice'].pk}").json()
    assert (data["subtotal"], data["vat_amount"], data["total"]) == ("781.74", "117.26", "899.00")
    assert [line["amount"] for line in data["lines"]] == ["899.00"]
    assert [p["reference"] for p in data["payments"]] == [world["a"]["payment"].reference]


def test_usage_range_and_validation(api, world):
    svc = world["a"]["service"]
    data = api.get(f"/api/dashboard/usage?service={svc.pk}&from=2026-11-01&to=2026-11-03").json()
    assert [d["total_mb"] for d in data["days"]] == ["0.00", "1024.00", "0.00"]
    assert data["total_mb"] == "1024.00"
    assert api.get(f"/api/dashboard/usage?service={svc.pk}&from=2026-11-03&to=2026-11-01").status_code == 400
    assert api.get("/api/dashboard/usage").status_code == 400


def test_billing_payload_masks_methods(api, world):
    data = api.get("/api/dashboard/billing").json()
    assert data["payment_methods"] == [{
        "id": world["a"]["method"].pk, "method_type": "card", "display_name": "Visa ***4242", "last_four": "4242",
        "card_expiry_month": 12, "card_expiry_year": 2030, "mandate_status": "none", "is_primary": True,
        "created_at": data["payment_methods"][0]["created_at"]}]
    assert data["account"]["notify_email"] is True


@pytest.mark.django_db(transaction=True)  # adding a debit order calls NetCash, which must run outside a transaction
def test_payment_method_add_set_primary_and_soft_delete(api, world):
    customer = world["a"]["customer"]
    response = api.post("/api/dashboard/payment-methods", {
        "method_type": "debit_order", "account_holder": "T Mokoena", "account_number": "62001234567",
        "branch_code": "250655", "bank_name": "FNB"}, content_type="application/json")
    assert response.status_code == 201, response.content
    new = response.json()
    assert new["display_name"] == "FNB ***4567" and "62001234567" not in response.content.decode()
    # NetCash is not configured in tests: the method is kept, its mandate pending, and the caller told so
    assert (new["mandate_status"], new["mandate_url"]) == ("pending", "")
    assert "could not be sent" in new["message"]

    # an unsigned debit order cannot be made primary by hand (it would push out the usable card): 400, reason given
    refused = api.patch(f"/api/dashboard/payment-methods/{new['id']}", {"is_primary": True},
                        content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["extra"]["reason"] == "not_usable" and "mandate is signed" in refused.json()["message"]
    primaries = list(PaymentMethod.objects.filter(customer=customer, is_primary=True).values_list("pk", flat=True))
    assert primaries == [world["a"]["method"].pk]
    # once its mandate is signed it can
    PaymentMethod.objects.filter(pk=new["id"]).update(mandate_status=PaymentMethod.MandateStatus.ACTIVE)
    assert api.patch(f"/api/dashboard/payment-methods/{new['id']}", {"is_primary": True},
                     content_type="application/json").status_code == 200
    primaries = list(PaymentMethod.objects.filter(customer=customer, is_primary=True).values_list("pk", flat=True))
    assert primaries == [new["id"]]

    assert api.delete(f"/api/dashboard/payment-methods/{new['id']}").status_code == 204
    row = PaymentMethod.objects.get(pk=new["id"])
    assert row.deleted_at is not None and row.is_primary is False
    assert [m["id"] for m in api.get("/api/dashboard/payment-methods").json()] == [world["a"]["method"].pk]
    assert api.delete(f"/api/dashboard/payment-methods/{new['id']}").status_code == 404


def test_payment_method_bad_input_writes_nothing(api, world):
    before = PaymentMethod.objects.count()
    response = api.post("/api/dashboard/payment-methods", {"method_type": "card", "brand": "Visa",
                                                           "last_four": "4242424242424242", "expiry_month": 1,
                                                           "expiry_year": 2030}, content_type="application/json")
    assert response.status_code == 400
    assert api.patch(f"/api/dashboard/payment-methods/{world['a']['method'].pk}", {"is_primary": False},
                     content_type="application/json").status_code == 400
    assert PaymentMethod.objects.count() == before


def test_page_set_primary_and_remove(client, world):
    customer = world["a"]["customer"]
    second = payment_method(customer, last_four="1111", brand="Mastercard")
    client.force_login(customer.user)
    assert client.post(f"/dashboard/billing/methods/{second.pk}/primary/").status_code == 302
    second.refresh_from_db()
    world["a"]["method"].refresh_from_db()
    assert (second.is_primary, world["a"]["method"].is_primary) == (True, False)
    # removal asks first: the page and an unconfirmed post change nothing (tests/portal/test_payment_method_pages.py)
    assert client.get(f"/dashboard/billing/methods/{second.pk}/remove/").status_code == 200
    assert client.post(f"/dashboard/billing/methods/{second.pk}/remove/").status_code == 200
    second.refresh_from_db()
    assert second.deleted_at is None
    assert client.post(f"/dashboard/billing/methods/{second.pk}/remove/", {"confirm": "yes"}).status_code == 302
    second.refresh_from_db()
    assert second.deleted_at is not None


# --- staff API -------------------------------------------------------------------------------------

@pytest.fixture
def staff(client, world):
    client.force_login(world["staff"])
    return client


def _url(world, action, key="a"):
    return f"/api/admin/customers/{world[key]['customer'].pk}/services/{world[key]['service'].pk}/{action}"


def test_staff_suspend_requires_reason_and_kind(staff, world):
    assert staff.post(_url(world, "suspend"), {"kind": "technical"}).status_code == 400
    assert staff.post(_url(world, "suspend"), {"reason": "Line fault"}).status_code == 400
    world["a"]["service"].refresh_from_db()
    assert world["a"]["service"].status == "active"
    assert ServiceActionLog.objects.count() == 0


def test_staff_suspend_then_reactivate_writes_the_audit(staff, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = staff.post(_url(world, "suspend"), {"reason": "Line fault", "kind": "technical"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "suspended"
    assert Suspension.objects.get(service=world["a"]["service"]).kind == "technical"
    with django_capture_on_commit_callbacks():
        assert staff.post(_url(world, "reactivate"), {"reason": "Fixed"}).json()["status"] == "active"
    audit = staff.get(_url(world, "audit")).json()
    assert [a["action"] for a in audit["actions"]] == ["reactivate", "suspend"]
    assert [a["reason"] for a in audit["actions"]] == ["Fixed", "Line fault"]
    assert audit["actions"][0]["actor"] == world["staff"].pk


def test_staff_illegal_transition_is_refused(staff, world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = staff.post(_url(world, "activate"), {"reason": "again"})
    assert response.status_code in (400, 409)
    assert "message" in response.json()
    assert ServiceActionLog.objects.count() == 0


def test_staff_activate_pending_service(staff, world, django_capture_on_commit_callbacks):
    svc = CustomerServiceFactory(customer=world["a"]["customer"], status=CustomerService.Status.PENDING)
    url = f"/api/admin/customers/{world['a']['customer'].pk}/services/{svc.pk}/activate"
    with django_capture_on_commit_callbacks():
        response = staff.post(url, {"reason": "Installed", "effective_date": "2026-11-10"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["activation_date"]) == ("active", "2026-11-10")


def test_staff_billing_and_invoice_views(staff, world):
    data = staff.get(f"/api/admin/customers/{world['a']['customer'].pk}/billing").json()
    assert data["customer"]["account_number"] == world["a"]["customer"].account_number
    assert data["amount_due"] == "899.00"
    inv = staff.get(f"/api/admin/billing/invoices/{world['b']['invoice'].pk}").json()
    assert inv["customer"]["id"] == world["b"]["customer"].pk
    assert inv["payments"][0]["zoho_sync_status"] == "pending"


# --- OpenAPI -----------------------------------------------------------------------------------------

def test_every_endpoint_is_in_the_schema_with_schemas(client, db):
    import yaml

    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = schema["paths"]
    expected = {
        "/api/dashboard/summary": ["get"], "/api/dashboard/billing": ["get"], "/api/dashboard/services": ["get"],
        "/api/dashboard/services/{id}": ["get"], "/api/dashboard/usage": ["get"],
        "/api/dashboard/invoices": ["get"], "/api/dashboard/invoices/{id}": ["get"],
        "/api/dashboard/invoices/{id}/pdf": ["get"], "/api/dashboard/payment-methods": ["get", "post"],
        "/api/dashboard/payment-methods/{id}": ["patch", "delete"],
        "/api/admin/customers/{customer_id}/billing": ["get"], "/api/admin/billing/invoices/{id}": ["get"],
        "/api/admin/customers/{customer_id}/services/{service_id}/audit": ["get"],
        **{f"/api/admin/customers/{{customer_id}}/services/{{service_id}}/{a}": ["post"]
           for a in ("activate", "suspend", "reactivate", "cancel")},
    }
    for path, methods in expected.items():
        assert path in paths, path
        for method in methods:
            op = paths[path][method]
            assert op["responses"], (path, method)
            if method in ("post", "patch"):
                assert "requestBody" in op, (path, method)
    assert "reason" in schema["components"]["schemas"]["LifecycleAction"]["required"]
    response = client.get("/api/docs/")
    assert response.status_code == 200
    docs = response.content.decode()
    assert "swagger-ui" in docs and "cdn" not in docs.lower()


def test_schema_generates_with_no_warnings_or_errors(tmp_path, capsys):
    """The schema lint `make check` runs: any generator warning (untyped method field, enum name collision,
    view without a serializer) or an invalid OpenAPI document fails the build."""
    import yaml
    from django.core.management import call_command
    from django.core.management.base import CommandError
    from drf_spectacular.drainage import GENERATOR_STATS

    GENERATOR_STATS.reset()  # the stats are process-wide: count only this generation
    out = tmp_path / "schema.yml"
    try:
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    except CommandError as exc:
        pytest.fail(f"{exc}\n{capsys.readouterr().err}")
    assert not GENERATOR_STATS, capsys.readouterr().err
    components = yaml.safe_load(out.read_text())["components"]["schemas"]
    # Colliding field names get the model's name (ENUM_NAME_OVERRIDES), never a hashed fallback like Status09aEnum.
    assert {"PaymentStatusEnum", "PaymentProviderEnum", "InvoiceStatusEnum", "SuspensionKindEnum"} <= set(components)


# --- admin reports -------------------------------------------------------------------------------------

def test_receivables_report_buckets_dso_collections_and_mix(db):
    today = date(2026, 11, 20)
    c = customer_with_login()
    for days_late, total in ((-3, "100.00"), (10, "200.00"), (45, "300.00"), (75, "400.00"), (120, "500.00")):
        InvoiceFactory(customer=c, due_date=today - timedelta(days=days_late), total=Decimal(total),
                       subtotal=Decimal(total), vat_amount=Decimal("0.00"), issue_date=date(2026, 11, 1))
    InvoiceFactory(customer=c, status="paid", amount_paid=Decimal("899.00"), issue_date=date(2026, 11, 2))
    paid_at = timezone.make_aware(datetime(2026, 11, 5, 12, 0))
    PaymentFactory(customer=c, amount=Decimal("899.00"), method="card", completed_at=paid_at)
    PaymentFactory(customer=c, amount=Decimal("101.00"), method="eft", completed_at=paid_at)
    r = receivables_report(today=today)
    assert [b.amount for b in r["aging"]] == [Decimal(x) for x in ("100.00", "200.00", "300.00", "400.00", "500.00")]
    assert [b.percent for b in r["aging"]] == [20, 40, 60, 80, 100]
    assert r["receivable"] == Decimal("1500.00")
    assert r["sales"] == Decimal("2399.00")
    assert r["dso"] == Decimal("56.3")
    assert r["collections"]["invoiced"] == Decimal("2399.00")
    assert r["collections"]["collected"] == Decimal("1000.00")
    assert r["collections"]["rate"] == Decimal("41.7")
    assert [(b.label, b.amount, b.percent) for b in r["mix"]] == [("Card", Decimal("899.00"), 90),
                                                                  ("EFT", Decimal("101.00"), 10)]


def test_admin_index_shows_the_reports(client, world):
    client.force_login(world["staff"])
    body = client.get("/admin/").content.decode()
    assert "Accounts receivable aging" in body and "Days sales outstanding" in body
    assert "Payment-method mix" in body
