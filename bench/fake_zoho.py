"""A local fake ZOHO Billing (threaded http.server on 127.0.0.1) for the benchmarks and the chaos test.

    fake = FakeZoho(limit_per_second=100, faults=Faults(rate=0.3, seed=7))
    base = fake.start()            # "http://127.0.0.1:<port>"; zoho.REGIONS["fake"] = (base, base)
    ...
    fake.stop()

It answers the calls our client makes, with the shapes of CONTRACTS.md 1.x / ZOHO's OpenAPI files,
over an in-memory store: the OAuth refresh; customers (list by email *without* custom_fields, as
ZOHO's list items carry none, get/create/update); transactions; plans; subscriptions (list, get,
create, update, cancel, reactivate); invoices (list by customer or subscription, get with its
`payments`, create, update, void, apply credits); credit notes (create, get, apply); payments (create,
get, delete, refund: `POST /payments/{id}/refunds`, specs/refunds.yml); organisations. Anything else is a 404 `{"code": 5}`, and it is counted in
`undocumented`, so a test can assert none was made (there is deliberately no GET /payments list).

- Recurring invoices are ZOHO's own: `generate_recurring(subscription_id, period_start)` makes one
  (the test decides when: "late" is after our invoice run).
- Rate limit: a fixed window per second (the bench's scaling of ZOHO's 100/min); above it, 429
  code 44 with Retry-After.
- Faults (`Faults`): a share of API calls answered 429 (Retry-After 0), 500/503, hung past the
  client's timeout, or dropped (connection closed without an answer); and creates that time out
  *after* the record was saved (the unknown outcome the sync must survive without duplicating).
- `duplicates()`: creates per our reference beyond the first (customers by account number,
  subscriptions by reference_id, invoices by reference_number, payments by reference_number, credit
  notes by number, refunds by payment and description: the sync's description names the refunded
  total it brings ZOHO to, so one sent twice counts). Must be 0.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

CENT = Decimal("0.01")
API = "/billing/v1"


def money(value) -> Decimal:
    return Decimal(str(value if value not in (None, "") else "0")).quantize(CENT, rounding=ROUND_HALF_UP)


def num(value: Decimal) -> float:  # not money: ZOHO answers with JSON numbers
    return float(value)


@dataclass
class Faults:
    rate: float = 0.0  # not money: share of API calls that fail
    seed: int = 17
    hang_seconds: float = 0.6  # not money: longer than the client's read timeout in the test
    saved_then_timeout: float = 0.0  # not money: share of creates saved, then answered too late
    rng: random.Random = field(init=False)
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self):
        self.rng = random.Random(self.seed)


class FakeZoho:
    def __init__(self, *, limit_per_second: int = 0, faults: Faults | None = None, org_id: str = "1"):
        self.limit = limit_per_second
        self.faults = faults or Faults()
        self.org_id = org_id
        self.lock = threading.RLock()
        self.windows: Counter = Counter()
        self.too_many = 0
        self.api_calls = 0
        self.first = self.last = None
        self.next_id = 903000000000000
        self.customers: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.payments: dict[str, dict] = {}
        self.creditnotes: dict[str, dict] = {}
        self.refunds: list[dict] = []
        self.refuse_refund_modes: set[str] = set()  # payment modes whose refunds ZOHO refuses (400)
        self.creates: Counter = Counter()  # (kind, our reference) -> creates
        self.undocumented: list[tuple[str, str]] = []
        self.calls: Counter = Counter()  # (method, path template) -> count
        self.server = None

    # --- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> str:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(self))
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # --- helpers -------------------------------------------------------------------------------------
    def new_id(self) -> str:
        with self.lock:
            self.next_id += 1
            return str(self.next_id)

    def admit(self) -> bool:
        now = time.time()
        with self.lock:
            if self.limit:
                window = int(now)
                if self.windows[window] >= self.limit:
                    self.too_many += 1
                    return False
                self.windows[window] += 1
            self.api_calls += 1
            self.first = self.first or now
            self.last = now
            return True

    def fault(self) -> str | None:
        f = self.faults
        if not f.rate:
            return None
        with self.lock:
            if f.rng.random() >= f.rate:
                return None
            kind = f.rng.choice(["429", "429", "500", "503", "503", "hang", "drop"])
            f.counts[kind] += 1
            return kind

    def saved_then_timeout(self, kind: str = "") -> bool:
        f = self.faults
        with self.lock:
            hit = bool(f.saved_then_timeout) and f.rng.random() < f.saved_then_timeout
            if hit:
                f.counts["saved_then_timeout"] += 1
                if kind:
                    f.counts[f"saved_then_timeout:{kind}"] += 1
            return hit

    def duplicates(self) -> int:
        return sum(n - 1 for n in self.creates.values() if n > 1)

    def _invoice_view(self, inv: dict) -> dict:
        paid = sum((money(p["amount_applied"]) for p in inv["applied_payments"]), Decimal("0.00"))
        credits = sum((money(c["amount_applied"]) for c in inv["applied_credits"]), Decimal("0.00"))
        balance = Decimal("0.00") if inv["status"] == "void" else money(inv["total"]) - paid - credits
        status = inv["status"]
        if status != "void":
            status = "paid" if balance <= 0 else ("partially_paid" if paid + credits > 0 else "sent")
        out = {k: v for k, v in inv.items() if k not in ("applied_payments", "applied_credits")}
        out.update(status=status, balance=num(balance), payment_made=num(paid), credits_applied=num(credits),
                   payments=[{"payment_id": p["payment_id"], "reference_number": self.payments[p["payment_id"]]
                              ["reference_number"], "amount": num(money(p["amount_applied"]))}
                             for p in inv["applied_payments"] if p["payment_id"] in self.payments])
        return out

    def _apply_payment(self, payment: dict, invoice_id: str, amount: Decimal) -> None:
        inv = self.invoices.get(invoice_id)
        if inv is None or inv["status"] == "void":
            raise ValueError(f"invoice {invoice_id} cannot take payments")
        inv["applied_payments"].append({"payment_id": payment["payment_id"], "amount_applied": str(amount)})
        for item in payment["invoices"]:
            if item["invoice_id"] == invoice_id:
                item["amount_applied"] = num(money(item["amount_applied"]) + amount)
                return
        payment["invoices"].append({"invoice_id": invoice_id, "amount_applied": num(amount)})

    def generate_recurring(self, subscription_id: str, period_start: str) -> dict:
        """ZOHO's own monthly invoice for a subscription (made when ZOHO's schedule says so)."""
        with self.lock:
            sub = self.subscriptions[subscription_id]
            total = money(sub["plan"].get("price", "0")) * int(sub["plan"].get("quantity", 1))
            tax = (total * Decimal("15") / Decimal("115")).quantize(CENT, rounding=ROUND_HALF_UP)
            inv = {"invoice_id": self.new_id(), "customer_id": sub["customer_id"], "subscription_id": subscription_id,
                   "date": period_start, "total": num(total), "tax_total": num(tax), "sub_total": num(total - tax),
                   "status": "sent", "reference_number": "", "invoice_number": f"ZINV-{len(self.invoices) + 1}",
                   "applied_payments": [], "applied_credits": []}
            self.invoices[inv["invoice_id"]] = inv
            return inv

    def transactions(self, customer_id: str, kind: str) -> list[dict]:
        out = []
        if kind in ("All", "PAYMENT"):
            out += [{"transaction_id": p["payment_id"], "reference_id": "", "date": p["date"], "type": "payment",
                     "status": "success", "amount": num(money(p["amount"]))}
                    for p in self.payments.values() if p["customer_id"] == customer_id]
        if kind in ("All", "CREDIT"):
            out += [{"transaction_id": c["creditnote_id"], "reference_id": "", "date": c["date"], "type": "creditnote",
                     "status": "open", "amount": c["total"]}
                    for c in self.creditnotes.values() if c["customer_id"] == customer_id]
        if kind in ("All", "REFUND"):
            out += [{"transaction_id": r["refund_id"], "reference_id": r["payment_id"], "date": r["date"], "type": "refund",
                     "status": "success", "amount": r["amount"]} for r in self.refunds if r["customer_id"] == customer_id]
        if kind in ("All", "INVOICE"):
            out += [{"transaction_id": i["invoice_id"], "reference_id": "", "date": i["date"], "type": "invoice",
                     "status": i["status"], "amount": i["total"]}
                    for i in self.invoices.values() if i["customer_id"] == customer_id]
        return out

    def record_refund_by_hand(self, payment_id: str, amount: Decimal) -> None:
        """What staff do in ZOHO's UI for a refund the API cannot take (the manual list)."""
        with self.lock:
            p = self.payments[payment_id]
            p["amount_refunded"] = num(money(p.get("amount_refunded", 0)) + amount)
            self.refunds.append({"refund_id": self.new_id(), "payment_id": payment_id, "customer_id": p["customer_id"],
                                 "amount": num(amount), "date": p["date"], "description": "by hand"})

    def reduce_refund_by_hand(self, payment_id: str, amount: Decimal) -> None:
        """What staff do in ZOHO's UI when a refund we sent must be reduced (no API for it): the
        latest refunds of the payment shrink by `amount` in total."""
        with self.lock:
            p = self.payments[payment_id]
            p["amount_refunded"] = num(money(p.get("amount_refunded", 0)) - amount)
            for r in reversed([r for r in self.refunds if r["payment_id"] == payment_id]):
                cut = min(amount, money(r["amount"]))
                r["amount"], amount = num(money(r["amount"]) - cut), amount - cut
                if amount <= 0:
                    break

    def refunds_of(self, payment_id: str) -> list[dict]:
        return [r for r in self.refunds if r["payment_id"] == payment_id]

    # --- routing -------------------------------------------------------------------------------------
    def route(self, method: str, path: str, query: dict, body: dict):  # noqa: C901  (a router)
        q = {k: v[0] for k, v in query.items()}
        parts = [p for p in path[len(API):].split("/") if p]
        key = (method, "/" + "/".join(p if not p.isdigit() else "{id}" for p in parts))
        self.calls[key] += 1
        with self.lock:
            if parts == ["organizations"] and method == "GET":
                return 200, {"code": 0, "message": "success", "organizations": [{"organization_id": self.org_id,
                                                                                 "name": "Fake"}]}
            if parts[:1] == ["customers"]:
                if len(parts) == 1 and method == "GET":
                    email = (q.get("email") or "").lower()
                    found = [{"customer_id": c["customer_id"], "email": c["email"], "display_name": c["display_name"]}
                             for c in self.customers.values() if email and (c.get("email") or "").lower() == email]
                    return 200, {"code": 0, "message": "success", "customers": found,
                                 "page_context": {"has_more_page": False}}
                if len(parts) == 1 and method == "POST":
                    cid = self.new_id()
                    record = {**body, "customer_id": cid}
                    self.customers[cid] = record
                    acct = next((f["value"] for f in body.get("custom_fields", []) if f.get("label") == "Account Number"),
                                body.get("email"))
                    self.creates[("customer", acct)] += 1
                    return 201, {"code": 0, "message": "The customer has been created", "customer": record}, "create"
                if len(parts) == 2 and parts[1] in self.customers:
                    if method == "GET":
                        return 200, {"code": 0, "message": "success", "customer": self.customers[parts[1]]}
                    if method == "PUT":
                        self.customers[parts[1]].update(body)
                        return 200, {"code": 0, "message": "updated", "customer": self.customers[parts[1]]}
                return 404, {"code": 1002, "message": "Customer does not exist."}
            if parts == ["transactions"] and method == "GET":
                kind = (q.get("filter_by") or "TransactionType.All").split(".", 1)[-1]
                return 200, {"code": 0, "message": "success",
                             "transactions": self.transactions(q.get("customer_id", ""), kind),
                             "page_context": {"has_more_page": False}}
            if parts[:1] == ["plans"] and len(parts) == 2 and method == "GET":
                return 200, {"code": 0, "message": "success", "plan": {"plan_code": parts[1]}}
            if parts[:1] == ["subscriptions"]:
                if len(parts) == 1 and method == "GET":
                    subs = [s for s in self.subscriptions.values() if s["customer_id"] == q.get("customer_id")]
                    return 200, {"code": 0, "message": "success", "subscriptions": subs,
                                 "page_context": {"has_more_page": False}}
                if len(parts) == 1 and method == "POST":
                    sid = self.new_id()
                    sub = {**body, "subscription_id": sid, "status": "live"}
                    self.subscriptions[sid] = sub
                    self.creates[("subscription", body.get("reference_id"))] += 1
                    return 201, {"code": 0, "message": "Subscription has been created successfully.",
                                 "subscription": sub}, "create"
                sub = self.subscriptions.get(parts[1]) if len(parts) >= 2 else None
                if sub is None:
                    return 404, {"code": 1002, "message": "Subscription does not exist."}
                if len(parts) == 2 and method == "GET":
                    return 200, {"code": 0, "message": "success", "subscription": sub}
                if len(parts) == 2 and method == "PUT":
                    sub.update(body)
                    return 200, {"code": 0, "message": "updated", "subscription": sub}
                if len(parts) == 3 and method == "POST" and parts[2] in ("cancel", "reactivate"):
                    if parts[2] == "cancel" and sub["status"] == "cancelled":
                        return 400, {"code": 2010, "message": "The subscription has already been cancelled."}
                    sub["status"] = "cancelled" if parts[2] == "cancel" else "live"
                    return 200, {"code": 0, "message": "done", "subscription": sub}
            if parts[:1] == ["invoices"]:
                if len(parts) == 1 and method == "GET":
                    items = [self._invoice_view(i) for i in self.invoices.values()
                             if (not q.get("customer_id") or i["customer_id"] == q["customer_id"])
                             and (not q.get("subscription_id") or i.get("subscription_id") == q["subscription_id"])]
                    return 200, {"code": 0, "message": "success", "invoices": items,
                                 "page_context": {"has_more_page": False}}
                if len(parts) == 1 and method == "POST":
                    return self._create_invoice(body)
                inv = self.invoices.get(parts[1]) if len(parts) >= 2 else None
                if inv is None:
                    return 404, {"code": 1002, "message": "Invoice does not exist."}
                if len(parts) == 2 and method == "GET":
                    return 200, {"code": 0, "message": "success", "invoice": self._invoice_view(inv)}
                if len(parts) == 2 and method == "PUT":
                    return 200, {"code": 0, "message": "updated", "invoice": self._invoice_view(inv)}
                if len(parts) == 3 and parts[2] == "void" and method == "POST":
                    inv["status"] = "void"
                    for p in inv["applied_payments"]:  # "payments ... will be under customer credits" (spec)
                        pay = self.payments.get(p["payment_id"])
                        if pay:
                            pay["invoices"] = [i for i in pay["invoices"] if i["invoice_id"] != inv["invoice_id"]]
                    inv["applied_payments"], inv["applied_credits"] = [], []
                    return 200, {"code": 0, "message": "Invoice status has been changed to Void."}
                if len(parts) == 3 and parts[2] == "credits" and method == "POST":
                    try:
                        for item in body.get("invoice_payments", []):
                            self._apply_payment(self.payments[item["payment_id"]], inv["invoice_id"],
                                                money(item["amount_applied"]))
                        for item in body.get("apply_creditnotes", []):
                            self._apply_credit(item["creditnote_id"], inv["invoice_id"], money(item["amount_applied"]))
                    except (KeyError, ValueError) as exc:
                        return 400, {"code": 4, "message": str(exc)}
                    return 200, {"code": 0, "message": "Credits have been applied to the invoice(s)."}
            if parts[:1] == ["creditnotes"]:
                if len(parts) == 1 and method == "POST":
                    return self._create_credit_note(body)
                cn = self.creditnotes.get(parts[1]) if len(parts) >= 2 else None
                if cn is None:
                    return 404, {"code": 1002, "message": "Credit note does not exist."}
                if len(parts) == 2 and method == "GET":
                    return 200, {"code": 0, "message": "success", "creditnote": cn}
                if len(parts) == 3 and parts[2] == "invoices" and method == "POST":
                    try:
                        for item in body.get("invoices", []):
                            self._apply_credit(cn["creditnote_id"], item["invoice_id"], money(item["amount_applied"]))
                    except (KeyError, ValueError) as exc:
                        return 400, {"code": 4, "message": str(exc)}
                    return 200, {"code": 0, "message": "Credits have been applied to the invoice(s)."}
            if parts[:1] == ["payments"]:
                if len(parts) == 1 and method == "POST":
                    return self._create_payment(body)
                if len(parts) == 3 and parts[2] == "refunds" and method == "POST":
                    return self._refund_payment(parts[1], body)
                pay = self.payments.get(parts[1]) if len(parts) == 2 else None
                if pay is None:
                    return 404, {"code": 1002, "message": "Payment does not exist."}
                if method == "GET":
                    return 200, {"code": 0, "message": "success", "payment": pay}
                if method == "DELETE":
                    for inv in self.invoices.values():
                        inv["applied_payments"] = [p for p in inv["applied_payments"] if p["payment_id"] != parts[1]]
                    del self.payments[parts[1]]
                    return 200, {"code": 0, "message": "The payment has been deleted."}
        self.undocumented.append((method, path))
        return 404, {"code": 5, "message": "Invalid URL Passed"}

    def _create_invoice(self, body: dict):
        gross = Decimal("0.00")
        for item in body.get("invoice_items", []):
            if not isinstance(item.get("quantity"), int):
                return 400, {"code": 4, "message": "quantity must be an integer"}
            gross += money(item.get("price")) * item["quantity"]
        if body.get("is_inclusive_tax"):
            total, tax = gross, (gross * Decimal("15") / Decimal("115")).quantize(CENT, rounding=ROUND_HALF_UP)
        else:
            tax = (gross * Decimal("0.15")).quantize(CENT, rounding=ROUND_HALF_UP)
            total = gross + tax
        inv = {"invoice_id": self.new_id(), "customer_id": body.get("customer_id"), "date": body.get("date"),
               "reference_number": body.get("reference_number", ""), "total": num(total), "tax_total": num(tax),
               "sub_total": num(total - tax), "status": "sent", "applied_payments": [], "applied_credits": []}
        self.invoices[inv["invoice_id"]] = inv
        self.creates[("invoice", inv["reference_number"])] += 1
        return 201, {"code": 0, "message": "The invoice has been created.", "invoice": self._invoice_view(inv)}, "create"

    def _create_credit_note(self, body: dict):
        if body.get("ignore_auto_number_generation") is not True:
            return 400, {"code": 4, "message": "ignore_auto_number_generation must be true in the body"}
        number = body.get("creditnote_number")
        if any(c["creditnote_number"] == number for c in self.creditnotes.values()):
            return 400, {"code": 3043, "message": "Credit note number already exists."}
        total = Decimal("0.00")
        for item in body.get("creditnote_items", []):
            if "name" in item or not isinstance(item.get("quantity"), int):
                return 400, {"code": 4, "message": "invalid credit note item"}
            total += money(item.get("price")) * item["quantity"]
        if any(i.get("tax_id") for i in body.get("creditnote_items", [])):
            total += (total * Decimal("0.15")).quantize(CENT, rounding=ROUND_HALF_UP)
        cn = {"creditnote_id": self.new_id(), "creditnote_number": number, "customer_id": body.get("customer_id"),
              "date": body.get("date"), "reference_number": body.get("reference_number", ""), "total": num(total),
              "balance": num(total), "invoices": []}
        self.creditnotes[cn["creditnote_id"]] = cn
        self.creates[("creditnote", number)] += 1
        return 201, {"code": 0, "message": "The credit note has been created.", "creditnote": cn}, "create"

    def _apply_credit(self, creditnote_id: str, invoice_id: str, amount: Decimal) -> None:
        cn = self.creditnotes[creditnote_id]
        inv = self.invoices.get(invoice_id)
        if inv is None or inv["status"] == "void" or amount > money(cn["balance"]):
            raise ValueError("credit cannot be applied")
        cn["balance"] = num(money(cn["balance"]) - amount)
        cn["invoices"].append({"invoice_id": invoice_id, "amount_applied": num(amount)})
        inv["applied_credits"].append({"creditnote_id": creditnote_id, "amount_applied": str(amount)})

    def _create_payment(self, body: dict):
        pay = {"payment_id": self.new_id(), "customer_id": body.get("customer_id"), "amount": num(money(body["amount"])),
               "date": body.get("date"), "reference_number": body.get("reference_number", ""),
               "payment_mode": body.get("payment_mode"), "status": "success", "amount_refunded": 0, "invoices": []}
        applied = [(i["invoice_id"], money(i["amount_applied"])) for i in body.get("invoices", [])]
        if sum((a for _, a in applied), Decimal("0.00")) > money(body["amount"]):
            return 400, {"code": 4, "message": "applied more than the payment"}
        self.payments[pay["payment_id"]] = pay
        try:
            for invoice_id, amount in applied:
                self._apply_payment(pay, invoice_id, amount)
        except ValueError as exc:
            del self.payments[pay["payment_id"]]
            return 400, {"code": 4, "message": str(exc)}
        self.creates[("payment", pay["reference_number"])] += 1
        return 201, {"code": 0, "message": "The payment has been created.", "payment": pay}, "create"


    def _refund_payment(self, payment_id: str, body: dict):
        """POST /payments/{payment_id}/refunds (specs/refunds.yml "Refund a payment", Letstream
        @2bf0952194ce95f8645f7ad6da35021cfbb92fe8): a credit note for the amount, refunded at once;
        the payment's `amount_refunded` grows. More than the payment's unrefunded amount is refused
        (400), as is a mode in `refuse_refund_modes` (the spec: refunds apply to autotransaction)."""
        pay = self.payments.get(payment_id)
        if pay is None:
            return 404, {"code": 1002, "message": "Payment does not exist."}
        if pay.get("payment_mode") in self.refuse_refund_modes:
            return 400, {"code": 4, "message": "Refunds are applicable only for autotransaction payments."}
        if "amount" not in body:
            return 400, {"code": 4, "message": "amount is required"}
        amount = money(body["amount"])
        if amount <= 0 or amount > money(pay["amount"]) - money(pay.get("amount_refunded", 0)):
            return 400, {"code": 4, "message": "The refund amount exceeds the amount that can be refunded."}
        pay["amount_refunded"] = num(money(pay.get("amount_refunded", 0)) + amount)
        cn_id = self.new_id()
        creditnote = {"creditnote_id": cn_id, "creditnote_number": f"CN-R{cn_id[-5:]}", "amount": num(amount),
                      "refund_amount": num(amount), "balance_amount": 0}
        self.creditnotes[cn_id] = {"creditnote_id": cn_id, "creditnote_number": creditnote["creditnote_number"],
                                   "customer_id": pay["customer_id"], "date": pay["date"], "reference_number": "",
                                   "total": num(amount), "balance": 0, "invoices": []}
        refund = {"refund_id": self.new_id(), "date": pay["date"], "amount": num(amount),
                  "description": body.get("description", ""), "reference_number": pay["reference_number"],
                  "refund_mode": pay.get("payment_mode"), "status": "success", "customer_id": pay["customer_id"],
                  "creditnote": creditnote, "payment_id": payment_id}
        self.refunds.append(refund)
        # One refund per (payment, description): the sync names the total it brings ZOHO to, so a
        # second refund with the same description is a refund sent twice.
        self.creates[("refund", payment_id, refund["description"])] += 1
        return 201, {"code": 0, "message": "The refund information has been saved.",
                     "refund": {k: v for k, v in refund.items() if k != "payment_id"}}, "create", "refund"


