"""Domain errors of the reservations app (all `ApplicationError`s; the DRF handler maps the status)."""

from circletel.errors import ApplicationError, ConflictError, NotFoundError


class ReservationError(ApplicationError):
    pass


class AlreadyReserved(ConflictError):
    """The puppy is not available any more (someone else reserved it, or it was sold)."""

    def __init__(self, message: str = "Sorry, this puppy has just been reserved by someone else.", extra=None):
        super().__init__(message, extra)


class PuppyNotFound(NotFoundError):
    pass


class ReservationNotFound(NotFoundError):
    pass


class InvalidReservation(ReservationError):
    """Bad input; `extra["fields"]` holds the field errors."""


class InvalidTransition(ConflictError):
    pass
