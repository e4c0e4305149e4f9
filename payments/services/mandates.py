"""NetCash eMandates: request a mandate for a debit-order method, record its outcome.

    mandate = mandate_request(method=method, mandate_amount=Decimal("899.00"))   # outside a transaction
    mandate_update_status(account_reference=..., successful=True)             # postback or polling

The Mandate row is committed before NetCash is called (AccountReference, derived from our rows,
identifies it there, so a retried request cannot create a second mandate for another reference).
Status moves pending -> active | declined once; the payment method mirrors it and the customer is
told (mandate_accepted / mandate_declined, idempotent per mandate). An accepted mandate makes its
method primary when the customer has no usable primary (`payment_method_primary_after_mandate`).

AddMandate as the WSDL has it (CONTRACTS 2.4, corrected 2026-12; `netcash_niws.AddMandateRequest`):
enum members by name (`Monthly`, `Current`/`Savings`), the WSDL's parameter order, `TradingName`,
`RegistrationNumber`, `RegisteredName` for business accounts, `MobileNumber` as 0821234567, and
`CommencementDay` = the day collections will actually run (`mandate_collection_day`). Mandates still
pending a day later are checked with RequestMandateData/RetrieveMandateData (`mandates_check_pending`).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from billing.models import BillingAccount, Customer, Invoice
from circletel.http import ProviderError
from notifications.services import notify, notify_ops
from payments.clients import netcash_niws
from payments.errors import PaymentError, PaymentNotFound
from payments.models import Mandate, PaymentMethod
from payments.services.methods import payment_method_primary_after_mandate

logger = logging.getLogger(__name__)


def mandate_account_reference(method: PaymentMethod) -> str:
    return f"{method.customer.account_number}-{method.pk}"[:22]


def mandate_collection_day(*, customer: Customer, today: date | None = None) -> tuple[int, str]:
    """(CommencementMonth, CommencementDay) = when collections will run: debit orders collect invoices on
    their due date (the run picks what is due by the TwoDay action date), so the customer's next open
    invoice's due date, else their next billing day (`BillingAccount.preferred_billing_day`)."""
    today = today or timezone.localdate()
    upcoming = (Invoice.objects.filter(customer_id=customer.pk, status__in=Invoice.OPEN_STATUSES, due_date__gte=today)
                .order_by("due_date").values_list("due_date", flat=True).first())
    if upcoming is None:
        day = (BillingAccount.objects.filter(customer_id=customer.pk)
               .values_list("preferred_billing_day", flat=True).first() or 1)
        upcoming = today.replace(day=min(day, 28))
        if upcoming <= today:
            upcoming = (today.replace(day=1) + timedelta(days=32)).replace(day=min(day, 28))
        if day > 28:  # 30th: NetCash's day field takes it as is ("01".."31")
            return upcoming.month, f"{day:02d}"
    return upcoming.month, f"{upcoming.day:02d}"


def mandate_add_request(*, method: PaymentMethod, mandate_amount: Decimal, reference: str,
                        registration_number: str = "", today: date | None = None) -> netcash_niws.AddMandateRequest:
    """The AddMandate parameters for `method` (pure apart from reading the customer's invoices).
    `RegistrationNumber` is the customer's `registration_number` (business accounts; an explicit
    `registration_number` overrides it); a consumer mandate sends it null (`AddMandateRequest.params`)."""
    customer = method.customer
    today = today or timezone.localdate()
    month, day = mandate_collection_day(customer=customer, today=today)
    bank = method.bank_details
    consumer = customer.account_type != Customer.AccountType.BUSINESS
    company = (customer.company_name or "").strip()
    return netcash_niws.AddMandateRequest(
        account_reference=reference, mandate_name=(company if not consumer and company
                                                   else f"{customer.first_name} {customer.last_name}").strip()[:50],
        mandate_amount=mandate_amount, is_consumer=consumer, first_name=customer.first_name,
        surname=customer.last_name, mobile_number=netcash_niws.local_mobile(customer.phone),
        commencement_month=month, commencement_day=day, agreement_date=today, agreement_reference=reference,
        bank_account_name=bank.get("account_holder", ""), bank_account_number=bank.get("account_number", ""),
        branch_code=bank.get("branch_code", ""),
        bank_account_type="Savings" if bank.get("account_type") == "savings" else "Current",
        email=customer.email, trading_name=company, registered_name=company,
        registration_number=(registration_number or customer.registration_number or "").strip())


