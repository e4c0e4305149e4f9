"""Project-wide DRF building blocks (wired in settings.REST_FRAMEWORK)."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, with nesting deep enough to exhaust Python's recursion answered as a 400
    (a 2 KB body of 1,000 nested brackets was a RecursionError 500 on every JSON endpoint)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type=media_type, parser_context=parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=&offset=` with a ceiling: at most 100 rows a page, and an offset a database can take
    (`limit=9223372036854775808` was a 500 on PostgreSQL: bigint out of range)."""

    max_limit = 100
    max_offset = 10**12

    def get_offset(self, request):
        return min(super().get_offset(request), self.max_offset)
