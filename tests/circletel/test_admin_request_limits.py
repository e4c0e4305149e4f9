"""Hostile changelist requests (issue 13): a NUL byte anywhere in the URL or cookies is a 400 before any query,
a lookup the database refuses is the admin's usual "wrong parameters" answer, and every admin on the site
searches at most 5 words. Runs on SQLite and on PostgreSQL (where NUL and numeric overflow are DataErrors)."""

from urllib.parse import quote

import pytest
from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.contrib.messages.storage.fallback import FallbackStorage
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from circletel.admin_tools import ConsoleAdminMixin, SearchLimitMixin, search_term_limit
from payments.models import PaymentTransaction
from tests.factories import CustomerFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db

FIRST_PARTY_APPS = {"circletel", "billing", "payments", "usage", "zoho_sync", "reservations", "notifications"}
NUL_REFUSED = b"Request contains a NUL byte"
PAYMENTS_URL = "/admin/payments/paymenttransaction/"


@pytest.fixture
def superuser():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def staff(client, superuser):
    client.force_login(superuser)
    return client


def _changelists():
    """(changelist url, model admin) for every model registered on the admin site, third-party ones included."""
    return sorted(
        ((reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"), model_admin)
         for model, model_admin in admin.site._registry.items()),
        key=lambda pair: pair[0])


def _admin_request(user, path, data=None):
    request = RequestFactory().get(path, data or {})
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def _list_filter_parameters(url, model_admin, user):
    """{query parameter: a query string the filter itself offers (its first real choice, else "All")} over
    the changelist's list filters, found through the admin's own ChangeList."""
    changelist = model_admin.get_changelist_instance(_admin_request(user, url))
    found = {}
    for spec in changelist.filter_specs:
        choices = [choice["query_string"] for choice in spec.choices(changelist)]
        normal = next((qs for qs in choices if "=" in qs), choices[0] if choices else "?")
        for parameter in spec.expected_parameters():
            found[parameter] = normal
    return found


def test_a_nul_byte_in_any_list_filter_or_search_is_a_400_and_normal_values_still_work(staff, superuser):
    PaymentFactory()  # a row, so value-based filters (customers, dates) offer real choices
    checked = []
    for url, model_admin in _changelists():
        # Given the changelist answers a normal search
        assert staff.get(url, {SEARCH_VAR: "thandi"}).status_code == 200, url
        # When the search box holds a NUL, then it is refused before any query
        refused = staff.get(f"{url}?{SEARCH_VAR}=%00")
        assert (refused.status_code, refused.content) == (400, NUL_REFUSED), url

        for parameter, normal in _list_filter_parameters(url, model_admin, superuser).items():
            assert staff.get(f"{url}{normal}").status_code == 200, (url, normal)
            refused = staff.get(f"{url}?{quote(parameter)}=%00")
            assert (refused.status_code, refused.content) == (400, NUL_REFUSED), (url, parameter)
            refused = staff.get(f"{url}?{quote(parameter)}=ok%00")
            assert refused.status_code == 400, (url, parameter)
            checked.append((url, parameter))

    assert (PAYMENTS_URL, "status__exact") in checked
    assert len({url for url, _ in checked}) >= 25  # every changelist with list filters, ours and third-party


def test_a_nul_byte_in_a_parameter_name_the_path_or_a_cookie_is_a_400(staff):
    assert staff.get(f"{PAYMENTS_URL}?status%00=paid").status_code == 400
    # A character primary key (django-q2's task ids) in an admin URL.
    assert staff.get("/admin/django_q/success/%00/change/").content == NUL_REFUSED
    # The session key, unquoted from a quoted cookie's octal escape.
    assert staff.get("/admin/", HTTP_COOKIE='sessionid="abcdefghij\\000"').status_code == 400
    assert staff.get("/").status_code != 400  # positive control: the same client, no NUL


def test_without_the_middleware_the_admin_answers_a_nul_filter_value_as_wrong_parameters(superuser):
    # Defence in depth: the changelists themselves never take a NUL to the database.
    for url, model_admin in _changelists():
        for parameter in ["status__exact", SEARCH_VAR]:
            response = model_admin.changelist_view(_admin_request(superuser, url, {parameter: "\x00"}))
            if type(model_admin).__name__ == "SyncDashboardAdmin":  # its own page, reads only known values
                assert response.status_code == 200
                continue
            assert (response.status_code, response["Location"]) == (302, f"{url}?e=1"), (url, parameter)


def test_a_value_the_database_refuses_is_the_admins_wrong_parameters_redirect(staff):
    # PostgreSQL: "value overflows numeric format" (DataError, was a 500); SQLite compares it as text.
    response = staff.get(PAYMENTS_URL, {"amount__exact": "1e200000"})
    if connection.vendor == "postgresql":
        assert (response.status_code, response["Location"]) == (302, f"{PAYMENTS_URL}?e=1")
    else:
        assert response.status_code == 200
    # The connection is still usable after the refused query (it ran in a savepoint).
    assert staff.get(PAYMENTS_URL, {"status__exact": "completed"}).status_code == 200
    # SQLite refuses JSON containment: the same redirect rather than a 500 (PostgreSQL runs it).
    response = staff.get(PAYMENTS_URL, {"raw_response__contains": "x"})
    assert response.status_code == (200 if connection.vendor == "postgresql" else 302)


def test_regex_lookups_are_not_allowed_on_changelists(staff):
    for lookup in ["reference__regex", "status__iregex", "customer__email__regex"]:
        assert staff.get(PAYMENTS_URL, {lookup: "("}).status_code == 400, lookup
    assert staff.get(PAYMENTS_URL, {"reference__startswith": "PAY"}).status_code == 200


def test_every_admin_on_the_site_bounds_its_search():
    registry = admin.site._registry
    with_search = [ma for ma in registry.values() if ma.search_fields]
    assert len(with_search) >= 30
    assert [type(ma).__name__ for ma in with_search if not isinstance(ma, SearchLimitMixin)] == []
    assert [type(ma).__name__ for ma in registry.values() if not isinstance(ma, ConsoleAdminMixin)] == []
    # Ours (by where the admin class is written) include it in their class; only third-party admins are wrapped
    # at start-up, keeping their behaviour.
    wrapped = {type(ma).console_wrapped_from: model._meta.app_label for model, ma in registry.items()
               if hasattr(type(ma), "console_wrapped_from")}
    assert [cls.__qualname__ for cls in wrapped if cls.__module__.split(".")[0] in FIRST_PARTY_APPS] == []
    assert {"auth", "django_q", "authtoken"} <= set(wrapped.values())
    assert isinstance(registry[User], UserAdmin) and isinstance(registry[Group], GroupAdmin)
    assert type(registry[User]).__name__ == "UserAdmin"


def test_a_thousand_word_search_runs_only_the_first_five_words(staff):
    PaymentFactory(reference="PAY-W1-000001")
    words = " ".join(f"w{i}" for i in range(1, 1001))
    search_fields = len(admin.site._registry[PaymentTransaction].search_fields)  # one LIKE per field per word

    with CaptureQueriesContext(connection) as queries:
        response = staff.get(PAYMENTS_URL, {SEARCH_VAR: words})

    assert response.status_code == 200
    likes = [q["sql"].count("LIKE") for q in queries.captured_queries if "payments_paymenttransaction" in q["sql"]]
    assert max(likes) == 5 * search_fields  # the count and the page: 5 words x 8 fields, not 8,000 conditions
    assert "Only the first 5 search words were used." in response.content.decode()
    assert [p.reference for p in response.context["cl"].result_list] == []  # "w2" .. "w5" match nothing


def test_one_and_two_word_searches_still_find_the_right_payments(staff):
    mokoena = PaymentFactory(customer=CustomerFactory(first_name="Thandi", last_name="Mokoena"))
    nkosi = PaymentFactory(customer=CustomerFactory(first_name="Thandi", last_name="Nkosi"))
    PaymentFactory(customer=CustomerFactory(first_name="Sipho", last_name="Nkosi"))

    def found(search):
        response = staff.get(PAYMENTS_URL, {SEARCH_VAR: search})
        assert response.status_code == 200
        assert "search words were used" not in response.content.decode()
        return sorted(p.reference for p in response.context["cl"].result_list)

    assert found("thandi") == sorted([mokoena.reference, nkosi.reference])
    assert found("Thandi Nkosi") == [nkosi.reference]
    assert found(nkosi.reference) == [nkosi.reference]


def test_search_term_limit_keeps_quoted_phrases_and_says_what_was_dropped():
    assert search_term_limit("thandi nkosi") == ("thandi nkosi", "")
    assert search_term_limit('"Thandi Nkosi" a b c d e') == (
        '"Thandi Nkosi" a b c d', "Only the first 5 search words were used.")
    long_word = "x" * 150
    assert search_term_limit(long_word) == ("x" * 100, "Only the first 100 characters of the search were used.")
    assert search_term_limit("", max_terms=5) == ("", "")
