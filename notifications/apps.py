from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self):
        from circletel.recovery import register_sweep
        from notifications import checks  # noqa: F401  (registers the settings checks)

        # Every minute: queued rows whose send task was lost, retries that are due, sends of dead workers.
        register_sweep("notifications", "notifications.delivery.notifications_recover")
