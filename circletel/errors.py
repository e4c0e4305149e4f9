"""One exception root for domain errors, and the DRF handler that maps it to JSON.

Services raise `ApplicationError` (or an app's subclass) with a message fit for the user and an
optional `extra` dict; API views answer `{"message": ..., "extra": ...}` with the subclass's status,
pages show the message through the messages framework.

One exception: a `circletel.http.ProviderError`'s message is for staff (it may quote the provider).
Payment services turn provider errors into customer words (`payments.provider_errors.classify`);
one that escapes to a page or an API answer anyway is shown through `public_message`, which
never repeats provider text, and is logged with its detail.

An `/api/...` URL that no endpoint matches is answered in the same envelope (`api_not_found`, the last
URL pattern), never Django's HTML page.
"""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    status_code = 400

    def __init__(self, message: str, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class NotFoundError(ApplicationError):
    status_code = 404


class ConflictError(ApplicationError):
    status_code = 409


logger = logging.getLogger(__name__)

PROVIDER_UNAVAILABLE_MESSAGE = "A service we rely on is not responding right now. Please try again shortly."
PROVIDER_REFUSED_MESSAGE = "A service we rely on could not complete this request. Please try again or contact us."


def _is_provider_error(exc: Exception) -> bool:
    from circletel.http import ProviderError  # circletel.http imports this module

    return isinstance(exc, ProviderError)


def public_message(exc: ApplicationError) -> str:
    """The words a customer may see for `exc`: its message, unless it is a provider's error."""
    if not _is_provider_error(exc):
        return exc.message
    logger.warning("provider error shown to a user as a generic message: %s (%s)", exc.message,
                   getattr(exc, "raw", "")[:300])
    return PROVIDER_UNAVAILABLE_MESSAGE if exc.retryable else PROVIDER_REFUSED_MESSAGE


def error_body(exc: ApplicationError) -> dict:
    """The JSON an API answers for `exc`: `{"message", "extra"}` (a provider's error: our words and
    whether trying again can help, nothing of the provider's)."""
    extra = {"retryable": exc.retryable} if _is_provider_error(exc) else exc.extra
    return {"message": public_message(exc), "extra": extra}


def drf_exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        response.data = {"message": "Validation error", "extra": {"fields": response.data}}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"message": str(response.data["detail"]), "extra": {}}
    return response


NOT_FOUND_MESSAGE = "There is no API endpoint at this URL."


@csrf_exempt  # an unknown URL answers 404 to every method, also to a post without a CSRF token
def api_not_found(request, exception=None):
    """Any `/api/...` URL no endpoint matches: 404 in the error envelope, not the HTML page. A GET or
    HEAD that misses only the trailing slash of an endpoint is redirected to it (what APPEND_SLASH
    did before this catch-all matched every /api/ path); other methods are told the right URL, as a
    redirect would lose their body."""
    path = request.path_info
    if not path.endswith("/") and settings.APPEND_SLASH:
        try:
            match = resolve(path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not api_not_found:
            target = request.get_full_path(force_append_slash=True)
            if request.method in ("GET", "HEAD"):
                return HttpResponsePermanentRedirect(target)
            return JsonResponse({"message": f"{NOT_FOUND_MESSAGE} Did you mean {path}/ (with the slash)?",
                                 "extra": {"path": path + "/"}}, status=404)
    return JsonResponse({"message": NOT_FOUND_MESSAGE, "extra": {}}, status=404)


def not_found(request, exception=None):
    """The project's 404 handler (`handler404`): JSON for `/api/...`, the HTML page everywhere else."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"message": "Not found.", "extra": {}}, status=404)
    return page_not_found(request, exception)
