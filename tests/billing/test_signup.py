"""Sign-up (two steps: details, then a password from the emailed link) and sign-in by email (password
reset: test_password_reset.py). Sign-up never tells the visitor whether an address has an account,
and look-alike spellings of an address (ı, ſ, fullwidth, case) are the same account or refused."""

import re
import unicodedata
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core import mail, signing
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount, Customer
from billing.services.customers import CustomerError, customer_sign_up
from notifications.models import NotificationLog
from tests.concurrency import run_concurrently
from tests.factories import CustomerFactory, UserFactory

User = get_user_model()
PASSWORD = "Kalahari-Sunset-2031"
CHECK_EMAIL = "Check your email to continue"


def signup_data(**overrides):
    data = {"first_name": "Thandiwe", "last_name": "Nkosi", "email": "Thandiwe.Nkosi@Example.co.za",
            "phone": "+27821234501", "account_type": "personal", "company_name": ""}
    return {**data, **overrides}


def assert_nothing_created():
    assert User.objects.count() == 0
    assert Customer.objects.count() == 0
    assert BillingAccount.objects.count() == 0


@pytest.fixture
def sign_up(client, tasks_run_inline, django_capture_on_commit_callbacks):
    """Post the sign-up form as a browser would; the email it queues is sent at once (mail.outbox)."""
    def post(browser=None, **overrides):
        with django_capture_on_commit_callbacks(execute=True):
            return (browser or client).post(reverse("signup"), signup_data(**overrides))
    return post


def confirm_link(message) -> str:
    return re.search(r"http://[^/\s]+(/accounts/signup/confirm/\S+/)", message.body).group(1)


@pytest.fixture
def complete_sign_up(client, sign_up):
    """The whole flow: details, the emailed link, a password. Returns the password page's response."""
    def run(password=PASSWORD, **overrides):
        sign_up(**overrides)
        link = confirm_link(mail.outbox[-1])
        return client.post(link, {"password1": password, "password2": password})
    return run


@pytest.mark.django_db
def test_sign_up_emails_a_link_and_creates_nothing_until_the_password_is_chosen(client, sign_up):
    response = sign_up()

    assert response.status_code == 302 and response.url == reverse("signup_sent")
    assert_nothing_created()
    assert "_auth_user_id" not in client.session
    (message,) = mail.outbox
    assert message.to == ["thandiwe.nkosi@example.co.za"]
    assert message.subject == "Finish creating your CircleTel account"
    assert message.body.startswith("Hi Thandiwe Nkosi,\n\nThank you for signing up with CircleTel. To finish creating "
                                   "your account, choose your password here:\nhttp://")
    assert "The link works once and for 3 days." in message.body
    page = client.get(response.url)
    assert page.status_code == 200 and CHECK_EMAIL in page.content.decode()


@pytest.mark.django_db
def test_the_link_creates_user_customer_and_billing_account_and_signs_in(client, sign_up):
    sign_up()
    link = confirm_link(mail.outbox[0])

    form = client.get(link)
    response = client.post(link, {"password1": PASSWORD, "password2": PASSWORD})

    assert form.status_code == 200 and "Thandiwe Nkosi" in form.content.decode()
    assert "thandiwe.nkosi@example.co.za" in form.content.decode()
    assert response.status_code == 302 and response.url == reverse("home")
    user = User.objects.get()
    customer = Customer.objects.get()
    assert (user.username, user.email, user.first_name, user.last_name) == (
        "thandiwe.nkosi@example.co.za", "thandiwe.nkosi@example.co.za", "Thandiwe", "Nkosi")
    assert user.check_password(PASSWORD) and user.is_active
    assert customer.user_id == user.pk
    assert (customer.email, customer.phone, customer.account_type, customer.status) == (
        "thandiwe.nkosi@example.co.za", "+27821234501", "personal", "active")
    assert customer.account_number == f"CT-{timezone.localdate().year}-00001"
    assert BillingAccount.objects.get().customer_id == customer.pk
    assert int(client.session["_auth_user_id"]) == user.pk
    home = client.get(reverse("home"), follow=True)  # a signed-in customer's home is the dashboard
    assert home.redirect_chain == [("/dashboard/", 302)]
    assert customer.account_number.encode() in home.content
    assert f"Your account number is {customer.account_number}." in home.content.decode()


