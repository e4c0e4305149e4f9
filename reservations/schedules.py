from circletel.schedules import ScheduleSpec

SCHEDULES = [
    ScheduleSpec(
        name="expire_reservations",
        func="reservations.tasks.expire_reservations_job",
        cron="*/5 * * * *",
        comment="Every 5 minutes (SAST): expire unpaid deposit holds, retry owed refunds",
    ),
]
