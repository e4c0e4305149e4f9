"""Text PostgreSQL can store: no NUL and no unpaired surrogates (either is a DataError, a 500)."""

NUL = "\x00"


def utf8_encodable(text: str) -> bool:
    """False for a lone surrogate (`"\\ud800"`), which a client can smuggle in through JSON escapes or
    a declared `charset=utf-7`."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def storable(text: str) -> bool:
    return NUL not in text and utf8_encodable(text)


def make_storable(text: str) -> str:
    """The same text with NUL and lone surrogates written as escapes (for error messages we keep)."""
    return text.replace(NUL, "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
