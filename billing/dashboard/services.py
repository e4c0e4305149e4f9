"""Writes the dashboard makes itself: billing preferences and contact details.

Payment-method changes go through `payments.services.methods`; lifecycle actions through
`billing.services.lifecycle` (see integrations.py).
"""

from __future__ import annotations

from django.db import transaction

from billing.dashboard.integrations import payment_method_model
from billing.models import BillingAccount, Customer
from circletel.errors import ApplicationError


class DashboardError(ApplicationError):
    pass


def billing_preferences_update(*, customer: Customer, auto_pay: bool, notify_email: bool,
                               notify_sms: bool) -> BillingAccount:
    """Set auto-pay and notification preferences. Auto-pay needs a primary payment method."""
    if auto_pay:
        model = payment_method_model()
        if model is None or not model.objects.filter(customer_id=customer.pk, is_primary=True,
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
        try:
            from zoho_sync.services.outbox import enqueue_sync
        except ImportError:  # pragma: no cover - the outbox ships with the foundation
            enqueue_sync = None
        if enqueue_sync is not None:
            enqueue_sync(entity=locked)
    return locked
