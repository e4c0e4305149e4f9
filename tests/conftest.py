"""Suite-wide fixtures: no network except 127.0.0.1, PostgreSQL-only tests skip on SQLite."""

import itertools
import os
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
    """Observe what is handed to django-q2 as (func, args) pairs; nothing runs.

    A follow-up's doorbell (`circletel.tasks.run_follow_up(pk)`, issue 20) is recorded as the work its
    row holds, (row.func, row.args): what tests care about is the work, and the row is its durable form."""
    calls = []

    def fake_async_task(func, *args, **kwargs):
        if func == "circletel.tasks.run_follow_up":
            from circletel.models import FollowUp

            row = FollowUp.objects.filter(pk=args[0]).first()
            if row is not None:
                func, args = row.func, tuple(row.args)
        calls.append((func, args))
        return "task-id"

    monkeypatch.setattr("django_q.tasks.async_task", fake_async_task)
    return calls


@pytest.fixture
def tasks_run_inline(monkeypatch):
    """django-q2 runs queued tasks inline (it reads its config at import, so patch Conf). The
    webhooks queue their apply step on commit: helpers that post inside
    `captureOnCommitCallbacks(execute=True)` (or transactional tests, at commit) see the event
    applied before the test looks, as a worker would right after."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture(autouse=True)
def _fresh_task_broker():
    """`circletel.queue` keeps one broker per process; a test that patches the broker must not leak it."""
    yield
    from circletel import queue

    queue.reset()


_cache_namespaces = itertools.count()


@pytest.fixture(autouse=True)
def _own_cache_namespace(settings):
    """Each test starts with an empty cache without flushing a shared one. In CI the cache is Redis,
    shared with the other xdist workers and any other run on the machine, where `cache.clear()`
    would empty it under them; a key prefix per test (changing CACHES resets Django's cache
    handler, in every thread) isolates rate-limit counters and provider tokens instead."""
    default = {**settings.CACHES["default"], "KEY_PREFIX": f"test-{os.getpid()}-{next(_cache_namespaces)}"}
    settings.CACHES = {**settings.CACHES, "default": default}


@pytest.fixture(autouse=True)
def _provider_retries_do_not_sleep(monkeypatch):
    """Stripe and PayPal calls are retried with backoff (`payments.provider_errors`); tests that
    answer with a 5xx or 429 must not really wait. Tests about the waits replace these sleeps
    with their own recorders."""
    from payments.clients import paypal, stripe

    monkeypatch.setattr(stripe, "sleep", lambda seconds: None)
    monkeypatch.setattr(paypal, "sleep", lambda seconds: None)


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module (tests/browser.py); browser tests only."""
    from tests.browser import chromium

    with chromium() as b:
        yield b
