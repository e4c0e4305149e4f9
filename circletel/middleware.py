"""Request guards that answer before any view runs."""

from django.http import HttpResponseBadRequest, JsonResponse

from circletel.text import NUL, utf8_encodable

FORM_TYPE = "application/x-www-form-urlencoded"


def _refusal(request) -> str:
    """Why the request is refused ("" when it is fine)."""
    parts = [request.path, *request.COOKIES.keys(), *request.COOKIES.values()]
    for key, values in request.GET.lists():
        parts += [key, *values]
    if any(NUL in part for part in parts) or _form_body_has_nul(request):
        return "Request contains a NUL byte"
    if not all(utf8_encodable(part) for part in parts):
        return "Request contains an unpaired surrogate character"
    return ""



def _form_body_has_nul(request) -> bool:
    """A form body (url-encoded: a page's form, NetCash's notify; or multipart) with a NUL. Read as bytes: `request.body`
    keeps the bytes, so a view that reads the raw stream afterwards still gets all of it, and a body
    over DATA_UPLOAD_MAX_MEMORY_SIZE is Django's own 400 (RequestDataTooBig)."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return False
    content_type = (request.content_type or "").lower()
    if content_type == FORM_TYPE:
        body = request.body
        return b"\x00" in body or b"%00" in body
    if content_type == "multipart/form-data":
        # Parsed once here and kept on the request for the view (no view reads a multipart body raw).
        return any(NUL in part for key, values in request.POST.lists() for part in (key, *values))
    return False


class RejectNulBytesMiddleware:
    """400 "Request contains a NUL byte" for a NUL (`%00`) in the path, a query-string key or value, a cookie or a
    url-encoded form body (the public /pay/ form read request.POST straight into a query: a 500).

    PostgreSQL text cannot hold a NUL: wherever such a value reaches a query (an admin list filter, a char primary
    key in an admin URL, a session key unquoted from a cookie's `"...\\000"`) the database raises DataError, a 500,
    and no legitimate client sends one. JSON and multipart bodies are left to their parsers and forms
    (`ProhibitNullCharactersValidator`); the webhook inbox refuses NUL in event ids. Django logs the 400.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.encoding and request.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
            # We decode query strings and form bodies as UTF-8 whatever the client declares (RFC 1866
            # and WHATWG say form bodies are UTF-8): a declared `charset=utf-7` turned `%2B2AA-` into a
            # lone surrogate (a 500 in the database), and a non-UTF-8 url-encoded form was a
            # BadRequest that Django's own error pages re-raised (a 500).
            request.encoding = "utf-8"
        if refused := _refusal(request):
            if request.path_info.startswith("/api/"):  # the API's error envelope (circletel/errors.py)
                return JsonResponse({"message": f"{refused}.", "extra": {}}, status=400)
            return HttpResponseBadRequest(refused, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
