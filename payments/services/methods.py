"""Saved payment methods: add, make primary, soft delete.

Only masked data is kept in clear (display name, last four, card expiry). Bank details are
encrypted with Fernet before they reach the model (payments/crypto.py). A full card number or
CVV has no parameter here and is refused if it turns up in a token field.

A customer keeps at most `settings.PAYMENT_METHODS_MAX_PER_CUSTOMER` non-removed methods. Every
new method (debit order, card, Stripe card) is created by `payment_method_create`, which counts
and inserts under the customer's row lock, so two adds at the same moment cannot both take the
last place.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import Customer
from payments.crypto import encrypt_json
from payments.errors import PaymentError, PaymentMethodLimitReached
from payments.models import PaymentMethod

_DIGITS = re.compile(r"\D")
_PAN_LIKE = re.compile(r"(?:\d[ -]?){13,19}")
ACCOUNT_TYPES = {"current": 1, "savings": 2}


def _lock_customer_methods(customer_id: int) -> None:
    list(PaymentMethod.objects.select_for_update().filter(customer_id=customer_id, deleted_at__isnull=True)
         .values_list("pk", flat=True))


def _lock_customer(customer_id: int) -> None:
    """Lock the customer's row: the one lock every add of a payment method queues on. Taken before
    `_lock_customer_methods` (fixed order: customer, then methods)."""
    list(Customer.objects.select_for_update().filter(pk=customer_id).values_list("pk", flat=True))


def payment_methods_limit() -> int:
    return settings.PAYMENT_METHODS_MAX_PER_CUSTOMER


def payment_method_limit_check(*, customer: Customer) -> None:
    """Refuse when the customer already has the most non-removed methods allowed.

    Without a lock it only saves a pointless provider call (Stripe attach) before
    `payment_method_create`, which checks again under the lock and decides."""
    limit = payment_methods_limit()
    if PaymentMethod.objects.filter(customer_id=customer.pk, deleted_at__isnull=True).count() >= limit:
        raise PaymentMethodLimitReached(
            f"You can save at most {limit} payment methods. Remove one to add another.",
            {"limit": limit})


def payment_method_create(*, customer: Customer, make_primary: bool = False, **fields) -> PaymentMethod:
    """Insert a payment method (fields already validated by the caller) unless the customer is at the
    limit; both under the customer's row lock, so concurrent adds are counted one after another."""
    with transaction.atomic():
        _lock_customer(customer.pk)
        payment_method_limit_check(customer=customer)
        method = PaymentMethod.objects.create(customer=customer, **fields)
        if make_primary:
            payment_method_set_primary(method=method)
    return method


def payment_method_add_debit_order(*, customer: Customer, account_holder: str, account_number: str,
                                   branch_code: str, account_type: str = "current", bank_name: str = "Bank",
                                   make_primary: bool = True) -> PaymentMethod:
    digits = _DIGITS.sub("", account_number or "")
    branch = _DIGITS.sub("", branch_code or "")
    if not 6 <= len(digits) <= 16:
        raise PaymentError("Enter a valid bank account number (6 to 16 digits).")
    if not 5 <= len(branch) <= 6:
        raise PaymentError("Enter a valid branch code (5 or 6 digits).")
    if account_type not in ACCOUNT_TYPES:
        raise PaymentError("Account type must be current or savings.")
    if not (account_holder or "").strip():
        raise PaymentError("Enter the account holder's name.")
    encrypted = encrypt_json({"account_holder": account_holder.strip()[:60], "account_number": digits,
                              "branch_code": branch, "account_type": account_type, "bank_name": bank_name[:40]})
    return payment_method_create(
        customer=customer, make_primary=make_primary, method_type=PaymentMethod.Type.DEBIT_ORDER,
        display_name=f"{bank_name[:40]} ***{digits[-4:]}", last_four=digits[-4:], bank_details_encrypted=encrypted)


def payment_method_add_card(*, customer: Customer, brand: str, last_four: str, expiry_month: int,
                            expiry_year: int, token: str = "", make_primary: bool = False) -> PaymentMethod:
    """Save a tokenised card. Only the provider token, last four and expiry are accepted."""
    if not re.fullmatch(r"[0-9]{4}", last_four or ""):
        raise PaymentError("Give only the last four digits of the card.")
    if token and _PAN_LIKE.search(token):
        raise PaymentError("A full card number is never accepted; use the provider's token.")
    if not 1 <= int(expiry_month) <= 12 or not 2000 <= int(expiry_year) <= 2100:
        raise PaymentError("Card expiry is not valid.")
    return payment_method_create(
        customer=customer, make_primary=make_primary, method_type=PaymentMethod.Type.CARD,
        display_name=f"{brand[:20]} ***{last_four}", last_four=last_four, card_expiry_month=int(expiry_month),
        card_expiry_year=int(expiry_year), provider_token=token[:200])


def payment_method_set_primary(*, method: PaymentMethod) -> PaymentMethod:
    """Make `method` the customer's only primary method (the constraint backs this up)."""
    if method.deleted_at is not None:
        raise PaymentError("A removed payment method cannot be primary.")
    with transaction.atomic():
        _lock_customer_methods(method.customer_id)
        PaymentMethod.objects.filter(customer_id=method.customer_id, is_primary=True).exclude(pk=method.pk).update(
            is_primary=False)
        PaymentMethod.objects.filter(pk=method.pk).update(is_primary=True)
    method.is_primary = True
    return method


def payment_method_delete(*, method: PaymentMethod) -> PaymentMethod:
    """Soft delete: the row stays for history (payments point at it), it stops being primary."""
    with transaction.atomic():
        PaymentMethod.objects.filter(pk=method.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), is_primary=False)
    method.refresh_from_db()
    return method
