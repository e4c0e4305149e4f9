"""Platform models: the job-run log and the atomic number sequences."""

from django.db import models


class JobRun(models.Model):
    """One execution of a scheduled job or batch command (the cron execution log).

    Invariant: a row is written when the job starts and completed when it ends, outside the job's
    own transaction, so a crash leaves a `running` row behind as evidence rather than nothing.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        PARTIAL = "partial"

    job_name = models.CharField(max_length=100, db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveBigIntegerField(null=True, blank=True)
    processed_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)
    triggered_by = models.CharField(max_length=100, blank=True, help_text="schedule, command, admin user ...")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["job_name", "-started_at"], name="jobrun_name_started_idx")]

    def __str__(self):
        return f"{self.job_name} #{self.pk} ({self.status})"


class Sequence(models.Model):
    """A named counter for gap-free document numbers (accounts, invoices, credit notes, receipts).

    Invariant: `value` only grows, and only through `circletel.sequences.next_values`, which
    increments under the row lock inside the caller's transaction: a rolled-back caller gives its
    numbers back, so the sequence has no gaps.
    """

    name = models.CharField(primary_key=True, max_length=50)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}={self.value}"
