"""Customer writes: creation (with the account number and billing account) and sign-up.

Sign-up has two steps so that the page never tells a visitor whether an email address has an
account (docs/adr/0009-login-throttling.md):

1. `customer_sign_up_request`: the form's details. Nothing is created; the address gets one email:
   a link to choose a password (a new address) or "someone tried to sign up with your address"
   (an address that already has a login or a customer). The page answers the same either way.
2. `customer_sign_up_confirm`: whoever opens that link chooses the password, and only then are the
   login and the customer created (`customer_sign_up`). So no one can create an account, or park a
   password on one, for an address they cannot read.
"""

import hashlib
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from billing.models import BillingAccount, Customer
from circletel.errors import ApplicationError
from circletel.sequences import format_number, next_value


class CustomerError(ApplicationError):
    pass


def _normalise_email(email: str) -> str:
    return (email or "").strip().lower()


@transaction.atomic
def customer_create(*, first_name: str, last_name: str, email: str, phone: str = "",
                    account_type: str = Customer.AccountType.PERSONAL, company_name: str = "", vat_number: str = "",
                    address_line1: str = "", address_line2: str = "", city: str = "", province: str = "",
                    postal_code: str = "", user=None, billing_day: int = 1) -> Customer:
    """Create a customer with its `CT-YYYY-NNNNN` number and billing account, marked for ZOHO sync."""
    email = _normalise_email(email)
    if Customer.objects.filter(email__iexact=email).exists():
        # The case-insensitive unique constraint is the real guard; this gives a clear message.
        raise CustomerError("A customer with this email already exists.", {"field": "email"})
    number = format_number("CT", timezone.localdate().year, next_value("customer_account"))
    customer = Customer(
        account_number=number, first_name=first_name.strip(), last_name=last_name.strip(), email=email,
        phone=phone.strip(), account_type=account_type, company_name=company_name.strip(),
        vat_number=vat_number.strip(), address_line1=address_line1, address_line2=address_line2, city=city,
        province=province, postal_code=postal_code, user=user,
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


def _enqueue_zoho_customer_sync(customer: Customer) -> None:
    """Hand the new customer to the ZOHO outbox after commit (the worker decides whether to call)."""
    from zoho_sync.services.outbox import enqueue_sync

    enqueue_sync(entity=customer)


@transaction.atomic
def customer_sign_up(*, email: str, password: str, first_name: str, last_name: str, phone: str = "",
                     account_type: str = Customer.AccountType.PERSONAL, company_name: str = "") -> Customer:
    """Create the login and the customer together: both or neither."""
    email = _normalise_email(email)
    User = get_user_model()
    if User.objects.filter(username__iexact=email).exists() or User.objects.filter(email__iexact=email).exists():
        raise CustomerError("An account with this email already exists.", {"field": "email"})
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=email, email=email, password=password,
                                            first_name=first_name.strip(), last_name=last_name.strip())
    except IntegrityError:  # a double-submitted form: the other request created it first
        raise CustomerError("An account with this email already exists.", {"field": "email"})
    return customer_create(first_name=first_name, last_name=last_name, email=email, phone=phone,
                           account_type=account_type, company_name=company_name, user=user)


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

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def _sign_up_email_key(event: str, email: str) -> str:
    """Idempotency key: one `event` email per address per window, so the form cannot flood a mailbox."""
    window = int(timezone.now().timestamp() // SIGN_UP_EMAIL_WINDOW.total_seconds())
    return f"{event}:{hashlib.sha256(email.encode()).hexdigest()[:32]}:{window}"


def _email_taken(email: str) -> bool:
    User = get_user_model()
    return (User.objects.filter(Q(username__iexact=email) | Q(email__iexact=email)).exists()
            or Customer.objects.filter(email__iexact=email).exists())


def customer_sign_up_request(*, email: str, first_name: str, last_name: str, phone: str = "",
                             account_type: str = Customer.AccountType.PERSONAL, company_name: str = "") -> None:
    """Step 1 of sign-up: email the address a link to finish (a new address) or a notice to its
    owner (a taken one). Returns nothing either way: the caller must answer both alike."""
    from notifications.services import notify

    details = SignUpRequest(email=_normalise_email(email), first_name=first_name.strip(), last_name=last_name.strip(),
                            phone=(phone or "").strip(), account_type=account_type,
                            company_name=(company_name or "").strip())
    if not _email_taken(details.email):
        token = signing.dumps(asdict(details), salt=_SIGN_UP_SALT, compress=True)
        notify(event="signup_confirm", email=details.email,
               idempotency_key=_sign_up_email_key("signup_confirm", details.email),
               context={"customer_name": details.full_name, "valid_days": SIGN_UP_LINK_DAYS,
                        "confirm_url": settings.SITE_URL + reverse("signup_confirm", args=[token])})
        return
    _notify_sign_up_with_taken_email(details.email)


def _notify_sign_up_with_taken_email(email: str) -> None:
    """Tell the owner; only they read this, so it may say which kind of account the address has."""
    from notifications.services import notify

    User = get_user_model()
    user = User.objects.filter(Q(email__iexact=email) | Q(username__iexact=email)).order_by("pk").first()
    customer = Customer.objects.filter(email__iexact=email).order_by("pk").first()
    name = (user.get_full_name() if user else "") or (customer.full_name if customer else "")
    notify(event="signup_existing_account", email=email,
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
                                company_name=details.company_name)
    except CustomerError as exc:
        if exc.extra.get("field") == "email":  # the same link opened twice at once
            raise CustomerError(SIGN_UP_LINK_USED, {"reason": "used"}) from exc
        raise
