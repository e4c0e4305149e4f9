"""A local Stripe stand-in (HTTP on 127.0.0.1) for browser tests and the `make run` demo.

It is not Stripe: it only plays back the documented shapes (CONTRACTS 3, docs.stripe.com/api) for the calls
`payments.clients.stripe` makes through stripe-python (point `settings.STRIPE["API_BASE"]` at `url`), and it
serves a fake Stripe.js (`js_url`, the subset of the real API our pages use: `Stripe(pk)`, `elements()`,
`create("payment")`, `mount()`, `submit()`, `update()`, `confirmPayment()`, `handleNextAction()`,
`retrievePaymentIntent()`), the Payment Element card iframe and a 3-D Secure test page, for browsers that
cannot reach js.stripe.com:

    s = StripeStandIn(secret_key="sk_test_standin", publishable_key="pk_test_standin",
                      webhook_url="http://127.0.0.1:8000/api/webhooks/stripe", webhook_secret="whsec_standin")
    s.start(port=0)      # s.url, s.js_url ("<url>/v3/")
    ...                  # s.calls: [(method, path, params)] of every API call; s.events: every event sent
    s.wait_for_events(1) # events are signed and POSTed to webhook_url from a background thread
    s.stop()

Cards follow Stripe's documented test cards (docs.stripe.com/testing): 4242 4242 4242 4242 (visa) and
5555 5555 5555 4444 (mastercard) succeed; 4000 0027 6000 3184 asks for 3-D Secure on every payment (also saved,
on-session; off-session it declines `authentication_required`); 4000 0000 0000 9995 declines
`insufficient_funds`; 4000 0000 0000 0002 declines `generic_decline`; an expiry in the past is `expired_card`;
any other number is `incorrect_number`.

Browser side: the card form lives in an iframe `__privateStripeFrame<N>` (title "Secure payment input frame",
inputs labelled "Card number", "Expiration date", "Security code"); only that iframe sees the card and POSTs it
here. The 3-D Secure challenge is a full-screen overlay holding an iframe named `stripe-challenge-frame` whose
page reads "3D Secure 2 Test Page" with buttons "Complete" / "Fail" (test ids `3ds-complete`, `3ds-fail`).
Browser calls authenticate with `key=<publishable key>` + the PaymentIntent's client secret, never the secret key.
"""

from __future__ import annotations

import copy
import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import date
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import stripe

from payments.standin_http import QuietHandler, origin, serve, shut

API_VERSION = "2026-06-24.dahlia"
RETRY_DELAYS = (0.5, 1, 2)  # seconds between webhook attempts (not money)

# number -> (brand, outcome): None succeeds, "3ds" needs authentication, else (code, decline_code, message)
TEST_CARDS = {
    "4242424242424242": ("visa", None),
    "5555555555554444": ("mastercard", None),
    "4000002760003184": ("visa", "3ds"),
    "4000000000009995": ("visa", ("card_declined", "insufficient_funds", "Your card has insufficient funds.")),
    "4000000000000002": ("visa", ("card_declined", "generic_decline", "Your card was declined.")),
}
EXPIRED = ("expired_card", "expired_card", "Your card has expired.")
INCORRECT = ("incorrect_number", None, "Your card number is incorrect.")
OFF_SESSION_3DS = ("authentication_required", "authentication_required",
                   "Your card was declined. This transaction requires authentication.")
AUTH_FAILED = ("We are unable to authenticate your payment method. Please choose a different payment method "
               "and try again.")


class _Error(Exception):
    def __init__(self, status: int, type_: str, message: str, **extra):
        super().__init__(message)
        self.status, self.body = status, {"error": {"type": type_, "message": message, **extra}}


def _missing(kind: str, ident: str, param: str = "id") -> _Error:
    """A missing object: 404 when it is the URL's object, 400 naming the parameter when a request refers to
    it (`customer=cus_gone`), as Stripe answers (code resource_missing)."""
    return _Error(404 if param == "id" else 400, "invalid_request_error", f"No such {kind}: '{ident}'",
                  code="resource_missing", param=param)


def parse_form(pairs) -> dict:
    """`[("metadata[a]", "1"), ("expand[]", "x")]` -> `{"metadata": {"a": "1"}, "expand": ["x"]}`."""
    out: dict = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = out
        for part, nxt in zip(parts, parts[1:], strict=False):
            node = node.setdefault(part, [] if nxt == "" else {}) if isinstance(node, dict) else node
        if isinstance(node, list):
            node.append(value)
        else:
            node[parts[-1]] = value
    return _listify(out)


def _listify(node):
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def _truthy(value) -> bool:
    return str(value).lower() in ("true", "1")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


