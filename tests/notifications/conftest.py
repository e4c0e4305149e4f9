import pytest
from django.utils.module_loading import import_string


@pytest.fixture
def inline_tasks(monkeypatch):
    """Run django-q2 tasks at once, in process (as a worker would after commit)."""
    calls = []

    def run(func, *args, **kwargs):
        calls.append((func, args))
        return import_string(func)(*args)

    monkeypatch.setattr("django_q.tasks.async_task", run)
    return calls


@pytest.fixture
def sms_bulksms(settings):
    settings.SMS_PROVIDER = "bulksms"
    settings.BULKSMS = {"TOKEN_ID": "tok-id", "TOKEN_SECRET": "tok-secret"}
    return settings


@pytest.fixture
def sms_clickatell(settings):
    settings.SMS_PROVIDER = "clickatell"
    settings.CLICKATELL = {"API_KEY": "ck-test-key"}
    return settings
