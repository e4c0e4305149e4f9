"""NetCash web services (`NIWS_NIF`, SOAP 1.1): debit-order batches, the merchant statement, eMandates.

The one place a NIWS SOAP envelope is built (`envelope`) and sent (`call`). Sources, each checked
against /work/shared/CONTRACTS.md ("corrected 2026-12" sections are authoritative):

- Endpoint, namespace `http://tempuri.org/`, `SOAPAction: http://tempuri.org/INIWS_NIF/<Method>`: CONTRACTS 2.2.
- Method signatures (parameter names and order): the WSDL-generated proxy, CONTRACTS 2.2 / 2.4
  (Pierre35557/dotnet-netcash-integration `Netcash.Data/Connected Services/NIWS/Reference.cs`, interface
  `INIWS_NIF`): `BatchFileUpload(ServiceKey, File)`, `RequestFileUploadReport(ServiceKey, FileToken)`,
  `RetrieveBatchStatus(ServiceKey)`, `RequestBatchAuthorise(ServiceKey, Guid BatchIndicator, bool SendEmail,
  FromName, FromAddress, bool SendSMS, bool ReleaseFunds, bool BankTransfer)`,
  `RequestMerchantStatement(ServiceKey, FromActionDate)`, `RequestInterimMerchantStatement(ServiceKey)`,
  `RetrieveMerchantStatement(ServiceKey, PollingId)`, `RequestMandateData(ServiceKey)`,
  `RetrieveMandateData(ServiceKey, FileToken)`, `AddMandate(...)` (order in `ADD_MANDATE_ORDER`).
- WCF silently ignores elements out of order (CONTRACTS 2.4), so parameters are ordered sequences,
  never dicts built in whatever order a caller liked.
- Statement text, transaction codes, unpaid reason codes, batch status lines: CONTRACTS 2.5.
- Load report lines (`###BEGIN ... STATUS`, `Acc Ref :<ref><TAB>Line :<n><TAB><message>`): CONTRACTS 2.2/2.3.

Service keys (CONTRACTS 2.2): the Debit Order key for batches and mandates, the Account key for
statements. A missing key raises `ImproperlyConfigured` (nothing is sent).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from circletel.http import PermanentProviderError, ProviderTimeoutError, RetryableProviderError, send, with_retries

logger = logging.getLogger(__name__)
PROVIDER = "netcash"
TIMEOUT = (5, 30)
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
TEMPURI = "http://tempuri.org/"
# CONTRACTS 2.2 (official codes) and 2.5 (311 for the statement / batch status).
ERROR_CODES = {"100": "authentication failure (service key)", "101": "date format error (CCYYMMDD)",
               "102": "parameter error", "200": "general code exception",
               "311": "service key not valid for this service"}
# RequestBatchAuthorise result codes: [3P] circletel, unverified against docs (CONTRACTS 2.2, section 9.6).
AUTHORISE_ERRORS = {"320": "batch not found", "321": "RMS not allowed", "322": "auto-authorise not enabled",
                    "323": "insufficient funds"}


def _config() -> dict:
    return settings.NETCASH


def debit_key() -> str:
    key = _config().get("DEBIT_ORDER_SERVICE_KEY") or ""
    if not key:
        raise ImproperlyConfigured("NETCASH_DEBIT_ORDER_SERVICE_KEY is not set: debit orders cannot be submitted.")
    return key


def account_key() -> str:
    key = _config().get("ACCOUNT_SERVICE_KEY") or ""
    if not key:
        raise ImproperlyConfigured("NETCASH_ACCOUNT_SERVICE_KEY is not set: the merchant statement cannot be read.")
    return key


def statement_configured() -> bool:
    return bool(_config().get("ACCOUNT_SERVICE_KEY"))


# --- the envelope (the one place) -------------------------------------------------------------------------
def wire_value(value) -> str | None:
    """How a parameter goes on the wire: xsd:boolean as true/false, decimals with two places, enum
    members as their NAMES (DataContract enums without explicit values, CONTRACTS 2.4), None omitted."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value.quantize(Decimal('0.01')):.2f}"
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    return str(value)


