"""Errors a registered webhook handler may raise."""


class IgnoreEvent(Exception):
    """Raised by a handler to mark an event ignored (nothing to do) with a reason."""
