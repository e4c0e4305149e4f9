"""Sign-in lockout (django-axes, circletel/login_throttle.py) on the customer and the admin login:
per account, per client address, cool-off, reset on success, staff unlock, and what still works."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.authtoken.models import Token

from circletel.login_throttle import lockout_message
from circletel.throttle import client_ip
from tests.factories import UserFactory
from tests.portal.factories import customer_with_login

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"  # UserFactory's
WRONG = "not-the-password-1"
WAIT = "Too many failed sign-in attempts. Try again in 15 minutes."
HOME = "198.51.100.7"
ELSEWHERE = "203.0.113.44"
LOGINS = {"customer": "/accounts/login/", "admin": "/admin/login/"}


@pytest.fixture(params=sorted(LOGINS))
def login(request):
    """(login URL, a user who may sign in there: a customer, or staff whose username is not the email)."""
    if request.param == "customer":
        return LOGINS["customer"], customer_with_login().user
    return LOGINS["admin"], UserFactory(username="ops-lead", email="ops.lead@circletel.co.za", is_staff=True)


def sign_in(client, url, email, password, address=HOME):
    return client.post(url, {"username": email, "password": password}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def fail(client, url, email, times, address=HOME):
    """`times` wrong passwords; returns the status codes."""
    return [sign_in(client, url, email, WRONG, address).status_code for _ in range(times)]


def assert_locked_out(response, url):
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    if url == LOGINS["admin"]:
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response.content.decode() == WAIT
    else:
        assert "registration/locked_out.html" in [t.name for t in response.templates]
        body = response.content.decode()
        assert f"<p>{WAIT}</p>" in body and "<h1>Sign-in paused</h1>" in body and 'class="topbar"' in body
        assert 'name="password"' not in body  # the lockout page, not the login form


def backdate_attempts(**delta):
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(**delta))


# --- per account -----------------------------------------------------------------------------------------

def test_fifth_failure_locks_the_account_and_the_right_password_is_refused(client, login):
    url, user = login

    statuses = fail(client, url, user.email, 4)
    fifth = sign_in(client, url, user.email, WRONG)
    right = sign_in(client, url, user.email, PASSWORD)

    assert statuses == [200, 200, 200, 200]
    assert_locked_out(fifth, url)
    assert_locked_out(right, url)
    assert not signed_in(client)
    assert AccessLog.objects.count() == 0


def test_thirty_failures_then_the_right_password_is_still_refused(client, login):
    url, user = login

    fail(client, url, user.email, 30)
    right = sign_in(client, url, user.email, PASSWORD)

    assert_locked_out(right, url)
    assert not signed_in(client)


def test_right_password_before_the_limit_signs_in(client, login):
    url, user = login

    statuses = fail(client, url, user.email, 4)
    right = sign_in(client, url, user.email, PASSWORD)

    assert statuses == [200, 200, 200, 200]
    assert right.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk
    assert AccessLog.objects.get().username == user.get_username()


def test_account_lock_holds_from_another_address_and_ends_after_the_cool_off(client, login):
    url, user = login
    fail(client, url, user.email, 5, address=HOME)

    from_elsewhere = sign_in(client, url, user.email, PASSWORD, address=ELSEWHERE)
    backdate_attempts(minutes=14)  # the try above restarted the wait: 14 minutes into it is still locked
    almost = sign_in(client, url, user.email, PASSWORD)
    backdate_attempts(minutes=15, seconds=1)
    after = sign_in(client, url, user.email, PASSWORD)

    assert_locked_out(from_elsewhere, url)
    assert_locked_out(almost, url)
    assert after.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk


def test_email_in_any_case_and_with_spaces_is_one_account(client):
    user = customer_with_login().user
    url = LOGINS["customer"]
    user.email = "thandi.mokoena@example.co.za"
    user.username = user.email
    user.save()

    for typed in ["Thandi.Mokoena@Example.co.za", "THANDI.MOKOENA@EXAMPLE.CO.ZA", " thandi.mokoena@example.co.za",
                  "thandi.mokoena@EXAMPLE.co.za"]:
        assert sign_in(client, url, typed, WRONG).status_code == 200
    fifth = sign_in(client, url, "Thandi.MOKOENA@example.co.za ", WRONG)
    right = sign_in(client, url, "thandi.mokoena@example.co.za", PASSWORD)

    assert_locked_out(fifth, url)
    assert_locked_out(right, url)
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {"thandi.mokoena@example.co.za"}


def test_admin_counts_the_email_typed_as_the_account(client):
    staff = UserFactory(username="ops-lead", email="ops.lead@circletel.co.za", is_staff=True)

    fail(client, LOGINS["admin"], "OPS.Lead@circletel.co.za", 4)
    right = sign_in(client, LOGINS["admin"], "ops.lead@circletel.co.za", PASSWORD)

    assert right.status_code == 302 and int(client.session["_auth_user_id"]) == staff.pk
    assert AccessAttempt.objects.count() == 0  # reset by the email, though the username is "ops-lead"


# --- look-alike addresses (docs/adr/0009, "Look-alike addresses") -----------------------------------------
# PostgreSQL's UPPER() maps ı (dotless i) to I and ſ (long s) to S, so an `iexact` lookup found the real
# account for these spellings while the lock counted them as other accounts. Run on PostgreSQL too.

def _swap(email: str, part: str, old: str, new: str) -> str:
    local, _, domain = email.partition("@")
    if part == "local":
        assert old in local
        return f"{local.replace(old, new, 1)}@{domain}"
    assert old in domain
    return f"{local}@{domain.replace(old, new, 1)}"


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def _punycode(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local}@{domain.encode('idna').decode('ascii')}"


LOOKALIKES = {
    "dotless i in the name": lambda e: _swap(e, "local", "i", "\u0131"),
    "long s in the name": lambda e: _swap(e, "local", "s", "\u017f"),
    "dotless i in the domain": lambda e: _swap(e, "domain", "i", "\u0131"),
    "long s in the domain": lambda e: _swap(e, "domain", "s", "\u017f"),
    "dotless i in the domain, in punycode": lambda e: _punycode(_swap(e, "domain", "i", "\u0131")),
    "upper case": str.upper,
    "fullwidth": _fullwidth,
    "mixed": lambda e: " " + _fullwidth(_swap(_swap(e, "local", "i", "\u0131"), "local", "s", "\u017f")).upper(),
}
LOOKALIKE_ACCOUNTS = {"customer": "sipho@dlamini-logistics.example.co.za", "admin": "sysadmin@ops.circletel.co.za"}


@pytest.fixture(params=sorted(LOGINS))
def lookalike_login(request):
    """(login URL, a user there whose email has an i and an s on both sides of the @)."""
    email = LOOKALIKE_ACCOUNTS[request.param]
    if request.param == "customer":
        user = UserFactory(email=email, username=email)
        customer_with_login_for(user)
        return LOGINS["customer"], user
    return LOGINS["admin"], UserFactory(username="sysadmin", email=email, is_staff=True, is_superuser=True)


def customer_with_login_for(user):
    from tests.factories import CustomerFactory

    return CustomerFactory(user=user, email=user.email)


def test_every_lookalike_is_the_same_locked_account(client, lookalike_login):
    url, user = lookalike_login
    fail(client, url, user.email, 5)
    (locked,) = AccessAttempt.objects.values_list("username", "failures_since_start")

    refused = {name: sign_in(client, url, spell(user.email), PASSWORD) for name, spell in LOOKALIKES.items()}

    for name, response in refused.items():
        assert response.status_code == 429, name
        assert_locked_out(response, url)
    assert not signed_in(client)
    assert AccessLog.objects.count() == 0
    assert locked == (user.email, 5)
    # Still one account, still locked: no spelling got a count of its own or cleared the real one.
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [user.email]
    assert AccessAttempt.objects.get().failures_since_start >= 5
    assert_locked_out(sign_in(client, url, user.email, PASSWORD), url)


def test_failures_under_lookalike_spellings_count_against_the_real_account(client, lookalike_login):
    url, user = lookalike_login
    spellings = list(LOOKALIKES.values())[:4]

    statuses = [sign_in(client, url, spell(user.email), WRONG).status_code for spell in spellings]
    fifth = sign_in(client, url, LOOKALIKES["mixed"](user.email), WRONG)
    right = sign_in(client, url, user.email, PASSWORD, address=ELSEWHERE)

    assert statuses == [200, 200, 200, 200]
    assert_locked_out(fifth, url)
    assert_locked_out(right, url)
    assert not signed_in(client)
    assert set(AccessAttempt.objects.values_list("username", flat=True)) == {user.email}


def test_a_lookalike_sign_in_forgives_no_more_than_the_genuine_one(client, lookalike_login):
    """Before the lock a look-alike spelling with the right password is the account signing in (same
    key, same password check); like any sign-in it forgets only that address's failures."""
    url, user = lookalike_login
    fail(client, url, user.email, 3, address=ELSEWHERE)  # someone guessing from elsewhere
    fail(client, url, user.email, 1)

    variant = sign_in(client, url, LOOKALIKES["dotless i in the name"](user.email), PASSWORD)
    client.post("/accounts/logout/")
    guesses = fail(client, url, LOOKALIKES["long s in the domain"](user.email), 2, address=ELSEWHERE)

    assert variant.status_code == 302 and variant.wsgi_request.user.pk == user.pk
    assert guesses == [200, 429]
    assert list(AccessAttempt.objects.values_list("username", "ip_address", "failures_since_start")) == [
        (user.email, ELSEWHERE, 5)]


