"""CircleTel Billing settings.

Every value comes from the environment through django-environ (a `.env` file in the project
root is read when present). `.env.example` documents each variable.
"""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False, parse_comments=True)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env(
    "SECRET_KEY",
    default="dev-only-insecure-key-change-me" if DEBUG else environ.Env.NOTSET,
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "circletel.admin_site.ConsoleAdminConfig",  # django.contrib.admin with the console site (index by work)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "anymail",
    "csp",
    "axes",  # sign-in lockout (circletel/login_throttle.py)
    "circletel",
    "inbox",
    "billing",
    "payments",
    "usage",  # above billing: daily usage, Interstellio sync, data-cap warnings
    "zoho_sync",
    "reservations",
    "portal",  # the top layer: customer pages, dashboard API, pay pages, staff reports
    "notifications",
]

MIDDLEWARE = [
    "circletel.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy (CONTENT_SECURITY_POLICY below)
    "circletel.security.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "circletel.middleware.RejectNulBytesMiddleware",  # 400 for %00 before anything queries with it
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a sign-in lockout into the 429 page
]

ROOT_URLCONF = "circletel.urls"
WSGI_APPLICATION = "circletel.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "circletel.context_processors.company",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web server and the task worker share the embedded file.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (shared between processes: Redis when configured, else the database) -------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "circletel_cache"}
    }

# --- Auth -------------------------------------------------------------------------------------
# AxesStandaloneBackend first: it refuses a locked-out sign-in before any password is checked. It needs
# the request, so tests sign in with `client.force_login(user)` or by posting the login form, never
# `client.login()` (which calls authenticate() without one and raises AxesBackendRequestParameterRequired).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "circletel.auth.EmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# --- Sign-in lockout (django-axes; circletel/login_throttle.py, docs/adr/0009-login-throttling.md) ----
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)  # failures per account (email), any address
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)  # per address, any account
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))  # after the latest failure
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True  # forgets that account's failures from that address (LoginAttemptHandler)
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True  # a try while locked restarts the wait: the page is exact
AXES_HANDLER = "circletel.login_throttle.LoginAttemptHandler"
AXES_USERNAME_CALLABLE = "circletel.login_throttle.attempt_username"
AXES_CLIENT_IP_CALLABLE = "circletel.login_throttle.attempt_address"  # = circletel.throttle.client_ip
AXES_LOCKOUT_CALLABLE = "circletel.login_throttle.lockout_response"
AXES_ENABLE_ADMIN = False  # circletel/admin.py registers the console's own "Login attempts" pages
# Proxies in front of gunicorn that append to X-Forwarded-For (1 behind one load balancer). 0 trusts
# none: every client then shares the proxy's address for throttles and the per-address lockout.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- I18N / time --------------------------------------------------------------------------------
LANGUAGE_CODE = "en-za"
FORMAT_MODULE_PATH = ["circletel.formats"]  # en_ZA display formats (circletel/formats/en_ZA)
TIME_ZONE = "Africa/Johannesburg"
USE_I18N = True
USE_TZ = True

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security (tightened when DEBUG is off) -----------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

# --- Email ----------------------------------------------------------------------------------------
# Any django-anymail provider in production by setting EMAIL_BACKEND and ANYMAIL (e.g.
# EMAIL_BACKEND=notifications.clients.resend_backend.EmailBackend + RESEND_API_KEY). Without EMAIL_BACKEND: in
# development (DEBUG) each message is saved as a .eml file in EMAIL_FILE_PATH (var/mail) with one line
# on the console (circletel/dev_email.py); otherwise the whole message is printed (console backend).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="circletel.dev_email.EmailBackend" if DEBUG
                    else "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="CircleTel Billing <billing@circletel.co.za>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ANYMAIL = {
    "RESEND_API_KEY": env("RESEND_API_KEY", default=""),
    "RESEND_SIGNING_SECRET": env("RESEND_SIGNING_SECRET", default=""),
    # Only a local fake in the recovery tests (bench/recovery.py) changes it.
    "RESEND_API_URL": env("RESEND_API_URL", default="https://api.resend.com/"),
}
OPS_EMAIL = env("OPS_EMAIL", default="ops@circletel.co.za")

