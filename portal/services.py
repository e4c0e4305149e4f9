"""Writes the dashboard makes: billing preferences, contact details and adding a debit order.

Saved payment methods are written by `payments.services.methods` and eMandates requested by
`payments.services.mandates`; `debit_order_method_add` joins the two for the Billing page and
`POST /api/dashboard/payment-methods`. Staff lifecycle actions call `billing.services.lifecycle`
directly from the API view.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import Sum

from billing.models import BillingAccount, Customer, CustomerService
from billing.services.customers import customer_registration_number_set, customer_vat_number_set
from circletel.errors import ApplicationError
from circletel.http import ProviderError
from payments.models import Mandate, PaymentMethod
from payments.services.mandates import mandate_request
from payments.services.methods import payment_method_add_debit_order
from portal.selectors import customer_payment_method, mandate_can_retry
from zoho_sync.services import outbox

logger = logging.getLogger(__name__)


class DashboardError(ApplicationError):
    pass


def billing_preferences_update(*, customer: Customer, auto_pay: bool, notify_email: bool,
                               notify_sms: bool) -> BillingAccount:
    """Set auto-pay and notification preferences. Auto-pay needs a primary payment method."""
    if auto_pay:
        if not PaymentMethod.objects.filter(customer_id=customer.pk, is_primary=True,
                                            deleted_at__isnull=True).exists():
            raise DashboardError("Add a payment method and make it primary before turning on auto-pay.",
                                 {"field": "auto_pay"})
    if notify_sms and not customer.phone:
        raise DashboardError("Add a mobile number to your profile before turning on SMS notifications.",
                             {"field": "notify_sms"})
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(customer_id=customer.pk)
        account.auto_pay = bool(auto_pay)
        account.notify_email = bool(notify_email)
        account.notify_sms = bool(notify_sms)
        account.save(update_fields=["auto_pay", "notify_email", "notify_sms", "updated_at"])
    return account


PROFILE_FIELDS = ("first_name", "last_name", "company_name", "phone", "address_line1", "address_line2", "city",
                  "province", "postal_code")


def customer_contact_update(*, customer: Customer, **changes) -> Customer:
    """Update contact details (not the sign-in email, account type or VAT number); ZOHO mirrors it."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise DashboardError("These fields cannot be changed here.", {"fields": sorted(unknown)})
    if not (changes.get("first_name", customer.first_name) or "").strip():
        raise DashboardError("Enter your first name.", {"field": "first_name"})
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        for name, value in changes.items():
            setattr(locked, name, (value or "").strip())
        locked.full_clean(exclude=["user", "email", "account_number"], validate_unique=False,
                          validate_constraints=False)
        locked.save(update_fields=[*changes.keys(), "updated_at"])
        outbox.enqueue_sync(entity=locked)
    return locked


def customer_profile_update(*, customer: Customer, vat_number: str | None = None,
                            registration_number: str | None = None, **contact) -> Customer:
    """The profile page's save: contact details and (business accounts) the VAT and company registration
    numbers, all or none (None leaves a number as it is)."""
    with transaction.atomic():
        updated = customer_contact_update(customer=customer, **contact)
        if vat_number is not None:
            updated = customer_vat_number_set(customer=updated, vat_number=vat_number)
        if registration_number is not None:
            updated = customer_registration_number_set(customer=updated, registration_number=registration_number)
    return updated


def billing_day_change_request(*, customer: Customer, new_day: int, actor=None, on=None) -> list:
    """The customer's change of billing day (1, 5, 25 or 30): the account's preferred day (new services
    get it) and every pending or active service move to `new_day`, each through
    `billing.services.lifecycle.service_change_billing_day` (it bills or credits the stub period
    pro-rata). One transaction: a failure part-way changes nothing. Returns the documents issued."""
    from billing.services.customers import billing_day_clean
    from billing.services.lifecycle import service_change_billing_day
    from portal.selectors import BILLING_DAY_CHANGEABLE

    new_day = billing_day_clean(new_day)
    documents = []
    with transaction.atomic():
        account = BillingAccount.objects.select_for_update().get(customer_id=customer.pk)
        services = list(CustomerService.objects.filter(customer_id=customer.pk, status__in=BILLING_DAY_CHANGEABLE)
                        .exclude(billing_day=new_day).order_by("pk"))
        if account.preferred_billing_day == new_day and not services:
            raise DashboardError(f"Your billing day is already the {new_day}.", {"field": "billing_day"})
        old_day = account.preferred_billing_day
        account.preferred_billing_day = new_day
        account.save(update_fields=["preferred_billing_day", "updated_at"])
        for service in services:
            document = service_change_billing_day(
                service=service, new_day=new_day, actor=actor, on=on,
                reason=f"Customer's request from the dashboard: billing day {service.billing_day} -> {new_day}")
            if document is not None:
                documents.append(document)
    logger.info("customer %s changed billing day %s -> %s (%s service(s))", customer.account_number, old_day,
                new_day, len(services))
    return documents


