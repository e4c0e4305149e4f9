"""Suite-wide fixtures: no network except 127.0.0.1, PostgreSQL-only tests skip on SQLite."""

import socket

import pytest
from django.db import connection

_real_connect = socket.socket.connect
_LOCAL = {"127.0.0.1", "::1", "localhost"}


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and self.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOCAL:
        raise ConnectionRefusedError(f"tests may not connect to {host}: mock it with `responses` or run a local fake")
    return _real_connect(self, address)


@pytest.fixture(autouse=True, scope="session")
def _no_external_network():
    socket.socket.connect = _guarded_connect
    yield
    socket.socket.connect = _real_connect


def pytest_runtest_setup(item):
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks / real concurrency); set DATABASE_URL=postgres://... to run it")


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end sessions that threads in concurrency tests left open."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture
def queued(monkeypatch):
    """Observe what is handed to django-q2 as (func, args) pairs; nothing runs."""
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append((func, args))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
