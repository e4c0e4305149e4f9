"""ZOHO sync state: the mixin carried by every mirrored entity, and the per-attempt SyncLog."""

from django.db import models


class SyncStatus(models.TextChoices):
    PENDING = "pending"
    SYNCING = "syncing"
    SYNCED = "synced"
    FAILED = "failed"
    RETRYING = "retrying"


class ZohoSyncMixin(models.Model):
    """Sync fields on Customer, CustomerService, Invoice and PaymentTransaction.

    Invariant: the row is marked `pending` in the same transaction as the change ZOHO must mirror;
    only the zoho_sync worker moves it on. Domain code never reads these to decide anything.
    """

    zoho_id = models.CharField(max_length=64, blank=True, db_index=True)
    zoho_sync_status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.PENDING)
    zoho_last_synced_at = models.DateTimeField(null=True, blank=True)
    zoho_last_error = models.TextField(blank=True)
    zoho_attempts = models.PositiveSmallIntegerField(default=0)
    zoho_next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        indexes = [
            models.Index(fields=["zoho_sync_status", "zoho_next_attempt_at"], name="%(class)s_zsync"),
        ]


class SyncLog(models.Model):
    """One sync attempt for one entity. Append-only; no secrets or bank data in the summaries."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        LINK = "link"
        SKIP = "skip"

    class Status(models.TextChoices):
        SUCCESS = "success"
        FAILED = "failed"
        SKIPPED = "skipped"

    entity_type = models.CharField(max_length=20)
    entity_id = models.BigIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    zoho_id = models.CharField(max_length=64, blank=True)
    request_summary = models.JSONField(default=dict, blank=True)
    response_summary = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["entity_type", "entity_id", "-created_at"], name="synclog_entity_idx"),
            models.Index(fields=["status", "-created_at"], name="synclog_status_idx"),
        ]

    def __str__(self):
        return f"{self.entity_type}#{self.entity_id} {self.action} {self.status}"


class ApiCallCounter(models.Model):
    """Calls made to ZOHO per time window, shared by every worker process.

    `window` is `m:<epoch window index>` for the rate-limit window (per minute in production) or
    `d:YYYY-MM-DD` for the daily total. Invariant: `count` only grows, with a conditional
    `UPDATE ... SET count = count + 1 WHERE count < limit`, so two processes can never both take
    the last slot of a window.
    """

    window = models.CharField(max_length=40, unique=True)
    count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.window}: {self.count}"


class ConcurrencySlot(models.Model):
    """One of ZOHO's in-flight request slots (`CONCURRENCY_LIMIT` rows are used).

    A slot is leased with a conditional update (free or lease expired) and released after the
    call; a crashed worker's lease expires by itself, so no slot is lost for good.
    """

    slot = models.PositiveSmallIntegerField(primary_key=True)
    holder = models.CharField(max_length=64, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"slot {self.slot} ({self.holder or 'free'})"


class SyncDashboard(SyncLog):
    """Proxy that gives the admin its "ZOHO sync" operations page (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "ZOHO sync dashboard"
        verbose_name_plural = "ZOHO sync dashboard"
