"""The dashboard selector, the usage admin (manual corrections, read-only alerts) and the demo seed."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.urls import reverse

from billing.models import CustomerService
from tests.factories import CustomerFactory, UserFactory
from tests.usage.test_usage_support import make_service, set_today  # noqa: F401
from usage.models import UsageRecord, UsageThresholdAlert
from usage.selectors import usage_summary

pytestmark = pytest.mark.django_db
D = dt.date


def add(service, day, mb, source="interstellio"):
    UsageRecord.objects.create(service=service, date=day, upload_mb=0, download_mb=mb, cycle_start=D(2000, 1, 1),
                               source=source, reason="fix" if source == "manual" else "")


def test_summary_for_a_capped_service():
    service = make_service(data_cap_gb=10, billing_day=25)  # 10240 MB
    add(service, D(2026, 10, 24), 100)  # two cycles back: ignored
    add(service, D(2026, 10, 25), 1000)
    add(service, D(2026, 11, 24), 24)
    add(service, D(2026, 11, 25), 8000)
    add(service, D(2026, 11, 27), 500, source="manual")

    s = usage_summary(service, D(2026, 11, 28))

    assert (s.cycle_start, s.cycle_end, s.previous_cycle_start, s.previous_cycle_end) == (
        D(2026, 11, 25), D(2026, 12, 24), D(2026, 10, 25), D(2026, 11, 24))
    assert (s.used_mb, s.used_gb, s.cap_gb, s.remaining_gb, s.percent, s.warning_level, s.uncapped) == (
        Decimal("8500.00"), Decimal("8.30"), 10, Decimal("1.70"), Decimal("83.0"), 80, False)
    assert [(p.date, p.total_mb, p.source) for p in s.current_days] == [
        (D(2026, 11, 25), Decimal("8000.00"), "interstellio"), (D(2026, 11, 26), Decimal("0.00"), ""),
        (D(2026, 11, 27), Decimal("500.00"), "manual"), (D(2026, 11, 28), Decimal("0.00"), "")]
    assert len(s.previous_days) == 31
    assert s.previous_used_gb == Decimal("1.00")


@pytest.mark.parametrize("mb,level", [(8191, None), (8192, 80), (9727, 80), (9728, 95), (20000, 95)])
def test_warning_levels(mb, level):
    service = make_service(data_cap_gb=10)
    add(service, D(2026, 11, 2), mb)
    assert usage_summary(service, D(2026, 11, 3)).warning_level == level


def test_uncapped_summary_never_warns():
    service = make_service(data_cap_gb=None)
    add(service, D(2026, 11, 2), 999999)
    s = usage_summary(service, D(2026, 11, 3))
    assert (s.uncapped, s.cap_gb, s.percent, s.warning_level, s.remaining_gb, s.used_gb) == (
        True, None, None, None, None, Decimal("976.56"))


# --- admin ------------------------------------------------------------------------------------------------

@pytest.fixture
def staff_client(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client, user


def test_admin_lists_and_searches_by_account_number(staff_client):
    client, _ = staff_client
    a, b = make_service(), make_service()
    add(a, D(2026, 11, 2), 10)
    add(b, D(2026, 11, 2), 20)
    url = reverse("admin:usage_usagerecord_changelist")
    response = client.get(url, {"q": a.customer.account_number, "source__exact": "interstellio"})
    assert response.status_code == 200
    assert list(response.context["cl"].queryset) == [UsageRecord.objects.get(service=a)]


def test_admin_manual_correction_goes_through_the_service(staff_client, monkeypatch):  # noqa: F811
    set_today(monkeypatch, D(2026, 11, 20))
    client, user = staff_client
    service = make_service(data_cap_gb=1)
    add(service, D(2026, 11, 3), 5)
    response = client.post(reverse("admin:usage_usagerecord_add"), {
        "service": service.pk, "date": "2026-11-03", "upload_mb": "10", "download_mb": "900",
        "reason": "Line fault double counted"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    record = UsageRecord.objects.get(service=service)
    assert (record.total_mb, record.source, record.reason, record.updated_by, record.cycle_start) == (
        Decimal("910.00"), "manual", "Line fault double counted", user.username, D(2026, 11, 1))
    assert list(UsageThresholdAlert.objects.values_list("threshold", flat=True)) == [80]


def test_admin_manual_correction_requires_a_reason(staff_client, monkeypatch):
    set_today(monkeypatch, D(2026, 11, 20))
    client, _ = staff_client
    service = make_service()
    response = client.post(reverse("admin:usage_usagerecord_add"), {
        "service": service.pk, "date": "2026-11-03", "upload_mb": "10", "download_mb": "900", "reason": "  "})
    assert response.status_code == 200
    assert "reason" in response.context["adminform"].form.errors
    assert UsageRecord.objects.count() == 0


def test_admin_change_records_a_manual_correction(staff_client, monkeypatch):
    set_today(monkeypatch, D(2026, 11, 20))
    client, _ = staff_client
    service = make_service()
    add(service, D(2026, 11, 3), 5)
    record = UsageRecord.objects.get()
    response = client.post(reverse("admin:usage_usagerecord_change", args=[record.pk]), {
        "upload_mb": "1", "download_mb": "2", "reason": "Provider restated the day"})
    assert response.status_code == 302
    record.refresh_from_db()
    assert (record.date, record.total_mb, record.source) == (D(2026, 11, 3), Decimal("3.00"), "manual")


def test_alert_admin_is_read_only(staff_client):
    client, _ = staff_client
    service = make_service(data_cap_gb=1)
    alert = UsageThresholdAlert.objects.create(service=service, cycle_start=D(2026, 11, 1), threshold=80,
                                               used_mb=900, cap_mb=1024)
    assert client.get(reverse("admin:usage_usagethresholdalert_changelist")).status_code == 200
    assert client.get(reverse("admin:usage_usagethresholdalert_add")).status_code == 403
    client.post(reverse("admin:usage_usagethresholdalert_delete", args=[alert.pk]), {"post": "yes"})
    assert UsageThresholdAlert.objects.count() == 1


# --- demo -------------------------------------------------------------------------------------------------

def test_demo_seed_is_idempotent_and_fills_the_capped_service_to_about_85(monkeypatch):  # noqa: F811
    from usage.demo import seed_demo

    set_today(monkeypatch, D(2026, 11, 20))
    capped = make_service(customer=CustomerFactory(email="thandiwe.nkosi@example.co.za"), data_cap_gb=50)
    fibre = make_service(customer=CustomerFactory(email="pieter.vdm@example.co.za"), data_cap_gb=None,
                         provider_subscriber_id="sub-2")
    make_service(customer=CustomerFactory(email="someone@else.example"))
    make_service(customer=CustomerFactory(email="aisha.patel@example.co.za"), status=CustomerService.Status.CANCELLED)

    seed_demo(StringIO())
    first = sorted(UsageRecord.objects.values_list("service_id", "date", "upload_mb", "download_mb"))
    seed_demo(StringIO())

    assert sorted(UsageRecord.objects.values_list("service_id", "date", "upload_mb", "download_mb")) == first
    assert {sid for sid, *_ in first} == {capped.pk, fibre.pk}
    assert UsageRecord.objects.filter(service=capped).count() == 31 + 20  # October cycle + 1..20 November
    summary = usage_summary(capped, D(2026, 11, 20))
    assert Decimal("84.9") <= summary.percent <= Decimal("85.1")
    assert summary.warning_level == 80
    assert list(UsageThresholdAlert.objects.values_list("service_id", "threshold")) == [(capped.pk, 80)]
