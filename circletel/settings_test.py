"""Test settings: the production settings with safe, fast, offline values."""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", "Wm9vZy1UZXN0LUtleS1Pbmx5LUZvci1UZXN0cy0xMjM=")
os.environ.setdefault("NETCASH_PAYNOW_HMAC_SECRET", "test-paynow-hmac-secret")
os.environ.setdefault("NETCASH_NOTIFY_TOKEN", "test-notify-token-0123456789abcdef0123456789abcdef")
os.environ.setdefault("SANDBOX_GATEWAY_ENABLED", "true")
os.environ.setdefault("LEASE_HEARTBEAT_THREAD", "false")  # tests renew leases on demand (circletel.leases.beat)
os.environ.setdefault("DEMO_DATA_ALLOWED", "true")  # the demo tests seed with DEBUG off  # explicit: tests run with DEBUG off

from circletel.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
MEDIA_ROOT = os.environ.get("TEST_MEDIA_ROOT", "/tmp/circletel-test-media")
LOGGING["handlers"]["console"]["level"] = "WARNING"  # noqa: F405
SILENCED_SYSTEM_CHECKS = ["circletel.W001"]  # the sandbox gateway is explicitly on in tests
STATIC_ROOT = os.environ.get("TEST_STATIC_ROOT", "/tmp/circletel-test-static")
os.makedirs(STATIC_ROOT, exist_ok=True)  # whitenoise warns on every request when it is missing
