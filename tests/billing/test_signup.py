"""Sign-up, sign-in by email and password reset (Django auth views with the email as the login)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount, Customer
from billing.services.customers import CustomerError, customer_sign_up
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory, UserFactory

User = get_user_model()
PASSWORD = "Kalahari-Sunset-2031"


def signup_data(**overrides):
    data = {"first_name": "Thandiwe", "last_name": "Nkosi", "email": "Thandiwe.Nkosi@Example.co.za",
            "phone": "+27821234501", "account_type": "personal", "company_name": "",
            "password1": PASSWORD, "password2": PASSWORD}
    return {**data, **overrides}


def assert_nothing_created():
    assert User.objects.count() == 0
    assert Customer.objects.count() == 0
    assert BillingAccount.objects.count() == 0


@pytest.mark.django_db
def test_sign_up_creates_user_customer_and_billing_account_and_signs_in(client):
    response = client.post(reverse("signup"), signup_data())

    assert response.status_code == 302 and response.url == reverse("home")
    user = User.objects.get()
    customer = Customer.objects.get()
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "thandiwe.nkosi@example.co.za", "thandiwe.nkosi@example.co.za", "Thandiwe", "Nkosi")
    assert user.check_password(PASSWORD)
    assert customer.user_id == user.pk
    assert (customer.email, customer.phone, customer.account_type, customer.status) == (
        "thandiwe.nkosi@example.co.za", "+27821234501", "personal", "active")
    assert customer.account_number == f"CT-{timezone.localdate().year}-00001"
    assert BillingAccount.objects.get().customer_id == customer.pk
    assert int(client.session["_auth_user_id"]) == user.pk
    home = client.get(reverse("home"), follow=True)  # a signed-in customer's home is the dashboard
    assert home.redirect_chain == [("/dashboard/", 302)]
    assert customer.account_number.encode() in home.content


@pytest.mark.django_db
def test_second_sign_up_gets_the_next_number(client):
    client.post(reverse("signup"), signup_data())
    client.logout()
    client.post(reverse("signup"), signup_data(email="pieter.vdm@example.co.za", first_name="Pieter",
                                               last_name="van der Merwe", phone=""))

    year = timezone.localdate().year
    assert sorted(Customer.objects.values_list("account_number", flat=True)) == [
        f"CT-{year}-00001", f"CT-{year}-00002"]


@pytest.mark.django_db
@pytest.mark.parametrize("existing", ["user", "customer"])
def test_used_email_in_any_case_is_a_form_error_and_nothing_is_created(client, existing):
    if existing == "user":
        UserFactory(email="thandiwe.nkosi@example.co.za", username="thandiwe.nkosi@example.co.za")
    else:
        CustomerFactory(email="thandiwe.nkosi@example.co.za")
    users, customers = User.objects.count(), Customer.objects.count()

    response = client.post(reverse("signup"), signup_data(email="THANDIWE.Nkosi@example.CO.ZA"))

    assert response.status_code == 200
    assert response.context["form"].errors["email"] == [
        "An account with this email already exists. Sign in or reset your password."]
    assert (User.objects.count(), Customer.objects.count()) == (users, customers)


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["12345", "+0821234501", "082 123 45", "+27 82 123 45011"])
def test_malformed_phone_is_a_form_error(client, phone):
    response = client.post(reverse("signup"), signup_data(phone=phone))

    assert response.status_code == 200
    assert response.context["form"].errors["phone"] == [
        "Enter a valid phone number, e.g. 082 123 4567 or +27 82 123 4567."]
    assert_nothing_created()


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["0821234501", "082 123 4501", "+27 82 123 4501", "(082) 123-4501", "27821234501"])
def test_phone_is_taken_as_people_write_it_and_stored_in_e164(client, phone):
    client.post(reverse("signup"), signup_data(phone=phone, email=f"p{len(phone)}@example.co.za"))

    assert Customer.objects.get().phone == "+27821234501"


@pytest.mark.django_db
@pytest.mark.parametrize(("password", "error"), [
    ("short1A", "This password is too short. It must contain at least 10 characters."),
    ("1234567890123", "This password is entirely numeric."),
    ("password1234", "This password is too common."),
    ("thandiwe.nkosi", "The password is too similar to the username."),
])
def test_weak_password_is_a_form_error(client, password, error):
    response = client.post(reverse("signup"), signup_data(password1=password, password2=password))

    assert response.status_code == 200
    assert error in response.context["form"].errors["password1"]
    assert_nothing_created()


@pytest.mark.django_db
def test_mismatched_passwords_and_business_without_company_are_form_errors(client):
    response = client.post(reverse("signup"), signup_data(password2="Other-Password-99", account_type="business"))

    errors = response.context["form"].errors
    assert errors["password2"] == ["The two passwords do not match."]
    assert errors["company_name"] == ["A business account needs a company name."]
    assert_nothing_created()


@pytest.mark.django_db
def test_sign_up_is_one_transaction(monkeypatch):
    """A failure while creating the customer leaves no orphan login behind."""
    from billing.services import customers as customers_module

    def fail(**kwargs):
        raise CustomerError("boom")

    monkeypatch.setattr(customers_module, "customer_create", fail)

    with pytest.raises(CustomerError):
        customer_sign_up(email="a@example.co.za", password=PASSWORD, first_name="A", last_name="B")

    assert_nothing_created()


@pytest.mark.django_db
def test_sign_in_by_email_in_any_case_via_the_login_page(client):
    customer_sign_up(email="aisha.patel@example.co.za", password=PASSWORD, first_name="Aisha", last_name="Patel")

    page = client.get(reverse("login"))
    wrong = client.post(reverse("login"), {"username": "aisha.patel@example.co.za", "password": "nope-nope-nope"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    right = client.post(reverse("login"), {"username": "Aisha.Patel@EXAMPLE.co.za", "password": PASSWORD})

    assert page.status_code == 200 and b'type="email"' in page.content
    assert right.status_code == 302 and right.url == reverse("home")
    assert int(client.session["_auth_user_id"]) == User.objects.get(email="aisha.patel@example.co.za").pk


@pytest.mark.django_db
def test_inactive_user_cannot_sign_in(client):
    customer = customer_sign_up(email="x@example.co.za", password=PASSWORD, first_name="X", last_name="Y")
    User.objects.filter(pk=customer.user_id).update(is_active=False)

    response = client.post(reverse("login"), {"username": "x@example.co.za", "password": PASSWORD})

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_password_reset_email_link_sets_the_new_password(client):
    customer_sign_up(email="pieter.vdm@example.co.za", password=PASSWORD, first_name="Pieter", last_name="Botha")

    response = client.post(reverse("password_reset"), {"email": "Pieter.VDM@example.co.za"})

    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["pieter.vdm@example.co.za"]
    link = re.search(r"http://testserver(/accounts/reset/\S+/\S+/)", message.body).group(1)

    confirm = client.get(link, follow=True)
    assert confirm.status_code == 200 and confirm.context["validlink"] is True
    set_url = confirm.redirect_chain[-1][0]
    done = client.post(set_url, {"new_password1": "Drakensberg-Peak-77", "new_password2": "Drakensberg-Peak-77"})

    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    user = User.objects.get()
    assert user.check_password("Drakensberg-Peak-77") and not user.check_password(PASSWORD)
    # The link is single-use.
    again = client.get(link, follow=True)
    assert again.context["validlink"] is False


@pytest.mark.django_db
def test_password_reset_for_unknown_email_sends_nothing_but_looks_the_same(client):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.co.za"})

    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert mail.outbox == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_double_submit_creates_one_account_and_a_clear_error():


    def submit():
        customer_sign_up(email="race@example.co.za", password=PASSWORD, first_name="Race", last_name="Condition")
        return "created"

    outcomes = [o.message if isinstance(o, CustomerError) else o for o in run_concurrently(submit, [()] * 2)]

    assert sorted(outcomes) == ["An account with this email already exists.", "created"]
    assert (User.objects.count(), Customer.objects.count(), BillingAccount.objects.count()) == (1, 1, 1)


@pytest.mark.django_db
def test_pages_render_and_sign_out_is_a_post(client):
    assert client.get(reverse("signup")).status_code == 200
    assert client.get(reverse("password_reset")).status_code == 200
    customer_sign_up(email="z@example.co.za", password=PASSWORD, first_name="Zanele", last_name="Khumalo")
    client.post(reverse("login"), {"username": "z@example.co.za", "password": PASSWORD})

    assert client.get(reverse("signup")).url == reverse("home")  # signed in: no second account
    assert client.get(reverse("password_change")).status_code == 200
    response = client.post(reverse("logout"))

    assert response.status_code == 302 and response.url == reverse("home")
    assert "_auth_user_id" not in client.session
