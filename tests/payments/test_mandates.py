from decimal import Decimal
from urllib.parse import urlencode

import pytest
import responses

from notifications.models import NotificationLog
from payments.models import Mandate, PaymentMethod
from payments.services.mandates import mandate_postback_token, mandate_request
from payments.services.methods import payment_method_add_debit_order
from tests.factories import CustomerFactory

WS = "https://ws.netcash.example/NIWS/niws_nif.svc"
RESPONSE = ('<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
            '<AddMandateResponse xmlns="http://tempuri.org/"><AddMandateResult><ErrorCode>000</ErrorCode>'
            '<MandateUrl>https://mandate.example/abc</MandateUrl></AddMandateResult></AddMandateResponse>'
            "</s:Body></s:Envelope>")


@pytest.fixture
def method(settings):
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY", "WS_URL": WS}
    return payment_method_add_debit_order(customer=CustomerFactory(), account_holder="T Mokoena",
                                          account_number="62001234567", branch_code="250655")


@pytest.mark.django_db(transaction=True)
@responses.activate
def test_mandate_request_then_postback_activates_method_once(method, client):
    responses.post(WS, body=RESPONSE)
    mandate = mandate_request(method=method, mandate_amount=Decimal("899.00"), sleep=lambda s: None)
    assert (mandate.status, mandate.mandate_url) == ("pending", "https://mandate.example/abc")
    sent = responses.calls[0].request.body.decode()
    assert "<tem:MandateAmount>899.00</tem:MandateAmount>" in sent
    assert responses.calls[0].request.headers["SOAPAction"] == "http://tempuri.org/INIWS_NIF/AddMandate"
    url = f"/api/payments/netcash/mandate/{mandate_postback_token()}"
    body = urlencode({"AccountRef": mandate.account_reference, "MandateSuccessful": "1", "BankAccountNo": "****4567"})
    for _ in range(2):
        resp = client.post(url, data=body, content_type="application/x-www-form-urlencoded")
        assert resp.status_code == 200
    method.refresh_from_db()
    assert (method.mandate_status, method.mandate_reference) == ("active", mandate.account_reference)
    assert Mandate.objects.get().status == "active"
    assert NotificationLog.objects.filter(event="mandate_accepted").count() == 1


@pytest.mark.django_db
def test_mandate_postback_bad_token_or_unknown_reference(method, client):
    body = urlencode({"AccountRef": "CT-NOPE", "MandateSuccessful": "1"})
    assert client.post("/api/payments/netcash/mandate/wrong", data=body,
                       content_type="application/x-www-form-urlencoded").status_code == 404  # a wrong secret path does not exist
    assert client.post(f"/api/payments/netcash/mandate/{mandate_postback_token()}", data=body,
                       content_type="application/x-www-form-urlencoded").status_code == 404
    assert PaymentMethod.objects.get().mandate_status == "none"
    assert not NotificationLog.objects.exists()
