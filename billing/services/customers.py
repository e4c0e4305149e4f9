"""Customer writes: creation (with the account number and billing account) and sign-up.

Sign-up has two steps so that the page never tells a visitor whether an email address has an
account (docs/adr/0009-login-throttling.md):

1. `customer_sign_up_request`: the form's details. Nothing is created; the address gets one email:
   a link to choose a password (a new address) or "someone tried to sign up with your address"
   (an address that already has a login or a customer). The page answers the same either way.
2. `customer_sign_up_confirm`: whoever opens that link chooses the password, and only then are the
   login and the customer created (`customer_sign_up`). So no one can create an account, or park a
   password on one, for an address they cannot read.

Every lookup of an account by email goes through `circletel.auth.rows_with_email` (the account key,
`normalise_email`, compared in Python), the same rule sign-in and its lockout use, and emails go to
the address as stored on the account, never to the spelling that was typed.

Password reset (`password_reset_request`, then `password_reset_send` on the queue) likewise never
shows or times whether an address has an account.
"""

import hashlib
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from billing.models import BillingAccount, Customer
from billing.models.services import BILLING_DAYS
from circletel.auth import account_email, normalise_email, rows_with_email
from circletel.errors import ApplicationError
from circletel.queue import enqueue
from circletel.sequences import format_number, next_value
from circletel.throttle import over_limit


class CustomerError(ApplicationError):
    pass


# --- VAT and registration numbers, billing days: the rules every entry point (sign-up, profile, admin) shares

# A South African VAT registration number is 10 digits and starts with 4 (e.g. 4123456789). This is
# the commonly published rule, not found in a SARS primary text here: python-stdnum `stdnum/za/vat.py`
# ("start with digit 4 and consist of 10 digits", pointing to sars.gov.za) and formvalidation's
# `zaVat` (`^4[0-9]{9}$`, accepting a `ZA` prefix). SARS's VAT 404 Guide for Vendors (13.3, tax invoices)
# asks for the recipient's VAT number on a full tax invoice, which is why business invoices print it.
VAT_NUMBER_PATTERN = re.compile(r"4[0-9]{9}")  # ASCII digits only (\d would take Arabic-Indic or fullwidth ones)
VAT_NUMBER_INVALID = "A South African VAT number is 10 digits starting with 4, e.g. 4123456789."
VAT_NUMBER_BUSINESS_ONLY = "Only business accounts have a VAT number on their invoices."
# A company registration number as NetCash's AddMandate `RegistrationNumber` wants it for business
# mandates (CONTRACTS 2.4): the CIPC company / close corporation number YYYY/NNNNNN/NN (year of
# registration, sequence, entity type, e.g. 2015/123456/07) or, for a trust, the Master's IT number
# IT<digits>/<YYYY> (e.g. IT1234/2010).
REGISTRATION_NUMBER_PATTERN = re.compile(r"[0-9]{4}/[0-9]{6}/[0-9]{2}|IT[0-9]{1,8}/[0-9]{4}")  # ASCII digits only
REGISTRATION_NUMBER_INVALID = ("Enter the CIPC company registration number as YYYY/NNNNNN/NN (e.g. 2015/123456/07) "
                               "or a trust's IT number as IT<digits>/<year> (e.g. IT1234/2010).")
REGISTRATION_NUMBER_BUSINESS_ONLY = "Only business accounts have a company registration number."
BILLING_DAY_CHOICES = [(1, "1st of the month"), (5, "5th of the month"), (25, "25th of the month"),
                       (30, "30th of the month (the last day in February)")]


def vat_number_clean(raw: str | None, *, account_type: str) -> str:
    """The VAT number as stored ("4123456789"): spaces, dashes and a `ZA` prefix are dropped; empty is
    allowed (not every business is a VAT vendor). CustomerError (field `vat_number`) when it is not
    ten digits starting with 4, or when a personal account gives one."""
    value = re.sub(r"[\s\-./]", "", raw or "").upper()
    if value.startswith("ZA"):
        value = value[2:]
    if not value:
        return ""
    if account_type != Customer.AccountType.BUSINESS:
        raise CustomerError(VAT_NUMBER_BUSINESS_ONLY, {"field": "vat_number"})
    if not VAT_NUMBER_PATTERN.fullmatch(value):
        raise CustomerError(VAT_NUMBER_INVALID, {"field": "vat_number"})
    return value