def mandate_request(*, method: PaymentMethod, mandate_amount: Decimal, debit_day: str | None = None,
                    registration_number: str = "", sleep=None) -> Mandate:
    """Ask NetCash for the eMandate of `method` (outside any transaction). `debit_day` is ignored (kept
    for callers): CommencementDay follows the day collections run."""
    if method.method_type != PaymentMethod.Type.DEBIT_ORDER or method.deleted_at is not None:
        raise PaymentError("Mandates are only for active debit-order methods.")
    if not isinstance(mandate_amount, Decimal) or mandate_amount <= 0:
        raise PaymentError("The mandate amount must be a positive Rand amount.")
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("mandate_request calls NetCash: run it outside a transaction")
    customer = method.customer
    reference = mandate_account_reference(method)
    with transaction.atomic():
        mandate, _ = Mandate.objects.get_or_create(
            account_reference=reference,
            defaults={"customer": customer, "payment_method": method, "mandate_amount": mandate_amount,
                      "agreement_reference": reference})
        if mandate.status != Mandate.Status.PENDING:
            return mandate
        PaymentMethod.objects.filter(pk=method.pk).update(mandate_reference=reference,
                                                          mandate_status=PaymentMethod.MandateStatus.PENDING)
    request = mandate_add_request(method=method, mandate_amount=mandate_amount, reference=reference,
                                  registration_number=registration_number)
    without_registration = not request.is_consumer and not request.registration_number
    if without_registration:
        # Staff see it on the customer's admin page (`billing.admin.registration_number_missing_warning`).
        logger.warning("business mandate %s sent without a company registration number", reference)
    try:
        result = netcash_niws.add_mandate(request=request, sleep=sleep)
    except ProviderError as exc:
        Mandate.objects.filter(pk=mandate.pk).update(decline_reason=f"request failed: {exc.message}"[:500])
        logger.warning("mandate request %s failed: %s", reference, exc.message)
        raise
    Mandate.objects.filter(pk=mandate.pk).update(mandate_url=result.mandate_url[:500],
                                                 commencement_day=request.commencement_day,
                                                 raw_response={"error_code": result.error_code,
                                                               "warnings": result.warnings,
                                                               **({"sent_without_registration_number": True}
                                                                  if without_registration else {})})
    mandate.refresh_from_db()
    return mandate


def mandates_check_pending(*, now=None, sleep=None, job=None, polls: int = 3) -> dict:
    """Mandates pending for more than a day: RequestMandateData, then RetrieveMandateData (polled a few
    times), applied through `mandate_update_status`. [UNCONFIRMED] answer layout (see netcash_niws);
    mandates it does not settle are reported to ops once per mandate and per day."""
    now = now or timezone.now()
    pending = list(Mandate.objects.filter(status=Mandate.Status.PENDING, created_at__lt=now - timedelta(days=1))
                   .order_by("pk")[:500])
    counts = {"pending": len(pending), "updated": 0, "still_pending": 0}
    if not pending:
        return counts
    rows = None
    try:
        token = netcash_niws.request_mandate_data(sleep=sleep)
        for attempt in range(polls):
            rows = netcash_niws.retrieve_mandate_data(file_token=token, sleep=sleep)
            if rows is not None:
                break
            if sleep and attempt < polls - 1:
                sleep(5)
    except (ProviderError, ImproperlyConfigured) as exc:
        counts["error"] = str(getattr(exc, "message", exc))[:300]
        if job is not None:
            job.fail_item("RequestMandateData", exc)
    by_ref = {row.account_reference: row for row in rows or []}
    Mandate.objects.filter(pk__in=[m.pk for m in pending]).update(last_checked_at=now)
    for mandate in pending:
        row = by_ref.get(mandate.account_reference)
        if row is not None and row.status in ("active", "declined"):
            mandate_update_status(account_reference=mandate.account_reference, successful=row.status == "active",
                                  reason="Declined (NetCash mandate data)", raw={"mandate_data": row.raw})
            counts["updated"] += 1
            continue
        counts["still_pending"] += 1
        try:
            notify_ops(event="mandate_pending_long", email=False,
                       idempotency_key=f"mandate_pending:{mandate.pk}:{timezone.localdate(now)}",
                       context={"account_reference": mandate.account_reference,
                                "since": f"{timezone.localtime(mandate.created_at):%Y-%m-%d %H:%M}",
                                "note": "eMandate still pending at NetCash after a day: check the portal or "
                                        "send the customer the signing link again."})
        except Exception:
            logger.exception("could not alert ops about mandate %s", mandate.pk)
    return counts


