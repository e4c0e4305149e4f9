"""Notifications have no schedule of their own: queued rows whose send task was lost, retries that are
due and sends of workers that died are handled by the platform's recovery sweep every minute
(`notifications.delivery.notifications_recover`, registered in notifications/apps.py).
`notifications.tasks.retry_failed` stays for a run by hand."""

SCHEDULES: list = []
