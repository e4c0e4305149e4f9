"""A business's company registration number (CONTRACTS 2.4: NetCash's AddMandate `RegistrationNumber`),
given at sign-up, in the profile or by staff in the admin, validated one way
(`registration_number_clean`: the CIPC `YYYY/NNNNNN/NN` or a trust's `IT<digits>/<YYYY>`). The envelope
side is in tests/payments/test_netcash_mandate_envelope.py."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.core import mail
from django.forms.models import model_to_dict
from django.urls import reverse

from billing.models import Customer
from billing.services.customers import (
    REGISTRATION_NUMBER_INVALID,
    CustomerError,
    customer_registration_number_set,
    registration_number_clean,
)
from payments.models import Mandate
from portal.forms import ProfileForm
from tests.billing.test_signup import assert_nothing_created, complete_sign_up, sign_up  # noqa: F401 (fixtures)
from tests.factories import CustomerFactory, UserFactory
from tests.payments.factories import debit_order
from tests.portal.factories import customer_with_login

pytestmark = pytest.mark.django_db
PROFILE = {"first_name": "Sipho", "last_name": "Dlamini", "company_name": "Dlamini Logistics", "phone": "",
           "address_line1": "1 Main Rd", "address_line2": "", "city": "Durban", "province": "KZN", "postal_code": "4001"}


# --- the rule ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "cleaned"), [
    ("2015/123456/07", "2015/123456/07"),      # CIPC company
    ("1998/012345/23", "1998/012345/23"),      # close corporation
    (" 2015 / 123456 / 07 ", "2015/123456/07"),  # spaces dropped
    ("IT1234/2010", "IT1234/2010"),            # trust
    ("it 1234/2010", "IT1234/2010"),           # lowercase and a space normalised
    ("2015-123456-07", "2015/123456/07"),      # dashes, as often written
    ("", ""), ("   ", ""), (None, ""),         # blank is allowed
])
def test_the_registration_number_rule_accepts_cipc_and_trust_numbers(raw, cleaned):
    assert registration_number_clean(raw, account_type="business") == cleaned


@pytest.mark.parametrize("raw", [
    "2015/12345/07", "2015/1234567/07", "15/123456/07", "2015/123456/7", "2015--123456-07", "2015123456/07",
    "IT/2010", "IT1234/10", "IT1234", "TR1234/2010", "K2015/123456/07", "ACME", "٢٠١٥/١٢٣٤٥٦/٠٧",
])
def test_the_registration_number_rule_refuses_anything_else(raw):
    assert registration_number_clean("2015/123456/07", account_type="business")  # positive control
    with pytest.raises(CustomerError) as exc:
        registration_number_clean(raw, account_type="business")
    assert exc.value.message == REGISTRATION_NUMBER_INVALID
    assert exc.value.extra == {"field": "registration_number"}
    assert "2015/123456/07" in exc.value.message and "IT1234/2010" in exc.value.message  # both forms named


def test_a_personal_account_has_no_registration_number():
    assert registration_number_clean("", account_type="personal") == ""  # positive control: blank is fine
    with pytest.raises(CustomerError, match="Only business accounts") as exc:
        registration_number_clean("2015/123456/07", account_type="personal")
    assert exc.value.extra == {"field": "registration_number"}


def test_the_setter_stores_the_clean_number_and_refuses_a_personal_account():
    business = customer_with_login(account_type="business", company_name="Acme")
    personal = customer_with_login()

    customer_registration_number_set(customer=business, registration_number="it 99/2001")
    assert Customer.objects.get(pk=business.pk).registration_number == "IT99/2001"
    with pytest.raises(CustomerError, match="YYYY/NNNNNN/NN"):
        customer_registration_number_set(customer=business, registration_number="garbage")
    assert Customer.objects.get(pk=business.pk).registration_number == "IT99/2001"  # unchanged
    with pytest.raises(CustomerError, match="Only business accounts"):
        customer_registration_number_set(customer=personal, registration_number="2015/123456/07")
    assert Customer.objects.get(pk=personal.pk).registration_number == ""


# --- sign-up -------------------------------------------------------------------------------------------

def test_a_business_signs_up_with_its_registration_number(client, complete_sign_up):  # noqa: F811
    response = complete_sign_up(account_type="business", company_name="Dlamini Logistics",
                                vat_number="4123456789", registration_number="2015 / 123456 / 07")

    assert response.status_code == 302
    customer = Customer.objects.get()
    assert (customer.vat_number, customer.registration_number) == ("4123456789", "2015/123456/07")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"account_type": "business", "company_name": "Acme", "registration_number": "2015/123/07"}, "YYYY/NNNNNN/NN"),
    ({"registration_number": "2015/123456/07"}, "Only business accounts"),
])
def test_a_bad_registration_number_at_sign_up_is_refused_and_nothing_is_sent(client, sign_up, overrides,  # noqa: F811
                                                                            message):
    response = sign_up(**overrides)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["registration_number"])
    assert message in response.content.decode().replace("&lt;", "<").replace("&gt;", ">")
    assert mail.outbox == []
    assert_nothing_created()
    # Positive control: the same business with a good number goes on to the emailed link.
    good = sign_up(account_type="business", company_name="Acme", registration_number="IT1234/2010")
    assert good.status_code == 302 and len(mail.outbox) == 1


def test_the_sign_up_page_offers_a_registration_number(client):
    assert 'name="registration_number"' in client.get(reverse("signup")).content.decode()


# --- profile -------------------------------------------------------------------------------------------

def test_a_business_sets_its_registration_number_in_the_profile(client):
    customer = customer_with_login(account_type="business", company_name="Dlamini Logistics")
    client.force_login(customer.user)
    assert 'name="registration_number"' in client.get(reverse("dashboard:profile")).content.decode()

    response = client.post(reverse("dashboard:profile"), {**PROFILE, "registration_number": "it 1234/2010"})

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.registration_number, customer.city) == ("IT1234/2010", "Durban")


def test_a_bad_registration_number_in_the_profile_is_refused_and_nothing_is_saved(client):
    customer = customer_with_login(account_type="business", company_name="Acme", city="Pretoria",
                                   registration_number="2015/123456/07")
    client.force_login(customer.user)

    response = client.post(reverse("dashboard:profile"), {**PROFILE, "vat_number": "4123456789",
                                                          "registration_number": "2015/123456"})

    assert response.status_code == 200
    assert response.context["form"].errors["registration_number"] == [REGISTRATION_NUMBER_INVALID]
    assert "e.g. 2015/123456/07" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.registration_number, customer.vat_number, customer.city) == ("2015/123456/07", "", "Pretoria")


def test_a_personal_account_has_no_registration_number_field():
    personal = customer_with_login()
    business = customer_with_login(account_type="business", company_name="Acme", registration_number="IT5/1999")
    assert "registration_number" not in ProfileForm(instance=personal).fields
    assert ProfileForm(instance=business).fields["registration_number"].initial == "IT5/1999"  # positive control


# --- admin ---------------------------------------------------------------------------------------------

def _admin_form(rf, customer):
    request = rf.get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    form_class = admin.site._registry[Customer].get_form(request, obj=customer)
    data = {k: ("" if v is None else v) for k, v in model_to_dict(customer).items()}
    return form_class, data


def test_staff_set_the_registration_number_in_the_admin_with_the_same_rule(rf):
    customer = customer_with_login(account_type="business", company_name="Acme")
    form_class, data = _admin_form(rf, customer)

    refused = form_class({**data, "registration_number": "12345"}, instance=customer)
    assert not refused.is_valid()
    assert refused.errors["registration_number"] == [REGISTRATION_NUMBER_INVALID]
    personal = form_class({**data, "account_type": "personal", "registration_number": "2015/123456/07"},
                          instance=customer)
    assert not personal.is_valid() and "Only business accounts" in personal.errors["registration_number"][0]
    assert Customer.objects.get(pk=customer.pk).registration_number == ""  # nothing saved

    accepted = form_class({**data, "registration_number": "2015 /  123456  /  07"}, instance=customer)  # 21 chars
    assert accepted.is_valid(), accepted.errors  # the same room as sign-up and the profile give
    accepted.save()
    assert Customer.objects.get(pk=customer.pk).registration_number == "2015/123456/07"
    assert form_class().fields["registration_number"].label == "Company registration number"


def test_the_admin_page_shows_it_next_to_the_vat_number_and_finds_customers_by_it(admin_client):
    customer = customer_with_login(account_type="business", company_name="Acme", registration_number="2015/123456/07")
    other = customer_with_login(account_type="business", company_name="Other")

    page = admin_client.get(reverse("admin:billing_customer_change", args=[customer.pk])).content.decode()
    assert 'name="registration_number"' in page and 'value="2015/123456/07"' in page
    assert page.index('name="vat_number"') < page.index('name="registration_number"') < page.index('name="email"')

    found = admin_client.get(reverse("admin:billing_customer_changelist"), {"q": "2015/123456/07"})
    assert customer.account_number in found.content.decode()
    assert other.account_number not in found.content.decode()


def test_the_admin_warns_when_a_business_mandate_goes_without_a_registration_number(admin_client):
    customer = customer_with_login(account_type="business", company_name="Acme")
    url = reverse("admin:billing_customer_change", args=[customer.pk])
    assert "will be sent without a registration number" in admin_client.get(url).content.decode()

    method = debit_order(customer)
    Mandate.objects.create(customer=customer, payment_method=method, account_reference="CT-1-1",
                           mandate_amount=Decimal("900.00"), agreement_reference="CT-1-1",
                           raw_response={"error_code": "000", "sent_without_registration_number": True})
    assert "1 NetCash mandate(s) of this business were sent without" in admin_client.get(url).content.decode()

    # Positive controls: with a number, or for a personal account, nothing is said.
    customer_registration_number_set(customer=customer, registration_number="2015/123456/07")
    assert "without a registration number" not in admin_client.get(url).content.decode()
    personal = customer_with_login()
    personal_page = admin_client.get(reverse("admin:billing_customer_change", args=[personal.pk])).content.decode()
    assert "without a registration number" not in personal_page


def test_the_demo_business_customer_gets_a_registration_number():
    from billing.demo import DEMO_REGISTRATION_NUMBER, _demo_registration_number

    business = CustomerFactory(account_type="business", company_name="Dlamini Logistics",
                               email="sipho@dlamini-logistics.example.co.za")
    _demo_registration_number()
    _demo_registration_number()  # idempotent
    assert registration_number_clean(DEMO_REGISTRATION_NUMBER, account_type="business") == DEMO_REGISTRATION_NUMBER
    assert Customer.objects.get(pk=business.pk).registration_number == DEMO_REGISTRATION_NUMBER
