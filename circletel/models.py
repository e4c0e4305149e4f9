"""Platform models: the job-run log, follow-ups (durable intent) and the atomic number sequences."""

from django.db import models


class JobRun(models.Model):
    """One execution of a scheduled job or batch command (the cron execution log).

    Invariant: a row is written when the job starts and completed when it ends, outside the job's
    own transaction. While it runs, its worker's heartbeat keeps `lease_until` ahead of now
    (`circletel.leases`); a row still `running` after its lease lapsed belonged to a worker that
    died: the recovery sweep marks it `died` and, for a resumable job, starts a run that continues
    from where the work stands (`resumed_from` links them). A run created ahead of its task (from
    the admin, a command, or the sweep) waits as `queued`; the task claims it, and a task whose row
    was taken over meanwhile does nothing. At most one `queued`/`running` row per (job, run_key)
    when run_key is set (the database refuses a second): one invoice run per run date at a time.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        PARTIAL = "partial"
        DIED = "died"

    LIVE = (Status.QUEUED, Status.RUNNING)

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
    run_key = models.CharField(max_length=100, blank=True,
                               help_text="What the run is for (e.g. the invoice run's date); one live run per job and key.")
    args = models.JSONField(default=dict, blank=True, help_text="The arguments a resumed run is started with.")
    lease_until = models.DateTimeField(null=True, blank=True,
                                       help_text="Renewed by the worker's heartbeat; a lapsed lease means the worker died.")
    owner = models.CharField(max_length=100, blank=True, help_text="host:pid of the worker that ran it")
    resumed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="resumed_by",
                                     help_text="The run that died and that this run continued.")

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["job_name", "-started_at"], name="jobrun_name_started_idx"),
            models.Index(fields=["lease_until"], name="jobrun_live_lease_idx", condition=models.Q(status__in=["queued", "running"])),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job_name", "run_key"], name="jobrun_one_live_run_per_key",
                                    condition=models.Q(status__in=["queued", "running"]) & ~models.Q(run_key="")),
        ]

    def __str__(self):
        return f"{self.job_name} #{self.pk} ({self.status})"


class FollowUp(models.Model):
    """Work that must happen after a commit: a durable intent, with the broker only as its doorbell.

    `follow_up(func, *args)` writes the row in the caller's transaction and rings (queues
    `circletel.tasks.run_follow_up`) after commit. The task claims the row (pending -> running with a
    lease the heartbeat renews), calls `func(*args)` and marks it done. Whatever the broker loses (a
    task popped by a worker that died, an enqueue that failed, a queue flushed), the recovery sweep
    finds the row: pending past `ring_at`, or running with a lapsed lease, and rings again. `func`
    must be safe to run twice (it is, by the same rule as every task here): a worker killed after
    the work but before "done" runs it again.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # MAX_ATTEMPTS used; staff see it in the admin and can retry it

    func = models.CharField(max_length=200, help_text="Dotted path of the task function.")
    args = models.JSONField(default=list, blank=True)
    queue = models.CharField(max_length=30, blank=True, help_text="django-q2 cluster ('' is the main one).")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    ring_at = models.DateTimeField(help_text="When the sweep rings again if the row is still pending.")
    lease_until = models.DateTimeField(null=True, blank=True)
    owner = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["ring_at"], name="followup_pending_ring_idx", condition=models.Q(status="pending")),
            models.Index(fields=["lease_until"], name="followup_running_lease_idx", condition=models.Q(status="running")),
            models.Index(fields=["status", "created_at"], name="followup_status_created_idx"),
        ]

    def __str__(self):
        return f"{self.func}{tuple(self.args) if len(str(self.args)) < 60 else '(...)'} ({self.status})"


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
