import pytest
import responses
from django.core.cache import cache

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
    cache.clear()
    yield settings
    cache.clear()


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
    def __call__(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client_factory(zoho_settings, sleeps):
    from zoho_sync.clients.zoho import ZohoClient

    def make(**kwargs):
        return ZohoClient(sleep=sleeps, **kwargs)

    return make