@dataclass
class StripeStandIn:
    secret_key: str = "sk_test_standin"
    publishable_key: str = "pk_test_standin"
    webhook_url: str | None = None
    webhook_secret: str = "whsec_standin"
    # Deliver an API call's events before answering it (tests): the browser's next page then finds them
    # applied, and no page load runs beside the webhook (SQLite's in-memory test database locks tables).
    # Stripe itself delivers asynchronously, which is the default here.
    synchronous_webhooks: bool = False

    def __post_init__(self):
        self.calls: list = []
        self.events: list[dict] = []
        self.customers: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.methods: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self._numbers: dict[str, tuple] = {}  # pm id -> (card number, exp month, exp year): never served
        self._idempotency: dict[str, tuple] = {}  # key -> (method, path, params, status, body)
        self._delivered = threading.Condition()
        self._outbox: queue.Queue = queue.Queue()
        self._pending = threading.local()  # synchronous_webhooks: this request's events, sent before its answer

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> StripeStandIn:
        standin = self

        class Handler(QuietHandler):
            def _serve(self, method):
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
                status, ctype, data = standin.handle(method, parts.path, parts.query, body.decode(), self.headers)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Request-Id", _new_id("req"))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802 - http.server's names
                self._serve("GET")

            def do_POST(self):  # noqa: N802
                self._serve("POST")

            def do_OPTIONS(self):  # noqa: N802 - CORS preflight (browser POSTs are simple requests anyway)
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers",
                                 self.headers.get("Access-Control-Request-Headers") or "*")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = serve(Handler, port=port, name="stripe-standin")
        threading.Thread(target=self._deliver_loop, daemon=True, name="stripe-standin-webhooks").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            shut(self.server)
            self.server = None
            self._outbox.put(None)

    @property
    def url(self) -> str:
        return origin(self.server)

    @property
    def js_url(self) -> str:
        return self.url + "/v3/"

    # --- HTTP ---------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: str, body: str, headers) -> tuple[int, str, bytes]:
        base = f"http://{headers.get('Host') or self.url.split('//', 1)[1]}"
        if method == "GET" and path in ("/v3", "/v3/"):
            return 200, "application/javascript; charset=utf-8", STRIPE_JS.replace("__BASE__", base).encode()
        if method == "GET" and path in ("/elements/payment", "/3ds"):
            page = ELEMENT_HTML if path == "/elements/payment" else THREE_DS_HTML
            config = json.dumps(dict(parse_qsl(query))).replace("</", "<\\/")
            return 200, "text/html; charset=utf-8", page.replace("__CONFIG__", config).encode()
        if not path.startswith("/v1/"):
            return 404, "text/plain", b"not found"
        params = parse_form(parse_qsl(query if method == "GET" else body, keep_blank_values=True))
        self._pending.events = []
        status, answer = self.api(method, path, params, headers)
        for event, record in self._pending.events:  # synchronous_webhooks only; sent outside the lock
            self._deliver(event, record)
        self._pending.events = []
        return status, "application/json", json.dumps(answer).encode()

    def api(self, method: str, path: str, params: dict, headers) -> tuple[int, dict]:
        with self.lock:
            self.calls.append((method, path, copy.deepcopy(params)))
            key = headers.get("Idempotency-Key") if method == "POST" else None
            if key and key in self._idempotency:
                first = self._idempotency[key]
                if first[:3] != (method, path, params):
                    return 400, {"error": {"type": "idempotency_error", "message": (
                        "Keys for idempotent requests can only be used with the same parameters they were first "
                        f"used with. Try using a key other than '{key}' if you meant to execute a different "
                        "request.")}}
                return first[3], copy.deepcopy(first[4])
            try:
                status, answer = 200, self._route(method, path, params, headers)
            except _Error as exc:
                status, answer = exc.status, exc.body
            except (ValueError, KeyError, TypeError, AttributeError) as exc:  # a malformed parameter
                status, answer = 400, {"error": {"type": "invalid_request_error", "message": f"Invalid request: {exc!r}"}}
            if key and status != 401:
                self._idempotency[key] = (method, path, copy.deepcopy(params), status, copy.deepcopy(answer))
            return status, copy.deepcopy(answer)

    def _route(self, method: str, path: str, p: dict, headers) -> dict:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        auth = headers.get("Authorization") or ""
        server = auth == f"Bearer {self.secret_key}"
        if not server:
            browser = (not auth and p.get("key") == self.publishable_key and parts[0] == "payment_intents"
                       and len(parts) >= 2 and (method == "GET" or parts[-1] in ("confirm", "authenticate")))
            if not browser:
                raise _Error(401, "invalid_request_error", "Invalid API Key provided")
            pi = self._intent(parts[1])
            if p.get("client_secret") != pi["client_secret"]:
                raise _Error(400, "invalid_request_error", "The client_secret provided does not match any "
                             "associated PaymentIntent on this account.", param="client_secret")
        match method, parts:
            case "POST", ["customers"]:
                return self._customer_create(p)
            case "GET", ["customers", cid]:
                return self._get(self.customers, "customer", cid)
            case "POST", ["payment_intents"]:
                return self._intent_create(p)
            case "GET", ["payment_intents", pid]:
                return self._intent(pid)
            case "POST", ["payment_intents", pid] if server:
                return self._intent_update(self._intent(pid), p)
            case "POST", ["payment_intents", pid, "confirm"]:
                return self._confirm(self._intent(pid), p)
            case "POST", ["payment_intents", pid, "cancel"] if server:
                return self._cancel(self._intent(pid), p)
            case "POST", ["payment_intents", pid, "authenticate"] if not server:
                return self._authenticate(self._intent(pid), p.get("outcome") == "complete")
            case "GET", ["payment_methods", pmid]:
                return self._get(self.methods, "payment_method", pmid)
            case "POST", ["payment_methods", pmid, "attach"]:
                if p.get("customer", "") not in self.customers:
                    raise _missing("customer", p.get("customer", ""), param="customer")
                return self._set_customer(self._get(self.methods, "payment_method", pmid), p["customer"])
            case "POST", ["payment_methods", pmid, "detach"]:
                return self._set_customer(self._get(self.methods, "payment_method", pmid), None)
            case "POST", ["refunds"]:
                return self._refund_create(p)
        raise _Error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    @staticmethod
    def _get(store: dict, kind: str, ident: str) -> dict:
        if ident not in store:
            raise _missing(kind, ident)
        return store[ident]

    def _intent(self, pid: str) -> dict:
        return self._get(self.intents, "payment_intent", pid)

    # --- customers and payment methods -------------------------------------------------------------------
    def _customer_create(self, p: dict) -> dict:
        cus = {"id": _new_id("cus"), "object": "customer", "created": int(time.time()), "email": p.get("email"),
               "name": p.get("name"), "metadata": p.get("metadata") or {}, "livemode": False}
        self.customers[cus["id"]] = cus
        return cus

    def _set_customer(self, pm: dict, customer: str | None) -> dict:
        pm["customer"] = customer
        return pm

    def _method_from_card(self, data: dict) -> dict:
        card = data.get("card") or {}
        number = re.sub(r"\D", "", str(card.get("number", "")))
        try:
            exp_month, exp_year = int(card.get("exp_month")), int(card.get("exp_year"))
        except (TypeError, ValueError):
            raise _Error(402, "card_error", "Your card's expiration date is invalid.", code="invalid_expiry_year",
                         param="exp_year") from None
        exp_year += 2000 if exp_year < 100 else 0
        brand = TEST_CARDS.get(number, ("unknown", None))[0]
        pm = {"id": _new_id("pm"), "object": "payment_method", "type": "card", "created": int(time.time()),
              "card": {"brand": brand, "last4": number[-4:], "exp_month": exp_month, "exp_year": exp_year,
                       "funding": "credit", "country": "US"},
              "billing_details": data.get("billing_details") or {}, "customer": None, "livemode": False,
              "metadata": {}}
        self.methods[pm["id"]] = pm
        self._numbers[pm["id"]] = (number, exp_month, exp_year)
        return pm

    def _card_outcome(self, pm: dict, *, off_session: bool):
        number, exp_month, exp_year = self._numbers.get(pm["id"], ("", 0, 0))
        if number not in TEST_CARDS:
            return INCORRECT
        today = date.today()
        if (exp_year, exp_month) < (today.year, today.month):
            return EXPIRED
        outcome = TEST_CARDS[number][1]
        return OFF_SESSION_3DS if outcome == "3ds" and off_session else outcome

    # --- payment intents ------------------------------------------------------------------------------------
    def _intent_create(self, p: dict) -> dict:
        try:
            amount = int(p.get("amount", ""))
        except ValueError:
            raise _Error(400, "invalid_request_error", "Missing required param: amount.", param="amount") from None
        if not p.get("currency"):
            raise _Error(400, "invalid_request_error", "Missing required param: currency.", param="currency")
        if p.get("customer") and p["customer"] not in self.customers:
            raise _missing("customer", p["customer"], param="customer")
        if p.get("payment_method") and p["payment_method"] not in self.methods:
            raise _missing("PaymentMethod", p["payment_method"], param="payment_method")
        pid = _new_id("pi")
        pi = {"id": pid, "object": "payment_intent", "amount": amount, "amount_received": 0,
              "currency": p["currency"].lower(), "status": "requires_payment_method",
              "client_secret": f"{pid}_secret_{uuid.uuid4().hex[:24]}", "created": int(time.time()),
              "customer": p.get("customer") or None, "payment_method": None,
              "setup_future_usage": p.get("setup_future_usage") or None, "latest_charge": None,
              "last_payment_error": None, "next_action": None, "metadata": p.get("metadata") or {},
              "description": p.get("description") or None, "receipt_email": p.get("receipt_email") or None,
              "return_url": p.get("return_url") or None, "capture_method": "automatic",
              "automatic_payment_methods": {"enabled": _truthy((p.get("automatic_payment_methods") or {})
                                                               .get("enabled"))},
              "payment_method_types": ["card"], "livemode": False}
        self.intents[pid] = pi
        if p.get("payment_method"):
            self._get(self.methods, "payment_method", p["payment_method"])
            pi["payment_method"], pi["status"] = p["payment_method"], "requires_confirmation"
        if _truthy(p.get("confirm")):
            return self._confirm(pi, {k: v for k, v in p.items() if k in ("off_session", "return_url")})
        return pi

    def _intent_update(self, pi: dict, p: dict) -> dict:
        if pi["status"] == "succeeded":
            raise self._unexpected(pi, "update")
        for name in ("amount", "currency", "setup_future_usage", "description", "receipt_email", "customer"):
            if name in p:
                pi[name] = (int(p[name]) if name == "amount" else p[name].lower() if name == "currency"
                            else p[name] or None)
        pi["metadata"].update(p.get("metadata") or {})
        return pi

    def _unexpected(self, pi: dict, action: str) -> _Error:
        return _Error(400, "invalid_request_error", f"You cannot {action} this PaymentIntent because it has a "
                      f"status of {pi['status']}.", code="payment_intent_unexpected_state", payment_intent=pi)

    def _confirm(self, pi: dict, p: dict) -> dict:
        if pi["status"] in ("succeeded", "canceled", "processing"):
            raise self._unexpected(pi, "confirm")
        for name in ("return_url", "receipt_email", "setup_future_usage"):
            if p.get(name) is not None:
                pi[name] = p[name] or None
        if p.get("payment_method_data"):
            pm = self._method_from_card(p["payment_method_data"])
        else:
            pm_id = p.get("payment_method") or pi["payment_method"]
            if not pm_id:
                raise _Error(400, "invalid_request_error", "You cannot confirm this PaymentIntent because it's "
                             "missing a payment method.", code="payment_intent_unexpected_state", payment_intent=pi)
            pm = self._get(self.methods, "payment_method", pm_id)
            if pm["customer"] is None or pm["customer"] != pi["customer"]:
                raise _Error(400, "invalid_request_error", f"The provided PaymentMethod {pm_id} does not belong to "
                             "the PaymentIntent's Customer.", param="payment_method")
        pi["payment_method"] = pm["id"]
        outcome = self._card_outcome(pm, off_session=_truthy(p.get("off_session")))
        if outcome is None:
            return self._succeed(pi)
        if outcome == "3ds":
            pi["status"], pi["last_payment_error"] = "requires_action", None
            pi["next_action"] = {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
            return pi
        code, decline_code, message = outcome
        self._fail(pi, pm, {"type": "card_error", "code": code, "decline_code": decline_code, "message": message})
        error = dict(pi["last_payment_error"], payment_intent=pi)
        raise _Error(402, error.pop("type"), error.pop("message"), **error)

    def _cancel(self, pi: dict, p: dict) -> dict:
        """Cancellable while no charge was made (requires_payment_method / _confirmation / _action); a
        succeeded intent answers 400 payment_intent_unexpected_state (stripe-python `cancel` docstring)."""
        if pi["status"] in ("succeeded", "canceled", "processing"):
            raise self._unexpected(pi, "cancel")
        pi.update(status="canceled", next_action=None, canceled_at=int(time.time()),
                  cancellation_reason=p.get("cancellation_reason") or None)
        self._emit("payment_intent.canceled", pi)
        return pi

    def _authenticate(self, pi: dict, complete: bool) -> dict:
        if pi["status"] != "requires_action":
            raise self._unexpected(pi, "authenticate")
        if complete:
            return self._succeed(pi)
        pm = self.methods[pi["payment_method"]]
        return self._fail(pi, pm, {"type": "invalid_request_error", "code": "payment_intent_authentication_failure",
                                   "message": AUTH_FAILED})

    def _succeed(self, pi: dict) -> dict:
        pm = self.methods[pi["payment_method"]]
        charge = {"id": _new_id("ch"), "object": "charge", "amount": pi["amount"], "amount_captured": pi["amount"],
                  "amount_refunded": 0, "refunded": False, "captured": True, "paid": True, "status": "succeeded",
                  "currency": pi["currency"], "customer": pi["customer"], "payment_intent": pi["id"],
                  "payment_method": pm["id"], "balance_transaction": _new_id("txn"), "failure_code": None,
                  "failure_message": None, "metadata": dict(pi["metadata"]), "created": int(time.time()),
                  "payment_method_details": {"type": "card", "card": {k: pm["card"][k] for k in
                                                                      ("brand", "last4", "exp_month", "exp_year")}},
                  "refunds": {"object": "list", "data": [], "has_more": False}, "livemode": False}
        self.charges[charge["id"]] = charge
        pi.update(status="succeeded", amount_received=pi["amount"], latest_charge=charge["id"],
                  last_payment_error=None, next_action=None)
        if pi["setup_future_usage"] and pi["customer"] and pm["customer"] is None:
            pm["customer"] = pi["customer"]
        self._emit("payment_intent.succeeded", pi)
        return pi

    def _fail(self, pi: dict, pm: dict, error: dict) -> dict:
        error.setdefault("decline_code", None)
        pi.update(status="requires_payment_method", payment_method=None, next_action=None,
                  last_payment_error={**error, "payment_method": copy.deepcopy(pm)})
        self._emit("payment_intent.payment_failed", pi)
        return pi

    # --- refunds ------------------------------------------------------------------------------------------
    def _refund_create(self, p: dict) -> dict:
        charge_id = p.get("charge")
        if p.get("payment_intent"):
            charge_id = self._intent(p["payment_intent"])["latest_charge"]
            if not charge_id:
                raise _Error(400, "invalid_request_error", "This PaymentIntent does not have a successful charge "
                             "to refund.", param="payment_intent")
        if not charge_id:
            raise _Error(400, "invalid_request_error", "One of the following params should be provided for this "
                         "request: payment_intent or charge.")
        charge = self._get(self.charges, "charge", charge_id)
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise _Error(400, "invalid_request_error", f"Charge {charge_id} has already been refunded.",
                         code="charge_already_refunded")
        amount = int(p.get("amount", remaining))
        if not 0 < amount <= remaining:
            raise _Error(400, "invalid_request_error", f"Refund amount ({amount} cents) is greater than unrefunded "
                         f"amount on charge ({remaining} cents)", param="amount")
        refund = {"id": _new_id("re"), "object": "refund", "amount": amount, "charge": charge_id,
                  "payment_intent": charge["payment_intent"], "currency": charge["currency"], "status": "succeeded",
                  "reason": p.get("reason") or None, "metadata": p.get("metadata") or {},
                  "balance_transaction": _new_id("txn"), "created": int(time.time())}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].append(refund)
        self._emit("charge.refunded", charge)
        return refund

    # --- webhooks -----------------------------------------------------------------------------------------
    def _emit(self, event_type: str, obj: dict) -> None:
        """Record an event and queue it for delivery (the worker posts it after the answer's state change)."""
        event = {"id": _new_id("evt"), "object": "event", "api_version": API_VERSION, "created": int(time.time()),
                 "data": {"object": copy.deepcopy(obj)}, "livemode": False, "pending_webhooks": 1,
                 "request": {"id": None, "idempotency_key": None}, "type": event_type}
        record = {**event, "delivered": False, "status": None}
        with self._delivered:
            self.events.append(record)
        if self.webhook_url and self.synchronous_webhooks and hasattr(self._pending, "events"):
            self._pending.events.append((event, record))
        elif self.webhook_url:
            self._outbox.put((event, record))

    def _deliver_loop(self) -> None:
        while (item := self._outbox.get()) is not None:
            self._deliver(*item)

    def _deliver(self, event: dict, record: dict) -> None:
        """POST one signed event, retried on a connection error or a non-2xx answer."""
        body = json.dumps(event)
        for delay in (0, *RETRY_DELAYS):
            time.sleep(delay)
            header = stripe.WebhookSignature.generate_signature_header(body, self.webhook_secret)
            request = urllib.request.Request(self.webhook_url, data=body.encode(), method="POST", headers={
                "Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header,
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = None
            with self._delivered:
                record["status"], record["delivered"] = status, status is not None and 200 <= status < 300
                self._delivered.notify_all()
            if record["delivered"]:
                break

    def wait_for_events(self, n: int, timeout: float = 10) -> list:  # not money
        """Block until `n` events were delivered (2xx); returns them. Raises TimeoutError otherwise."""
        with self._delivered:
            if not self._delivered.wait_for(lambda: sum(e["delivered"] for e in self.events) >= n, timeout):
                raise TimeoutError(f"{sum(e['delivered'] for e in self.events)} of {n} events delivered; "
                                   f"sent: {[(e['type'], e['status']) for e in self.events]}")
            return [e for e in self.events if e["delivered"]]


# --- browser side -----------------------------------------------------------------------------------------
STRIPE_JS = r"""/* Stripe stand-in: NOT Stripe.js. A small subset of its API for local tests (see stripe_standin.py). */
(function () {
  "use strict";
  var BASE = "__BASE__", frames = 0;
  function form(o) {
    return Object.keys(o).filter(function (k) { return o[k] != null; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(o[k]); }).join("&");
  }
  function intentId(cs) { return String(cs || "").split("_secret_")[0]; }
  function answer(r) {
    return r.json().then(function (b) { return r.ok ? {paymentIntent: b} : {error: b.error}; });
  }
  function getIntent(key, cs) {
    return fetch(BASE + "/v1/payment_intents/" + encodeURIComponent(intentId(cs)) + "?" +
                 form({key: key, client_secret: cs})).then(answer);
  }
  function failure(pi) {
    var e = Object.assign({}, pi.last_payment_error ||
      {type: "invalid_request_error", message: "The PaymentIntent has a status of " + pi.status + "."});
    e.payment_intent = pi;
    return {error: e};
  }
  function outcome(res) {
    if (res.error) return res;
    return ["succeeded", "processing", "requires_capture"].indexOf(res.paymentIntent.status) >= 0 ? res
      : failure(res.paymentIntent);
  }
  function challenge(key, cs) {  // the 3-D Secure modal; resolves once the customer answered it
    return new Promise(function (resolve) {
      var overlay = document.createElement("div"), frame = document.createElement("iframe");
      overlay.setAttribute("data-stripe-standin", "3ds");
      overlay.style.cssText = "position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;" +
        "background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center";
      frame.name = "stripe-challenge-frame"; frame.title = "3D Secure challenge";
      frame.src = BASE + "/3ds?" + form({key: key, client_secret: cs, origin: location.origin});
      frame.style.cssText = "width:420px;max-width:95vw;height:340px;border:0;border-radius:8px;background:#fff";
      overlay.appendChild(frame); document.body.appendChild(overlay);
      window.addEventListener("message", function done(ev) {
        if (ev.source !== frame.contentWindow || !ev.data || ev.data.type !== "stripe-standin:3ds-done") return;
        window.removeEventListener("message", done); overlay.remove(); resolve();
      });
    });
  }
  function afterAction(key, cs, res) {
    if (res.error || res.paymentIntent.status !== "requires_action") return Promise.resolve(res);
    return challenge(key, cs).then(function () { return getIntent(key, cs); });
  }

  function PaymentElement(group, options) {
    this._group = group; this._options = options || {}; this._handlers = {}; this._pending = {}; this._seq = 0;
    this._frame = null; this._onMessage = this._onMessage.bind(this);
  }
  PaymentElement.prototype.mount = function (target) {
    var node = typeof target === "string" ? document.querySelector(target) : target, self = this;
    if (!node) throw new Error("The selector you specified (" + target + ") applies to no DOM elements.");
    if (this._frame) throw new Error("This Element is already mounted.");
    this._ready = new Promise(function (resolve) { self._readyResolve = resolve; });
    var frame = document.createElement("iframe");
    frame.name = "__privateStripeFrame" + (frames++); frame.title = "Secure payment input frame";
    frame.setAttribute("frameborder", "0"); frame.setAttribute("allowtransparency", "true");
    frame.src = BASE + "/elements/payment?" + form({key: this._group._stripe._key, origin: location.origin});
    frame.style.cssText = "border:0;width:100%;height:190px;display:block;background:transparent";
    window.addEventListener("message", this._onMessage);
    node.appendChild(frame); this._frame = frame;
  };
  PaymentElement.prototype._onMessage = function (ev) {
    if (!this._frame || ev.source !== this._frame.contentWindow || !ev.data) return;
    var d = ev.data;
    if (d.type === "ready") { this._readyResolve(); this._emit("ready", {elementType: "payment"}); }
    if (d.type === "change") {
      var e = {elementType: "payment", complete: d.complete, empty: d.empty, collapsed: false, value: {type: "card"}};
      if (d.error) e.error = d.error;
      this._emit("change", e);
    }
    if (d.type === "reply" && this._pending[d.seq]) { this._pending[d.seq](d.result); delete this._pending[d.seq]; }
  };
  PaymentElement.prototype._emit = function (name, payload) {
    (this._handlers[name] || []).forEach(function (h) { h(payload); });
  };
  PaymentElement.prototype._request = function (msg) {
    var self = this;
    return this._ready.then(function () {
      return new Promise(function (resolve) {
        msg.seq = ++self._seq; self._pending[msg.seq] = resolve; self._frame.contentWindow.postMessage(msg, BASE);
      });
    });
  };
  PaymentElement.prototype.on = function (name, handler) {
    (this._handlers[name] = this._handlers[name] || []).push(handler); return this;
  };
  PaymentElement.prototype.off = function (name, handler) {
    this._handlers[name] = (this._handlers[name] || []).filter(function (h) { return handler && h !== handler; });
    return this;
  };
  PaymentElement.prototype.update = function (options) { Object.assign(this._options, options || {}); };
  PaymentElement.prototype.unmount = function () {
    window.removeEventListener("message", this._onMessage);
    if (this._frame) { this._frame.remove(); this._frame = null; }
  };
  PaymentElement.prototype.destroy = function () { this.unmount(); delete this._group._elements.payment; };

  function Elements(stripe, options) {
    this._stripe = stripe; this._options = Object.assign({}, options || {}); this._elements = {};
    this._submitted = false;
  }
  Elements.prototype.create = function (type, options) {
    if (type !== "payment") throw new Error("The Stripe stand-in only provides the payment Element, not " + type);
    if (this._elements.payment) throw new Error("Can only create one Element of type payment.");
    return (this._elements.payment = new PaymentElement(this, options));
  };
  Elements.prototype.getElement = function (type) { return this._elements[type] || null; };
  Elements.prototype.update = function (options) { Object.assign(this._options, options || {}); };
  Elements.prototype.submit = function () {
    var el = this._elements.payment, self = this;
    if (!el || !el._frame) {
      return Promise.resolve({error: {type: "validation_error", message: "No mounted Payment Element."}});
    }
    return el._request({type: "submit"}).then(function (res) {
      self._submitted = !res.error;
      return res.error ? {error: res.error} : {};
    });
  };

  function mismatch(opts, pi) {
    var checks = [["amount", opts.amount, pi.amount], ["currency", String(opts.currency || "").toLowerCase(),
                  pi.currency], ["setup_future_usage", opts.setupFutureUsage || null, pi.setup_future_usage || null]];
    for (var i = 0; i < checks.length; i++) {
      if (checks[i][1] !== checks[i][2]) {
        return {error: {type: "invalid_request_error", code: "invalid_request_error", message: "The " + checks[i][0] +
          " on the PaymentIntent (" + checks[i][2] + ") does not match the value passed to stripe.elements() (" +
          checks[i][1] + ")."}};
      }
    }
    return null;
  }

  function Stripe(key) {
    if (!(this instanceof Stripe)) return new Stripe(key);
    if (!key) throw new Error("Please call Stripe() with your publishable key. You used an empty string.");
    this._key = key;
  }
  Stripe.prototype.elements = function (options) { return new Elements(this, options); };
  Stripe.prototype.retrievePaymentIntent = function (cs) { return getIntent(this._key, cs); };
  Stripe.prototype.handleNextAction = function (opts) {
    var key = this._key, cs = (opts || {}).clientSecret;
    return getIntent(key, cs).then(function (res) { return afterAction(key, cs, res); }).then(outcome);
  };
  Stripe.prototype.confirmPayment = function (opts) {
    opts = opts || {};
    var key = this._key, elements = opts.elements, params = opts.confirmParams || {};
    var redirect = opts.redirect || "always";
    if (!elements) return Promise.reject(new Error("stripe.confirmPayment(): `elements` is required."));
    var deferred = !elements._options.clientSecret, cs = opts.clientSecret || elements._options.clientSecret;
    if (!cs) return Promise.reject(new Error("stripe.confirmPayment(): `clientSecret` is required."));
    if (redirect !== "if_required" && !params.return_url) {
      return Promise.reject(new Error("stripe.confirmPayment(): `confirmParams.return_url` is required unless " +
                                      "you pass `redirect: 'if_required'`."));
    }
    var el = elements.getElement("payment");
    if (!el || !el._frame) {
      return Promise.resolve({error: {type: "invalid_request_error", message: "No mounted Payment Element."}});
    }
    if (deferred && !elements._submitted) {
      return Promise.resolve({error: {type: "invalid_request_error", message: "elements.submit() must be " +
        "called before stripe.confirmPayment(). Call elements.submit() as soon as your customer presses pay."}});
    }
    var check = deferred ? getIntent(key, cs).then(function (res) {
      return res.error ? res : mismatch(elements._options, res.paymentIntent);
    }) : Promise.resolve(null);
    return check.then(function (refusal) {
      if (refusal) return refusal;
      return el._request({type: "confirm", clientSecret: cs, returnUrl: params.return_url || null,
                          receiptEmail: params.receipt_email || null})
        .then(function (res) { return res.body.error ? {error: res.body.error} : {paymentIntent: res.body}; })
        .then(function (res) { return afterAction(key, cs, res); })
        .then(outcome)
        .then(function (res) {
          if (res.error || redirect === "if_required") return res;
          var url = new URL(params.return_url, location.href);
          url.searchParams.set("payment_intent", res.paymentIntent.id);
          url.searchParams.set("payment_intent_client_secret", cs);
          url.searchParams.set("redirect_status", "succeeded");
          location.assign(url.toString());
          return new Promise(function () {});  // the page navigates away
        });
    });
  };
  window.Stripe = Stripe;
})();
"""

_PAGE_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>
body{{font:15px system-ui,sans-serif;margin:0;padding:4px;color:#30313d}} label{{display:block;margin:8px 0 4px}}
input{{width:100%;box-sizing:border-box;padding:10px;border:1px solid #e6e6e6;border-radius:5px;font-size:15px}}
.row{{display:flex;gap:12px}} .row>div{{flex:1}} #error{{color:#df1b41;min-height:1em;margin:6px 0}}
button{{padding:10px 18px;margin:6px;font-size:15px;border-radius:5px;border:1px solid #ccc;cursor:pointer}}
</style></head><body>"""

ELEMENT_HTML = _PAGE_HEAD.format(title="Payment Element (Stripe stand-in)") + r"""
<form id="form" novalidate onsubmit="return false">
  <label for="number">Card number</label>
  <input id="number" name="cardnumber" autocomplete="cc-number" inputmode="numeric" placeholder="1234 1234 1234 1234">
  <div class="row">
    <div><label for="exp">Expiration date</label>
      <input id="exp" name="exp-date" autocomplete="cc-exp" inputmode="numeric" placeholder="MM / YY"></div>
    <div><label for="cvc">Security code</label>
      <input id="cvc" name="cvc" autocomplete="cc-csc" inputmode="numeric" placeholder="CVC"></div>
  </div>
  <p id="error" role="alert"></p>
</form>
<script>
var CONFIG = __CONFIG__, TARGET = CONFIG.origin && CONFIG.origin !== "null" ? CONFIG.origin : "*";
function $(id) { return document.getElementById(id); }
function digits(id) { return $(id).value.replace(/\D/g, ""); }
function card() { var e = digits("exp"); return {number: digits("number"), month: e.slice(0, 2), year: e.slice(2),
                                                  cvc: digits("cvc")}; }
function problem() {
  var c = card();
  if (c.number.length < 12 || c.number.length > 19) return {code: "incomplete_number",
                                                            message: "Your card number is incomplete."};
  if (!(+c.month >= 1 && +c.month <= 12) || c.year.length !== 2) return {code: "incomplete_expiry",
                                                      message: "Your card's expiration date is incomplete."};
  if (c.cvc.length < 3 || c.cvc.length > 4) return {code: "incomplete_cvc",
                                                    message: "Your card's security code is incomplete."};
  return null;
}
function send(msg) { parent.postMessage(msg, TARGET); }
function validation() {
  var p = problem();
  $("error").textContent = p ? p.message : "";
  return p ? {type: "validation_error", code: p.code, message: p.message} : null;
}
["number", "exp", "cvc"].forEach(function (id) {
  $(id).addEventListener("input", function () {
    var p = problem(), c = card();
    send({type: "change", complete: !p, empty: !(c.number || c.month || c.cvc)});
  });
});
window.addEventListener("message", function (ev) {
  if (ev.source !== parent || (TARGET !== "*" && ev.origin !== TARGET) || !ev.data) return;
  var msg = ev.data, reply = function (result) { send({type: "reply", seq: msg.seq, result: result}); };
  var error = validation();
  if (msg.type === "submit") return reply({error: error});
  if (msg.type !== "confirm") return;
  if (error) return reply({status: 400, body: {error: error}});
  var c = card(), body = new URLSearchParams({key: CONFIG.key, client_secret: msg.clientSecret,
    "payment_method_data[type]": "card", "payment_method_data[card][number]": c.number,
    "payment_method_data[card][exp_month]": c.month, "payment_method_data[card][exp_year]": c.year,
    "payment_method_data[card][cvc]": c.cvc});
  if (msg.returnUrl) body.set("return_url", msg.returnUrl);
  if (msg.receiptEmail) body.set("receipt_email", msg.receiptEmail);
  fetch("/v1/payment_intents/" + encodeURIComponent(msg.clientSecret.split("_secret_")[0]) + "/confirm",
        {method: "POST", body: body})
    .then(function (r) { return r.json().then(function (b) { reply({status: r.status, body: b}); }); })
    .catch(function (e) { reply({status: 0, body: {error: {type: "api_connection_error", message: String(e)}}}); });
});
send({type: "ready"});
</script></body></html>"""

THREE_DS_HTML = _PAGE_HEAD.format(title="3D Secure 2 Test Page") + r"""
<h1 style="font-size:20px">3D Secure 2 Test Page</h1>
<p>This is a test page from the Stripe stand-in. Complete or fail the authentication of this payment.</p>
<div><button type="button" data-testid="3ds-complete" id="complete">Complete</button>
<button type="button" data-testid="3ds-fail" id="fail">Fail</button></div>
<p id="error" role="alert"></p>
<script>
var CONFIG = __CONFIG__, TARGET = CONFIG.origin && CONFIG.origin !== "null" ? CONFIG.origin : "*";
function answer(outcome) {
  document.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
  var body = new URLSearchParams({key: CONFIG.key, client_secret: CONFIG.client_secret, outcome: outcome});
  fetch("/v1/payment_intents/" + encodeURIComponent(CONFIG.client_secret.split("_secret_")[0]) + "/authenticate",
        {method: "POST", body: body})
    .then(function (r) { return r.json(); })
    .then(function () { parent.postMessage({type: "stripe-standin:3ds-done", outcome: outcome}, TARGET); })
    .catch(function (e) { document.getElementById("error").textContent = String(e); });
}
document.getElementById("complete").onclick = function () { answer("complete"); };
document.getElementById("fail").onclick = function () { answer("fail"); };
</script></body></html>"""
