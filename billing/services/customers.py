"""Customer writes: creation (with the account number and billing account) and sign-up."""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
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