def envelope(method: str, params: Sequence[tuple[str, object]]) -> bytes:
    """The SOAP 1.1 request for `method` with `params` in the given order (None values are left out,
    as the WSDL's nullable parameters allow)."""
    body = []
    for name, value in params:
        text = wire_value(value)
        if text is not None:
            body.append(f"<tem:{name}>{escape(text)}</tem:{name}>")
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<soap:Envelope xmlns:soap="{SOAP_NS}" xmlns:tem="{TEMPURI}">'
            f"<soap:Body><tem:{method}>{''.join(body)}</tem:{method}></soap:Body></soap:Envelope>").encode()


def call(method: str, params: Sequence[tuple[str, object]]) -> str:
    """POST one SOAP call; returns the response body text (typed errors from `circletel.http.send`)."""
    return send("POST", _config()["WS_URL"], provider=PROVIDER, timeout=TIMEOUT, data=envelope(method, params),
                headers={"Content-Type": "text/xml; charset=utf-8",
                         "SOAPAction": f"http://tempuri.org/INIWS_NIF/{method}"}).text


def _parse_xml(text: str):
    try:
        return ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise PermanentProviderError("NetCash returned malformed XML", provider=PROVIDER, raw=text[:2000]) from exc


def result_text(text: str, method: str) -> str:
    """The text of `<MethodResult>` (a string result)."""
    for element in _parse_xml(text).iter():
        if element.tag.endswith(f"{method}Result"):
            return (element.text or "").strip()
    raise PermanentProviderError(f"NetCash response has no {method}Result", provider=PROVIDER, raw=text[:2000])


def _raise_for_code(result: str, *, what: str, codes: dict | None = None) -> None:
    table = {**ERROR_CODES, **(codes or {})}
    if result.strip() in table:
        code = result.strip()
        raise PermanentProviderError(f"NetCash {what} failed: {code} {table[code]}", provider=PROVIDER,
                                     code=code, raw=result)


def _read(method: str, params, *, sleep=None) -> str:
    """A call that only reads (safe to retry on timeouts, 429 and 5xx)."""
    return with_retries(lambda: result_text(call(method, params), method), **({"sleep": sleep} if sleep else {}))


# --- debit-order batches ------------------------------------------------------------------------------------
def batch_file_upload(*, file_text: str, sleep=None) -> str:
    """Upload a batch; returns NetCash's file token.

    Retries only when nothing can have reached NetCash (connection refused / 429); a timeout or
    5xx after sending is ambiguous, so it becomes a permanent "outcome unknown" error and staff
    check the portal before resubmitting (a blind retry could debit customers twice).
    """
    key = debit_key()

    def attempt():
        try:
            return result_text(call("BatchFileUpload", [("ServiceKey", key), ("File", file_text)]), "BatchFileUpload")
        except ProviderTimeoutError as exc:
            raise PermanentProviderError("NetCash upload timed out: outcome unknown, check the portal",
                                         provider=PROVIDER, code="unknown") from exc
        except RetryableProviderError as exc:
            if exc.http_status and exc.http_status >= 500:
                raise PermanentProviderError(f"NetCash upload failed ({exc.http_status}): outcome unknown",
                                             provider=PROVIDER, http_status=exc.http_status, code="unknown") from exc
            raise

    token = with_retries(attempt, **({"sleep": sleep} if sleep else {}))
    _raise_for_code(token, what="batch upload")
    if not token:
        raise PermanentProviderError("NetCash returned an empty file token", provider=PROVIDER)
    return token


@dataclass(frozen=True)
class LoadReportLineError:
    account_reference: str
    line_number: int
    message: str


@dataclass(frozen=True)
class LoadReport:
    """A parsed load report. `SUCCESSFUL` says the file was read, not that anyone paid (CONTRACTS 2.2)."""

    status: str  # SUCCESSFUL | SUCCESSFUL WITH ERRORS | UNSUCCESSFUL | PENDING
    line_errors: list = field(default_factory=list)  # LoadReportLineError, one per rejected line and message
    file_errors: list = field(default_factory=list)  # ###ERROR lines (the whole file)
    raw: str = ""

    @property
    def errors(self) -> list[str]:
        return [*self.file_errors, *(f"Acc Ref {e.account_reference} line {e.line_number}: {e.message}"
                                     for e in self.line_errors)]


