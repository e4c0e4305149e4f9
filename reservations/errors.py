"""Domain errors of the reservations app (all `ApplicationError`s; the DRF handler maps the status)."""

from circletel.errors import ApplicationError, ConflictError, NotFoundError


class ReservationError(ApplicationError):
    pass


RACE_CONDITION_LOST = "race_condition_lost"


class AlreadyReserved(ConflictError):
    """The puppy is not available any more (someone else reserved it, or it was sold). The API body
    carries the stable code `race_condition_lost` in `extra.code`, so clients can tell a lost race
    from other conflicts (issue 19)."""

    def __init__(self, message: str = "Sorry, this puppy has just been reserved by someone else.", extra=None):
        super().__init__(message, {"code": RACE_CONDITION_LOST, **(extra or {})})


class PuppyNotFound(NotFoundError):
    pass


class ReservationNotFound(NotFoundError):
    pass


class InvalidReservation(ReservationError):
    """Bad input; `extra["fields"]` holds the field errors."""


class InvalidTransition(ConflictError):
    pass


HOLD_LAPSED = "hold_lapsed"
RATE_LIMITED = "rate_limited"
HOLD_LIMIT_REACHED = "hold_limit_reached"


class HoldLapsed(ConflictError):
    """A PayPal approval arrived after the buyer's hold lapsed (expired, cancelled, or another buyer has
    the puppy): the order is not captured, no money is taken. `extra.code` is `hold_lapsed`."""

    def __init__(self, message: str = "Your reservation hold lapsed before the payment was completed, so we did "
                                      "not take the money. PayPal releases the approval; nothing was charged.",
                 extra=None):
        super().__init__(message, {"code": HOLD_LAPSED, **(extra or {})})


class TooManyRequests(ApplicationError):
    """Too many reservation attempts from one client address or for one email in the window (429).
    `extra`: `code` (`rate_limited`), `limit` (`ip` or `email`) and `retry_after` (seconds)."""

    status_code = 429

    def __init__(self, message: str = "Too many reservation attempts. Please try again in a few minutes.",
                 extra=None):
        super().__init__(message, {"code": RATE_LIMITED, **(extra or {})})

    @property
    def retry_after(self) -> int:
        return int(self.extra.get("retry_after") or 0)


class HoldLimitReached(ConflictError):
    """The buyer (email or client address) already holds as many unpaid reservations as allowed (409)."""

    def __init__(self, message: str, extra=None):
        super().__init__(message, {"code": HOLD_LIMIT_REACHED, **(extra or {})})


PROVIDER_NOT_OFFERED = "provider_not_offered"


class ProviderNotOffered(InvalidReservation):
    """The buyer chose a provider this listing does not offer (PayPal on a listing priced in rand: PayPal
    takes no ZAR, ADR 0014). A 400 before anything is held or sent; `extra.code` is
    `provider_not_offered`, `extra.fields.provider` the reason, `extra.offered` the providers that are."""

    def __init__(self, *, provider: str, currency: str, offered: list[str]):
        label = "PayPal" if provider == "paypal" else "Card"
        reason = (f"{label} is not available for this puppy: it is priced in {currency}, which {label} does not "
                  f"take. Please choose another way to pay.")
        super().__init__(reason, {"code": PROVIDER_NOT_OFFERED, "provider": provider, "currency": currency,
                                  "offered": offered, "fields": {"provider": [reason]}})
