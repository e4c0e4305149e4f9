"""Issue 16, finding 5 (second half): a business's VAT number, given at sign-up (test_signup.py), in the
profile or by staff in the admin, validated one way (10 digits starting with 4) and printed on its tax
invoices (the PDF and the dashboard's invoice page)."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import Customer
from billing.services.customers import CustomerError, vat_number_clean
from billing.services.lifecycle import service_activate
from billing.services.pdf import invoice_pdf_html
from tests.billing.factories import service as make_service
from tests.factories import UserFactory
from tests.portal.factories import customer_with_login

D = Decimal
pytestmark = pytest.mark.django_db
PROFILE = {"first_name": "Sipho", "last_name": "Dlamini", "company_name": "Dlamini Logistics", "phone": "",
           "address_line1": "1 Main Rd", "address_line2": "", "city": "Durban", "province": "KZN", "postal_code": "4001"}


@pytest.mark.parametrize(("raw", "cleaned"), [("4123456789", "4123456789"), ("ZA4123456789", "4123456789"),
                                              ("412 345-6789", "4123456789"), ("", "")])
def test_the_vat_number_rule_accepts_the_sars_format(raw, cleaned):
    assert vat_number_clean(raw, account_type="business") == cleaned


@pytest.mark.parametrize("raw", ["5123456789", "412345678", "41234567890", "4123456a89"])
def test_the_vat_number_rule_refuses_anything_else(raw):
    with pytest.raises(CustomerError, match="10 digits starting with 4"):
        vat_number_clean(raw, account_type="business")


def test_a_business_sets_its_vat_number_in_the_profile_and_it_prints_on_its_invoices(client):
    customer = customer_with_login(account_type="business", company_name="Dlamini Logistics")
    invoice = service_activate(service=make_service(customer=customer, monthly_price=D("1000.00")), reason="installed",
                               activation_date=date(2026, 1, 15))
    assert "Customer VAT no." not in invoice_pdf_html(invoice)  # none given yet
    client.force_login(customer.user)

    response = client.post(reverse("dashboard:profile"), {**PROFILE, "vat_number": "ZA 4530187266"})

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.vat_number == "4530187266"
    invoice.refresh_from_db()
    assert "Customer VAT no." not in invoice_pdf_html(invoice)  # an issued tax invoice stays as issued
    later = service_activate(service=make_service(customer=customer, monthly_price=D("500.00")), reason="second line",
                             activation_date=date(2026, 2, 1))
    assert "Customer VAT no. 4530187266" in invoice_pdf_html(later)  # invoices issued from now on carry it
    page = client.get(reverse("dashboard:invoice", args=[later.pk])).content.decode()
    assert '<span data-testid="customer-vat">VAT no. 4530187266</span>' in page


def test_a_bad_vat_number_in_the_profile_is_refused_and_nothing_is_saved(client):
    customer = customer_with_login(account_type="business", company_name="Acme", city="Pretoria")
    client.force_login(customer.user)

    response = client.post(reverse("dashboard:profile"), {**PROFILE, "vat_number": "123"})

    assert response.status_code == 200
    assert "10 digits starting with 4" in response.content.decode()
    customer.refresh_from_db()
    assert (customer.vat_number, customer.city) == ("", "Pretoria")


def test_a_personal_account_has_no_vat_number_field():
    customer = customer_with_login()
    from portal.forms import ProfileForm

    assert "vat_number" not in ProfileForm(instance=customer).fields
    with pytest.raises(CustomerError, match="Only business accounts"):
        vat_number_clean("4123456789", account_type="personal")


def test_staff_set_the_vat_number_in_the_admin_with_the_same_rule(rf):
    from django.contrib import admin
    from django.forms.models import model_to_dict

    staff = UserFactory(is_staff=True, is_superuser=True)
    customer = customer_with_login(account_type="business", company_name="Acme")
    request = rf.get("/admin/")
    request.user = staff
    model_admin = admin.site._registry[Customer]
    form_class = model_admin.get_form(request, obj=customer)
    data = {k: ("" if v is None else v) for k, v in model_to_dict(customer).items()}

    refused = form_class({**data, "vat_number": "9999"}, instance=customer)
    assert not refused.is_valid()
    assert refused.errors["vat_number"] == ["A South African VAT number is 10 digits starting with 4, e.g. 4123456789."]
    personal = form_class({**data, "account_type": "personal", "vat_number": "4123456789"}, instance=customer)
    assert not personal.is_valid() and "Only business accounts" in personal.errors["vat_number"][0]

    accepted = form_class({**data, "vat_number": "ZA 4123456789"}, instance=customer)
    assert accepted.is_valid(), accepted.errors
    accepted.save()
    assert Customer.objects.get(pk=customer.pk).vat_number == "4123456789"


def test_an_issued_invoice_keeps_the_vat_number_and_name_it_was_issued_with():
    """Probe F6: changing the profile later never changes a tax invoice (page and PDF agree)."""
    from datetime import date as _date
    from decimal import Decimal as _D

    from billing.models import Customer as _Customer
    from billing.services.lifecycle import service_activate as _activate
    from billing.services.pdf import invoice_document_facts, invoice_pdf_html
    from tests.billing.factories import business_customer, service

    customer = business_customer(vat_number="4530187266")
    invoice = _activate(service=service(customer=customer, monthly_price=_D("1000.00")), reason="live",
                        activation_date=_date(2026, 1, 1))
    _Customer.objects.filter(pk=customer.pk).update(vat_number="4999999999", company_name="Renamed (Pty) Ltd")
    invoice.refresh_from_db()
    facts = invoice_document_facts(invoice)
    html = invoice_pdf_html(invoice)
    assert facts["customer_vat_number"] == "4530187266" and "Customer VAT no. 4530187266" in html
    assert "4999999999" not in html and facts["bill_to_name"] == "Acme (Pty) Ltd"
