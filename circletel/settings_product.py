"""Product settings (billing policy, providers), read from the environment.

Kept apart from the Django framework settings so each app's owner finds its knobs in one place.
"""

from decimal import Decimal

import environ

env = environ.Env()

# --- Billing policy -----------------------------------------------------------------------------------
BILLING = {
    # How prices are entered: VAT-inclusive for personal accounts, exclusive for business.
    "PRICES_INCLUDE_VAT": {
        "personal": env.bool("PRICES_INCLUDE_VAT_PERSONAL", default=True),
        "business": env.bool("PRICES_INCLUDE_VAT_BUSINESS", default=False),
    },
    "INVOICE_LEAD_DAYS": env.int("INVOICE_LEAD_DAYS", default=7),
    # Services per invoice-run batch (one transaction each); a worker that dies loses at most one batch.
    "INVOICE_RUN_BATCH": env.int("INVOICE_RUN_BATCH", default=1000),
    "DUE_DAYS_PERSONAL": env.int("DUE_DAYS_PERSONAL", default=7),
    "DUE_DAYS_BUSINESS": env.int("DUE_DAYS_BUSINESS", default=30),
    # On cancellation: "credit_unused" credits the unused days of periods already invoiced (VAT-correct,
    # from the invoiced line); "bill_to_period_end" keeps the current period's charge. Either way a
    # period starting on or after the cancellation date is voided (or credited in full if paid).
    "CANCELLATION_POLICY": env.str("CANCELLATION_POLICY", default="credit_unused"),
}
DUNNING = {
    "PRE_DUE_REMINDER_DAYS": env.int("DUNNING_PRE_DUE_DAYS", default=5),
    "REMINDER_WINDOWS": [(1, 3), (4, 7), (8, None)],
    "MAX_REMINDERS": env.int("DUNNING_MAX_REMINDERS", default=3),
    "MIN_HOURS_BETWEEN": env.int("DUNNING_MIN_HOURS_BETWEEN", default=24),
    "SUSPEND_AFTER_DAYS": env.int("DUNNING_SUSPEND_AFTER_DAYS", default=14),
}

# --- NetCash ------------------------------------------------------------------------------------------------
NETCASH = {
    "PAYNOW_SERVICE_KEY": env("NETCASH_PAYNOW_SERVICE_KEY", default=""),
    "DEBIT_ORDER_SERVICE_KEY": env("NETCASH_DEBIT_ORDER_SERVICE_KEY", default=""),
    "ACCOUNT_SERVICE_KEY": env("NETCASH_ACCOUNT_SERVICE_KEY", default=""),
    "SOFTWARE_VENDOR_KEY": env("NETCASH_SOFTWARE_VENDOR_KEY", default=""),
    # Our own HMAC of (reference, amount) in the Pay Now form: a tamper check only. It passes through
    # the customer's browser, so it never proves that NetCash took the money (CONTRACTS 2.1).
    "PAYNOW_HMAC_SECRET": env("NETCASH_PAYNOW_HMAC_SECRET", default=""),
    # The secret path segment of the server-to-server Notify URL pasted into the NetCash portal
    # (/api/payments/netcash/notify/<token>). NetCash does not sign notifies; this unguessable
    # path, which no browser ever sees, is what makes a notify proof of payment (ADR 0010).
    "NOTIFY_TOKEN": env("NETCASH_NOTIFY_TOKEN", default=""),
    "PAYNOW_URL": env("NETCASH_PAYNOW_URL", default="https://paynow.netcash.co.za/site/paynow.aspx"),
    "WS_URL": env("NETCASH_WS_URL", default="https://ws.netcash.co.za/NIWS/niws_nif.svc"),
    "PER_LINE_LIMIT": Decimal(env("NETCASH_PER_LINE_LIMIT", default="10000.00")),
    "PER_DAY_LIMIT": Decimal(env("NETCASH_PER_DAY_LIMIT", default="500000.00")),
    # Fee invoiced when a settled debit order is returned unpaid (0 = none).
    "UNPAID_FEE": Decimal(env("NETCASH_UNPAID_FEE", default="0.00")),
    # --- NetCash debit orders and statement (issue 15; docs/netcash.md) ---
    # Authorise uploaded batches with RequestBatchAuthorise (needs NetCash's auto-authorise indemnity);
    # off: runs wait "awaiting authorisation" for staff to authorise in the portal by the cut-off.
    "AUTO_AUTHORISE": env.bool("NETCASH_AUTO_AUTHORISE", default=False),
    # A Pay Now payment applied from a notify that no statement line confirms within this many hours
    # is flagged for review (ops alerted once).
    "STATEMENT_CONFIRM_HOURS": env.int("NETCASH_STATEMENT_CONFIRM_HOURS", default=48),
    # A statement with at least STATEMENT_PARALLEL_FROM lines to apply is applied by this many job
    # processes at once (the job queues the extra ones; lines are shared by SKIP LOCKED row locks).
    "STATEMENT_APPLY_WORKERS": env.int("NETCASH_STATEMENT_APPLY_WORKERS", default=2),
    "STATEMENT_PARALLEL_FROM": env.int("NETCASH_STATEMENT_PARALLEL_FROM", default=5000),
}
# seed_demo creates an admin with a published password: allowed by default only with DEBUG (make run).
DEMO_DATA_ALLOWED = env.bool("DEMO_DATA_ALLOWED", default=env.bool("DEBUG", default=False))