# --- Company details (invoices, emails) -------------------------------------------------------------
COMPANY = {
    "name": env("COMPANY_NAME", default="CircleTel (Pty) Ltd"),
    "vat_number": env("COMPANY_VAT_NUMBER", default="4123456789"),
    "registration": env("COMPANY_REGISTRATION", default="2019/123456/07"),
    "address": env("COMPANY_ADDRESS", default="1 Fibre Street, Centurion, 0157"),
    "email": env("COMPANY_EMAIL", default="accounts@circletel.co.za"),
    "phone": env("COMPANY_PHONE", default="+27 12 345 6789"),
    "bank_name": env("COMPANY_BANK_NAME", default="First National Bank"),
    "bank_account": env("COMPANY_BANK_ACCOUNT", default="62000000000"),
    "bank_branch": env("COMPANY_BANK_BRANCH", default="250655"),
}

# --- Money ----------------------------------------------------------------------------------------
VAT_RATE = Decimal(env("VAT_RATE", default="0.15"))
CURRENCY = "ZAR"

# --- Encryption at rest (payment method bank details) ----------------------------------------------
# A Fernet key (urlsafe base64, 32 bytes). Several keys, comma separated, allow rotation (first encrypts).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS and DEBUG:
    # Development only (`make run`): a key derived from the dev SECRET_KEY so demo bank details can be
    # stored. Production must set its own keys (a system check warns when they are missing).
    import base64
    import hashlib

    FIELD_ENCRYPTION_KEYS = [base64.urlsafe_b64encode(hashlib.sha256(f"fernet:{SECRET_KEY}".encode()).digest()).decode()]

# --- Task queue (django-q2) -------------------------------------------------------------------------
Q_CLUSTER = {
    "name": "circletel",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),  # must exceed timeout
    "max_attempts": 3,
    "queue_limit": 50,
    "bulk": 10,
    "catch_up": False,
    "label": "Task queue",
    "save_limit": 1000,
}
# PDF renders have their own queue and cluster (circletel/queue.py:enqueue_document), started with
# `Q_CLUSTER_NAME=documents manage.py qcluster`; empty puts them on the main queue.
Q_DOCUMENTS_QUEUE = env("Q_DOCUMENTS_QUEUE", default="documents")
# Always present: django-q2 reads it for any Q_CLUSTER_NAME other than the main name.
Q_CLUSTER["ALT_CLUSTERS"] = ({Q_DOCUMENTS_QUEUE: {"workers": env.int("Q_DOCUMENT_WORKERS", default=1)}}
                             if Q_DOCUMENTS_QUEUE else {})
# ZOHO sync tasks have their own queue and cluster (zoho_sync/services/outbox.py), started with
# `Q_CLUSTER_NAME=zoho manage.py qcluster`: a limited or slow ZOHO never holds the main workers that
# process webhooks. Empty puts them on the main queue. Its timeout stays the main one (600 s); the
# sweep bounds its own work well under it.
Q_ZOHO_QUEUE = env("Q_ZOHO_QUEUE", default="zoho")
if Q_ZOHO_QUEUE:
    Q_CLUSTER["ALT_CLUSTERS"][Q_ZOHO_QUEUE] = {"workers": env.int("Q_ZOHO_WORKERS", default=2)}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1
Q_CLUSTER["sync"] = env.bool("Q_SYNC", default=False)  # run tasks inline (tests)

# Leases (circletel/leases.py): a worker's claim on a run, event, send or follow-up lasts LEASE_SECONDS
# and its heartbeat renews it every HEARTBEAT_SECONDS; a worker killed mid-work is found by the
# recovery sweep (every minute) once its lease lapses. Recovery after a kill: lease + up to a minute.
LEASE_SECONDS = env.int("LEASE_SECONDS", default=20)
HEARTBEAT_SECONDS = env.float("HEARTBEAT_SECONDS", default=5.0)  # not money
LEASE_HEARTBEAT_THREAD = env.bool("LEASE_HEARTBEAT_THREAD", default=True)