# --- debit orders ---------------------------------------------------------------------------------

MANDATE_MINIMUM = Decimal("1000.00")
MANDATE_SENT = "Sign your debit-order mandate to start paying {method} by debit order."
MANDATE_SENT_NO_LINK = "We asked NetCash for your debit-order mandate for {method}; they will send you a link to sign it."
PRIMARY_KEPT = ("{primary} stays your primary payment method until the mandate for {method} is signed; "
                "then use \"Make primary\" on {method} if you want debit orders to collect from it.")
MANDATE_NOT_SENT = ("{method} was saved, but the debit-order mandate request could not be sent right now. "
                    "Use \"Send mandate request\" on the method to try again.")


def debit_order_mandate_amount(*, customer: Customer) -> Decimal:
    """The most NetCash may debit in one go under the mandate: twice the monthly price of the
    customer's active and pending services, at least R 1,000.00.

    Twice, so that a month missed (a returned debit, a suspension, a first pro-rata invoice plus
    the month after) can be collected in one catch-up debit without a new mandate; the floor keeps
    room for once-off installation/router fees and price changes on small accounts."""
    monthly = CustomerService.objects.filter(
        customer_id=customer.pk, status__in=(CustomerService.Status.ACTIVE, CustomerService.Status.PENDING),
    ).aggregate(total=Sum("monthly_price"))["total"] or Decimal("0.00")
    return max(monthly * 2, MANDATE_MINIMUM).quantize(Decimal("0.01"))


def _mandate_send(*, customer: Customer, method: PaymentMethod) -> str:
    """Request the eMandate for `method` (outside any transaction: it calls NetCash) and return the
    message for the customer. NetCash not configured or failing leaves the method saved with the
    mandate pending; the customer can retry (`debit_order_mandate_retry`)."""
    try:
        mandate = mandate_request(method=method, mandate_amount=debit_order_mandate_amount(customer=customer))
    except (ImproperlyConfigured, ProviderError) as exc:
        logger.warning("mandate request for payment method %s not sent: %s", method.pk, exc)
        method.refresh_from_db()
        return MANDATE_NOT_SENT.format(method=method.display_name)
    method.refresh_from_db()
    if mandate.status == Mandate.Status.PENDING and not mandate.mandate_url:
        return MANDATE_SENT_NO_LINK.format(method=method.display_name)
    return MANDATE_SENT.format(method=method.display_name)


def debit_order_method_add(*, customer: Customer, account_holder: str, account_number: str, branch_code: str,
                           account_type: str = "current", bank_name: str = "Bank",
                           make_primary: bool = True) -> tuple[PaymentMethod, str]:
    """Save a debit-order bank account (its own transaction; bad details raise `PaymentError` and
    save nothing), then request its eMandate from NetCash. Returns the method and the message for
    the customer; the signing link, when NetCash sent one, is on the method's latest Mandate."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("debit_order_method_add calls NetCash: run it outside a transaction")
    method = payment_method_add_debit_order(
        customer=customer, account_holder=account_holder, account_number=account_number, branch_code=branch_code,
        account_type=account_type, bank_name=bank_name, make_primary=make_primary)
    message = _mandate_send(customer=customer, method=method)
    if make_primary and not method.is_primary:  # a usable primary stays until this mandate is signed
        current = PaymentMethod.objects.filter(customer_id=customer.pk, is_primary=True, deleted_at__isnull=True).first()
        if current is not None:
            message += " " + PRIMARY_KEPT.format(primary=current.display_name, method=method.display_name)
    return method, message


def debit_order_mandate_retry(*, customer: Customer, method_id) -> tuple[PaymentMethod, str]:
    """Send the eMandate request again for one of the customer's debit-order methods whose mandate
    is not signed and has no signing link yet (another customer's method: 404)."""
    method = customer_payment_method(customer=customer, method_id=method_id)
    latest = Mandate.objects.filter(payment_method_id=method.pk).order_by("-created_at", "-pk").first()
    if not mandate_can_retry(method, mandate_url=latest.mandate_url if latest else ""):
        raise DashboardError(f"The mandate for {method.display_name} does not need to be requested again.")
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("debit_order_mandate_retry calls NetCash: run it outside a transaction")
    return method, _mandate_send(customer=customer, method=method)


def service_cancel_request(*, customer: Customer, service: CustomerService, reason: str, actor=None):
    """The customer cancels one of their services from the dashboard, today, through the lifecycle
    (`service_cancel`: unused days already invoiced follow `CANCELLATION_POLICY`). Audited with their reason."""
    from billing.services.lifecycle import service_cancel

    if service.customer_id != customer.pk:
        raise DashboardError("No such service.", {"service": service.pk})
    return service_cancel(service=service, actor=actor,
                          reason=f"Customer's request from the dashboard: {(reason or '').strip()}"[:300])
