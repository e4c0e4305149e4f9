"""The account key of an email (`circletel.auth.normalise_email`), the stricter rule for new accounts
(`account_email`) and lookups by it (`rows_with_email`): one rule, decided in Python, never by the
database's case-insensitive comparison (PostgreSQL's UPPER() folds ı and ſ; Python's lower() does
not). Run on PostgreSQL too: DATABASE_URL=postgres://... pytest tests/circletel/test_account_email.py"""

import sys

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Customer
from circletel.auth import (
    ACCOUNT_EMAIL_AMBIGUOUS,
    ACCOUNT_EMAIL_NOT_ASCII,
    account_email,
    normalise_email,
    rows_with_email,
)
from tests.factories import CustomerFactory, UserFactory

User = get_user_model()
KEY = "sipho@dlamini-logistics.example.co.za"


@pytest.mark.parametrize("typed", [
    KEY,
    "  Sipho@Dlamini-Logistics.Example.CO.ZA\t",
    "SIPHO@DLAMINI-LOGISTICS.EXAMPLE.CO.ZA",
    "s\u0131pho@dlamini-logistics.example.co.za",  # ı dotless i (PostgreSQL: UPPER(ı) = I)
    "sipho@dlam\u0131ni-logistics.example.co.za",
    "\u017fipho@dlamini-logistics.example.co.za",  # ſ long s (UPPER(ſ) = S)
    "sipho@dlamini-logi\u017ftics.example.co.za",
    "\uff53\uff49\uff50\uff48\uff4f\uff20dlamini-logistics.example.co.za",  # fullwidth ｓｉｐｈｏ＠
    "\U0001d42c\U0001d422\U0001d429\U0001d421\U0001d428@dlamini-logistics.example.co.za",  # mathematical bold
    "sipho@xn--dlamn-logistics-blcb.example.co.za",  # the dotless-i domain in punycode
    "S\u0131PHO@DLAM\u0131NI-LOGISTICS.EXAMPLE.CO.ZA",
])
def test_spellings_of_one_address_share_one_key(typed):
    assert normalise_email(typed) == KEY


@pytest.mark.parametrize("typed", [
    "s\u0130pho@dlamini-logistics.example.co.za",  # İ lower-cases to i + combining dot: another letter
    "sipho+bills@dlamini-logistics.example.co.za",
    "sipho@dlamini-logistics.example.co.za.",
    "sipho@dlamini.example.co.za",
    "sipho",
])
def test_different_addresses_keep_different_keys(typed):
    assert normalise_email(typed) != KEY


def test_international_domains_become_punycode_either_way():
    assert normalise_email("Lerato@M\u00fcller.example") == "lerato@xn--mller-kva.example"
    assert normalise_email("lerato@XN--MLLER-KVA.example") == "lerato@xn--mller-kva.example"


def test_nothing_typed_is_no_key():
    assert normalise_email(None) == normalise_email("") == normalise_email("   ") == ""


def test_the_key_is_stable_for_every_character():
    """Keys are compared with keys: normalising a key must not change it (every code point in the name;
    in the domain the alphabets, letter-like symbols and fullwidth forms, U+0000-2FFF and U+FF00-FFEF)."""
    def stable(typed):
        return normalise_email(normalise_email(typed)) == normalise_email(typed)

    codes = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    in_domain = [c for c in codes if c < 0x3000 or 0xFF00 <= c <= 0xFFEF]
    assert [hex(c) for c in codes if not stable(f"a{chr(c)}b@example.co.za")] == []
    assert [hex(c) for c in in_domain if not stable(f"ab@x{chr(c)}y.example")] == []


@pytest.mark.parametrize(("typed", "stored"), [
    (" Thandiwe.Nkosi@Example.CO.za ", "thandiwe.nkosi@example.co.za"),
    ("\uff54handiwe@example.co.za", "thandiwe@example.co.za"),
    ("\u017fipho@example.co.za", "sipho@example.co.za"),  # NFKC: ſ is a form of s, nothing to confuse
    ("lerato@M\u00fcller.example", "lerato@xn--mller-kva.example"),
    ("lerato@xn--mller-kva.example", "lerato@xn--mller-kva.example"),
])
def test_new_accounts_store_the_key(typed, stored):
    assert account_email(typed) == stored


@pytest.mark.parametrize(("typed", "error"), [
    ("s\u0131pho@example.co.za", ACCOUNT_EMAIL_NOT_ASCII),
    ("s\u0130pho@example.co.za", ACCOUNT_EMAIL_NOT_ASCII),
    ("m\u00fcller@example.de", ACCOUNT_EMAIL_NOT_ASCII),
    ("sipho@dlam\u0131ni.example.co.za", ACCOUNT_EMAIL_AMBIGUOUS),  # would be sent to dlamini: someone else's
    ("sipho@xn--dlamn-logistics-blcb.example.co.za", ACCOUNT_EMAIL_AMBIGUOUS),
    ("hans@stra\u00dfe.de", ACCOUNT_EMAIL_AMBIGUOUS),  # ß folds to ss: another domain
    ("hans@xn--strae-oqa.de", ACCOUNT_EMAIL_AMBIGUOUS),
    ("a@x\u200db.example", ACCOUNT_EMAIL_AMBIGUOUS),  # IDNA drops the joiner: another domain
])
def test_new_accounts_refuse_lookalikes_instead_of_mailing_another_address(typed, error):
    with pytest.raises(ValueError) as excinfo:
        account_email(typed)
    assert str(excinfo.value) == error


# --- lookups -------------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_lookup_finds_rows_by_key_whatever_their_stored_spelling():
    plain = UserFactory(email=KEY, username="a")
    legacy_case = UserFactory(email="Sipho@Dlamini-Logistics.example.co.za", username="b")
    legacy_lookalike = UserFactory(email="s\u0131pho@dlamini-logistics.example.co.za", username="c")
    legacy_unicode_domain = UserFactory(email="sipho@dlam\u0131ni-logistics.example.co.za", username="d")
    UserFactory(email="s\u0130pho@dlamini-logistics.example.co.za", username="e")  # İ: another address
    UserFactory(email="sipho2@dlamini-logistics.example.co.za", username="f")

    found = rows_with_email(User.objects.all(), "\u017fIPHO@dlamini-logistics.example.co.za")

    assert found == [plain, legacy_case, legacy_lookalike, legacy_unicode_domain]


@pytest.mark.django_db
def test_lookup_matches_any_of_the_given_fields_and_never_asks_the_database_for_iexact():
    by_username = UserFactory(username="Sipho@Dlamini-Logistics.example.co.za", email="")
    customer = CustomerFactory(email="sipho@dlamini-logistics.example.co.za")

    with CaptureQueriesContext(connection) as queries:
        users = rows_with_email(User.objects.all(), "s\u0131pho@dlamini-logistics.example.co.za",
                                fields=("email", "username"))
        customers = rows_with_email(Customer.objects.all(), "SIPHO@dlamini-logistics.example.co.za")

    assert users == [by_username] and customers == [customer]
    assert not any("UPPER(" in q["sql"].upper() or " LIKE " in q["sql"].upper() for q in queries.captured_queries)
    assert rows_with_email(User.objects.all(), "") == []
