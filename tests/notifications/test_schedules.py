from notifications.schedules import SCHEDULES


def test_retry_sweep_is_declared_every_ten_minutes():
    (spec,) = SCHEDULES
    assert (spec.name, spec.func, spec.cron) == ("notifications_retry", "notifications.tasks.retry_failed",
                                                 "*/10 * * * *")
