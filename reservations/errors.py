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
