from django.apps import AppConfig


class InboxConfig(AppConfig):
    """Every provider's webhook events: record, claim, apply once through registered handlers.

    The inbox imports no domain app: payments and reservations register their handlers with
    `inbox.registry.register` in their own `AppConfig.ready()`.
    """

    name = "inbox"
    verbose_name = "Webhook inbox"

    def ready(self):
        from circletel.recovery import register_sweep

        # Every minute: failed events after their backoff, lost tasks, events of dead workers.
        register_sweep("webhooks", "inbox.services.webhook_events_recover")
