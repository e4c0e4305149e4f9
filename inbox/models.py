"""The webhook inbox's one table (created as payments.WebhookEvent; moved here state-only, same table)."""

from django.db import models


class WebhookEvent(models.Model):
    """Every provider's raw webhook event, stored before it is processed.

    Invariant: unique on (provider, event_id): a redelivered event finds its row and changes
    nothing. The row is committed before processing, so a processing error stays visible here
    and the event can be reprocessed. A `processing` row is held by one worker under a lease its
    heartbeat renews; once the lease lapses (the worker died) the recovery sweep applies it.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        PROCESSED = "processed"
        FAILED = "failed"
        IGNORED = "ignored"

    provider = models.CharField(max_length=20)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100, blank=True)
    body = models.TextField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processing_started_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True,
                                       help_text="While processing: renewed by the worker's heartbeat; lapsed = the worker died.")
    processed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "payments_webhookevent"  # kept from its first home in payments (state-only move)
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["provider", "event_id"], name="webhookevent_unique_provider_event")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhookevent_status_next_idx"),
            models.Index(fields=["provider", "-received_at"], name="webhookevent_provider_recv_idx"),
        ]

    def __str__(self):
        return f"{self.provider}:{self.event_id} ({self.status})"