def registration_number_clean(raw: str | None, *, account_type: str) -> str:
    """The company registration number as stored ("2015/123456/07", "IT1234/2010"): stripped, upper-cased,
    inner spaces removed, dashes read as slashes; empty is allowed. CustomerError (field `registration_number`) when it is neither
    form, or when a personal account gives one."""
    value = re.sub(r"\s", "", raw or "").upper().replace("-", "/")  # "2015-123456-07" as often written
    if not value:
        return ""
    if account_type != Customer.AccountType.BUSINESS:
        raise CustomerError(REGISTRATION_NUMBER_BUSINESS_ONLY, {"field": "registration_number"})
    if not REGISTRATION_NUMBER_PATTERN.fullmatch(value):
        raise CustomerError(REGISTRATION_NUMBER_INVALID, {"field": "registration_number"})
    return value


def billing_day_clean(value) -> int:
    """One of 1, 5, 25, 30 as an int; CustomerError (field `billing_day`) otherwise."""
    try:
        day = int(value)
    except (TypeError, ValueError):
        day = None
    if day not in BILLING_DAYS:
        raise CustomerError("Choose a billing day of 1, 5, 25 or 30.", {"field": "billing_day"})
    return day


def customer_billing_day(customer: Customer) -> int:
    """The billing day a new service of `customer` gets: the account's preferred day (1 without one).
    Used wherever a service is created (the service admin's add form, the demo)."""
    account = BillingAccount.objects.filter(customer_id=customer.pk).only("preferred_billing_day").first()
    return account.preferred_billing_day if account is not None else 1


def _new_account_email(email: str) -> str:
    """The key a new login stores (`circletel.auth.account_email`); CustomerError for a look-alike."""
    try:
        return account_email(email)
    except ValueError as exc:
        raise CustomerError(str(exc), {"field": "email"}) from None


def _accounts_with_email(email: str):
    """(the first user, the first customer) whose stored address has `email`'s account key; either
    may be None. Always the same two queries, whatever is found."""
    User = get_user_model()
    users = rows_with_email(User._default_manager.all(), email, fields=("email", "username"))
    customers = rows_with_email(Customer.objects.all(), email)
    return (users[0] if users else None), (customers[0] if customers else None)


def _stored_address(email: str, user, customer) -> str:
    """The address as stored on the account that `email` names (never the typed spelling)."""
    key = normalise_email(email)
    for value in (getattr(user, "email", ""), getattr(user, "username", ""), getattr(customer, "email", "")):
        if value and normalise_email(value) == key:
            return value
    raise ValueError("no stored address has this account key")


@transaction.atomic
def customer_create(*, first_name: str, last_name: str, email: str, phone: str = "",
                    account_type: str = Customer.AccountType.PERSONAL, company_name: str = "", vat_number: str = "",
                    registration_number: str = "", address_line1: str = "", address_line2: str = "", city: str = "",
                    province: str = "", postal_code: str = "", user=None, billing_day: int = 1) -> Customer:
    """Create a customer with its `CT-YYYY-NNNNN` number and billing account, marked for ZOHO sync."""
    email = _new_account_email(email)
    vat_number = vat_number_clean(vat_number, account_type=account_type)
    registration_number = registration_number_clean(registration_number, account_type=account_type)
    billing_day = billing_day_clean(billing_day)
    if rows_with_email(Customer.objects.all(), email):
        # The case-insensitive unique constraint is the real guard; this gives a clear message.
        raise CustomerError("A customer with this email already exists.", {"field": "email"})
    number = format_number("CT", timezone.localdate().year, next_value("customer_account"))
    customer = Customer(
        account_number=number, first_name=first_name.strip(), last_name=last_name.strip(), email=email,
        phone=phone.strip(), account_type=account_type, company_name=company_name.strip(),
        vat_number=vat_number, registration_number=registration_number, address_line1=address_line1,
        address_line2=address_line2, city=city, province=province, postal_code=postal_code, user=user,
    )
    customer.full_clean(exclude=["account_number", "user"])
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:  # a concurrent creation with the same email won the race
        raise CustomerError("A customer with this email already exists.", {"field": "email"})
    BillingAccount.objects.create(customer=customer, preferred_billing_day=billing_day)
    _enqueue_zoho_customer_sync(customer)
    return customer


