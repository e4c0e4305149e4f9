import threading
import time

import pytest
import responses

from billing.models import Customer
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory
from tests.zoho_sync.conftest import API, TOKEN_URL
from zoho_sync.models import SyncLog
from zoho_sync.services.sync import entity_sync


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_sync_the_same_row_at_once(zoho_settings, sleeps):
    from zoho_sync.clients.zoho import ZohoClient

    zoho_settings.ZOHO_SYNC_ALLOW_IN_ATOMIC = False
    customer = CustomerFactory(email="race@example.co.za")
    in_flight = []
    max_in_flight = []
    lock = threading.Lock()

    def slow_create(request):
        with lock:
            in_flight.append(1)
            max_in_flight.append(len(in_flight))
        time.sleep(0.3)
        with lock:
            in_flight.pop()
        return 201, {}, '{"code": 0, "message": "The customer has been created", "customer": {"customer_id": "C1"}}'

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add(responses.POST, TOKEN_URL, json={"access_token": "t", "expires_in": 3600})
        rsps.add(responses.GET, f"{API}/customers", json={"code": 0, "message": "success", "customers": []})
        rsps.add_callback(responses.POST, f"{API}/customers", callback=slow_create)
        results = run_concurrently(
            lambda: entity_sync(entity_type="customer", pk=customer.pk, client=ZohoClient(sleep=sleeps, clock=sleeps.clock)).status,
            [()] * 4)
        creates = [c for c in rsps.calls if c.request.method == "POST" and c.request.url.startswith(API)]

    assert sorted(results) == ["skipped", "skipped", "skipped", "synced"]
    assert len(creates) == 1 and max(max_in_flight) == 1
    assert Customer.objects.get(pk=customer.pk).zoho_id == "C1"
    assert SyncLog.objects.filter(entity_type="customer", entity_id=customer.pk).count() == 1
