
import pytest
from django.core import mail

from notifications.tasks import send_notification
from tests.concurrency import run_concurrently
from tests.notifications.factories import NotificationLogFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_row_twice():
    log = NotificationLogFactory()
    results = run_concurrently(send_notification, [(log.pk,)] * 4)

    assert sorted(results) == ["not claimed", "not claimed", "not claimed", "sent"]
    assert len(mail.outbox) == 1
    log.refresh_from_db()
    assert (log.status, log.attempts) == ("sent", 1)