@pytest.mark.django_db
def test_new_account_signs_out_and_in_again_with_its_password(client, complete_sign_up):
    complete_sign_up()
    client.post(reverse("logout"))

    response = client.post(reverse("login"), {"username": "Thandiwe.Nkosi@example.co.za", "password": PASSWORD})

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == User.objects.get().pk
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.django_db
def test_the_link_works_once(client, complete_sign_up):
    complete_sign_up()
    link = confirm_link(mail.outbox[0])
    client.post(reverse("logout"))

    again = client.get(link)
    reused = client.post(link, {"password1": "Another-Secret-2032", "password2": "Another-Secret-2032"})

    for response in (again, reused):
        assert response.status_code == 200
        assert ("This sign-up link was already used: the account exists. Sign in, or reset your password."
                in response.content.decode())
    assert (User.objects.count(), Customer.objects.count()) == (1, 1)
    assert User.objects.get().check_password(PASSWORD)
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@pytest.mark.parametrize(("tamper", "message"), [
    (lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
     "This sign-up link is not valid. Check that you opened the whole link, or sign up again."),
    (lambda token: signing.dumps({"email": "x@example.co.za"}, salt="billing.customers.sign_up"),
     "This sign-up link is not valid. Check that you opened the whole link, or sign up again."),
])
def test_a_forged_link_creates_nothing(client, sign_up, tamper, message):
    sign_up()
    token = confirm_link(mail.outbox[0]).split("/")[-2]

    response = client.post(reverse("signup_confirm", args=[tamper(token)]),
                           {"password1": PASSWORD, "password2": PASSWORD})

    assert response.status_code == 200 and message in response.content.decode()
    assert_nothing_created()


@pytest.mark.django_db
def test_an_expired_link_creates_nothing(client, sign_up, monkeypatch):
    sign_up()
    link = confirm_link(mail.outbox[0])
    later = timezone.now().timestamp() + 3 * 86400 + 1
    monkeypatch.setattr(signing, "time", SimpleNamespace(time=lambda: later))  # 3 days and a second on

    response = client.post(link, {"password1": PASSWORD, "password2": PASSWORD})

    assert "This sign-up link has expired. Sign up again to get a new one." in response.content.decode()
    assert_nothing_created()


@pytest.mark.django_db
def test_second_sign_up_gets_the_next_number(client, complete_sign_up):
    complete_sign_up()
    client.post(reverse("logout"))
    complete_sign_up(email="pieter.vdm@example.co.za", first_name="Pieter", last_name="van der Merwe", phone="")

    year = timezone.localdate().year
    assert sorted(Customer.objects.values_list("account_number", flat=True)) == [
        f"CT-{year}-00001", f"CT-{year}-00002"]


# --- an address that already has an account: the visitor cannot tell ------------------------------------

def _visible(response, browser):
    """Everything the visitor sees: status, where it sends them, that page, and whether they are signed in."""
    page = browser.get(response.url)
    return (response.status_code, response.url, page.status_code, [t.name for t in page.templates],
            page.content, "_auth_user_id" in browser.session, sorted(response.cookies))


@pytest.mark.django_db
@pytest.mark.parametrize("existing", ["user", "customer_with_login", "customer_without_login"])
def test_taken_and_new_addresses_get_the_same_answer_and_only_the_owner_is_told(sign_up, existing):
    owner = "thandiwe.nkosi@example.co.za"
    if existing == "user":
        UserFactory(email=owner, username=owner, first_name="Thandiwe", last_name="Nkosi")
    elif existing == "customer_with_login":
        CustomerFactory(email=owner, user=UserFactory(email=owner, username=owner), first_name="Thandiwe",
                        last_name="Nkosi")
    else:
        CustomerFactory(email=owner, first_name="Thandiwe", last_name="Nkosi")
    users, customers = User.objects.count(), Customer.objects.count()
    taken_browser, new_browser = Client(), Client()

    taken = sign_up(taken_browser, email="THANDIWE.Nkosi@example.CO.ZA")
    new = sign_up(new_browser, email="Lerato.Dlamini@example.co.za", first_name="Lerato", last_name="Dlamini")

    assert _visible(taken, taken_browser) == _visible(new, new_browser)
    assert taken.status_code == 302 and taken.url == reverse("signup_sent")
    assert CHECK_EMAIL in taken_browser.get(taken.url).content.decode()
    assert (User.objects.count(), Customer.objects.count()) == (users, customers)  # nothing yet, for either
    assert sorted(m.to[0] for m in mail.outbox) == ["lerato.dlamini@example.co.za", owner]
    (notice,) = [m for m in mail.outbox if m.to == [owner]]
    assert notice.subject == "Someone tried to sign up with your email address"
    assert notice.body.startswith("Hi Thandiwe Nkosi,\n\nSomeone, perhaps you, tried to create a new CircleTel "
                                  "account with this email address.")
    assert "/accounts/signup/confirm/" not in notice.body
    if existing == "customer_without_login":
        assert "Your account has no online sign-in yet. If it was you, contact us at accounts@circletel.co.za" in notice.body
    else:
        assert ("If it was you, sign in instead: http://127.0.0.1:8000/accounts/login/\n"
                "Forgotten your password? Reset it here: http://127.0.0.1:8000/accounts/password_reset/\n") in notice.body
    # Only the new address can go on to create an account.
    new_browser.post(confirm_link([m for m in mail.outbox if m.to != [owner]][0]),
                     {"password1": PASSWORD, "password2": PASSWORD})
    assert Customer.objects.filter(email="lerato.dlamini@example.co.za").count() == 1
    assert Customer.objects.filter(email__iexact=owner).count() == (0 if existing == "user" else 1)
    assert User.objects.filter(email__iexact=owner).count() == (0 if existing == "customer_without_login" else 1)