def test_the_genuine_email_signs_in_before_the_limit_and_other_addresses_stay_apart(client, lookalike_login):
    url, user = lookalike_login
    other = UserFactory(email=user.email.replace("@", "2@"), is_staff=True)
    fail(client, url, other.email, 5)  # another account, locked

    dotted_capital = sign_in(client, url, _swap(user.email, "local", "i", "\u0130"), PASSWORD)  # İ: not i
    statuses = fail(client, url, user.email, 4)
    right = sign_in(client, url, user.email, PASSWORD, address=ELSEWHERE)

    assert dotted_capital.status_code == 200 and statuses == [200] * 4
    assert right.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk


# --- per address -----------------------------------------------------------------------------------------

def test_twenty_failures_from_one_address_across_accounts_lock_that_address_only(client):
    url = LOGINS["customer"]
    user = customer_with_login().user

    statuses = [sign_in(client, url, f"guess{n}@example.co.za", WRONG).status_code for n in range(19)]
    twentieth = sign_in(client, url, "guess19@example.co.za", WRONG)
    right_here = sign_in(client, url, user.email, PASSWORD)
    right_elsewhere = sign_in(client, url, user.email, PASSWORD, address=ELSEWHERE)

    assert statuses == [200] * 19
    assert_locked_out(twentieth, url)
    assert_locked_out(right_here, url)
    assert right_elsewhere.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk


