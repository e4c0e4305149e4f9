"""A local NetCash NIWS stand-in (SOAP on 127.0.0.1) for tests and the `make run` demo.

It speaks the calls `payments.clients.netcash_niws` makes, with answers shaped as CONTRACTS 2.2-2.5 describe:

    standin = NiwsStandIn(unpaid_accounts={"62000000002": "2"}, reject_accounts={"62000000009"}).start()
    settings.NETCASH["WS_URL"] = standin.url
    ...  upload a batch, read its load report (line errors per rejected line), RetrieveBatchStatus,
    ...  RequestBatchAuthorise, then standin.collect(day): every authorised batch due by `day` is
    ...  collected: a TDD line per accepted item, and for an account in `unpaid_accounts` a DRU line
    ...  ("Debit order unpaid - Code 2") the next day; RequestMerchantStatement / RetrieveMerchantStatement
    ...  serve the lines (first retrieve answers FILE NOT READY, as NetCash does while preparing it).
    standin.stop()

AddMandate answers `000` and a signing URL; `sign_mandate(reference)` marks it signed for
RequestMandateData / RetrieveMandateData (whose real layout is [UNCONFIRMED]; see netcash_niws).
Every call is kept in `calls` as (method, [(name, text), ...]) in wire order, for tests that pin it.
It is not NetCash: it only plays back the documented shapes.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.server import ThreadingHTTPServer
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from payments.standin_http import QuietHandler, origin, serve, shut

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass
class _Batch:
    token: str
    batch_id: str
    name: str
    action_date: date
    lines: list  # (line number, account reference, account number, amount in Rands)
    rejected: dict  # line number -> message
    status_code: int = 1
    collected: bool = False


@dataclass
class NiwsStandIn:
    unpaid_accounts: dict = field(default_factory=dict)  # bank account number -> unpaid reason code
    reject_accounts: set = field(default_factory=set)  # bank account numbers the load report rejects
    auto_collect: bool = False  # collect authorised batches whenever a statement is requested
    today: date | None = None

    def __post_init__(self):
        self.calls: list = []
        self.batches: dict[str, _Batch] = {}
        self.mandates: dict[str, dict] = {}
        self.statement: list[tuple[date, str]] = []  # (date, tab-delimited line)
        self.polls: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> NiwsStandIn:
        standin = self

        class Handler(QuietHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, text = standin.handle(body, self.headers.get("SOAPAction", ""))
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = serve(Handler, name="netcash-standin")
        return self

    def stop(self) -> None:
        shut(self.server)
        self.server = None

    @property
    def url(self) -> str:
        return origin(self.server) + "/NIWS/niws_nif.svc"

    # --- SOAP ---------------------------------------------------------------------------------------------
    def handle(self, body: bytes, soap_action: str) -> tuple[int, str]:
        try:
            root = ElementTree.fromstring(body)
            request = next(iter(root.find(f"{{{SOAP_NS}}}Body")))
        except (ElementTree.ParseError, StopIteration, TypeError):
            return 400, "bad request"
        method = request.tag.rsplit("}", 1)[-1]
        if soap_action.strip('"') != f"http://tempuri.org/INIWS_NIF/{method}":
            return 500, "SOAPAction does not match the body"
        params = [(child.tag.rsplit("}", 1)[-1], child.text or "") for child in request]
        with self.lock:
            self.calls.append((method, params))
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                return 500, f"unknown method {method}"
            result = handler(dict(params))
        if isinstance(result, dict):  # a structured result (AddMandate)
            inner = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in result.items())
        else:
            inner = escape(result)
        return 200, (f'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="{SOAP_NS}"><s:Body>'
                     f'<{method}Response xmlns="http://tempuri.org/"><{method}Result>{inner}</{method}Result>'
                     f"</{method}Response></s:Body></s:Envelope>")

    def calls_to(self, method: str) -> list:
        return [params for name, params in self.calls if name == method]

    # --- batches ------------------------------------------------------------------------------------------
    def _m_BatchFileUpload(self, p):  # noqa: N802
        rows = [r.split("\t") for r in p.get("File", "").replace("\r\n", "\n").split("\n") if r.strip()]
        if not rows or rows[0][0] != "H" or len(rows[0]) < 7:
            return "102"
        try:
            action_date = datetime.strptime(rows[0][5], "%Y%m%d").date()
        except ValueError:
            return "101"
        lines, rejected = [], {}
        for number, row in enumerate(rows, start=1):
            if row[0] != "T":
                continue
            account_number, cents = row[7], int(row[8])
            lines.append((number, row[1], account_number, Decimal(cents) / 100))
            if account_number in self.reject_accounts:
                rejected[number] = "Account details could not be validated. Please check the fields Bank account type, Branch code and Account number."
        token = f"2000000{len(self.batches)}.{uuid.uuid4().int % 10**10}.0483.2.2"
        self.batches[token] = _Batch(token=token, batch_id=str(uuid.uuid4()), name=rows[0][4],
                                     action_date=action_date, lines=lines, rejected=rejected)
        return token

    def _m_RequestFileUploadReport(self, p):  # noqa: N802
        batch = self.batches.get(p.get("FileToken", ""))
        if batch is None:
            return "102"
        total = sum(a for _, _, _, a in batch.lines)
        if batch.rejected and len(batch.rejected) == len(batch.lines):
            return (f"###BEGIN {batch.name} UNSUCCESSFUL 01:23 PM R{total:.2f} {batch.action_date:%Y%m%d}\n"
                    "###ERROR: Every line was rejected\n###END 01:23 PM\n")
        status = "SUCCESSFUL WITH ERRORS" if batch.rejected else "SUCCESSFUL"
        out = [f"###BEGIN {batch.name} {status} 01:29 PM R{total:.2f} {batch.action_date:%Y%m%d}"]
        for number, ref, _, _ in batch.lines:
            if number in batch.rejected:
                out.append(f"Acc Ref :{ref}\tLine :{number}\t{batch.rejected[number]}")
        out.append("###END 01:29 PM")
        return "\n".join(out) + "\n"

    def _m_RetrieveBatchStatus(self, p):  # noqa: N802
        out = []
        for batch in self.batches.values():
            accepted = [line for line in batch.lines if line[0] not in batch.rejected]
            authorised = "2026-01-01 10:00" if batch.status_code >= 2 else "1900-01-01 00:00"
            out.append("\t".join([p.get("ServiceKey", ""), batch.batch_id, batch.name, str(batch.status_code),
                                  str(len(accepted)), f"{sum(a for *_, a in accepted):.2f}", "2026-01-01 09:00",
                                  authorised, "1900-01-01 00:00"]))
        return "\n".join(out)

    def _m_RequestBatchAuthorise(self, p):  # noqa: N802
        for batch in self.batches.values():
            if batch.batch_id == p.get("BatchIndicator"):
                batch.status_code = max(batch.status_code, 2)
                return "000"
        return "320"

    def authorise_in_portal(self, batch_name: str) -> None:
        """Staff authorise the batch in the NetCash portal."""
        for batch in self.batches.values():
            if batch.name == batch_name:
                batch.status_code = max(batch.status_code, 2)

    def collect(self, day: date) -> int:
        """NetCash runs every authorised batch due by `day`: success lines on the action date, unpaid
        (DRU) lines the next day for accounts in `unpaid_accounts`. Returns the lines written."""
        written = 0
        with self.lock:
            for batch in self.batches.values():
                if batch.collected or batch.status_code < 2 or batch.action_date > day:
                    continue
                batch.collected, batch.status_code = True, 4
                for number, ref, account_number, amount in batch.lines:
                    if number in batch.rejected:
                        continue
                    self.statement.append((batch.action_date, self._line(batch.action_date, "TDD", "1",
                                                                         "Two day debit order", amount, "+",
                                                                         batch.name, ref)))
                    written += 1
                    code = self.unpaid_accounts.get(account_number)
                    if code:
                        when = batch.action_date + timedelta(days=1)
                        self.statement.append((when, self._line(when, "DRU", "4", f"Debit order unpaid - Code {code}",
                                                                amount, "-", batch.name, ref)))
                        written += 1
        return written

    def add_statement_line(self, when: date, code: str, description: str, amount: Decimal, effect: str,
                           reference: str, account_reference: str = "") -> None:
        with self.lock:
            self.statement.append((when, self._line(when, code, "0", description, amount, effect, reference,
                                                    account_reference)))

    @staticmethod
    def _line(when, code, type_id, description, amount, effect, reference, account_reference) -> str:
        return "\t".join([when.isoformat(), code, type_id, description, f"{Decimal(amount):.2f}", effect, "0",
                          reference, account_reference])

    # --- statement ------------------------------------------------------------------------------------------
    def _statement_text(self, since: date, until: date | None = None) -> str:
        lines = [text for when, text in self.statement if when >= since and (until is None or when <= until)]
        head = self._line(since, "OBL", "0", "Opening Balance", Decimal("0"), "+", "", "")
        tail = self._line(since, "CBL", "0", "Closing Balance", Decimal("0"), "+", "", "")
        return "\n".join([head, *lines, tail])

    def _m_RequestMerchantStatement(self, p):  # noqa: N802
        try:
            since = datetime.strptime(p.get("FromActionDate", ""), "%Y%m%d").date()
        except ValueError:
            return "101"
        if self.auto_collect:
            self.lock.release()
            try:
                self.collect(since)
            finally:
                self.lock.acquire()
        polling_id = uuid.uuid4().hex
        self.polls[polling_id] = {"since": since, "until": since, "asked": 0}
        return polling_id

    def _m_RequestInterimMerchantStatement(self, p):  # noqa: N802
        today = self.today or date.today()
        polling_id = uuid.uuid4().hex
        self.polls[polling_id] = {"since": today, "until": today, "asked": 0}
        return polling_id

    def _m_RetrieveMerchantStatement(self, p):  # noqa: N802
        poll = self.polls.get(p.get("PollingId", ""))
        if poll is None:
            return "102"
        poll["asked"] += 1
        if poll["asked"] == 1:
            return "FILE NOT READY"
        return self._statement_text(poll["since"], poll["until"])

    # --- mandates -------------------------------------------------------------------------------------------
    def _m_AddMandate(self, p):  # noqa: N802
        reference = p.get("AccountReference", "")
        if not reference or p.get("DebitFrequency") not in ("Monthly", "Weekly") or \
                p.get("BankAccountType") not in ("Current", "Savings", "Transmission"):
            return {"ErrorCode": "203", "Errors": "Parameter error"}
        self.mandates[reference] = {"status": "pending", "params": p}
        return {"ErrorCode": "000", "MandateUrl": f"https://standin.netcash.invalid/mandate/{reference}"}

    def sign_mandate(self, reference: str, *, successful: bool = True) -> None:
        with self.lock:
            self.mandates[reference]["status"] = "1" if successful else "0"

    def _m_RequestMandateData(self, p):  # noqa: N802
        return f"MANDATES.{uuid.uuid4().hex[:10]}"

    def _m_RetrieveMandateData(self, p):  # noqa: N802
        rows = ["AccountReference\tMandateStatus"]
        rows += [f"{ref}\t{m['status']}" for ref, m in self.mandates.items()]
        return "\n".join(rows)
