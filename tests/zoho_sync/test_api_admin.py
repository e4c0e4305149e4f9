import pytest
from django.urls import reverse

from billing.models import Customer
from tests.factories import CustomerFactory, UserFactory
from zoho_sync.models import SyncLog

pytestmark = pytest.mark.django_db

URLS = ["/api/admin/zoho-sync/status", "/api/admin/zoho-sync/logs", "/api/admin/payments/sync-stats"]


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", URLS)
def test_apis_refuse_anonymous_and_non_staff(client, url):
    assert client.get(url).status_code in (401, 403)
    client.force_login(UserFactory(is_staff=False))
    assert client.get(url).status_code == 403


def test_retry_api_refuses_non_staff_and_changes_nothing(client, zoho_settings):
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="failed", zoho_attempts=10)
    client.force_login(UserFactory(is_staff=False))
    resp = client.post("/api/admin/zoho-sync/retry", {"entity_type": "customer", "entity_id": customer.pk})
    assert resp.status_code == 403
    assert Customer.objects.get(pk=customer.pk).zoho_sync_status == "failed"


def test_status_and_logs_for_staff(staff):
    customer = CustomerFactory(account_number="CT-2026-00005")
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="synced", zoho_id="C1")
    SyncLog.objects.create(entity_type="customer", entity_id=customer.pk, action="create", status="success",
                           zoho_id="C1")
    SyncLog.objects.create(entity_type="customer", entity_id=customer.pk, action="update", status="failed",
                           error="ZohoServerError")

    status = staff.get("/api/admin/zoho-sync/status").json()
    assert status["totals"]["by_entity"]["customer"]["synced"] == 1
    assert status["success_rate_24h"] == 50.0

    logs = staff.get("/api/admin/zoho-sync/logs", {"status": "failed", "limit": 10}).json()
    assert logs["count"] == 1
    assert logs["results"][0]["entity_label"].startswith("CT-2026-00005")
    assert staff.get("/api/admin/zoho-sync/logs", {"limit": 0}).status_code == 400


def test_retry_api_queues_after_commit(staff, zoho_settings, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *a, **k: queued.append(a))
    customer = CustomerFactory()
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="failed", zoho_attempts=10)

    with django_capture_on_commit_callbacks(execute=True):
        resp = staff.post("/api/admin/zoho-sync/retry", {"entity_type": "customer", "entity_id": customer.pk},
                          content_type="application/json")
    assert resp.status_code == 202 and resp.json()["status"] == "pending"
    assert queued == [("zoho_sync.tasks.sync_entity", "customer", customer.pk)]
    assert staff.post("/api/admin/zoho-sync/retry", {"entity_type": "customer", "entity_id": 987654},
                      content_type="application/json").status_code == 404
    assert staff.post("/api/admin/zoho-sync/retry", {"entity_type": "order", "entity_id": 1},
                      content_type="application/json").status_code == 400


def test_payment_sync_stats(staff):
    body = staff.get("/api/admin/payments/sync-stats").json()
    assert body == {"synced_today": 0, "pending": 0, "failed": 0, "total": 0, "failed_today": 0,
                    "success_rate_24h": None}


def test_dashboard_page_renders_and_retry_posts(staff, zoho_settings):
    customer = CustomerFactory(account_number="CT-2026-00009")
    Customer.objects.filter(pk=customer.pk).update(zoho_sync_status="failed")
    SyncLog.objects.create(entity_type="customer", entity_id=customer.pk, action="update", status="failed",
                           error="ZohoValidationError: bad email")
    page = staff.get(reverse("admin:zoho_sync_syncdashboard_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "CT-2026-00009" in html and "ZohoValidationError: bad email" in html and 'content="30"' in html

    resp = staff.post(reverse("admin:zoho_sync_retry"), {"entity_type": "customer"})
    assert resp.status_code == 302
    assert Customer.objects.get(pk=customer.pk).zoho_sync_status == "pending"
    assert staff.get(reverse("admin:zoho_sync_retry")).status_code == 405


def test_synclog_admin_is_read_only(staff):
    log = SyncLog.objects.create(entity_type="customer", entity_id=1, action="create", status="success")
    assert staff.get(reverse("admin:zoho_sync_synclog_changelist")).status_code == 200
    assert staff.get(reverse("admin:zoho_sync_synclog_add")).status_code == 403
    assert staff.post(reverse("admin:zoho_sync_synclog_delete", args=[log.pk]), {"post": "yes"}).status_code == 403
    assert SyncLog.objects.filter(pk=log.pk).exists()


def test_seed_demo_is_idempotent():
    from io import StringIO

    from zoho_sync.demo import seed_demo

    CustomerFactory.create_batch(20)
    seed_demo(StringIO())
    first = (list(Customer.objects.order_by("pk").values_list("zoho_sync_status", "zoho_id", "zoho_attempts")),
             SyncLog.objects.count())
    seed_demo(StringIO())
    second = (list(Customer.objects.order_by("pk").values_list("zoho_sync_status", "zoho_id", "zoho_attempts")),
              SyncLog.objects.count())
    assert first == second
    assert {s for s, _, _ in first[0]} >= {"synced", "pending", "retrying"}
    assert first[1] == sum(1 for s, _, _ in first[0] if s != "pending")
