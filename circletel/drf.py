"""Project-wide DRF building blocks (wired in settings.REST_FRAMEWORK)."""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser
from rest_framework.serializers import CharField, DictField, Serializer


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, with nesting deep enough to exhaust Python's recursion answered as a 400
    (a 2 KB body of 1,000 nested brackets was a RecursionError 500 on every JSON endpoint)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=&offset=` with a ceiling: at most 100 rows a page (a larger limit is cut to 100), and an
    offset a database can take (`limit=9223372036854775808` was a 500 on PostgreSQL: bigint out of
    range). A limit that is not a whole number of at least 1, or an offset not one of at least 0, is
    a 400 naming the parameter (DRF's paginator quietly used its default: `?offset=null` answered
    the first page, which the schema says is not a valid request)."""

    max_limit = 100
    max_offset = 10**12
    MINIMUM = {"limit": 1, "offset": 0}

    def _whole_number(self, request, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None or raw == "":  # like every optional query parameter here: empty is not given
            return None
        try:
            value = int(raw)
        except ValueError:  # also a string of more than 4,300 digits
            value = None
        if value is None or value < self.MINIMUM[name]:
            raise ValidationError({name: [f"Give a whole number of at least {self.MINIMUM[name]}."]})
        return value

    def get_limit(self, request):
        limit = self._whole_number(request, self.limit_query_param)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        return min(self._whole_number(request, self.offset_query_param) or 0, self.max_offset)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = self.MINIMUM[parameter["name"]]
            if parameter["name"] == "limit":
                parameter["description"] = f"Rows per page (default {self.default_limit}; at most {self.max_limit})."
        return parameters


class ErrorSerializer(Serializer):
    """The error envelope of every API refusal (`circletel.errors`): a message fit to
    show and an `extra` object (a validation error's `{"fields": {name: [messages]}}`, a domain
    error's details such as `code`, or `{}`)."""

    message = CharField(help_text="What went wrong, in words fit for the user.")
    extra = DictField(help_text='Details: `{"fields": {"<field>": ["<message>", ...]}}` for a validation '
                                'error, otherwise the error\'s own details (often `{}`).')


# Token first: an anonymous caller (or a bad token) gets 401 with `WWW-Authenticate: Token` rather than
# the 403 DRF answers when the first authenticator is the session.
API_AUTHENTICATION = [TokenAuthentication, SessionAuthentication]

# What the generic answers mean, for the schema (`document_error_responses`).
ERROR_DESCRIPTIONS = {
    400: "Invalid input: `message` \"Validation error\" with `extra.fields` naming each field and its "
         "messages, a body that is not JSON, or a request the service refuses (`message` says why).",
    401: "Not signed in, or the token is wrong (`WWW-Authenticate: Token`).",
    403: "Signed in but not allowed here (staff only, or the sign-in is not linked to a customer), or a "
         "session post without the CSRF token.",
    404: "No such object, or it is not yours (another customer's id answers exactly like a missing one).",
}


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: give every operation the 4xx answers it can return, in
    the error envelope (`ErrorSerializer`), where the view did not document them itself:

    - 401 and 403 when the operation needs a sign-in (no anonymous `{}` in its security);
      403 alone when a session is optional (a signed-in session post is CSRF-checked);
    - 400 when it takes a body or query parameters;
    - 404 when its path has parameters.

    And every optional query parameter is marked `allowEmptyValue`: DRF (and our views) read `?status=`
    as not given, as an HTML form's "any" option sends it.

    What the view declares (`@extend_schema(responses=...)`) is kept as is."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    if "Error" not in schemas:
        schemas["Error"] = {
            "type": "object",
            "properties": {"message": {"type": "string"}, "extra": {"type": "object", "additionalProperties": {}}},
            "required": ["message", "extra"],
        }
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            security = operation.get("security", [])
            codes = []
            params = operation.get("parameters", [])
            for param in params:
                if param["in"] == "query" and not param.get("required"):
                    param["allowEmptyValue"] = True
            if operation.get("requestBody") or any(p["in"] == "query" for p in params):
                codes.append(400)
            if security and {} not in security:
                codes += [401, 403]
            elif any("cookieAuth" in s for s in security):
                codes.append(403)
            if any(p["in"] == "path" for p in params):
                codes.append(404)
            for code in codes:
                responses.setdefault(str(code), {**error, "description": ERROR_DESCRIPTIONS[code]})
            operation["responses"] = dict(sorted(responses.items()))
    return result
