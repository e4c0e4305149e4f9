"""Password reset (`/accounts/password_reset/`, billing.views.PasswordResetView): rate limited per client
address and per email, the same answer and the same in-request work whether or not the address has an
account, the email queued through notifications (sent from the queue, not in the request) to the
address stored on the login, and Django's token and confirm pages unchanged. Run on PostgreSQL too."""

import re

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.services.customers import password_reset_send
from notifications.delivery import SCRUBBED
from notifications.models import NotificationLog
from tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-battery"  # UserFactory's
NEW_PASSWORD = "Drakensberg-Peak-77"
OWNER = "pieter.vdm@example.co.za"
HOME = "198.51.100.7"
TOO_MANY = "Too many password reset requests from your network in the last hour. Please try again later."
DONE = "If an account uses that address, a reset link is on its way."


@pytest.fixture
def owner():
    user = UserFactory(email=OWNER, username=OWNER, first_name="Pieter", last_name="van der Merwe")
    CustomerFactory(user=user, email=OWNER)
    return user


@pytest.fixture
def reset(tasks_run_inline, django_capture_on_commit_callbacks):
    """Post the reset form as a browser would; the queued task (and the email it queues) run at once."""
    def post(email, browser=None, address=HOME):
        with django_capture_on_commit_callbacks(execute=True):
            return (browser or Client()).post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address)
    return post


def reset_link(message) -> str:
    return re.search(r"http://127\.0\.0\.1:8000(/accounts/reset/\S+/\S+/)", message.body).group(1)


def page_text(response, typed: str) -> str:
    """The page without what differs per request anyway: the CSRF token and the address typed."""
    text = response.content.decode().replace(typed, "<typed>")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", text)


def statements(queries) -> list[str]:
    return [q["sql"].split(" ", 1)[0] for q in queries.captured_queries]


def answer(response, browser):
    """What the visitor sees: status, redirect, the page it leads to."""
    page = browser.get(response.url)
    return response.status_code, response.url, page.status_code, [t.name for t in page.templates], page.content


def test_the_link_sets_the_new_password_and_the_person_signs_in_with_it(owner, reset):
    browser = Client()

    response = reset("Pieter.VDM@Example.co.za", browser)

    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert DONE in browser.get(response.url).content.decode()
    (message,) = mail.outbox
    assert message.to == [OWNER] and message.subject == "Reset your CircleTel password"
    assert message.body.startswith("Hi Pieter van der Merwe,\n\nSomeone, perhaps you, asked to reset the password "
                                   f"for your CircleTel account ({OWNER}).")
    link = reset_link(message)
    log = NotificationLog.objects.get()
    assert (log.event, log.recipient, log.status, log.body) == ("password_reset", OWNER, "sent", SCRUBBED)

    confirm = browser.get(link, follow=True)
    assert confirm.status_code == 200 and confirm.context["validlink"] is True
    done = browser.post(confirm.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD) and not owner.check_password(PASSWORD)
    assert browser.get(link, follow=True).context["validlink"] is False  # single use

    signed_in = Client().post(reverse("login"), {"username": OWNER, "password": NEW_PASSWORD}, REMOTE_ADDR=HOME)
    old = Client().post(reverse("login"), {"username": OWNER, "password": PASSWORD}, REMOTE_ADDR="203.0.113.9")
    assert signed_in.status_code == 302 and signed_in.wsgi_request.user.pk == owner.pk
    assert old.status_code == 200 and not old.wsgi_request.user.is_authenticated


def test_existing_and_unknown_addresses_get_the_same_answer_and_the_same_work(
        owner, queued, django_capture_on_commit_callbacks):
    """Nothing is looked up in the request: both queue one task, with the same queries, and answer alike."""
    known_browser, unknown_browser = Client(), Client()
    # (each from its own client address, so each starts its own rate-limit counters)
    with CaptureQueriesContext(connection) as known_queries, django_capture_on_commit_callbacks(execute=True):
        known = known_browser.post(reverse("password_reset"), {"email": OWNER}, REMOTE_ADDR="198.51.100.1")
    with CaptureQueriesContext(connection) as unknown_queries, django_capture_on_commit_callbacks(execute=True):
        unknown = unknown_browser.post(reverse("password_reset"), {"email": "nobody@example.co.za"},
                                       REMOTE_ADDR="198.51.100.2")

    assert answer(known, known_browser) == answer(unknown, unknown_browser)
    assert statements(known_queries) == statements(unknown_queries)
    assert not any("auth_user" in q["sql"] for q in known_queries.captured_queries)  # no lookup in the request
    assert [func for func, _ in queued] == ["billing.services.customers.password_reset_send"] * 2
    assert [args[0] for _, args in queued] == [OWNER, "nobody@example.co.za"]
    assert NotificationLog.objects.count() == 0 and mail.outbox == []


