"""CircleTel Billing settings.

Every value comes from the environment through django-environ (a `.env` file in the project
root is read when present). `.env.example` documents each variable.
"""

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
    "django.contrib.admin",
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
    "circletel",
    "billing",
    "payments",
    "zoho_sync",
    "reservations",
    "notifications",
]

MIDDLEWARE = [
    "circletel.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
AUTHENTICATION_BACKENDS = ["circletel.auth.EmailBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

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
# Console in development; any django-anymail provider in production by setting EMAIL_BACKEND and
# ANYMAIL (e.g. EMAIL_BACKEND=anymail.backends.resend.EmailBackend + RESEND_API_KEY).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="CircleTel Billing <billing@circletel.co.za>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
ANYMAIL = {
    "RESEND_API_KEY": env("RESEND_API_KEY", default=""),
    "RESEND_SIGNING_SECRET": env("RESEND_SIGNING_SECRET", default=""),
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
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    Q_CLUSTER["poll"] = 1
Q_CLUSTER["sync"] = env.bool("Q_SYNC", default=False)  # run tasks inline (tests)

# --- REST framework / OpenAPI -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "circletel.errors.drf_exception_handler",
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CircleTel Billing API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Schema-quality warnings are not deployment problems: keep them out of `check --deploy` (which must be
    # clean in production); lint the schema with `manage.py spectacular --validate --fail-on-warn` instead.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    # Swagger UI / Redoc assets served from our own static files (drf-spectacular-sidecar), no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
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
        "django_q": {"level": env("Q_LOG_LEVEL", default="WARNING"), "propagate": True},
    },
}

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