# The built-in sandbox gateway (invoices and deposits alike; `circletel.sandbox.sandbox_gateway_active`):
# on by default only with DEBUG (`make run`). With DEBUG off it confirms nothing unless this is
# explicitly true, and the system check circletel.W001 says so.
SANDBOX_GATEWAY_ENABLED = env.bool("SANDBOX_GATEWAY_ENABLED", default=env.bool("DEBUG", default=False))

# --- Stripe / PayPal ---------------------------------------------------------------------------------------
STRIPE = {
    "SECRET_KEY": env("STRIPE_SECRET_KEY", default=""),
    "PUBLISHABLE_KEY": env("STRIPE_PUBLISHABLE_KEY", default=""),
    "WEBHOOK_SECRET": env("STRIPE_WEBHOOK_SECRET", default=""),
    "API_BASE": env("STRIPE_API_BASE", default=""),  # tests / local fakes only
    # Stripe.js, loaded by the invoice pay page (the Payment Element). Stripe: "always load it directly
    # from https://js.stripe.com" (docs.stripe.com/js/including); only the local stand-in
    # (payments/stripe_standin.py, `make run`, browser tests) points it elsewhere. Check payments.W001.
    "JS_URL": env("STRIPE_JS_URL", default="https://js.stripe.com/v3/"),
}
PAYPAL = {
    "CLIENT_ID": env("PAYPAL_CLIENT_ID", default=""),
    "CLIENT_SECRET": env("PAYPAL_CLIENT_SECRET", default=""),
    "WEBHOOK_ID": env("PAYPAL_WEBHOOK_ID", default=""),
    "API_BASE": env("PAYPAL_API_BASE", default="https://api-m.sandbox.paypal.com"),
    # PayPal takes no ZAR (CONTRACTS 4): ZAR amounts are offered in CURRENCY, converted at ZAR_RATE
    # (rands per one unit of CURRENCY, a decimal string such as "18.50"); no valid rate, no PayPal for
    # ZAR amounts. Checked at start-up (payments.E001).
    "CURRENCY": env("PAYPAL_CURRENCY", default="USD"),
    "ZAR_RATE": env("PAYPAL_ZAR_RATE", default=""),
}
# Refunds only within this many days of a payment's completion; API idempotency keys kept (hours).
REFUND_WINDOW_DAYS = env.int("REFUND_WINDOW_DAYS", default=90)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# A key still locked after this long belongs to a request that died: a repeat may take it over.
# Must outlast the slowest real request (gunicorn's 30 s timeout, provider retries included).
IDEMPOTENCY_LOCK_STALE_SECONDS = env.int("IDEMPOTENCY_LOCK_STALE_SECONDS", default=300)
# Stripe/PayPal calls that are safe to repeat are retried while the error mapping says retryable;
# no retry starts after BUDGET_SECONDS (they run inside customers' requests).
PROVIDER_RETRY = {
    "ATTEMPTS": env.int("PROVIDER_RETRY_ATTEMPTS", default=3),
    "BASE_SECONDS": env.float("PROVIDER_RETRY_BASE_SECONDS", default=0.5),  # not money
    "CAP_SECONDS": env.float("PROVIDER_RETRY_CAP_SECONDS", default=5.0),  # not money
    "BUDGET_SECONDS": env.float("PROVIDER_RETRY_BUDGET_SECONDS", default=8.0),  # not money
}
# PayPal invoice orders: a pending order is reused for this long; create-order/capture limits per
# client address and per invoice within the window.
PAYPAL_ORDER_REUSE_SECONDS = env.int("PAYPAL_ORDER_REUSE_SECONDS", default=3 * 60 * 60)
PAYPAL_INVOICE_RATE_WINDOW = env.int("PAYPAL_INVOICE_RATE_WINDOW", default=600)
PAYPAL_INVOICE_RATE_LIMIT_PER_IP = env.int("PAYPAL_INVOICE_RATE_LIMIT_PER_IP", default=20)
PAYPAL_INVOICE_RATE_LIMIT_PER_INVOICE = env.int("PAYPAL_INVOICE_RATE_LIMIT_PER_INVOICE", default=30)
# Saved payment methods (cards, debit orders) a customer may keep at once; removed ones do not count.
PAYMENT_METHODS_MAX_PER_CUSTOMER = env.int("PAYMENT_METHODS_MAX_PER_CUSTOMER", default=10)