@pytest.mark.django_db
def test_repeated_sign_ups_send_one_email_per_address_per_quarter_hour(sign_up):
    UserFactory(email="owner@example.co.za", username="owner@example.co.za")

    for _ in range(3):
        sign_up(email="owner@example.co.za")
        sign_up(email="new@example.co.za")

    assert sorted(m.to[0] for m in mail.outbox) == ["new@example.co.za", "owner@example.co.za"]
    assert NotificationLog.objects.count() == 2


@pytest.mark.django_db
def test_too_many_sign_ups_from_one_address_are_refused_alike(sign_up, client):
    UserFactory(email="owner@example.co.za", username="owner@example.co.za")
    for n in range(20):
        sign_up(email=f"person{n}@example.co.za")

    taken = sign_up(email="owner@example.co.za")
    new = sign_up(email="someone.new@example.co.za")

    for response in (taken, new):
        assert response.status_code == 429
        assert response.context["form"].non_field_errors() == [
            "Too many sign-ups from your network in the last hour. Please try again later."]
    assert len(mail.outbox) == 20


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["12345", "+0821234501", "082 123 45", "+27 82 123 45011"])
def test_malformed_phone_is_a_form_error(client, phone):
    response = client.post(reverse("signup"), signup_data(phone=phone))

    assert response.status_code == 200
    assert response.context["form"].errors["phone"] == [
        "Enter a valid phone number, e.g. 082 123 4567 or +27 82 123 4567."]
    assert_nothing_created()
    assert NotificationLog.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["0821234501", "082 123 4501", "+27 82 123 4501", "(082) 123-4501", "27821234501"])
def test_phone_is_taken_as_people_write_it_and_stored_in_e164(complete_sign_up, phone):
    complete_sign_up(phone=phone, email=f"p{len(phone)}@example.co.za")

    assert Customer.objects.get().phone == "+27821234501"


@pytest.mark.django_db
@pytest.mark.parametrize(("password", "error"), [
    ("short1A", "This password is too short. It must contain at least 10 characters."),
    ("1234567890123", "This password is entirely numeric."),
    ("password1234", "This password is too common."),
    ("thandiwe.nkosi", "The password is too similar to the username."),
])
def test_weak_password_is_a_form_error(client, complete_sign_up, password, error):
    response = complete_sign_up(password=password)

    assert response.status_code == 200
    assert error in response.context["form"].errors["password1"]
    assert_nothing_created()
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_mismatched_passwords_are_a_form_error(client, sign_up):
    sign_up()

    response = client.post(confirm_link(mail.outbox[0]), {"password1": PASSWORD, "password2": "Other-Password-99"})

    assert response.context["form"].errors["password2"] == ["The two passwords do not match."]
    assert_nothing_created()


@pytest.mark.django_db
def test_business_without_company_is_a_form_error(client):
    response = client.post(reverse("signup"), signup_data(account_type="business"))

    assert response.context["form"].errors["company_name"] == ["A business account needs a company name."]
    assert NotificationLog.objects.count() == 0


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


# --- look-alike addresses (docs/adr/0009, "Look-alike addresses"; run on PostgreSQL too) ----------------

