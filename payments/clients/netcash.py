"""NetCash client: Pay Now form building + notify authentication, debit-order batches, eMandates.

Units (pinned by tests; a wrong unit once charged customers 100x too little):
- Pay Now `p4` and the notify `Amount` are **Rands with two decimals** ("899.00").
- Debit-order batch field 162 and the footer total are **cents** (89900).

Authenticity: NetCash does not sign Pay Now posts (CONTRACTS 2.1). We put our own HMAC-SHA256 of
(reference, amount) in `m6` (returned as `Extra3`) and the amount we asked for in `m5` (`Extra2`),
and accept a notify only when the HMAC verifies (constant-time). Without a configured secret
every signing/verifying call raises `ImproperlyConfigured` (fail closed).

Web services (`NIWS_NIF`, SOAP 1.1: batches, statement, eMandates) are in `payments.clients.netcash_niws`,
which builds the one SOAP envelope.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PROVIDER = "netcash"
DEFAULT_VENDOR_KEY = "24ade73c-98cf-47b3-99be-cc7b867b3080"
CENT = Decimal("0.01")
TIMEOUT = (5, 30)
ERROR_CODES = {"100": "authentication failure (service key)", "101": "date format error",
               "102": "parameter error", "200": "general code exception"}
_AMOUNT_RE = re.compile(r"^[0-9]{1,10}(\.[0-9]{1,2})?$")


def _config() -> dict:
    return settings.NETCASH


def _secret() -> bytes:
    secret = _config().get("PAYNOW_HMAC_SECRET") or ""
    if not secret:
        raise ImproperlyConfigured("NETCASH_PAYNOW_HMAC_SECRET is not set: Pay Now requests cannot be signed or verified.")
    return secret.encode()


def hmac_configured() -> bool:
    return bool(_config().get("PAYNOW_HMAC_SECRET"))


# --- units ------------------------------------------------------------------------------------------------
def rands(amount: Decimal) -> str:
    """Pay Now amount: Rands with two decimals, e.g. Decimal('899') -> '899.00'."""
    if not isinstance(amount, Decimal):
        raise TypeError("amounts must be Decimal")
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):.2f}"


def cents(amount: Decimal) -> int:
    """Debit-order batch amount: integer cents, e.g. Decimal('899.00') -> 89900."""
    if not isinstance(amount, Decimal):
        raise TypeError("amounts must be Decimal")
    return int((amount.quantize(CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value())


def parse_rands(value: str) -> Decimal:
    """Parse a notify `Amount` ("899.00"); raises ValueError on anything else (no floats, no signs)."""
    value = (value or "").strip()
    if not _AMOUNT_RE.match(value):
        raise ValueError(f"not a Rand amount: {value[:20]!r}")
    try:
        return Decimal(value).quantize(CENT)
    except InvalidOperation as exc:  # pragma: no cover - regex already guards
        raise ValueError("not a Rand amount") from exc


# --- Pay Now ----------------------------------------------------------------------------------------------
def paynow_signature(*, reference: str, amount: Decimal) -> str:
    message = f"{reference}|{rands(amount)}".encode()
    return hmac.new(_secret(), message, hashlib.sha256).hexdigest()


def paynow_verify(*, reference: str, amount: Decimal, signature: str) -> bool:
    expected = paynow_signature(reference=reference, amount=amount)
    return hmac.compare_digest(expected.encode(), (signature or "").encode())


@dataclass(frozen=True)
class PayNowForm:
    action_url: str
    fields: dict


def paynow_form(*, reference: str, amount: Decimal, description: str, email: str = "", cellphone: str = "",
                kind: str = "invoice", action_url: str | None = None) -> PayNowForm:
    """The auto-submitting form the browser posts to NetCash (target=_top, never an iframe)."""
    config = _config()
    fields = {
        "m1": config.get("PAYNOW_SERVICE_KEY") or "",
        "m2": config.get("SOFTWARE_VENDOR_KEY") or DEFAULT_VENDOR_KEY,
        "p2": reference,
        "p3": description[:50],
        "p4": rands(amount),
        "Budget": "N",
        "m4": kind,
        "m5": rands(amount),
        "m6": paynow_signature(reference=reference, amount=amount),
        "m9": email,
        "m10": "",
    }
    local = paynow_cellphone(cellphone)
    if local:
        fields["m11"] = local
    return PayNowForm(action_url=action_url or config["PAYNOW_URL"], fields=fields)


_SA_MOBILE_RE = re.compile(r"^(?:\+?27|0)([1-9][0-9]{8})$")


def paynow_cellphone(phone: str) -> str:
    """`m11` as NetCash takes it: "SA only, 10 digits starting with a 0" (CONTRACTS 2.1 `m11`, corrected
    2026-12: netcash/paynow-php `Types/FieldType`; its `Form::setCellphone` rewrites +27... to 0...).
    "+27 82 123 4567" / "27821234567" / "082-123-4567" -> "0821234567". Anything that is not a South
    African number gives "" and the field is left out (an optional field; a bad one must not break
    the payment page)."""
    digits = re.sub(r"[\s().-]", "", phone or "")
    match = _SA_MOBILE_RE.match(digits)
    return f"0{match.group(1)}" if match else ""


METHOD_NAMES = {"1": "Card", "2": "Bank EFT", "3": "Retail", "4": "Instant EFT", "5": "MasterPass",
                "6": "Visa Click to Pay", "7": "Masterpass QR", "8": "Mobicred", "9": "Payflex", "10": "Flash voucher"}
METHOD_KINDS = {"1": "card", "2": "eft", "3": "cash", "4": "instant_eft", "5": "card", "6": "card", "7": "card",
                "8": "card", "9": "card", "10": "cash"}


def paynow_outcome(*, accepted: bool, reason: str) -> str:
    """accepted | pending | cancelled | declined, from `TransactionAccepted` and `Reason` alone.

    CONTRACTS 2.1 "Pending (corrected 2026-12)": a notify is pending when `Reason` contains "pending"
    (case-insensitive) for ANY `Method` (netcash/paynow-php `Response`; Magento `pn_is_pending`), and
    "cancelled" in `Reason` is the customer cancelling, not a decline. The Method is not consulted.
    A "pending" reason wins even over TransactionAccepted=true: money moves only on proof, and a
    pending notify is not proof (the later accepted notify, or the statement, completes it).
    """
    lowered = (reason or "").lower()
    if "pending" in lowered:
        return "pending"
    if accepted:
        return "accepted"
    if "cancelled" in lowered or "canceled" in lowered:
        return "cancelled"
    return "declined"


@dataclass(frozen=True)
class PayNowNotify:
    """A parsed, authenticated Pay Now notify."""

    request_trace: str
    reference: str
    amount: Decimal
    signed_amount: Decimal
    accepted: bool  # accepted and not pending: the only outcome that completes a payment
    pending: bool
    reason: str
    method_code: str
    kind: str
    raw: dict = field(default_factory=dict)

    @property
    def method(self) -> str:
        return METHOD_KINDS.get(self.method_code, "card")

    @property
    def method_name(self) -> str:
        return METHOD_NAMES.get(self.method_code, "Card")


NOTIFY_REQUIRED = ("TransactionAccepted", "RequestTrace", "Reference", "Amount")


def parse_form(body: str) -> dict:
    """Parse an x-www-form-urlencoded body strictly (first value wins). Raises ValueError."""
    pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body), max_num_fields=100)
    fields: dict = {}
    for key, value in pairs:
        fields.setdefault(key, value)
    return fields


def paynow_notify_from_fields(fields: Mapping[str, str]) -> PayNowNotify:
    """Parse and tamper-check a Pay Now notify (pure: no database). Raises `NotifyRejected` (4xx).

    Fail closed without an HMAC secret; our HMAC of (reference, signed amount) in Extra3 must verify
    (constant-time) and the amount must match what we signed. This binds the amount to the
    reference; it is NOT the authentication (the m5/m6 values passed through the customer's
    browser): that is the secret notify path (payments.providers.netcash, ADR 0010).
    """
    from payments.errors import NotifyRejected

    if not hmac_configured():
        raise NotifyRejected("NetCash notifications are not accepted: no HMAC secret is configured.", status_code=503)
    missing = [name for name in NOTIFY_REQUIRED if not (fields.get(name) or "").strip()]
    if missing:
        raise NotifyRejected("Missing fields.", status_code=400, extra={"missing": missing})
    signature = (fields.get("Extra3") or "").strip()
    signed_raw = (fields.get("Extra2") or "").strip()
    if not signature or not signed_raw:
        raise NotifyRejected("Unsigned notification.", status_code=401)
    reference = fields["Reference"].strip()
    trace = fields["RequestTrace"].strip()
    if len(reference) > 64 or len(trace) > 100:
        raise NotifyRejected("Reference or trace too long.", status_code=400)
    try:
        signed_amount = parse_rands(signed_raw)
        amount = parse_rands(fields["Amount"])
    except ValueError as exc:
        raise NotifyRejected("Amount is not a Rand amount with two decimals.", status_code=400) from exc
    if not paynow_verify(reference=reference, amount=signed_amount, signature=signature):
        raise NotifyRejected("Bad signature.", status_code=403)
    reason = (fields.get("Reason") or "").strip()[:300]
    method_code = (fields.get("Method") or "1").strip()[:3]
    kind = paynow_outcome(accepted=fields["TransactionAccepted"].strip().lower() == "true", reason=reason)
    accepted = kind == "accepted"
    if accepted and (amount <= 0 or amount != signed_amount):
        raise NotifyRejected("Amount does not match the amount requested.", status_code=400,
                             extra={"amount": str(amount), "expected": str(signed_amount)})
    if not accepted and amount not in (Decimal("0.00"), signed_amount):
        raise NotifyRejected("Amount does not match the amount requested.", status_code=400)
    raw = {k: v for k, v in fields.items() if k not in ("ccToken",)}
    return PayNowNotify(request_trace=trace, reference=reference, amount=amount, signed_amount=signed_amount,
                        accepted=accepted, pending=kind == "pending", reason=reason, method_code=method_code,
                        kind=kind, raw=raw)


# --- debit-order batch file (CONTRACTS 2.3) ---------------------------------------------------------------
# The NIWS web-service calls (upload, load report, authorise, batch status, statement, eMandates) and their
# one SOAP envelope live in `payments.clients.netcash_niws`.
def _debit_key() -> str:
    key = _config().get("DEBIT_ORDER_SERVICE_KEY") or ""
    if not key:
        raise ImproperlyConfigured("NETCASH_DEBIT_ORDER_SERVICE_KEY is not set: debit orders cannot be submitted.")
    return key


def debit_orders_configured() -> bool:
    return bool(_config().get("DEBIT_ORDER_SERVICE_KEY"))


@dataclass(frozen=True)
class DebitOrderLine:
    account_reference: str  # field 101, <= 22 chars
    account_name: str  # 102
    holder_name: str  # 132
    account_type: int  # 133: 1 current, 2 savings
    branch_code: str  # 134
    account_number: str  # 136
    amount: Decimal  # Rands here; written as cents (162)


def _clean(value: str, limit: int) -> str:
    return re.sub(r"[\t\r\n]", " ", str(value))[:limit]


def build_twoday_batch(*, batch_name: str, action_date: date, lines: list[DebitOrderLine],
                       service_key: str | None = None, instruction: str = "TwoDay") -> str:
    """The tab-delimited H/K/T/F batch file (CONTRACTS 2.3). Amounts in CENTS."""
    vendor = _config().get("SOFTWARE_VENDOR_KEY") or DEFAULT_VENDOR_KEY
    key = service_key if service_key is not None else _debit_key()
    rows = [["H", key, "1", instruction, _clean(batch_name, 40), action_date.strftime("%Y%m%d"), vendor],
            ["K", "101", "102", "131", "132", "133", "134", "136", "162"]]
    total = 0
    for line in lines:
        amount_cents = cents(line.amount)
        total += amount_cents
        rows.append(["T", _clean(line.account_reference, 22), _clean(line.account_name, 40), "1",
                     _clean(line.holder_name, 40), str(line.account_type), _clean(line.branch_code, 6),
                     _clean(line.account_number, 16), str(amount_cents)])
    rows.append(["F", str(len(lines)), str(total), "9999"])
    return "\r\n".join("\t".join(row) for row in rows) + "\r\n"