# --- ZOHO Billing ---------------------------------------------------------------------------------------------
ZOHO = {
    "CLIENT_ID": env("ZOHO_CLIENT_ID", default=""),
    "CLIENT_SECRET": env("ZOHO_CLIENT_SECRET", default=""),
    "REFRESH_TOKEN": env("ZOHO_REFRESH_TOKEN", default=""),
    "ORGANIZATION_ID": env("ZOHO_ORGANIZATION_ID", default=""),
    "REGION": env("ZOHO_REGION", default="com"),
    "RATE_LIMIT_PER_MINUTE": env.int("ZOHO_RATE_LIMIT_PER_MINUTE", default=100),
    "CONCURRENCY_LIMIT": env.int("ZOHO_CONCURRENCY_LIMIT", default=5),
    "DAILY_CALL_LIMIT": env.int("ZOHO_DAILY_CALL_LIMIT", default=2500),
}
ENABLE_ZOHO_SYNC = env.bool(
    "ENABLE_ZOHO_SYNC", default=bool(ZOHO["CLIENT_ID"] and ZOHO["REFRESH_TOKEN"] and ZOHO["ORGANIZATION_ID"])
)
ZOHO_SYNC = {  # worker, mapping and alert knobs (see docs/zoho-sync.md)
    "VAT_TAX_ID": env("ZOHO_VAT_TAX_ID", default=""),  # ZOHO tax id of "VAT 15%"
    "PLAN_CODES": env.json("ZOHO_PLAN_CODES", default={}),  # {"Fibre 50/50": "fibre-50-50"}; else slug of package
    "ACCOUNT_NUMBER_FIELD": env("ZOHO_ACCOUNT_NUMBER_FIELD", default="Account Number"),  # customer custom field label
    "MAX_ATTEMPTS": env.int("ZOHO_SYNC_MAX_ATTEMPTS", default=10),
    "STALE_MINUTES": env.int("ZOHO_SYNC_STALE_MINUTES", default=30),  # syncing/pending longer = stuck
    "ALERT_FAILED_COUNT": env.int("ZOHO_ALERT_FAILED_COUNT", default=5),  # the specification's targets
    "ALERT_MIN_SUCCESS_RATE": env.float("ZOHO_ALERT_MIN_SUCCESS_RATE", default=99.0),  # percent; # not money
    "ALERT_STALE_PENDING_COUNT": env.int("ZOHO_ALERT_STALE_PENDING_COUNT", default=50),
    "ALERT_DAILY_USAGE_PERCENT": env.int("ZOHO_ALERT_DAILY_USAGE_PERCENT", default=80),
    # ZOHO item code used on credit-note lines (must exist in the organisation).
    "CREDIT_NOTE_ITEM_CODE": env("ZOHO_CREDIT_NOTE_ITEM_CODE", default="circletel-credit"),
}
# Days of per-attempt ZOHO sync logs kept (pruned daily by zoho_sync.tasks.prune_sync_logs).
ZOHO_SYNC_LOG_RETENTION_DAYS = env.int("ZOHO_SYNC_LOG_RETENTION_DAYS", default=90)