def make_handler(fake: FakeZoho):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status, body, headers=None):
            raw = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout): what a hang looks like from ZOHO's side

        def _drop(self):
            self.close_connection = True
            try:
                self.connection.shutdown(2)
            except OSError:
                pass

        def _handle(self, method):
            url = urlparse(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if url.path == "/oauth/v2/token":
                return self._send(200, {"access_token": "1000.fake", "expires_in": 3600, "token_type": "Bearer"})
            if not fake.admit():
                return self._send(429, {"code": 44, "message": "exceeded the maximum number of requests per minute"},
                                  {"Retry-After": "1"})
            fault = fake.fault()
            if fault == "429":
                return self._send(429, {"code": 44, "message": "too many requests per minute"}, {"Retry-After": "0"})
            if fault in ("500", "503"):
                return self._send(int(fault), {"code": 500, "message": "internal error"})
            if fault == "hang":
                time.sleep(fake.faults.hang_seconds)
                return self._send(503, {"code": 500, "message": "too late"})
            if fault == "drop":
                return self._drop()
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self._send(400, {"code": 4, "message": "invalid JSON"})
            answer = fake.route(method, url.path, parse_qs(url.query), body)
            status, payload = answer[0], answer[1]
            if len(answer) >= 3 and answer[2] == "create" and fake.saved_then_timeout(answer[3] if len(answer) > 3
                                                                                      else ""):
                time.sleep(fake.faults.hang_seconds)  # saved; the answer arrives after the client gave up
            return self._send(status, payload)

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            self._handle("POST")

        def do_PUT(self):  # noqa: N802
            self._handle("PUT")

        def do_DELETE(self):  # noqa: N802
            self._handle("DELETE")

    return Handler