# `Acc Ref :1158<TAB>Line :6<TAB>Duplicate account reference...` (CONTRACTS 2.2, paycycledevops/netcash_api
# spec/fixtures/batch_file_report_file_failures.txt); separators are tabs, or runs of spaces in copies.
_LINE_ERROR_RE = re.compile(r"^Acc Ref\s*:\s*(?P<ref>.*?)\s*(?:\t+|\s{2,}|\s(?=Line\s*:))Line\s*:\s*(?P<line>\d+)"
                            r"\s*(?:\t+|\s+)(?P<message>.*)$")
_STATUSES = ("SUCCESSFUL WITH ERRORS", "UNSUCCESSFUL", "SUCCESSFUL")


def parse_load_report(text: str) -> LoadReport:
    status = "PENDING"
    line_errors, file_errors = [], []
    for raw_line in (text or "").splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("###BEGIN"):
            status = next((s for s in _STATUSES if s in line), status)
        elif line.startswith("###ERROR"):
            file_errors.append(line.removeprefix("###ERROR").lstrip(": ").strip())
        elif line.startswith("###END"):
            continue
        else:
            match = _LINE_ERROR_RE.match(line)
            if match:
                line_errors.append(LoadReportLineError(account_reference=match["ref"].strip(),
                                                       line_number=int(match["line"]),
                                                       message=match["message"].strip()))
            else:
                logger.warning("netcash load report: unrecognised line %r", line[:200])
    return LoadReport(status=status, line_errors=line_errors, file_errors=file_errors, raw=text or "")


def request_load_report(*, file_token: str, sleep=None) -> LoadReport:
    """Read the load report for an uploaded file (safe to retry: a read)."""
    text = _read("RequestFileUploadReport", [("ServiceKey", debit_key()), ("FileToken", file_token)], sleep=sleep)
    _raise_for_code(text.strip(), what="load report")
    return parse_load_report(text)


@dataclass(frozen=True)
class BatchStatus:
    batch_id: str
    batch_name: str
    status_code: int  # 1 unauthorised, 2 authorised, 3 locked, 4 processed, 5 insufficient funds
    volume: int
    value: Decimal
    authorised: bool

    @property
    def status_name(self) -> str:
        return BATCH_STATUS_NAMES.get(self.status_code, f"unknown ({self.status_code})")


BATCH_STATUS_NAMES = {1: "unauthorised", 2: "authorised", 3: "locked", 4: "processed", 5: "insufficient funds"}


def parse_batch_status(text: str) -> list[BatchStatus]:
    """RetrieveBatchStatus lines: service key, batch id, batch name, status code, volume, value, created on,
    authorised on, unauthorised on; dates of year 1900 mean "not yet" (CONTRACTS 2.5, [3P] circletel)."""
    out = []
    for line in (text or "").splitlines():
        fields = line.split("\t")
        if len(fields) < 9 or not fields[3].strip().isdigit():
            continue
        try:
            value = Decimal(fields[5].strip() or "0")
        except InvalidOperation:
            value = Decimal("0")
        out.append(BatchStatus(batch_id=fields[1].strip(), batch_name=fields[2].strip(),
                               status_code=int(fields[3]), volume=int(fields[4] or 0) if fields[4].strip().isdigit() else 0,
                               value=value, authorised=bool(fields[7].strip()) and "1900" not in fields[7]))
    return out


def retrieve_batch_status(*, sleep=None) -> list[BatchStatus]:
    text = _read("RetrieveBatchStatus", [("ServiceKey", debit_key())], sleep=sleep)
    _raise_for_code(text.strip(), what="batch status")
    return parse_batch_status(text)


def request_batch_authorise(*, batch_indicator: str, sleep=None) -> str:
    """Authorise an uploaded batch (needs NetCash's auto-authorise indemnity, CONTRACTS 2.2).

    [UNCONFIRMED] `BatchIndicator` is typed `Guid` in the WSDL; we send the batch id RetrieveBatchStatus
    lists for our batch name. Result codes 320-323 are [3P]; anything else is taken as accepted and the
    batch status poll confirms it. Not retried on an ambiguous failure (a read of the batch status is).
    """
    params = [("ServiceKey", debit_key()), ("BatchIndicator", batch_indicator), ("SendEmail", False),
              ("FromName", ""), ("FromAddress", ""), ("SendSMS", False), ("ReleaseFunds", False),
              ("BankTransfer", False)]
    result = result_text(call("RequestBatchAuthorise", params), "RequestBatchAuthorise")
    _raise_for_code(result, what="batch authorise", codes=AUTHORISE_ERRORS)
    return result