def _customer_number_set(*, customer: Customer, field: str, raw: str, rule) -> Customer:
    """Set one of the business numbers (`vat_number`, `registration_number`) under the customer's row lock,
    through its rule (`rule(raw, account_type=...)`); ZOHO gets the customer again when it changed."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        value = rule(raw, account_type=locked.account_type)
        if value != getattr(locked, field):
            setattr(locked, field, value)
            locked.save(update_fields=[field, "updated_at"])
            _enqueue_zoho_customer_sync(locked)
    setattr(customer, field, getattr(locked, field))
    return locked


def customer_vat_number_set(*, customer: Customer, vat_number: str) -> Customer:
    """Set (or clear, with "") a business customer's VAT number; it prints on their tax invoices from
    the next render and ZOHO gets it with the customer. CustomerError for a bad number or a personal account."""
    return _customer_number_set(customer=customer, field="vat_number", raw=vat_number, rule=vat_number_clean)


def customer_registration_number_set(*, customer: Customer, registration_number: str) -> Customer:
    """Set (or clear, with "") a business customer's company registration number; NetCash mandates
    requested from then on carry it (`payments.services.mandates.mandate_add_request`) and ZOHO gets the
    customer again. CustomerError for a bad number or a personal account."""
    return _customer_number_set(customer=customer, field="registration_number", raw=registration_number,
                                rule=registration_number_clean)


def _enqueue_zoho_customer_sync(customer: Customer) -> None:
    """Hand the new customer to the ZOHO outbox after commit (the worker decides whether to call)."""
    from zoho_sync.services.outbox import enqueue_sync

    enqueue_sync(entity=customer)


@transaction.atomic
def customer_sign_up(*, email: str, password: str, first_name: str, last_name: str, phone: str = "",
                     account_type: str = Customer.AccountType.PERSONAL, company_name: str = "",
                     vat_number: str = "", registration_number: str = "", billing_day: int = 1) -> Customer:
    """Create the login and the customer together: both or neither."""
    email = _new_account_email(email)
    vat_number = vat_number_clean(vat_number, account_type=account_type)
    registration_number = registration_number_clean(registration_number, account_type=account_type)
    billing_day = billing_day_clean(billing_day)
    User = get_user_model()
    if rows_with_email(User._default_manager.all(), email, fields=("email", "username")):
        raise CustomerError("An account with this email already exists.", {"field": "email"})
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=email, email=email, password=password,
                                            first_name=first_name.strip(), last_name=last_name.strip())
    except IntegrityError:  # a double-submitted form: the other request created it first
        raise CustomerError("An account with this email already exists.", {"field": "email"})
    return customer_create(first_name=first_name, last_name=last_name, email=email, phone=phone,
                           account_type=account_type, company_name=company_name, vat_number=vat_number,
                           registration_number=registration_number, billing_day=billing_day, user=user)


SIGN_UP_LINK_DAYS = 3
SIGN_UP_EMAIL_WINDOW = timedelta(minutes=15)  # at most one sign-up email per address per window
_SIGN_UP_SALT = "billing.customers.sign_up"
SIGN_UP_LINK_INVALID = "This sign-up link is not valid. Check that you opened the whole link, or sign up again."
SIGN_UP_LINK_EXPIRED = "This sign-up link has expired. Sign up again to get a new one."
SIGN_UP_LINK_USED = "This sign-up link was already used: the account exists. Sign in, or reset your password."


@dataclass(frozen=True)
class SignUpRequest:
    """The sign-up form's details, carried signed in the emailed link (not stored anywhere)."""

    email: str
    first_name: str
    last_name: str
    phone: str = ""
    account_type: str = Customer.AccountType.PERSONAL
    company_name: str = ""
    vat_number: str = ""  # links sent before these two existed carry neither: the defaults apply
    billing_day: int = 1
    registration_number: str = ""  # links sent before it existed carry none: empty

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def _sign_up_email_key(event: str, email: str) -> str:
    """Idempotency key: one `event` email per address per window, so the form cannot flood a mailbox."""
    window = int(timezone.now().timestamp() // SIGN_UP_EMAIL_WINDOW.total_seconds())
    return f"{event}:{hashlib.sha256(email.encode()).hexdigest()[:32]}:{window}"


def _email_taken(email: str) -> bool:
    user, customer = _accounts_with_email(email)
    return user is not None or customer is not None


def customer_sign_up_request(*, email: str, first_name: str, last_name: str, phone: str = "",
                             account_type: str = Customer.AccountType.PERSONAL, company_name: str = "",
                             vat_number: str = "", registration_number: str = "", billing_day: int = 1) -> None:
    """Step 1 of sign-up: email the address a link to finish (a new address) or a notice to its
    owner (a taken one). Returns nothing either way: the caller must answer both alike. Both ways do
    the same work (the same two lookups, a signed link built, exactly one notification queued) so
    the answer takes about as long too.

    `email` must be one a new account may use (`SignUpForm` checks it; CustomerError otherwise)."""
    from notifications.services import notify

    details = SignUpRequest(email=_new_account_email(email), first_name=first_name.strip(),
                            last_name=last_name.strip(), phone=(phone or "").strip(), account_type=account_type,
                            company_name=(company_name or "").strip(),
                            vat_number=vat_number_clean(vat_number, account_type=account_type),
                            registration_number=registration_number_clean(registration_number,
                                                                          account_type=account_type),
                            billing_day=billing_day_clean(billing_day))
    user, customer = _accounts_with_email(details.email)
    token = signing.dumps(asdict(details), salt=_SIGN_UP_SALT, compress=True)
    if user is None and customer is None:
        notify(event="signup_confirm", email=details.email,
               idempotency_key=_sign_up_email_key("signup_confirm", details.email),
               context={"customer_name": details.full_name, "valid_days": SIGN_UP_LINK_DAYS,
                        "confirm_url": settings.SITE_URL + reverse("signup_confirm", args=[token])})
        return
    _notify_sign_up_with_taken_email(details.email, user, customer)


def _notify_sign_up_with_taken_email(email: str, user, customer) -> None:
    """Tell the owner, at the address stored on the account; only they read this, so it may say
    which kind of account the address has."""
    from notifications.services import notify

    name = (user.get_full_name() if user else "") or (customer.full_name if customer else "")
    notify(event="signup_existing_account", email=_stored_address(email, user, customer),
           idempotency_key=_sign_up_email_key("signup_existing_account", email),
           context={"customer_name": name, "has_login": bool(user and user.is_active),
                    "account_number": customer.account_number if customer else "",
                    "sign_in_url": settings.SITE_URL + reverse("login"),
                    "reset_url": settings.SITE_URL + reverse("password_reset")})


def customer_sign_up_pending(*, token: str) -> SignUpRequest:
    """The sign-up a link carries; CustomerError when it is forged, expired or already used."""
    try:
        data = signing.loads(token, salt=_SIGN_UP_SALT, max_age=timedelta(days=SIGN_UP_LINK_DAYS))
        details = SignUpRequest(**data)
    except signing.SignatureExpired:
        raise CustomerError(SIGN_UP_LINK_EXPIRED, {"reason": "expired"}) from None
    except (signing.BadSignature, TypeError):
        raise CustomerError(SIGN_UP_LINK_INVALID, {"reason": "invalid"}) from None
    if _email_taken(details.email):
        raise CustomerError(SIGN_UP_LINK_USED, {"reason": "used"})
    return details


def customer_sign_up_confirm(*, token: str, password: str) -> Customer:
    """Step 2 of sign-up: create the login and the customer from the link, with `password`."""
    details = customer_sign_up_pending(token=token)
    try:
        return customer_sign_up(email=details.email, password=password, first_name=details.first_name,
                                last_name=details.last_name, phone=details.phone, account_type=details.account_type,
                                company_name=details.company_name, vat_number=details.vat_number,
                                registration_number=details.registration_number, billing_day=details.billing_day)
    except CustomerError as exc:
        if exc.extra.get("field") == "email":  # the same link opened twice at once
            raise CustomerError(SIGN_UP_LINK_USED, {"reason": "used"}) from exc
        raise


# --- Password reset ----------------------------------------------------------------------------------
# Django's token generator and confirm views (`/accounts/reset/<uidb64>/<token>/`); only the request
# step is ours, so that it is rate limited and does not show, or time, whether an address has an account.

PASSWORD_RESET_EMAIL_LIMIT = 3  # reset requests per address (account key) per window; more are dropped quietly
PASSWORD_RESET_EMAIL_WINDOW = 3600


def password_reset_request(*, email: str) -> None:
    """Ask for a reset link for `email`. The request only counts and queues: the lookup, the token
    and the email happen in `password_reset_send` on the task queue, so the answer takes the same
    time whether or not the address has an account. Past `PASSWORD_RESET_EMAIL_LIMIT` requests for
    one address in the window, nothing more is queued (the caller answers the same regardless)."""
    key = normalise_email(email)
    if not key:
        return
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    if over_limit(f"accounts:password_reset:email:{digest}", limit=PASSWORD_RESET_EMAIL_LIMIT,
                  window=PASSWORD_RESET_EMAIL_WINDOW):
        return
    request_id = secrets.token_hex(8)  # one email per request, even if the task runs twice
    transaction.on_commit(lambda: enqueue("billing.services.customers.password_reset_send", key, request_id,
                                          group="accounts"))


def password_reset_send(email: str, request_id: str) -> int:
    """Task: email a reset link to each active user with a usable password whose stored email has
    `email`'s account key, at that stored address. Returns how many were queued."""
    from notifications.services import notify

    User = get_user_model()
    users = [u for u in rows_with_email(User._default_manager.filter(is_active=True), email)
             if u.has_usable_password()]
    for user in users:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        link = reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})
        with transaction.atomic():
            notify(event="password_reset", email=user.email, idempotency_key=f"password_reset:{user.pk}:{request_id}",
                   context={"customer_name": user.get_full_name(), "email": user.email,
                            "reset_url": settings.SITE_URL + link,
                            "valid_days": max(1, settings.PASSWORD_RESET_TIMEOUT // 86400)})
    return len(users)