# --- REST framework / OpenAPI -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "circletel.drf.BoundedLimitOffsetPagination",  # at most 100 a page
    "PAGE_SIZE": 25,
    "DEFAULT_PARSER_CLASSES": ["circletel.drf.SafeJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "circletel.errors.drf_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CircleTel Billing API",
    "VERSION": "1.0.0",
    # The docs pages open with this: how to sign in, the shapes every answer shares, what each group is for.
    "DESCRIPTION": """\
The JSON API of CircleTel Billing: the customer dashboard's data, payments, and the staff operations.

## Authentication

- **Session** (the dashboard and these docs pages): sign in at `/accounts/login/`; the browser sends the
  session cookie. Posts made with a session need the CSRF token (`X-CSRFToken` header, from the
  `csrftoken` cookie).
- **Token** (scripts and integrations): send `Authorization: Token <key>`. Staff create a user's token in
  the admin (*Tokens*) or with `manage.py drf_create_token <username>`. No CSRF token is needed.

Without a sign-in (or with a wrong token) an endpoint that needs one answers **401**; signed in but not
allowed (staff-only endpoints, a sign-in not linked to a customer) is **403**. Customers only ever see
their own rows: another customer's id answers **404**, exactly like one that does not exist.

## Errors

Refusals (4xx) and provider failures (502) are answered in one JSON envelope, including the 404 for an
unknown `/api/...` URL:

```json
{"message": "Validation error", "extra": {"fields": {"invoice_id": ["A valid integer is required."]}}}
```

`message` is fit to show to the user; `extra` holds details (`fields` for invalid input; a `code` such as
`race_condition_lost`, `retryable` for a provider that is not answering, or `{}`). 409 means the request
conflicts with the current state (already reserved, an Idempotency-Key still in progress), 422 an
Idempotency-Key reused with a different body, 429 too many attempts (see `Retry-After`).

## Lists

Lists marked as paginated take `?limit=` (at most 100) and `?offset=` and answer
`{"count", "next", "previous", "results"}`.

Amounts are decimal strings in rand (`"499.00"`) unless a `currency` says otherwise.
""",
    "TAGS": [
        {"name": "dashboard", "description": "The signed-in customer's own account: summary, services and usage, "
                                             "invoices and their PDFs, payment methods (customers only)."},
        {"name": "payments", "description": "Pay an invoice (saved card, Stripe, PayPal or NetCash Pay Now), "
                                            "payment history and receipts, saved cards; refunds are staff only. "
                                            "`process` and `refund` honour an `Idempotency-Key` header."},
        {"name": "paypal", "description": "The PayPal buttons' order endpoints, for invoices and reservation "
                                          "deposits: anonymous with the invoice and account numbers, or signed in."},
        {"name": "reservations", "description": "Reserve a puppy (public): holds it and answers the deposit's "
                                                "checkout URL. Rate limited."},
        {"name": "admin", "description": "Staff operations: customers' billing, invoices, service lifecycle "
                                         "(activate, suspend, reactivate, cancel) and its audit log, the "
                                         "invoice run."},
        {"name": "admin: zoho sync", "description": "Staff: the ZOHO Books sync's state, its log, retries."},
        {"name": "health", "description": "Monitoring (public): webhook processing health."},
    ],
    # 401/403/400/404 in the error envelope for every operation that can answer them (circletel/drf.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "circletel.drf.document_error_responses"],
    "SERVE_INCLUDE_SCHEMA": False,
    # Schema-quality warnings are not deployment problems: keep them out of `check --deploy` (which must be
    # clean in production); lint the schema with `manage.py spectacular --validate --fail-on-warn` instead.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    # Swagger UI / Redoc assets served from our own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No "valid" badge: it is an image from validator.swagger.io (outside our CSP) that hands them our schema URL.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    # Choice sets whose field name ("status", "provider", "kind") is reused by another choice set elsewhere in the
    # API: name them after their model so the generator does not fall back to hashed names (Status09aEnum ...).
    "ENUM_NAME_OVERRIDES": {
        "PaymentStatusEnum": "payments.models.PaymentTransaction.Status",
        "PaymentProviderEnum": "payments.models.PaymentTransaction.Provider",
        "InvoiceStatusEnum": "billing.models.invoices.Invoice.Status",
        "SuspensionKindEnum": "billing.models.services.Suspension.Kind",
    },
}

# --- Logging: JSON lines in production, readable lines in development ------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "context": {"()": "circletel.logging.ContextFilter"},
        "redact": {"()": "circletel.logging.RedactFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_run_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(log_context)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["context", "redact"],
            "formatter": "plain" if DEBUG else "json",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
    },
}
# Library chatter stays out of the way of our own lines, in development (`make run`) and production alike
# (a production log is ours, and WeasyPrint alone wrote 7 INFO lines per PDF there). django-q2 logs as
# "django-q" (an entry "django_q" would match nothing; cluster start/stop, every task processed), WeasyPrint and fontTools log each PDF's layout
# and font-subsetting steps at INFO, axes logs "AXES: BEGIN ..." from every process, the stripe SDK logs
# two INFO lines per API call (our client logs what matters). WARNING and above
# still show; LOG_LEVEL=DEBUG shows them all again (tests/circletel/test_library_log_levels.py).
_library_level = "WARNING" if LOG_LEVEL.upper() != "DEBUG" else "DEBUG"
LOGGING["loggers"].update({
    "django-q": {"level": env("Q_LOG_LEVEL", default=_library_level), "propagate": True},
    "weasyprint": {"level": _library_level},
    "fontTools": {"level": _library_level},
    "axes": {"level": _library_level},
    "stripe": {"level": _library_level},
})