OWNER = "sipho@dlamini-logistics.example.co.za"
SPELLINGS = {  # other ways to type the owner's address: Unicode NFKC and case make them the same one
    "upper case": "SIPHO@DLAMINI-LOGISTICS.EXAMPLE.CO.ZA",
    "fullwidth": "".join(chr(ord(c) + 0xFEE0) for c in "sipho@dlamini") + "-logistics.example.co.za",
    "spaces and mixed case": "  Sipho@Dlamini-Logistics.Example.CO.ZA ",
    "long s in the name": "\u017fipho@dlamini-logistics.example.co.za",  # ſ is a compatibility form of s
    "long s in the domain": "sipho@dlamini-logi\u017ftics.example.co.za",
}
LOOKALIKES = {  # (a spelling a database folds onto the owner's address but that is not plain, one onto nobody's)
    "dotless i in the domain": ("sipho@dlam\u0131ni-logistics.example.co.za",  # the probe's address
                                "thabo@dlam\u0131ni-logistics.example.co.za"),
    "dotless i in the name": ("s\u0131pho@dlamini-logistics.example.co.za",
                              "s\u0131pho.m@dlamini-logistics.example.co.za"),
    "dotless i in the domain, in punycode": ("sipho@xn--dlamn-logistics-blcb.example.co.za",
                                             "thabo@xn--dlamn-logistics-blcb.example.co.za"),
}
DOMAIN_REFUSED = ("This email address contains a character we cannot tell apart from another "
                  "(such as ı, ß or ς). Use another address, or contact us.")
NAME_REFUSED = ("Use an email address with only the letters a-z, digits and . _ % + - before the @ "
                "(no accented or look-alike letters such as ı or ſ).")


def _owner(stored=OWNER):
    """An existing customer with a login; `stored` is the address exactly as the rows hold it."""
    user = UserFactory(email=stored, username=stored, first_name="Sipho", last_name="Dlamini")
    return CustomerFactory(email=stored, user=user, first_name="Sipho", last_name="Dlamini",
                           account_number="CT-2026-00003")


def _form_answer(response):
    return (response.status_code, [t.name for t in response.templates][:1],
            response.context["form"].errors.get("email"), "_auth_user_id" in response.wsgi_request.session)


@pytest.mark.django_db
@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_another_spelling_of_a_taken_address_tells_only_the_owner_at_the_stored_address(sign_up, spelling):
    _owner(stored="Sipho@Dlamini-Logistics.example.co.za")  # an older row, stored in mixed case
    taken_browser, new_browser = Client(), Client()

    taken = sign_up(taken_browser, email=SPELLINGS[spelling])
    new = sign_up(new_browser, email="lerato.dlamini@example.co.za", first_name="Lerato", last_name="Dlamini")

    assert _visible(taken, taken_browser) == _visible(new, new_browser)
    assert sorted(m.to[0] for m in mail.outbox) == ["Sipho@Dlamini-Logistics.example.co.za",
                                                     "lerato.dlamini@example.co.za"]
    (notice,) = [m for m in mail.outbox if m.to != ["lerato.dlamini@example.co.za"]]
    assert notice.subject == "Someone tried to sign up with your email address" and "CT-2026-00003" in notice.body
    assert NotificationLog.objects.count() == 2  # exactly one each


@pytest.mark.django_db
@pytest.mark.parametrize("lookalike", sorted(LOOKALIKES))
def test_a_lookalike_address_sends_nothing_and_answers_alike_whether_or_not_it_is_taken(sign_up, lookalike):
    """Refused for what was typed, never for whether it is taken: no email to the typed spelling
    (which may be someone else's mailbox) and none to the owner either."""
    taken_spelling, untaken_spelling = LOOKALIKES[lookalike]
    _owner()

    taken = sign_up(Client(), email=taken_spelling)
    untaken = sign_up(Client(), email=untaken_spelling)

    expected = [NAME_REFUSED if lookalike.endswith("name") else DOMAIN_REFUSED]
    assert _form_answer(taken) == _form_answer(untaken) == (200, ["registration/signup.html"], expected, False)
    assert mail.outbox == [] and NotificationLog.objects.count() == 0
    assert (User.objects.count(), Customer.objects.count()) == (1, 1)


@pytest.mark.django_db
def test_the_probe_address_no_longer_mails_the_account_number_to_the_typed_address(sign_up):
    _owner()

    response = sign_up(email="sipho@dlam\u0131ni-logistics.example.co.za")

    assert response.status_code == 200
    assert not any("CT-2026-00003" in m.body for m in mail.outbox)
    assert NotificationLog.objects.count() == 0


@pytest.mark.django_db
def test_a_new_address_in_another_spelling_signs_up_under_its_plain_form(client, complete_sign_up):
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "Naledi") + "@Example.co.za"

    complete_sign_up(email=fullwidth, first_name="Naledi", last_name="Mahlangu")

    assert mail.outbox[0].to == ["naledi@example.co.za"]
    user = User.objects.get()
    assert (user.email, user.username, Customer.objects.get().email) == ("naledi@example.co.za",) * 3