def mandate_update_status(*, account_reference: str, successful: bool, reason: str = "", pdf_link: str = "",
                          raw: dict | None = None) -> Mandate:
    with transaction.atomic():
        mandate = (Mandate.objects.select_for_update().select_related("customer", "payment_method")
                   .filter(account_reference=account_reference).first())
        if mandate is None:
            raise PaymentNotFound("Unknown mandate reference.", {"account_reference": account_reference})
        if mandate.status != Mandate.Status.PENDING:
            return mandate  # a repeated postback changes nothing
        mandate.status = Mandate.Status.ACTIVE if successful else Mandate.Status.DECLINED
        mandate.decline_reason = "" if successful else (reason or "Declined")[:500]
        mandate.pdf_link = pdf_link[:500]
        mandate.raw_response = {**mandate.raw_response, "postback": raw or {}}
        mandate.save()
        method_status = PaymentMethod.MandateStatus.ACTIVE if successful else PaymentMethod.MandateStatus.DECLINED
        PaymentMethod.objects.filter(pk=mandate.payment_method_id).update(mandate_status=method_status,
                                                                          mandate_reference=account_reference)
        if successful:  # signed: it takes the primary place unless a usable method holds it (methods.py)
            payment_method_primary_after_mandate(method=mandate.payment_method)
        customer = mandate.customer
        name = f"{customer.first_name} {customer.last_name}".strip()
        if successful:
            notify(event="mandate_accepted", customer=customer, idempotency_key=f"mandate_accepted:{mandate.pk}",
                   context={"customer_name": name, "account_masked": mandate.payment_method.display_name})
        else:
            notify(event="mandate_declined", customer=customer, idempotency_key=f"mandate_declined:{mandate.pk}",
                   context={"customer_name": name, "reason": mandate.decline_reason,
                            "mandate_url": mandate.mandate_url})
    return mandate


def mandate_postback_token() -> str:
    """The secret path segment for the mandate postback URL configured in the NetCash portal.

    NetCash documents no authenticity for mandate postbacks, so the URL itself carries an HMAC of
    our Pay Now secret; without a secret there is no valid token (fail closed)."""
    secret = settings.NETCASH.get("PAYNOW_HMAC_SECRET") or ""
    return _postback_token_for(secret) if secret else ""


@functools.lru_cache(maxsize=4)
def _postback_token_for(secret: str) -> str:
    # Cached: the log redaction asks for it on every log line (circletel.logging.register_log_secrets).
    return hmac.new(secret.encode(), b"netcash-mandate-postback", hashlib.sha256).hexdigest()[:32]


def mandate_postback_secrets() -> list[str]:
    """For the log redaction (circletel.logging.register_log_secrets): the token, if there is one."""
    token = mandate_postback_token()
    return [token] if token else []


def mandate_postback_token_valid(token: str) -> bool:
    expected = mandate_postback_token()
    return bool(expected) and hmac.compare_digest(expected.encode(), (token or "").encode())