# --- Provider and product settings, grouped per app --------------------------------------------------
from circletel.settings_product import *  # noqa: E402,F403

if DEBUG and not NETCASH["PAYNOW_HMAC_SECRET"]:  # noqa: F405
    # Development only (`make run`): the sandbox gateway signs and checks its Pay Now requests with a
    # secret derived from the dev SECRET_KEY, so paying an invoice works on a fresh machine.
    # Production sets NETCASH_PAYNOW_HMAC_SECRET (without it, online payments are refused).
    import hashlib

    NETCASH = {**NETCASH, "PAYNOW_HMAC_SECRET": hashlib.sha256(f"paynow:{SECRET_KEY}".encode()).hexdigest()}  # noqa: F405
if DEBUG and not NETCASH["NOTIFY_TOKEN"]:  # noqa: F405
    # Development only: the sandbox gateway posts its notify to the secret path with this token.
    import hashlib

    NETCASH = {**NETCASH, "NOTIFY_TOKEN": hashlib.sha256(f"notify:{SECRET_KEY}".encode()).hexdigest()}  # noqa: F405

# --- Content-Security-Policy (django-csp 4.0) and Permissions-Policy ------------------------------------------
# Every response carries this policy (csp.middleware.CSPMiddleware). Only our own origin by default; an
# inline <script> runs only with the per-request nonce (`<script nonce="{{ request.csp_nonce }}">`), no
# plugins, no framing (X-Frame-Options DENY says the same to old browsers), no <base> hijack.
# - form-action: our own forms, NetCash Pay Now (payments/paynow_redirect.html auto-submits its POST
#   there) and, when configured, Stripe Checkout / PayPal approval: a reservation form's POST answers
#   with a redirect to them, and browsers apply form-action to the redirects after a form submission.
# - No page loads Stripe.js or the PayPal JS SDK (cards arrive as pm_ ids through the API), so no
#   provider appears in script-src, frame-src or connect-src.
# - Styles: style="" attributes are allowed (style-src-attr 'unsafe-inline'): our pages and the admin
#   widgets draw percentage bars with `width: NN%`, and the admin's and Swagger UI's scripts set styles.
#   An attribute has no selectors and can fetch only what img-src/default-src allow (our origin, data:),
#   so it cannot read page content nor send it anywhere. <style> elements need the nonce
#   (style-src-elem), stylesheets come from our origin. `style-src` is the fallback for browsers
#   without the -elem/-attr split.
# - API docs: the Swagger UI and Redoc templates are overridden in templates/drf_spectacular/ to carry
#   the nonce and to load no Google Fonts. /api/redoc/ alone also allows inline <style> elements, blob:
#   workers and Redocly's logo image (circletel/urls.py says why).
# CSP_REPORT_URI (optional) receives violation reports; CSP_REPORT_ONLY=true sends the same policy as
# Content-Security-Policy-Report-Only (to try a change in production without breaking pages).
from urllib.parse import urlsplit  # noqa: E402

from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE  # noqa: E402


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


_csp_form_action = [SELF, _origin(NETCASH["PAYNOW_URL"])]  # noqa: F405
if STRIPE["SECRET_KEY"]:  # noqa: F405
    _csp_form_action.append("https://checkout.stripe.com")
if PAYPAL["CLIENT_ID"]:  # noqa: F405
    _csp_form_action.append("https://www.sandbox.paypal.com" if "sandbox" in PAYPAL["API_BASE"]  # noqa: F405
                            else "https://www.paypal.com")
_csp_report_uri = env("CSP_REPORT_URI", default="")
_csp_policy = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "style-src-elem": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [a for a in _csp_form_action if a],
        "report-uri": [_csp_report_uri] if _csp_report_uri else None,
    },
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp_policy
else:
    CONTENT_SECURITY_POLICY = _csp_policy

# Browser features no page of ours uses are off for us and anything we embed; `payment` stays ours (the
# Payment Request API, should a card form use it), `fullscreen` ours (PDF viewers).
PERMISSIONS_POLICY = {
    "accelerometer": [], "camera": [], "display-capture": [], "geolocation": [],
    "gyroscope": [], "hid": [], "idle-detection": [], "magnetometer": [], "microphone": [], "midi": [],
    "payment": ["self"], "fullscreen": ["self"], "publickey-credentials-get": ["self"], "serial": [],
    "screen-wake-lock": [], "usb": [], "xr-spatial-tracking": [], "browsing-topics": [],
}