@pytest.mark.django_db
def test_a_real_international_domain_signs_up_in_its_ascii_form_and_signs_in_either_way(client, complete_sign_up):
    typed = unicodedata.normalize("NFC", "Lerato@M\u00fcller-Fibre.example")

    complete_sign_up(email=typed, first_name="Lerato", last_name="Mokoena")
    client.post(reverse("logout"))
    unicode_spelling = client.post(reverse("login"), {"username": "lerato@m\u00fcller-fibre.example",
                                                      "password": PASSWORD})

    assert mail.outbox[0].to == ["lerato@xn--mller-fibre-thb.example"]
    user = User.objects.get()
    assert user.email == user.username == Customer.objects.get().email == "lerato@xn--mller-fibre-thb.example"
    assert unicode_spelling.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk


@pytest.mark.django_db
def test_a_lookalike_in_the_link_creates_nothing(client):
    """A link signed before this rule (or by hand) for a look-alike of an existing address."""
    _owner()
    token = signing.dumps({"email": "s\u0131pho@dlamini-logistics.example.co.za", "first_name": "X", "last_name": "Y"},
                          salt="billing.customers.sign_up", compress=True)

    response = client.post(reverse("signup_confirm", args=[token]), {"password1": PASSWORD, "password2": PASSWORD})

    assert "This sign-up link was already used" in response.content.decode()
    assert (User.objects.count(), Customer.objects.count()) == (1, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("existing", ["user", "customer_without_login"])
def test_taken_and_new_addresses_do_the_same_work_in_the_request(existing):
    """The same lookups and exactly one queued notification either way (the email is sent later, from
    the queue), so the answer takes about as long whether or not the address is taken."""
    if existing == "user":
        UserFactory(email=OWNER, username=OWNER)
    else:
        CustomerFactory(email=OWNER)
    work = {}
    for name, email, address in (("taken", OWNER.upper(), "198.51.100.1"),
                                 ("new", "lerato.dlamini@example.co.za", "198.51.100.2")):
        with CaptureQueriesContext(connection) as queries:  # (own client address: a fresh rate-limit counter)
            response = Client().post(reverse("signup"), signup_data(email=email), REMOTE_ADDR=address)
        work[name] = (response.status_code, response.url, [q["sql"].split(" ", 1)[0] for q in queries.captured_queries])

    assert work["taken"] == work["new"]
    assert sorted(NotificationLog.objects.values_list("event", flat=True)) == ["signup_confirm",
                                                                              "signup_existing_account"]


# --- issue 16, finding 5: the VAT number (business) and the billing day at sign-up ------------------------

@pytest.mark.django_db
def test_a_business_signs_up_with_its_vat_number_and_billing_day(client, complete_sign_up):
    response = complete_sign_up(account_type="business", company_name="Dlamini Logistics",
                                vat_number="ZA 412 345 6789", billing_day="25")

    assert response.status_code == 302
    customer = Customer.objects.select_related("billing_account").get()
    assert (customer.account_type, customer.company_name, customer.vat_number) == (
        "business", "Dlamini Logistics", "4123456789")
    assert customer.billing_account.preferred_billing_day == 25


@pytest.mark.django_db
def test_a_personal_sign_up_without_a_billing_day_gets_the_first(client, complete_sign_up):
    complete_sign_up()
    customer = Customer.objects.select_related("billing_account").get()
    assert (customer.vat_number, customer.billing_account.preferred_billing_day) == ("", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"account_type": "business", "company_name": "Acme", "vat_number": "5123456789"}, "vat_number",
     "10 digits starting with 4"),
    ({"account_type": "business", "company_name": "Acme", "vat_number": "412345678"}, "vat_number",
     "10 digits starting with 4"),
    ({"vat_number": "4123456789"}, "vat_number", "Only business accounts"),
    ({"billing_day": "15"}, "billing_day", "Select a valid choice"),
])
def test_a_bad_vat_number_or_billing_day_is_refused_and_nothing_is_sent(client, sign_up, overrides, field, message):
    response = sign_up(**overrides)

    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert mail.outbox == []
    assert_nothing_created()


@pytest.mark.django_db
def test_the_sign_up_page_offers_the_four_billing_days_and_a_vat_number(client):
    body = client.get(reverse("signup")).content.decode()
    assert 'name="vat_number"' in body
    for day in ("1", "5", "25", "30"):
        assert f'<option value="{day}"' in body
    assert '<option value="15"' not in body
