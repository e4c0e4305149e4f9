"""Security response headers Django 5.2 does not set itself: Permissions-Policy.

The other headers come from elsewhere: Content-Security-Policy from django-csp's
`csp.middleware.CSPMiddleware` (policy in settings: `CONTENT_SECURITY_POLICY`), X-Content-Type-Options,
Referrer-Policy and Cross-Origin-Opener-Policy from Django's `SecurityMiddleware`, X-Frame-Options from
`XFrameOptionsMiddleware`.
"""

from __future__ import annotations

from django.conf import settings

HEADER = "Permissions-Policy"


def permissions_policy_header(policy: dict[str, list[str]]) -> str:
    """`{"camera": [], "payment": ["self"]}` -> `camera=(), payment=(self)`.

    An empty list turns the feature off everywhere; `self` and `*` are written bare, origins quoted
    (the header is a structured-fields dictionary of inner lists)."""
    def item(allow: str) -> str:
        return allow if allow in ("self", "*") else f'"{allow}"'

    return ", ".join(f"{feature}=({' '.join(item(a) for a in allowlist)})" for feature, allowlist in policy.items())


class PermissionsPolicyMiddleware:
    """Adds `Permissions-Policy` (settings.PERMISSIONS_POLICY) to every response that has none."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        header = permissions_policy_header(getattr(settings, "PERMISSIONS_POLICY", {}))
        if header and HEADER not in response:
            response[HEADER] = header
        return response
