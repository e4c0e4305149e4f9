"""Accounts by email: the one rule for which typed addresses name the same account, and sign-in by it.

`normalise_email` is the account key. Everything that identifies an account by an email uses it:
the sign-in backend (`EmailBackend`), the lockout counter (`circletel.login_throttle`), sign-up and
password reset (`billing.services.customers`), and what new accounts store. Lookups never ask the
database to compare case-insensitively (`iexact`, `Lower()` on both sides): PostgreSQL's UPPER()
maps `ı`→`I` and `ſ`→`S` while Python's `.lower()` leaves them alone, so the database and the
lockout counter disagreed about which typed addresses are the same account
(docs/adr/0009-login-throttling.md, "Look-alike addresses"). `rows_with_email` compares the keys
in Python, so only this module decides.

The key (`normalise_email`):
1. Unicode NFKC, so compatibility forms become the plain character (fullwidth `ｔ`→`t`, `＠`→`@`,
   the Kelvin sign `K`→`K`, `ﬁ`→`fi`), and surrounding whitespace is dropped.
2. Case folding through upper case: `value.upper().casefold()`. Plain `casefold()` (and `lower()`)
   leave `ı` (dotless i) alone, but upper-casing first maps it, like PostgreSQL's UPPER(), to `I` and
   then `i`; `ſ` (long s) becomes `s`, `ß` `ss`, `ς` `σ`. Then NFKC again.
3. The domain (after the last `@`) in IDNA ASCII form (punycode: `müller.de` → `xn--mller-kva.de`);
   a domain typed in punycode is decoded and folded first, so both spellings of a domain are one.
So `THANDIWE@x`, `thandıwe@x`, `ｔhandiwe@x` and `thandiwe@x` are one key, and an ASCII address's key
is just its lower case.

New accounts are stricter (`account_email`): an address whose local part is not ASCII, or whose
folding changes more than case (`ı`, `ſ`, `ß`, `ς`, or an IDNA mapping that would change the domain),
is refused rather than silently turned into a different mailbox: `ali@ılık.com.tr` is not sent to
`ali@ilik.com.tr`.
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower

MAX_EMAIL_LENGTH = 254  # Django's EmailField / User.email
NOT_PLAIN_ASCII = r"[^ -~]"  # rows whose stored email may fold differently from its lower case
ACCOUNT_EMAIL_NOT_ASCII = ("Use an email address with only the letters a-z, digits and . _ % + - before the @ "
                           "(no accented or look-alike letters such as ı or ſ).")
ACCOUNT_EMAIL_AMBIGUOUS = ("This email address contains a character we cannot tell apart from another "
                           "(such as ı, ß or ς). Use another address, or contact us.")
ACCOUNT_EMAIL_TOO_LONG = f"An email address can have at most {MAX_EMAIL_LENGTH} characters."


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).upper().casefold())


def _unicode_domain(domain: str) -> str | None:
    """`domain` as it reads: punycode labels (`xn--...`) decoded; None when they do not decode."""
    if "xn--" not in domain:
        return domain
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return None


def _ascii_domain(domain: str) -> str:
    """`domain` in IDNA ASCII form; unchanged when it cannot be encoded (it then matches nothing new)."""
    if domain.isascii():
        return domain
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def normalise_email(value: str | None) -> str:
    """The account key of a typed email (or of a sign-in name that is not one); "" for nothing.

    Never raises: it is also the lockout counter's key for whatever was typed. A domain typed in
    punycode is read, folded and encoded again, so both spellings of one domain are one key."""
    text = _fold((value or "").strip()).strip()
    local, at, domain = text.rpartition("@")
    if not at:
        return text
    readable = _unicode_domain(domain)
    if readable is not None and readable != domain:
        domain = _fold(readable)
    return f"{local}@{_ascii_domain(domain)}"


def account_email(value: str | None) -> str:
    """The key a new account stores for `value`, or ValueError (with a message for the person) when
    the address is not one we can tell apart from its look-alikes (see the module docstring)."""
    plain = unicodedata.normalize("NFKC", (value or "").strip())
    local, _, domain = plain.rpartition("@")
    if not local.isascii():
        raise ValueError(ACCOUNT_EMAIL_NOT_ASCII)
    readable = _unicode_domain(domain)
    if readable is None or _fold(readable) != readable.lower():  # folding did more than lower-case: ı, ß, ς ...
        raise ValueError(ACCOUNT_EMAIL_AMBIGUOUS)
    key = normalise_email(plain)
    key_domain = key.rpartition("@")[2]
    if not key_domain.isascii() or _unicode_domain(key_domain) != readable.lower():
        raise ValueError(ACCOUNT_EMAIL_AMBIGUOUS)  # IDNA would drop or map a character: another domain
    if len(key) > MAX_EMAIL_LENGTH:
        raise ValueError(ACCOUNT_EMAIL_TOO_LONG)
    return key


def rows_with_email(queryset: QuerySet, email: str | None, *, fields: tuple[str, ...] = ("email",)) -> list:
    """The rows of `queryset` (pk order) whose email in any of `fields` has the account key of `email`.

    The database only narrows the search: rows whose lower-cased field is the key (every ASCII
    address, whatever its stored case), plus every row with a non-ASCII value (few; the database's
    case rules for those differ from ours). Python then keeps the rows whose stored value has the
    same key, so the database's idea of case-insensitive never decides."""
    key = normalise_email(email)
    if not key:
        return []
    condition = Q(pk__in=[])
    for field in fields:
        lowered = f"_lower_{field}"
        queryset = queryset.alias(**{lowered: Lower(field)})
        condition |= Q(**{lowered: key}) | Q(**{f"{field}__regex": NOT_PLAIN_ASCII})
    return [row for row in queryset.filter(condition).order_by("pk")
            if any(normalise_email(getattr(row, field)) == key for field in fields)]


class EmailBackend(ModelBackend):
    """Sign-in by email: the first user (by pk) whose email has the typed address's account key."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        email = kwargs.get("email") or username
        if not normalise_email(email) or password is None:
            return None
        User = get_user_model()
        found = rows_with_email(User._default_manager.all(), email)
        user = found[0] if found else None
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None
