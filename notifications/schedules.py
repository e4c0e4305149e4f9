from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec(
        name="notifications_retry",
        func="notifications.tasks.retry_failed",
        cron="*/10 * * * *",
        comment="Every 10 minutes: send notifications whose retry is due or whose enqueue was lost.",
    ),
]
