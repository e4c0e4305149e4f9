"""NetCash eMandates: request a mandate for a debit-order method, record its outcome.

    mandate = mandate_request(method=method, mandate_amount=Decimal("899.00"))   # outside a transaction
    mandate_update_status(account_reference=..., successful=True)             # postback or polling

The Mandate row is committed before NetCash is called (AccountReference, derived from our rows,
identifies it there, so a retried request cannot create a second mandate for another reference).
Status moves pending -> active | declined once; the payment method mirrors it and the customer is
told (mandate_accepted / mandate_declined, idempotent per mandate). Field names [UNCONFIRMED].
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from circletel.http import ProviderError
from notifications.services import notify
from payments.clients import netcash
from payments.errors import PaymentError, PaymentNotFound
from payments.models import Mandate, PaymentMethod

logger = logging.getLogger(__name__)


def mandate_account_reference(method: PaymentMethod) -> str:
    return f"{method.customer.account_number}-{method.pk}"[:22]


def mandate_request(*, method: PaymentMethod, mandate_amount: Decimal, debit_day: str = "01",
                    sleep=None) -> Mandate:
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
    bank = method.bank_details
    fields = {
        "AccountReference": reference, "MandateName": f"{customer.first_name} {customer.last_name}"[:50],
        "MandateAmount": netcash.rands(mandate_amount), "IsConsumer": "1" if customer.account_type == "personal" else "0",
        "FirstName": customer.first_name, "Surname": customer.last_name, "MobileNumber": customer.phone,
        "DebitFrequency": "1", "CommencementMonth": f"{timezone.localdate().month:02d}", "CommencementDay": debit_day,
        "AgreementDate": timezone.localdate().strftime("%Y%m%d"), "AgreementReferenceNumber": reference,
        "BankDetailType": "1", "BankAccountName": bank.get("account_holder", ""),
        "BankAccountNumber": bank.get("account_number", ""), "BranchCode": bank.get("branch_code", ""),
        "BankAccountType": "2" if bank.get("account_type") == "savings" else "1", "EmailAddress": customer.email,
        "AllowVariableDebitAmounts": "1",
    }
    try:
        result = netcash.add_mandate(fields=fields, sleep=sleep)
    except ProviderError as exc:
        Mandate.objects.filter(pk=mandate.pk).update(decline_reason=f"request failed: {exc.message}"[:500])
        logger.warning("mandate request %s failed: %s", reference, exc.message)
        raise
    Mandate.objects.filter(pk=mandate.pk).update(mandate_url=result.mandate_url[:500],
                                                 raw_response={"error_code": result.error_code,
                                                               "warnings": result.errors})
    mandate.refresh_from_db()
    return mandate


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