# --- merchant statement (CONTRACTS 2.5) --------------------------------------------------------------------
def request_merchant_statement(*, from_date: date, sleep=None) -> str:
    """The Full Daily statement from `from_date` (available from 08:30 the next day): a polling id."""
    result = _read("RequestMerchantStatement", [("ServiceKey", account_key()), ("FromActionDate", from_date)],
                   sleep=sleep)
    _raise_for_code(result, what="statement request", codes={"102": "date not available"})
    if not result:
        raise PermanentProviderError("NetCash returned an empty polling id", provider=PROVIDER)
    return result


def request_interim_merchant_statement(*, sleep=None) -> str:
    """Today's interim statement (Pay Now EFT and cash during the day): a polling id.
    Method from the WSDL proxy (`RequestInterimMerchantStatement(ServiceKey)`, Reference.cs)."""
    result = _read("RequestInterimMerchantStatement", [("ServiceKey", account_key())], sleep=sleep)
    _raise_for_code(result, what="interim statement request")
    if not result:
        raise PermanentProviderError("NetCash returned an empty polling id", provider=PROVIDER)
    return result


@dataclass(frozen=True)
class StatementRetrieval:
    state: str  # ready | not_ready | no_change
    text: str = ""


def retrieve_merchant_statement(*, polling_id: str, sleep=None) -> StatementRetrieval:
    """`FILE NOT READY` (poll again later with the same id), `NO CHANGE`, or the tab-delimited text."""
    result = _read("RetrieveMerchantStatement", [("ServiceKey", account_key()), ("PollingId", polling_id)],
                   sleep=sleep)
    _raise_for_code(result, what="statement retrieve")
    upper = result.strip().upper()
    if upper == "FILE NOT READY":
        return StatementRetrieval(state="not_ready")
    if upper == "NO CHANGE":
        return StatementRetrieval(state="no_change")
    return StatementRetrieval(state="ready", text=result)


@dataclass(frozen=True)
class StatementLine:
    """One statement line as NetCash wrote it. `amount` is always positive; `effect` is "+" or "-"."""

    line_date: date
    code: str
    description: str
    amount: Decimal
    effect: str
    reference: str
    account_reference: str
    unpaid_code: str
    raw: str

    @property
    def signed_amount(self) -> Decimal:
        return self.amount if self.effect == "+" else -self.amount


_UNPAID_CODE_RE = re.compile(r"Code\s*:?\s*0*(\d+)", re.IGNORECASE)


def _parse_date(value: str) -> date | None:
    value = value.strip()
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


def parse_statement(text: str) -> list[StatementLine]:
    """Tab-delimited statement lines: date, transaction code, (unused), description, amount (Rands),
    effect (+/-), (unused), reference, account reference (CONTRACTS 2.5). The unpaid reason is
    `Code <n>` in the description. Lines that do not parse are logged and skipped (never guessed)."""
    lines = []
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        fields = raw.rstrip("\r").split("\t")
        if len(fields) < 6:
            logger.warning("netcash statement: short line skipped: %r", raw[:200])
            continue
        line_date = _parse_date(fields[0])
        try:
            amount = Decimal(fields[4].strip())
        except InvalidOperation:
            amount = None
        effect = fields[5].strip()
        if line_date is None or amount is None or effect not in ("+", "-"):
            logger.warning("netcash statement: line skipped (date, amount or effect): %r", raw[:200])
            continue
        description = fields[3].strip()
        code_match = _UNPAID_CODE_RE.search(description)
        lines.append(StatementLine(
            line_date=line_date, code=fields[1].strip().upper(), description=description,
            amount=abs(amount).quantize(Decimal("0.01")), effect=effect,
            reference=fields[7].strip() if len(fields) > 7 else "",
            account_reference=fields[8].strip() if len(fields) > 8 else "",
            unpaid_code=code_match.group(1) if code_match else "", raw=raw[:1000]))
    return lines


