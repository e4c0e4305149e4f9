"""Request guards that answer before any view runs."""

from django.http import HttpResponseBadRequest

NUL = "\x00"


def _has_nul(request) -> bool:
    parts = [request.path, *request.COOKIES.keys(), *request.COOKIES.values()]
    for key, values in request.GET.lists():
        parts += [key, *values]
    return any(NUL in part for part in parts)


class RejectNulBytesMiddleware:
    """400 "Request contains a NUL byte" for a NUL (`%00`) in the path, a query-string key or value, or a cookie.

    PostgreSQL text cannot hold a NUL: wherever such a value reaches a query (an admin list filter, a char primary
    key in an admin URL, a session key unquoted from a cookie's `"...\\000"`) the database raises DataError, a 500,
    and no legitimate client sends one. The body is not read here: webhook views read the raw stream themselves,
    and form fields already refuse NUL (`ProhibitNullCharactersValidator`). Django logs the 400 (django.request).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            return HttpResponseBadRequest("Request contains a NUL byte", content_type="text/plain; charset=utf-8")
        return self.get_response(request)