def test_exactly_one_email_to_the_owner_and_none_for_an_unknown_address(owner, reset):
    known, unknown = Client(), Client()

    reset(OWNER, known)
    reset("nobody@example.co.za", unknown, address="203.0.113.9")

    assert [m.to for m in mail.outbox] == [[OWNER]]
    assert list(NotificationLog.objects.values_list("event", "recipient")) == [("password_reset", OWNER)]


@pytest.mark.parametrize("typed", [
    " SIPHO.DLAMINI@EXAMPLE.CO.ZA",
    "\uff53\uff49\uff50\uff48\uff4f.dlamini\uff20example.co.za",  # fullwidth s i p h o and @
    "\u017fipho.dlamini@example.co.za",  # long s
    "s\u0131pho.dlamini@example.co.za",  # dotless i
    "sipho.dlam\u0131ni@example.co.za",
])
def test_other_spellings_reach_the_stored_address_only(reset, typed):
    stored = "Sipho.Dlamini@Example.co.za"  # an older row in mixed case: the email goes exactly there
    UserFactory(email=stored, username="sipho", first_name="Sipho")

    response = reset(typed)

    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert [m.to for m in mail.outbox] == [[stored]]
    assert NotificationLog.objects.get().recipient == stored


def test_a_different_address_is_not_a_spelling_of_the_owner(owner, reset):
    response = reset("p\u0130eter.vdm@example.co.za")  # İ (capital I with dot) is not i: no account's

    assert response.status_code == 200 and response.context["form"].errors["email"] == ["Enter a valid email address."]
    assert mail.outbox == [] and NotificationLog.objects.count() == 0


def test_inactive_or_passwordless_logins_get_nothing(reset):
    UserFactory(email="gone@example.co.za", username="gone@example.co.za", is_active=False)
    passwordless = UserFactory(email="sso@example.co.za", username="sso@example.co.za")
    passwordless.set_unusable_password()
    passwordless.save()

    answers = [reset(email).url for email in ("gone@example.co.za", "sso@example.co.za")]

    assert answers == [reverse("password_reset_done")] * 2
    assert mail.outbox == []


# --- limits ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("email", [OWNER, "nobody@example.co.za"])
def test_one_address_gets_three_requests_an_hour_then_the_same_page_and_nothing_more(owner, reset, email):
    """The probe's 30 reset emails to one person in a second: now 3, from any number of client addresses."""
    responses = [reset(email.upper() if n % 2 else email, address=f"198.51.100.{n}") for n in range(30)]

    assert {(r.status_code, r.url) for r in responses} == {(302, reverse("password_reset_done"))}
    assert len(mail.outbox) == (3 if email == OWNER else 0)
    assert all(m.to == [OWNER] for m in mail.outbox)


def test_below_the_limit_each_request_sends_its_own_link(owner, reset):
    reset(OWNER)
    reset(OWNER)

    assert [m.to for m in mail.outbox] == [[OWNER], [OWNER]]
    assert NotificationLog.objects.filter(event="password_reset", recipient=OWNER).count() == 2


def test_twenty_requests_from_one_client_address_then_429_alike_for_any_email(owner, reset):
    statuses = [reset(f"person{n}@example.co.za").status_code for n in range(20)]

    over_known, over_unknown = reset(OWNER), reset("nobody@example.co.za")
    elsewhere = reset(OWNER, address="203.0.113.9")

    assert statuses == [302] * 20
    for response in (over_known, over_unknown):
        assert response.status_code == 429
        assert response.context["form"].non_field_errors() == [TOO_MANY]
        assert "registration/password_reset_form.html" in [t.name for t in response.templates]
    assert page_text(over_known, OWNER) == page_text(over_unknown, "nobody@example.co.za")
    assert elsewhere.status_code == 302 and [m.to for m in mail.outbox] == [[OWNER]]


def test_a_task_run_twice_sends_once(owner, tasks_run_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = password_reset_send(OWNER, "request-1")
        again = password_reset_send(OWNER, "request-1")

    assert (first, again) == (1, 1)
    assert len(mail.outbox) == 1 and NotificationLog.objects.count() == 1


def test_a_reset_does_not_lift_a_sign_in_lock(owner, reset):
    """The ADR's promise: reset works during a lock, and the new password works once the wait is over."""
    browser = Client()
    for _ in range(5):
        browser.post(reverse("login"), {"username": OWNER, "password": "wrong-wrong-1"}, REMOTE_ADDR=HOME)

    reset(OWNER, browser)
    confirm = browser.get(reset_link(mail.outbox[0]), follow=True)
    browser.post(confirm.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    locked = browser.post(reverse("login"), {"username": OWNER, "password": NEW_PASSWORD}, REMOTE_ADDR=HOME)
    AccessAttempt.objects.all().delete()  # the wait is over (or staff unlocked)
    after = browser.post(reverse("login"), {"username": OWNER, "password": NEW_PASSWORD}, REMOTE_ADDR=HOME)

    assert locked.status_code == 429
    assert after.status_code == 302 and after.wsgi_request.user.pk == owner.pk
