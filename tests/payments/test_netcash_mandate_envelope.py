"""Issue 15 item 2: AddMandate as the WSDL has it (CONTRACTS 2.4, corrected 2026-12), pinned by a fixture of
element names and order; the pending-mandate status check."""

from datetime import date, timedelta
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from django.utils import timezone

from billing.models import BillingAccount, Customer
from billing.services.customers import customer_registration_number_set
from payments.clients import netcash_niws
from payments.models import Mandate, PaymentMethod
from payments.netcash_standin import NiwsStandIn
from payments.services.mandates import mandate_request, mandates_check_pending
from payments.services.methods import payment_method_add_debit_order
from tests.factories import CustomerFactory
from tests.payments.factories import make_invoice

# The fixture: the elements we send, in the WSDL's order (Reference.cs AddMandateAsync), null ones left out.
BUSINESS_ENVELOPE = [
    ("ServiceKey", "DO-KEY"), ("AccountReference", None), ("MandateName", "Mokoena Fibre (Pty) Ltd"),
    ("MandateAmount", "1500.00"), ("IsConsumer", "false"), ("FirstName", "Thabo"), ("Surname", "Mokoena"),
    ("TradingName", "Mokoena Fibre (Pty) Ltd"), ("RegistrationNumber", "2015/123456/07"),
    ("RegisteredName", "Mokoena Fibre (Pty) Ltd"), ("MobileNumber", "0821234567"), ("DebitFrequency", "Monthly"),
    ("CommencementMonth", "10"), ("CommencementDay", "07"), ("AgreementDate", None),
    ("AgreementReferenceNumber", None), ("AllowVariableDebitAmounts", "true"), ("BankDetailType", "1"),
    ("BankAccountName", "Mokoena Fibre"), ("BankAccountNumber", "62001234567"), ("BranchCode", "250655"),
    ("BankAccountType", "Savings"), ("EmailAddress", None), ("IncludeDebiCheck", "false"),
]


@pytest.fixture
def standin(settings):
    fake = NiwsStandIn().start()
    settings.NETCASH = {**settings.NETCASH, "DEBIT_ORDER_SERVICE_KEY": "DO-KEY", "WS_URL": fake.url}
    yield fake
    fake.stop()


@pytest.mark.django_db(transaction=True)
def test_add_mandate_envelope_matches_the_wsdl_fixture(standin):
    customer = CustomerFactory(first_name="Thabo", last_name="Mokoena", phone="+27821234567",
                               account_type=Customer.AccountType.BUSINESS, company_name="Mokoena Fibre (Pty) Ltd")
    # The customer's own number (set as staff or the profile would) is what the envelope carries.
    customer_registration_number_set(customer=customer, registration_number="2015 / 123456 / 07")
    method = payment_method_add_debit_order(customer=customer, account_holder="Mokoena Fibre",
                                            account_number="62001234567", branch_code="250655",
                                            account_type="savings")
    today = timezone.localdate()
    due = (today.replace(day=1) + timedelta(days=40)).replace(day=7)
    make_invoice(customer, "899.00", due_date=due)  # collections run on the due date: CommencementDay 07
    mandate = mandate_request(method=method, mandate_amount=Decimal("1500.00"), sleep=lambda s: None)
    assert mandate.mandate_url.endswith(mandate.account_reference) and mandate.commencement_day == "07"
    (params,) = standin.calls_to("AddMandate")
    expected = [(name, value) for name, value in BUSINESS_ENVELOPE]
    expected = [(n, {"CommencementMonth": str(due.month)}.get(n, v)) for n, v in expected]
    assert [name for name, _ in params] == [name for name, _ in expected]
    sent = dict(params)
    for name, value in expected:
        if value is not None:
            assert sent[name] == value, name
    assert sent["AccountReference"] == mandate.account_reference
    assert sent["AgreementDate"] == today.strftime("%Y%m%d")
    # Old code sent "1"/"2" for enums, E.164 mobiles and AllowVariableDebitAmounts last: all gone.
    assert "1" not in (sent["DebitFrequency"], sent["BankAccountType"])
    assert "sent_without_registration_number" not in mandate.raw_response


def _business_method(**customer_fields):
    customer = CustomerFactory(first_name="Thabo", last_name="Mokoena", phone="+27821234567",
                               account_type=Customer.AccountType.BUSINESS, company_name="Mokoena Trust",
                               **customer_fields)
    return payment_method_add_debit_order(customer=customer, account_holder="Mokoena Trust",
                                          account_number="62001234567", branch_code="250655")


def _registration_sent(standin):
    """(the AddMandate element names in order, the RegistrationNumber sent or None when left out)."""
    (params,) = standin.calls_to("AddMandate")
    return [name for name, _ in params], dict(params).get("RegistrationNumber")