# --- Usage (Interstellio) -----------------------------------------------------------------------------------
INTERSTELLIO = {
    "API_URL": env("INTERSTELLIO_API_URL", default=""),
    "API_TOKEN": env("INTERSTELLIO_API_TOKEN", default=""),
    "DOMAIN": env("INTERSTELLIO_DOMAIN", default=""),
    # Usage sync (usage/clients/interstellio.py); the usage path is the adapter boundary, see the client.
    "TELEMETRY_URL": env("INTERSTELLIO_TELEMETRY_URL", default="https://telemetry-za.nebularstack.com"),
    "TENANT_ID": env("INTERSTELLIO_TENANT_ID", default=""),
    "USAGE_PATH": env("INTERSTELLIO_USAGE_PATH", default="/v1/subscriber/{subscriber_id}/data/daily"),
    "TIMEZONE": env("INTERSTELLIO_TIMEZONE", default="Africa/Johannesburg"),
    "TIMEOUT_SECONDS": env.float("INTERSTELLIO_TIMEOUT_SECONDS", default=20.0),  # not money
    "RETRY_ATTEMPTS": env.int("INTERSTELLIO_RETRY_ATTEMPTS", default=3),
    "RETRY_BASE_SECONDS": env.float("INTERSTELLIO_RETRY_BASE_SECONDS", default=0.5),  # not money
    "MAX_DAYS_PER_REQUEST": env.int("INTERSTELLIO_MAX_DAYS_PER_REQUEST", default=128),
    "SYNC_BATCH_SIZE": env.int("USAGE_SYNC_BATCH_SIZE", default=100),
}

# --- Notifications ------------------------------------------------------------------------------------------
SMS_PROVIDER = env("SMS_PROVIDER", default="console")  # console | bulksms | clickatell
BULKSMS = {"TOKEN_ID": env("BULKSMS_TOKEN_ID", default=""), "TOKEN_SECRET": env("BULKSMS_TOKEN_SECRET", default="")}
CLICKATELL = {"API_KEY": env("CLICKATELL_API_KEY", default="")}
OPS_WEBHOOK_URL = env("OPS_WEBHOOK_URL", default="")  # Slack, Discord or generic JSON webhook
OPS_WEBHOOK_KIND = env("OPS_WEBHOOK_KIND", default="slack")  # slack | discord | json

# --- Reservations -------------------------------------------------------------------------------------------
RESERVATIONS = {
    "HOLD_MINUTES": env.int("RESERVATION_HOLD_MINUTES", default=30),
    "OWNER_EMAIL": env("RESERVATION_OWNER_EMAIL", default="breeder@example.co.za"),
    # Staff refund paid deposits only within this many days of payment, like invoice refunds (providers
    # refuse old refunds: Stripe's card refunds and PayPal captures have age limits). 0 = no limit.
    "REFUND_WINDOW_DAYS": env.int("DEPOSIT_REFUND_WINDOW_DAYS", default=90),
    # Limits on holds (reservations/services/limits.py): reservation attempts per client address and per
    # email in a fixed window, and unpaid holds a buyer (email) / a client address may have at once. 0 = off.
    "RATE_WINDOW_SECONDS": env.int("RESERVATION_RATE_WINDOW_SECONDS", default=600),
    "RATE_LIMIT_PER_IP": env.int("RESERVATION_RATE_LIMIT_PER_IP", default=20),
    "RATE_LIMIT_PER_EMAIL": env.int("RESERVATION_RATE_LIMIT_PER_EMAIL", default=5),
    "MAX_HOLDS_PER_EMAIL": env.int("RESERVATION_MAX_HOLDS_PER_EMAIL", default=2),
    "MAX_HOLDS_PER_IP": env.int("RESERVATION_MAX_HOLDS_PER_IP", default=5),
}
GA4 = {"MEASUREMENT_ID": env("GA4_MEASUREMENT_ID", default=""), "API_SECRET": env("GA4_API_SECRET", default="")}
META_CAPI = {"PIXEL_ID": env("META_PIXEL_ID", default=""), "ACCESS_TOKEN": env("META_ACCESS_TOKEN", default=""),
             "API_VERSION": env("META_API_VERSION", default="v21.0"),
             "TEST_EVENT_CODE": env("META_TEST_EVENT_CODE", default="")}
# GET /api/health/webhooks answers 503 (and the 5-minute job alerts ops) past these limits, per provider.
WEBHOOK_HEALTH = {
    "MAX_FAILED_24H": env.int("WEBHOOK_HEALTH_MAX_FAILED_24H", default=5),
    "MAX_BACKLOG_SECONDS": env.int("WEBHOOK_HEALTH_MAX_BACKLOG_SECONDS", default=900),
}

# --- Webhook housekeeping ----------------------------------------------------------------------------------
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=180)
WEBHOOK_MAX_BODY_BYTES = env.int("WEBHOOK_MAX_BODY_BYTES", default=65536)
# Apply provider events (NetCash, Stripe, PayPal) inside the webhook request (true) or in a task
# queued on commit (false, the default: the request is one INSERT and answers fast).
WEBHOOK_APPLY_INLINE = env.bool("WEBHOOK_APPLY_INLINE", default=False)