def test_admin_login_shares_the_address_count(client):
    fail(client, LOGINS["customer"], "guess@example.co.za", 4)
    for n in range(16):
        sign_in(client, LOGINS["customer"], f"other{n}@example.co.za", WRONG)  # 20 from this address
    staff = UserFactory(is_staff=True)

    refused = sign_in(client, LOGINS["admin"], staff.email, PASSWORD)

    assert_locked_out(refused, LOGINS["admin"])
    assert not signed_in(client)


# --- reset on success ------------------------------------------------------------------------------------

def test_success_resets_the_account_count_from_that_address(client, login):
    url, user = login

    first = fail(client, url, user.email, 4)
    assert sign_in(client, url, user.email, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    second = fail(client, url, user.email, 4)
    again = sign_in(client, url, user.email, PASSWORD)

    assert first == second == [200, 200, 200, 200]
    assert again.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk


def test_success_does_not_forgive_failures_from_other_addresses(client):
    url = LOGINS["customer"]
    user = customer_with_login().user
    fail(client, url, user.email, 3, address=ELSEWHERE)  # someone else guessing

    fail(client, url, user.email, 1)
    assert sign_in(client, url, user.email, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    guesses = fail(client, url, user.email, 2, address=ELSEWHERE)

    assert guesses == [200, 429]
    assert list(AccessAttempt.objects.values_list("ip_address", "failures_since_start")) == [(ELSEWHERE, 5)]


# --- staff unlock ----------------------------------------------------------------------------------------

@pytest.fixture
def console():
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    return staff


def test_staff_see_the_lock_and_unlock_the_account(client, console, login):
    url, user = login
    fail(client, url, user.email, 5)
    attempt = AccessAttempt.objects.get()

    listing = console.get("/admin/axes/accessattempt/")
    detail = console.get(f"/admin/axes/accessattempt/{attempt.pk}/change/")
    done = console.post("/admin/axes/accessattempt/", {"action": "unlock_accounts", "_selected_action": [attempt.pk]},
                        follow=True)
    right = sign_in(client, url, user.email, PASSWORD)

    assert listing.status_code == 200 and detail.status_code == 200 and b'name="_save"' not in detail.content
    row = listing.content.decode()
    assert "5 of 5" in row and "1 of 20" not in row and "5 of 20" in row and ">account<" in row
    assert f"Unlocked {user.email.lower()} (1 attempt rows cleared)." in [str(m) for m in done.context["messages"]]
    assert right.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk


def test_staff_unlock_an_address(client, console):
    url = LOGINS["customer"]
    user = customer_with_login().user
    for n in range(20):
        sign_in(client, url, f"guess{n}@example.co.za", WRONG)
    assert_locked_out(sign_in(client, url, user.email, PASSWORD), url)
    one_row = AccessAttempt.objects.filter(username="guess0@example.co.za").get()

    console.post("/admin/axes/accessattempt/", {"action": "unlock_addresses", "_selected_action": [one_row.pk]})
    right = sign_in(client, url, user.email, PASSWORD)

    assert right.status_code == 302 and int(client.session["_auth_user_id"]) == user.pk
    assert AccessAttempt.objects.count() == 0


def test_successful_sign_ins_are_a_read_only_log(client, console):
    user = customer_with_login().user
    sign_in(client, LOGINS["customer"], user.email, PASSWORD)
    entry = AccessLog.objects.get(username=user.email)

    listing = console.get("/admin/axes/accesslog/")
    change = console.get(f"/admin/axes/accesslog/{entry.pk}/change/")

    assert (entry.username, entry.ip_address) == (user.email, HOME)
    assert listing.status_code == 200 and user.email in listing.content.decode()
    assert change.status_code == 200 and b'name="_save"' not in change.content


# --- what still works ------------------------------------------------------------------------------------

def test_force_login_and_api_tokens_are_not_throttled(client):
    customer = customer_with_login()
    user = customer.user
    fail(client, LOGINS["customer"], user.email, 5)  # the account is locked for password sign-in
    token = Token.objects.create(user=user)

    by_token = client.get("/api/dashboard/summary", HTTP_AUTHORIZATION=f"Token {token.key}")
    client.force_login(user)
    by_session = client.get("/api/dashboard/summary")
    page = client.get("/dashboard/")

    assert by_token.status_code == 200 and by_token.json()["account_number"] == customer.account_number
    assert by_session.status_code == 200 and page.status_code == 200
    assert AccessLog.objects.get().ip_address is None  # force_login's request has no client address


# --- the client address ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("proxies", "meta", "expected"), [
    (0, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "41.13.1.2"}, "10.0.0.2"),
    (1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "41.13.1.2"}, "41.13.1.2"),
    (1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 41.13.1.2"}, "41.13.1.2"),  # spoofed left
    (2, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 41.13.1.2, 172.16.0.9"}, "41.13.1.2"),
    (2, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "41.13.1.2"}, "10.0.0.2"),  # fewer hops than proxies
    (1, {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "not-an-ip"}, "10.0.0.2"),
    (1, {"REMOTE_ADDR": "10.0.0.2"}, "10.0.0.2"),
])
def test_client_ip_trusts_only_the_configured_proxies(settings, proxies, meta, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get("/", **meta)

    assert client_ip(request) == expected


def test_behind_a_proxy_each_client_has_its_own_address_count(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    url = LOGINS["customer"]
    user = customer_with_login().user

    def post(email, password, forwarded_for):
        return client.post(url, {"username": email, "password": password}, REMOTE_ADDR="10.0.0.2",
                           HTTP_X_FORWARDED_FOR=forwarded_for)

    statuses = [post(f"guess{n}@example.co.za", WRONG, "41.13.1.2").status_code for n in range(20)]
    other_client = post(user.email, PASSWORD, "41.13.1.3")

    assert statuses == [200] * 19 + [429]
    assert other_client.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"41.13.1.2"}


@pytest.mark.parametrize(("delta", "words"), [
    (timedelta(minutes=15), "15 minutes"), (timedelta(minutes=1), "1 minute"), (timedelta(seconds=90), "2 minutes"),
    (timedelta(hours=1), "1 hour"), (timedelta(hours=2), "2 hours"),
])
def test_lockout_message_says_how_long_to_wait(delta, words):
    assert lockout_message(delta) == f"Too many failed sign-in attempts. Try again in {words}."
