"""Encryption at rest for bank details (Fernet / MultiFernet).

Keys come from `settings.FIELD_ENCRYPTION_KEYS` (a list; the first key encrypts, every key
decrypts, so keys can be rotated by prepending a new one). The stored value is a Fernet token:
no plaintext digits reach the database column, logs or admin pages. Loaded lazily so a missing key
is a clear `ImproperlyConfigured` at the point of use, never a silent plaintext write.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _fernet() -> MultiFernet:
    keys = [k for k in (getattr(settings, "FIELD_ENCRYPTION_KEYS", None) or []) if k]
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set: bank details cannot be stored.")
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds an invalid Fernet key.") from exc


def encrypt_text(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt_text(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("Stored bank details cannot be decrypted with the configured keys.") from exc


def encrypt_json(data: dict) -> str:
    return encrypt_text(json.dumps(data, sort_keys=True))


def decrypt_json(token: str) -> dict:
    return json.loads(decrypt_text(token)) if token else {}


def rotate(token: str) -> str:
    """Re-encrypt a token under the first (newest) key."""
    return _fernet().rotate(token.encode()).decode()
