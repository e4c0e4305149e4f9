import threading

import pytest
from django.core import mail
from django.db import connection

from notifications.tasks import send_notification
from tests.notifications.factories import NotificationLogFactory


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_row_twice():
    log = NotificationLogFactory()
    barrier = threading.Barrier(4)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(send_notification(log.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(results) == ["not claimed", "not claimed", "not claimed", "sent"]
    assert len(mail.outbox) == 1
    log.refresh_from_db()
    assert (log.status, log.attempts) == ("sent", 1)
