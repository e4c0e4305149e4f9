"""GET /health/: 200 when the database and the task broker answer, 503 otherwise."""

import pytest

from circletel import health


@pytest.mark.django_db
def test_health_is_200_when_database_and_broker_answer(client):
    response = client.get("/health/")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "broker"}
    assert body["checks"]["database"]["ok"] is True and body["checks"]["broker"]["ok"] is True
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_health_is_503_when_the_database_check_fails(client, monkeypatch):
    def broken():
        raise ConnectionError("could not connect to server")

    monkeypatch.setattr(health, "_database", broken)

    response = client.get("/health/")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["checks"]["database"] == {"ok": False, "error": "ConnectionError: could not connect to server"}
    assert body["checks"]["broker"]["ok"] is True


@pytest.mark.django_db
def test_health_is_503_when_the_broker_does_not_answer(client, monkeypatch):
    class DeadBroker:
        def ping(self):
            return False

    from circletel import queue

    monkeypatch.setattr("django_q.brokers.get_broker", lambda *a, **k: DeadBroker())
    queue.reset()  # the process keeps one broker: forget it so the dead one is picked up

    response = client.get("/health/")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == {"ok": False, "error": "RuntimeError: broker did not answer ping"}


def test_health_refuses_post(client):
    assert client.post("/health/").status_code == 405


@pytest.mark.django_db
def test_one_broker_is_kept_per_process_and_tasks_still_reach_the_patched_async_task(queued, monkeypatch):
    from circletel import queue

    built = []
    monkeypatch.setattr("django_q.brokers.get_broker", lambda *a, **k: built.append(a) or object())
    queue.reset()

    queue.enqueue("payments.tasks.issue_receipt", 1)
    queue.enqueue("payments.tasks.issue_receipt", 2, group="x")

    assert len(built) == 1 and queue.broker() is queue.broker()
    assert queued == [("payments.tasks.issue_receipt", (1,)), ("payments.tasks.issue_receipt", (2,))]