# --- eMandates (CONTRACTS 2.4, corrected 2026-12) ------------------------------------------------------------
# The WSDL's AddMandate parameter order (Reference.cs `AddMandateAsync`). WCF ignores out-of-order elements.
ADD_MANDATE_ORDER = (
    "ServiceKey", "AccountReference", "MandateName", "MandateAmount", "IsConsumer", "FirstName", "Surname",
    "TradingName", "RegistrationNumber", "RegisteredName", "MobileNumber", "DebitFrequency", "CommencementMonth",
    "CommencementDay", "AgreementDate", "AgreementReferenceNumber", "CancellationNoticePeriod",
    "PublicHolidayOption", "Notes", "Field1", "Field2", "Field3", "Field4", "Field5", "Field6", "Field7", "Field8",
    "Field9", "AllowVariableDebitAmounts", "BankDetailType", "BankAccountName", "BankAccountNumber", "BranchCode",
    "BankAccountType", "CreditCardToken", "CreditCardType", "ExpiryMonth", "ExpiryYear", "IsIdNumber", "Title",
    "EmailAddress", "PhoneNumber", "DateOfBirth", "DecemberDebitDay", "DebitMasterfileGroup",
    "PhysicalAddressLine1", "PhysicalAddressLine2", "PhysicalAddressLine3", "PhysicalSuburb", "PhysicalCity",
    "PhysicalProvince", "PhysicalPostalCode", "MandateActive", "RequestAVS", "AVSCheckNumber", "IncludeDebiCheck",
    "DebiCheckMandateTemplateId", "DebiCheckCollectionAmount", "DebiCheckFirstCollectionDiffers",
    "DebiCheckFirstCollectionDate", "DebiCheckFirstCollectionAmount", "DebiCheckCollectionDayCode",
    "AddToMasterFile",
)
DEBIT_FREQUENCIES = ("Monthly", "Bimonthly", "ThreeMonthly", "SixMonthly", "Annually", "Weekly", "Biweekly")
BANK_ACCOUNT_TYPES = ("Current", "Savings", "Transmission")
_LOCAL_MOBILE_RE = re.compile(r"^0[0-9]{9}$")


def local_mobile(number: str) -> str:
    """`MobileNumber`: 10 digits starting with 0 (CONTRACTS 2.4): +27821234567 -> 0821234567."""
    digits = re.sub(r"[^0-9+]", "", number or "")
    if digits.startswith("+27"):
        digits = "0" + digits[3:]
    elif digits.startswith("27") and len(digits) == 11:
        digits = "0" + digits[2:]
    return digits if _LOCAL_MOBILE_RE.match(digits) else ""


@dataclass(frozen=True)
class AddMandateRequest:
    """The AddMandate parameters we send (the rest of the WSDL's are left out, i.e. null)."""

    account_reference: str
    mandate_name: str
    mandate_amount: Decimal
    is_consumer: bool
    first_name: str
    surname: str
    mobile_number: str  # local, 0821234567
    commencement_month: int
    commencement_day: str  # "01".."31" | "LDOM": the day collections run
    agreement_date: date
    agreement_reference: str
    bank_account_name: str
    bank_account_number: str
    branch_code: str
    bank_account_type: str  # member NAME: Current | Savings | Transmission
    email: str
    trading_name: str = ""
    registration_number: str = ""
    registered_name: str = ""
    debit_frequency: str = "Monthly"
    allow_variable_amounts: bool = True

    def params(self, service_key: str) -> list[tuple[str, object]]:
        if self.debit_frequency not in DEBIT_FREQUENCIES:
            raise ValueError(f"DebitFrequency must be one of {DEBIT_FREQUENCIES}")
        if self.bank_account_type not in BANK_ACCOUNT_TYPES:
            raise ValueError(f"BankAccountType must be one of {BANK_ACCOUNT_TYPES}")
        values = {
            "ServiceKey": service_key, "AccountReference": self.account_reference,
            "MandateName": self.mandate_name[:50], "MandateAmount": self.mandate_amount,
            "IsConsumer": self.is_consumer, "FirstName": self.first_name, "Surname": self.surname,
            "TradingName": None if self.is_consumer else self.trading_name,
            "RegistrationNumber": None if self.is_consumer else self.registration_number,
            "RegisteredName": None if self.is_consumer else self.registered_name,
            "MobileNumber": self.mobile_number or None, "DebitFrequency": self.debit_frequency,
            "CommencementMonth": int(self.commencement_month), "CommencementDay": self.commencement_day,
            "AgreementDate": self.agreement_date, "AgreementReferenceNumber": self.agreement_reference,
            "AllowVariableDebitAmounts": self.allow_variable_amounts, "BankDetailType": 1,
            "BankAccountName": self.bank_account_name, "BankAccountNumber": self.bank_account_number,
            "BranchCode": self.branch_code, "BankAccountType": self.bank_account_type,
            "EmailAddress": self.email or None, "IncludeDebiCheck": False,
        }
        return [(name, values.get(name)) for name in ADD_MANDATE_ORDER]


