from circletel.recovery import sweeps
from notifications.schedules import SCHEDULES


def test_due_sends_are_the_recovery_sweeps_work_every_minute():
    """No 10-minute schedule of their own any more (issue 20): the platform's minute sweep sends them."""
    assert SCHEDULES == []
    assert sweeps()["notifications"] == "notifications.delivery.notifications_recover"
