"""The ZOHO sync log and the rate limiter's counters are pruned every day (issue 14: `log_prune` had no
caller; issue 17 finding 8: `ratelimit.prune` was never scheduled either)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from circletel.models import JobRun
from circletel.schedules import declared_schedules
from zoho_sync.models import ApiCallCounter, SyncLog
from zoho_sync.tasks import prune, prune_sync_logs

pytestmark = pytest.mark.django_db


def _log(days_old: int) -> SyncLog:
    row = SyncLog.objects.create(entity_type="customer", entity_id=1, action="create", status="success")
    SyncLog.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=days_old))
    return row


def test_prune_deletes_logs_older_than_the_retention_and_keeps_the_rest(settings):
    settings.ZOHO_SYNC_LOG_RETENTION_DAYS = 90
    settings.ENABLE_ZOHO_SYNC = False  # pruned even with the sync off
    old, recent = _log(91), _log(89)

    assert prune_sync_logs(triggered_by="test") == 1

    assert list(SyncLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert old.pk not in SyncLog.objects.values_list("pk", flat=True)
    assert JobRun.objects.get(job_name="zoho_prune").processed_count == 1


def test_finding8_the_daily_prune_also_drops_old_rate_limit_counters(settings):
    settings.ENABLE_ZOHO_SYNC = False
    old_minute = ApiCallCounter.objects.create(window="m:60000:1", count=5)
    ApiCallCounter.objects.filter(pk=old_minute.pk).update(updated_at=timezone.now() - timedelta(hours=2))
    today = ApiCallCounter.objects.create(window="d:2026-12-07", count=40)

    assert prune(triggered_by="test") == 1

    assert list(ApiCallCounter.objects.values_list("pk", flat=True)) == [today.pk]
    run = JobRun.objects.get(job_name="zoho_prune")
    assert run.details == {"sync_logs": 0, "rate_counters": 1}


def test_the_prune_is_scheduled_daily():
    spec = next(s for s in declared_schedules() if s.name == "zoho_prune_sync_logs")
    assert (spec.func, spec.cron) == ("zoho_sync.tasks.prune", "45 3 * * *")