@dataclass(frozen=True)
class MandateRequestResult:
    error_code: str
    mandate_url: str
    errors: list
    warnings: list
    raw: str


def add_mandate(*, request: AddMandateRequest, sleep=None) -> MandateRequestResult:
    """AddMandate (one mandate per call). Success `ErrorCode` is `000`; `203` parameter error (CONTRACTS 2.4).

    Retrying is safe: NetCash keys mandates on AccountReference, which we derive from our row.
    """
    params = request.params(debit_key())
    text = with_retries(lambda: call("AddMandate", params), **({"sleep": sleep} if sleep else {}))
    root = _parse_xml(text)
    values, errors, warnings = {}, [], []
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        values.setdefault(tag, (element.text or "").strip())
        if tag in ("Errors", "Warnings"):
            target = errors if tag == "Errors" else warnings
            target.extend((child.text or "").strip() for child in element if (child.text or "").strip())
    code = values.get("ErrorCode", "")
    if code not in ("000", "0"):
        raise PermanentProviderError(f"NetCash AddMandate failed: {code or 'no error code'} {'; '.join(errors)}"[:500],
                                     provider=PROVIDER, code=code or "unknown", raw=text[:2000],
                                     extra={"errors": errors})
    return MandateRequestResult(error_code=code, mandate_url=values.get("MandateUrl", ""), errors=errors,
                                warnings=warnings, raw=text[:2000])


@dataclass(frozen=True)
class MandateDataRow:
    account_reference: str
    status: str  # active | declined | pending | unknown
    raw: dict


def request_mandate_data(*, sleep=None) -> str:
    """`RequestMandateData(ServiceKey)` -> a file token (WSDL proxy; CONTRACTS 2.2 lists the pair)."""
    result = _read("RequestMandateData", [("ServiceKey", debit_key())], sleep=sleep)
    _raise_for_code(result, what="mandate data request")
    return result


def retrieve_mandate_data(*, file_token: str, sleep=None) -> list[MandateDataRow] | None:
    """`RetrieveMandateData(ServiceKey, FileToken)`; None while NetCash is still preparing it.

    [UNCONFIRMED] The layout of the answer is not documented in CONTRACTS: we read it as tab-delimited
    text with a header row and look for an account-reference column and a status column. When they
    are not there, nothing is changed (the caller alerts staff about the still-pending mandates).
    """
    result = _read("RetrieveMandateData", [("ServiceKey", debit_key()), ("FileToken", file_token)], sleep=sleep)
    _raise_for_code(result, what="mandate data retrieve")
    if result.strip().upper() in ("FILE NOT READY", ""):
        return None
    return parse_mandate_data(result)


def parse_mandate_data(text: str) -> list[MandateDataRow]:
    rows = [line.split("\t") for line in (text or "").splitlines() if line.strip()]
    if not rows:
        return []
    header = [h.strip().lower().replace(" ", "") for h in rows[0]]
    ref_col = next((i for i, h in enumerate(header) if h in ("accountreference", "accountref")), None)
    status_col = next((i for i, h in enumerate(header) if h in ("mandatestatus", "status", "mandatesuccessful")), None)
    if ref_col is None or status_col is None:
        logger.warning("netcash mandate data: unrecognised header %r", rows[0][:10])
        return []
    out = []
    for row in rows[1:]:
        if len(row) <= max(ref_col, status_col):
            continue
        value = row[status_col].strip().lower()
        status = ("active" if value in ("1", "active", "accepted", "signed", "true")
                  else "declined" if value in ("0", "declined", "rejected", "false", "cancelled")
                  else "pending" if value in ("pending", "sent", "awaiting") else "unknown")
        out.append(MandateDataRow(account_reference=row[ref_col].strip(), status=status,
                                  raw=dict(zip(rows[0], row, strict=False))))
    return out
