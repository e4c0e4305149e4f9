from notifications.checks import notification_settings_check


def ids(settings):
    return [m.id for m in notification_settings_check()]


def test_default_settings_pass(settings):
    settings.SMS_PROVIDER = "console"
    settings.OPS_WEBHOOK_URL = ""
    assert ids(settings) == []


def test_provider_without_credentials_is_flagged(settings):
    settings.SMS_PROVIDER = "bulksms"
    settings.BULKSMS = {"TOKEN_ID": "", "TOKEN_SECRET": ""}
    assert ids(settings) == ["notifications.W001"]
    settings.SMS_PROVIDER = "clickatell"
    settings.CLICKATELL = {"API_KEY": ""}
    assert ids(settings) == ["notifications.W002"]


def test_unknown_provider_and_kind_are_errors(settings):
    settings.SMS_PROVIDER = "pigeon"
    settings.OPS_WEBHOOK_URL = "https://hooks.example.net/x"
    settings.OPS_WEBHOOK_KIND = "teams"
    assert ids(settings) == ["notifications.E001", "notifications.E002"]
