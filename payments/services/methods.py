"""Saved payment methods: add, make primary, soft delete.

Only masked data is kept in clear (display name, last four, card expiry). Bank details are
encrypted with Fernet before they reach the model (payments/crypto.py). A full card number or
CVV has no parameter here and is refused if it turns up in a token field.

A customer keeps at most `settings.PAYMENT_METHODS_MAX_PER_CUSTOMER` non-removed methods. Every
new method (debit order, card, Stripe card) is created by `payment_method_create`, which counts
and inserts under the customer's row lock, so two adds at the same moment cannot both take the
last place.

The primary method (auto-pay collects from it) follows three rules, all here:
- a new method asked to be primary takes the place only if it can be used now, or if the current
  primary cannot (`payment_method_is_usable`): a debit order whose eMandate is not signed yet never
  pushes out a card or a signed debit order; it takes the place by itself once its mandate is
  accepted (`payment_method_primary_after_mandate`);
- the customer can make a method primary by hand only while it is usable (`payment_method_set_primary`
  refuses a pending, declined or cancelled mandate and an expired card, and says why): an unsigned
  primary would leave auto-pay with nothing to collect from;
- removing the primary promotes the customer's best other usable method (a signed debit order
  first, then a card), or, when there is none, turns auto-pay off (`payment_method_remove`); removing
  the last usable method while the primary is not usable turns auto-pay off too. The confirmation
  page reads the same outcome (`payment_method_removal_outcome`), so it says what will happen;
- at most one primary per customer (the partial unique constraint backs this up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.models import BillingAccount, Customer
from circletel.follow_ups import follow_up
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


def payment_method_unusable_reason(method: PaymentMethod, *, today=None) -> str:
    """Why no payment can be taken from `method` now ("" when it can): removed; a debit order whose
    eMandate is not signed (active); a card past the end of its expiry month. The sentence is shown to
    the customer (it is the reason a "Make primary" is refused)."""
    name = method.display_name
    if method.deleted_at is not None:
        return "A removed payment method cannot be primary."
    if method.method_type == PaymentMethod.Type.DEBIT_ORDER:
        status = method.mandate_status
        if status == PaymentMethod.MandateStatus.ACTIVE:
            return ""
        if status in (PaymentMethod.MandateStatus.DECLINED, PaymentMethod.MandateStatus.CANCELLED):
            return (f"{name} cannot be primary: its debit-order mandate was {status}. "
                    "Add the debit order again and sign the new mandate.")
        return (f"{name} cannot be primary until its debit-order mandate is signed. "
                "It becomes primary by itself once you sign it, if you have no other usable primary method.")
    if method.method_type == PaymentMethod.Type.CARD and method.card_expiry_year and method.card_expiry_month:
        today = today or timezone.localdate()
        if (method.card_expiry_year, method.card_expiry_month) < (today.year, today.month):
            return (f"{name} cannot be primary: it expired at the end of "
                    f"{method.card_expiry_month:02d}/{method.card_expiry_year}. Add a card that is still valid.")
    return ""


def payment_method_is_usable(method: PaymentMethod, *, today=None) -> bool:
    """Can a payment be taken from `method` now: not removed; a debit order only with its eMandate
    signed (active); a card only until the end of its expiry month (`payment_method_unusable_reason`)."""
    return not payment_method_unusable_reason(method, today=today)


def _current_primary(customer_id: int) -> PaymentMethod | None:
    return PaymentMethod.objects.filter(customer_id=customer_id, is_primary=True, deleted_at__isnull=True).first()


def payment_method_create(*, customer: Customer, make_primary: bool = False, **fields) -> PaymentMethod:
    """Insert a payment method (fields already validated by the caller) unless the customer is at the
    limit; both under the customer's row lock, so concurrent adds are counted one after another.

    `make_primary` is a wish: the new method becomes primary if it is usable now or the current
    primary is not (a pending debit order never replaces a usable primary). `method.is_primary` says
    what happened."""
    with transaction.atomic():
        _lock_customer(customer.pk)
        payment_method_limit_check(customer=customer)
        method = PaymentMethod.objects.create(customer=customer, **fields)
        if make_primary:
            current = _current_primary(customer.pk)
            if current is None or payment_method_is_usable(method) or not payment_method_is_usable(current):
                _primary_set(method)
    return method


def payment_method_add_debit_order(*, customer: Customer, account_holder: str, account_number: str,
                                   branch_code: str, account_type: str = "current", bank_name: str = "Bank",
                                   make_primary: bool = True) -> PaymentMethod:
    """Save a debit-order bank account (encrypted). Bad details raise `PaymentError` with
    `extra["field"]` naming the parameter, so a form can show the message beside its field. Its
    mandate is not signed yet, so it takes the primary place only from a primary that is not
    usable either (`payment_method_create`)."""
    digits = _DIGITS.sub("", account_number or "")
    branch = _DIGITS.sub("", branch_code or "")
    if not 6 <= len(digits) <= 16:
        raise PaymentError("Enter a valid bank account number (6 to 16 digits).", {"field": "account_number"})
    if not 5 <= len(branch) <= 6:
        raise PaymentError("Enter a valid branch code (5 or 6 digits).", {"field": "branch_code"})
    if account_type not in ACCOUNT_TYPES:
        raise PaymentError("Account type must be current or savings.", {"field": "account_type"})
    if not (account_holder or "").strip():
        raise PaymentError("Enter the account holder's name.", {"field": "account_holder"})
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


def _primary_set(method: PaymentMethod) -> PaymentMethod:
    """Make `method` the customer's only primary method (the constraint backs this up). Callers decide
    whether it may be: `payment_method_set_primary` (by hand: usable only), `payment_method_create` and
    `payment_method_primary_after_mandate` (their own rules)."""
    if method.deleted_at is not None:
        raise PaymentError("A removed payment method cannot be primary.")
    with transaction.atomic():
        _lock_customer_methods(method.customer_id)
        PaymentMethod.objects.filter(customer_id=method.customer_id, is_primary=True).exclude(pk=method.pk).update(
            is_primary=False)
        PaymentMethod.objects.filter(pk=method.pk).update(is_primary=True)
    method.is_primary = True
    return method


def payment_method_set_primary(*, method: PaymentMethod) -> PaymentMethod:
    """The customer makes `method` primary by hand. Refused (`PaymentError`, 400, with the reason and
    `extra["reason"]`) while it is not usable: a debit order whose mandate is pending, declined or
    cancelled, an expired card, a removed method. Otherwise it would push out a primary auto-pay can
    collect from, and leave auto-pay collecting nothing. Checked again on the locked, fresh row."""
    with transaction.atomic():
        _lock_customer_methods(method.customer_id)
        fresh = PaymentMethod.objects.filter(pk=method.pk).first()
        if fresh is None:
            raise PaymentError("A removed payment method cannot be primary.")
        reason = payment_method_unusable_reason(fresh)
        if reason:
            raise PaymentError(reason, {"reason": "not_usable", "mandate_status": fresh.mandate_status})
        if fresh.is_primary:
            method.is_primary = True
            return method
        return _primary_set(method)


def payment_method_primary_after_mandate(*, method: PaymentMethod) -> bool:
    """`method`'s eMandate was just accepted: it becomes primary if the customer has no usable primary
    (none, or an unsigned debit order, e.g. this one's own wish to be primary waiting for the mandate).
    A usable primary stays. Returns whether `method` is primary now."""
    with transaction.atomic():
        _lock_customer_methods(method.customer_id)
        method.refresh_from_db()
        if method.is_primary:
            return True
        current = _current_primary(method.customer_id)
        if not payment_method_is_usable(method) or (current is not None and payment_method_is_usable(current)):
            return False
        _primary_set(method)
    return True


@dataclass
class PaymentMethodRemoval:
    """What removing a method did: `promoted` is the method that became primary in its place (None
    when the removed one was not primary or nothing usable was left); `auto_pay_off` is True when
    auto-pay was on and was turned off because no usable method is left to collect from."""

    method: PaymentMethod
    was_primary: bool
    promoted: PaymentMethod | None = None
    auto_pay_off: bool = False


def payment_method_successor(*, method: PaymentMethod) -> PaymentMethod | None:
    """The method that takes the primary place if `method` is removed (a read, for the confirmation
    page and for `payment_method_remove` itself): the best usable method left, a signed debit order
    first (auto-pay collects by debit order), then a card; the oldest first within each."""
    left = (PaymentMethod.objects.filter(customer_id=method.customer_id, deleted_at__isnull=True)
            .exclude(pk=method.pk).order_by("pk"))
    usable = [m for m in left if payment_method_is_usable(m)]
    usable.sort(key=lambda m: m.method_type != PaymentMethod.Type.DEBIT_ORDER)  # stable: keeps pk order
    return usable[0] if usable else None


@dataclass
class PaymentMethodRemovalOutcome:
    """What removing `method` would do now (a read): `promoted` takes the primary place, or
    `auto_pay_off` (auto-pay is on and no usable primary would be left), or neither.
    `unusable_primary` is set when another method is removed and the primary that stays cannot be
    collected from (unsigned mandate, expired card): `no_primary` when there is no primary at all."""

    was_primary: bool
    promoted: PaymentMethod | None = None
    auto_pay_off: bool = False
    unusable_primary: PaymentMethod | None = None
    no_primary: bool = False


def payment_method_removal_outcome(*, method: PaymentMethod, auto_pay: bool) -> PaymentMethodRemovalOutcome:
    """The one rule for what a removal does, read by the confirmation page and applied by
    `payment_method_remove` (under its locks), so the page says what really happens:
    - the primary removed: the best usable method left takes its place (`payment_method_successor`);
      none left, auto-pay goes off;
    - another method removed, the primary stays. If the primary cannot be collected from (unsigned
      mandate, expired card) and the removed method was the customer's last usable one, auto-pay goes
      off too: nothing would be left to collect from. (Removing an unusable method while the primary is
      unusable takes nothing away: auto-pay stays as it is, waiting for the mandate to be signed.)"""
    fresh = PaymentMethod.objects.filter(pk=method.pk).first()
    if fresh is None or fresh.deleted_at is not None:
        return PaymentMethodRemovalOutcome(was_primary=False)
    if fresh.is_primary:
        promoted = payment_method_successor(method=fresh)
        return PaymentMethodRemovalOutcome(was_primary=True, promoted=promoted,
                                           auto_pay_off=promoted is None and auto_pay)
    outcome = PaymentMethodRemovalOutcome(was_primary=False)
    primary = _current_primary(fresh.customer_id)
    if primary is not None and payment_method_is_usable(primary):
        return outcome
    outcome.unusable_primary, outcome.no_primary = primary, primary is None
    if auto_pay and payment_method_is_usable(fresh) and payment_method_successor(method=fresh) is None:
        outcome.auto_pay_off = True
    return outcome


STRIPE_DETACH = "payments.services.stripe_payments.stripe_card_detach_at_stripe"


def payment_method_remove(*, method: PaymentMethod) -> PaymentMethodRemoval:
    """Soft delete: the row stays for history (payments point at it), it stops being primary. What
    else happens is `payment_method_removal_outcome`: when it was the primary, the best other usable
    method takes its place; when no usable primary is left, auto-pay is turned off (it would have
    nothing to collect from). One transaction, locks in the fixed order customer, methods, billing
    account. Removing a removed method changes nothing. A Stripe card is detached at Stripe by a
    follow-up written in the same transaction (`stripe_card_detach_at_stripe`)."""
    with transaction.atomic():
        _lock_customer(method.customer_id)
        _lock_customer_methods(method.customer_id)
        account = BillingAccount.objects.select_for_update().filter(customer_id=method.customer_id).first()
        auto_pay = bool(account is not None and account.auto_pay)
        outcome = payment_method_removal_outcome(method=method, auto_pay=auto_pay)
        removed = PaymentMethod.objects.filter(pk=method.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now(), is_primary=False)
        if removed and (method.provider_token or "").startswith("pm_"):
            # A Stripe card is detached at Stripe too, after commit and retried until Stripe answers:
            # removing it here never waits on (or fails with) Stripe.
            follow_up(STRIPE_DETACH, method.provider_token)
        result = PaymentMethodRemoval(method=method, was_primary=outcome.was_primary, promoted=outcome.promoted)
        if outcome.promoted is not None:
            _primary_set(outcome.promoted)
        if outcome.auto_pay_off:
            account.auto_pay = False
            account.save(update_fields=["auto_pay", "updated_at"])
            result.auto_pay_off = True
    method.refresh_from_db()
    return result


def payment_method_delete(*, method: PaymentMethod) -> PaymentMethod:
    """`payment_method_remove` for callers that only need the removed method back."""
    return payment_method_remove(method=method).method
