"""The catalogue of notification events: what each one is and which context keys it needs.

    notify(event="invoice_issued", customer=invoice.customer, idempotency_key=f"invoice_issued:{invoice.pk}",
           context={"invoice_number": invoice.number, "amount_due": invoice.amount_due,
                    "due_date": invoice.due_date, "pay_url": ...})

Pass plain values (str, Decimal, date, int, bool): the context is stored as JSON on the log row
(Decimals and dates become strings), so model instances would only survive as their `str()`.
Money values are `Decimal` and rendered with the `zar` filter ("R 1,234.50").

`customer_name` and `account_number` are filled in by `notify()` from `customer` when the caller
does not pass them, so a call with `customer=` need not repeat them.

Rendering checks that every `required` key is present (and raises `MissingContextError` when not);
`optional` keys are used by the templates when given. An event that is not listed here but has
its own template files (another app's extra event) still renders, without key validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventSpec:
    required: tuple[str, ...]
    description: str
    optional: tuple[str, ...] = field(default_factory=tuple)
    audience: str = "customer"  # customer | ops
    # The message carries a one-time secret (a sign-up link): staff never see it in the admin, and the
    # stored body, HTML and context are scrubbed once it is sent (`notifications.delivery`).
    secret: bool = False


def _c(required, description, optional=(), *, secret=False):
    return EventSpec(required=tuple(required), description=description, optional=tuple(optional), secret=secret)


def is_secret(event: str) -> bool:
    spec = EVENTS.get(event)
    return bool(spec and spec.secret)


def _ops(required, description, optional=()):
    return EventSpec(required=tuple(required), description=description, optional=tuple(optional), audience="ops")


EVENTS: dict[str, EventSpec] = {
    # --- Invoices --------------------------------------------------------------------------------------
    "invoice_issued": _c(
        ["customer_name", "invoice_number", "amount_due", "due_date"],
        "A new invoice was issued; tells the amount, due date and how to pay (period_end is exclusive, "
        "as on Invoice: the next billing date).",
        ["account_number", "total", "issue_date", "period_start", "period_end", "pay_url", "auto_pay"],
    ),
    "invoice_pre_due": _c(
        ["customer_name", "invoice_number", "amount_due", "due_date"],
        "Friendly reminder a few days before an unpaid invoice falls due.",
        ["account_number", "pay_url", "auto_pay"],
    ),
    "invoice_overdue": _c(
        ["customer_name", "invoice_number", "amount_due", "due_date", "days_overdue"],
        "First notice that an invoice is past its due date.",
        ["account_number", "pay_url", "suspend_date"],
    ),
    "invoice_reminder": _c(
        ["customer_name", "invoice_number", "amount_due", "due_date", "days_overdue", "reminder_number"],
        "Follow-up reminder for an overdue invoice (reminder 1, 2, 3 ...).",
        ["account_number", "pay_url", "suspend_date"],
    ),
    # --- Payments --------------------------------------------------------------------------------------
    "payment_received": _c(
        ["customer_name", "amount", "method", "reference", "balance"],
        "The receipt email, sent once the receipt is issued: receipt number, amount, payment method, our "
        "reference, invoice paid and the balance now (> 0 still owed, < 0 credit); the receipt PDF is "
        "attached (receipt_attached) or, when it could not be made, linked (receipt_url).",
        ["account_number", "invoice_number", "paid_at", "receipt_number", "receipt_attached", "receipt_url"],
    ),
    "payment_failed": _c(
        ["customer_name", "amount", "reason"],
        "A payment attempt (card, debit order) failed or a debit order was returned unpaid.",
        ["account_number", "method", "invoice_number", "pay_url", "retry_date"],
    ),
    "refund_issued": _c(
        ["customer_name", "amount", "reference", "method"],
        "A refund of all or part of a payment (manual ones are paid back by finance).",
        ["manual", "fully_refunded"],
    ),
    "refund_reversed": _c(
        ["customer_name", "amount", "reference"],
        "A refund the customer was told about failed at the provider afterwards: the money was not paid "
        "back; it stays on the account (paying open invoices first) and staff will be in touch.",
        ["method", "balance"],
    ),
    "debit_order_upcoming": _c(
        ["customer_name", "amount", "debit_date"],
        "Advance notice of a debit order collection (amount and date).",
        ["account_number", "account_masked", "invoice_number"],
    ),
    "mandate_accepted": _c(
        ["customer_name"],
        "The debit order mandate was accepted and is active.",
        ["account_number", "bank_name", "account_masked", "first_debit_date"],
    ),
    "mandate_declined": _c(
        ["customer_name", "reason"],
        "The debit order mandate was declined; asks the customer to sign again or pay another way.",
        ["account_number", "mandate_url"],
    ),
    # --- Services --------------------------------------------------------------------------------------
    "service_activated": _c(
        ["customer_name", "package_name", "activation_date"],
        "A service (fibre / LTE) is live; welcome message with the package and billing start.",
        ["account_number", "installation_address", "monthly_price", "billing_day"],
    ),
    "service_suspended": _c(
        ["customer_name", "package_name", "message"],
        "A service was suspended (non-payment or on request); the customer-facing message (never staff's reason); how to restore it.",
        ["account_number", "amount_due", "pay_url"],
    ),
    "service_reactivated": _c(
        ["customer_name", "package_name"],
        "A suspended service is back on.",
        ["account_number"],
    ),
    "usage_80": _c(
        ["customer_name", "package_name", "used_gb", "cap_gb"],
        "Data usage passed 80% of the monthly cap.",
        ["account_number", "reset_date"],
    ),
    "usage_95": _c(
        ["customer_name", "package_name", "used_gb", "cap_gb"],
        "Data usage passed 95% of the monthly cap.",
        ["account_number", "reset_date"],
    ),
    # --- Accounts (sign-up, password reset; billing.services.customers) ---------------------------------
    "signup_confirm": _c(
        ["customer_name", "confirm_url"],
        "Sign-up to a new address: the link to choose a password and create the account (nothing exists before).",
        ["valid_days"], secret=True,
    ),
    "signup_existing_account": _c(
        ["customer_name", "sign_in_url", "reset_url"],
        "Sign-up to an address that already has an account: tells its owner, who can sign in or reset the "
        "password (has_login), or ask us for a login (a customer without one). The page shows the same either way.",
        ["has_login", "account_number"],
    ),
    "password_reset": _c(
        ["email", "reset_url"],
        "A reset link asked for on /accounts/password_reset/ (Django's token; billing.services.customers), sent to "
        "the address stored on the login. Nothing is sent for an address without one; the page shows the same.",
        ["customer_name", "valid_days"], secret=True,
    ),
    # --- Reservations (deposits) -----------------------------------------------------------------------
    "deposit_confirmed": _c(
        ["buyer_name", "item_name", "amount", "reference"],
        "To the buyer: the deposit was received and the item is reserved.",
        ["balance_due", "owner_name", "owner_contact", "currency"],
    ),
    "deposit_new_owner": _c(
        ["buyer_name", "buyer_email", "item_name", "amount", "reference"],
        "To the owner (breeder): a buyer paid a deposit on an item.",
        ["buyer_phone", "admin_url", "currency"],
    ),
    # --- Operations ------------------------------------------------------------------------------------
    "ops_alert": _ops(
        ["title", "message"],
        "Generic operations alert: a title, a message and optional key/value fields.",
        ["fields", "severity"],
    ),
    "webhook_failures": _ops(
        ["count"],
        "Stored provider webhooks failed processing and wait for attention.",
        ["provider", "oldest_at", "last_error", "admin_url", "fields"],
    ),
    "zoho_sync_alert": _ops(
        ["failed_count"],
        "The ZOHO sync outbox has failures (or a backlog) that need attention.",
        ["pending_count", "oldest_at", "last_error", "admin_url", "fields"],
    ),
}
