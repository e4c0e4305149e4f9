"""The notification log: one row per message per channel."""

from django.db import models


class NotificationLog(models.Model):
    """One message to one recipient over one channel.

    Invariants: `idempotency_key` is unique per channel when set, so the same event (a duplicate
    webhook, a rerun job) never sends twice; rows are written before sending and updated with
    the outcome; the body (and the email HTML) is rendered once and kept for support, and the
    sender sends exactly what is stored.

    Lifecycle: queued -> sending (claimed by one worker with a conditional update) -> sent, or
    retrying (retryable failure, `next_attempt_at` with exponential backoff) -> sending ..., or
    failed (permanent error, or `MAX_ATTEMPTS` used). A `sending` row whose lease
    (`next_attempt_at`) ran out belonged to a worker that died mid-send; the retry sweep claims it
    again (delivery is at least once; BulkSMS deduplicates on the row id).
    """

    class Channel(models.TextChoices):
        EMAIL = "email"
        SMS = "sms"
        OPS = "ops"

    class Status(models.TextChoices):
        QUEUED = "queued"  # written, waiting for its first send
        SENDING = "sending"  # claimed by one worker; next_attempt_at is the claim's lease
        RETRYING = "retrying"  # a retryable failure; sent again at next_attempt_at
        SENT = "sent"
        FAILED = "failed"  # permanent failure or attempts exhausted; staff may resend
        SKIPPED = "skipped"

    customer = models.ForeignKey("billing.Customer", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="notifications")
    recipient = models.CharField(max_length=254, help_text="Email address, E.164 phone or webhook name.")
    channel = models.CharField(max_length=5, choices=Channel.choices)
    event = models.CharField(max_length=50, help_text="Template name, e.g. invoice_issued.")
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="Plain text (email text part, SMS, ops message).")
    html_body = models.TextField(blank=True, help_text="Email HTML, rendered once at notify time and sent as stored.")
    context = models.JSONField(default=dict, blank=True)
    attachments = models.JSONField(
        default=list, blank=True,
        help_text="Email attachments as [{filename, path, mimetype}]; path is in the default storage, read at send time.",
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    provider_message_id = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "idempotency_key"], condition=models.Q(idempotency_key__isnull=False),
                                    name="notification_unique_key_per_channel"),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="notification_status_next_idx")]

    def __str__(self):
        return f"{self.event} -> {self.recipient} ({self.channel}, {self.status})"
