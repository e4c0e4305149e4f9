import pytest
import responses

API = "https://www.zohoapis.com/billing/v1"
TOKEN_URL = "https://accounts.zoho.com/oauth/v2/token"


@pytest.fixture
def zoho_settings(settings):
    settings.ZOHO = {**settings.ZOHO, "CLIENT_ID": "1000.CLIENT", "CLIENT_SECRET": "s3cret", "REFRESH_TOKEN": "1000.rt",
                     "ORGANIZATION_ID": "700000001", "REGION": "com", "RATE_LIMIT_PER_MINUTE": 100,
                     "CONCURRENCY_LIMIT": 5, "DAILY_CALL_LIMIT": 2500}
    settings.ZOHO_SYNC = {**getattr(settings, "ZOHO_SYNC", {}), "VAT_TAX_ID": "9000000VAT", "PLAN_CODES": {},
                          "MAX_ATTEMPTS": 10, "STALE_MINUTES": 30}
    settings.ENABLE_ZOHO_SYNC = True
    settings.ZOHO_SYNC_ALLOW_IN_ATOMIC = True  # django_db tests run inside a transaction
    return settings


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as r:
        yield r


@pytest.fixture
def token(rsps):
    rsps.add(responses.POST, TOKEN_URL, json={"access_token": "1000.tok1", "expires_in": 3600,
                                              "api_domain": "https://www.zohoapis.com", "token_type": "Bearer"})
    return rsps


class Sleeps(list):
    """A fake `time.sleep` that records each wait and moves a fake clock on by it.

    The clock starts at the beginning of a rate-limit minute, so the limiter never waits for the
    end of a window in a test unless the test fills it (the real clock made this depend on the
    second the test ran in)."""

    def __init__(self, start: float = 1_800_000_000.0):  # not money: epoch seconds, a whole minute
        super().__init__()
        self.now = start

    def __call__(self, seconds):
        self.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client_factory(zoho_settings, sleeps):
    from zoho_sync.clients.zoho import ZohoClient

    def make(**kwargs):
        return ZohoClient(sleep=sleeps, clock=sleeps.clock, **kwargs)

    return make