@pytest.mark.django_db(transaction=True)
def test_a_trust_registration_number_reaches_the_envelope_between_trading_and_registered_name(standin):
    method = _business_method(registration_number="IT1234/2010")

    mandate_request(method=method, mandate_amount=Decimal("1000.00"), sleep=lambda s: None)

    names, sent = _registration_sent(standin)
    assert sent == "IT1234/2010"
    assert names.index("TradingName") + 1 == names.index("RegistrationNumber") == names.index("RegisteredName") - 1


@pytest.mark.django_db(transaction=True)
def test_an_explicit_registration_number_still_overrides_the_customers(standin):
    method = _business_method(registration_number="IT1234/2010")

    mandate_request(method=method, mandate_amount=Decimal("1000.00"), registration_number="2015/123456/07",
                    sleep=lambda s: None)

    assert _registration_sent(standin)[1] == "2015/123456/07"


@pytest.mark.django_db(transaction=True)
def test_a_business_mandate_without_a_number_is_sent_empty_logged_and_marked(standin, caplog):
    method = _business_method()

    with caplog.at_level("WARNING", logger="payments.services.mandates"):
        mandate = mandate_request(method=method, mandate_amount=Decimal("1000.00"), sleep=lambda s: None)

    names, sent = _registration_sent(standin)
    assert "RegistrationNumber" in names and not sent  # the element is there, empty
    assert "sent without a company registration number" in caplog.text
    assert mandate.raw_response["sent_without_registration_number"] is True


@pytest.mark.django_db(transaction=True)
def test_a_consumer_envelope_has_no_registration_number_even_if_the_row_has_one(standin, caplog):
    customer = CustomerFactory(phone="+27821234567")
    Customer.objects.filter(pk=customer.pk).update(registration_number="2015/123456/07")  # bypassing the rule
    customer.refresh_from_db()
    method = payment_method_add_debit_order(customer=customer, account_holder="T M", account_number="62001234567",
                                            branch_code="250655")

    with caplog.at_level("WARNING", logger="payments.services.mandates"):
        mandate = mandate_request(method=method, mandate_amount=Decimal("1000.00"), sleep=lambda s: None)

    names, sent = _registration_sent(standin)
    assert sent is None and "RegistrationNumber" not in names  # null: left out of the envelope
    assert "IsConsumer" in names and "TradingName" not in names  # positive control: the same envelope shape
    assert "registration number" not in caplog.text
    assert "sent_without_registration_number" not in mandate.raw_response


def test_envelope_is_one_ordered_soap_body():
    request = netcash_niws.AddMandateRequest(
        account_reference="CT-1-1", mandate_name="A B", mandate_amount=Decimal("899"), is_consumer=True,
        first_name="A", surname="B", mobile_number="0821234567", commencement_month=9, commencement_day="01",
        agreement_date=date(2026, 9, 1), agreement_reference="CT-1-1", bank_account_name="A B",
        bank_account_number="62001234567", branch_code="250655", bank_account_type="Current", email="a@b.co")
    body = netcash_niws.envelope("AddMandate", request.params("KEY"))
    root = ElementTree.fromstring(body)
    method = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body")[0]
    assert method.tag == "{http://tempuri.org/}AddMandate"
    names = [child.tag.split("}")[1] for child in method]
    assert names.index("AllowVariableDebitAmounts") < names.index("BankDetailType")
    assert "TradingName" not in names  # a consumer mandate carries no business fields
    values = {child.tag.split("}")[1]: child.text for child in method}
    assert (values["IsConsumer"], values["MandateAmount"], values["CommencementMonth"]) == ("true", "899.00", "9")
    with pytest.raises(ValueError):
        netcash_niws.AddMandateRequest(**{**request.__dict__, "bank_account_type": "2"}).params("KEY")


@pytest.mark.parametrize("raw,local", [("+27821234567", "0821234567"), ("082 123 4567", "0821234567"),
                                       ("27821234567", "0821234567"), ("+447700900123", ""), ("", "")])
def test_mobile_number_is_local(raw, local):
    assert netcash_niws.local_mobile(raw) == local


@pytest.mark.django_db(transaction=True)
def test_pending_mandates_are_checked_after_a_day(standin):
    customer = CustomerFactory()
    BillingAccount.objects.filter(customer=customer).update(preferred_billing_day=5)
    method = payment_method_add_debit_order(customer=customer, account_holder="T M", account_number="62001234567",
                                            branch_code="250655")
    mandate = mandate_request(method=method, mandate_amount=Decimal("1000.00"), sleep=lambda s: None)
    assert mandate.commencement_day == "05"
    # Younger than a day: not asked about.
    assert mandates_check_pending(sleep=lambda s: None)["pending"] == 0
    standin.sign_mandate(mandate.account_reference)
    later = timezone.now() + timedelta(days=1, hours=1)
    counts = mandates_check_pending(now=later, sleep=lambda s: None)
    assert counts == {"pending": 1, "updated": 1, "still_pending": 0}
    mandate.refresh_from_db()
    assert mandate.status == "active"
    assert PaymentMethod.objects.get(pk=method.pk).mandate_status == "active"
    assert Mandate.objects.get().last_checked_at is not None
