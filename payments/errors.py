from circletel.errors import ApplicationError, NotFoundError


class PaymentError(ApplicationError):
    pass


class PaymentMethodLimitReached(PaymentError):
    """The customer already has `settings.PAYMENT_METHODS_MAX_PER_CUSTOMER` saved methods (409: it
    conflicts with what is stored; removing one makes the same request succeed)."""

    status_code = 409


class PaymentInProgress(PaymentError):
    """Another payment attempt for the same invoice is live or going through (409: wait for it, or use it)."""

    status_code = 409


class AmountDueChanged(PaymentError):
    """The invoice's amount due is not the amount the customer agreed to pay (409; `extra.amount_due`)."""

    status_code = 409


class PaymentNotFound(NotFoundError):
    pass


class NotifyRejected(ApplicationError):
    """A provider notification we refuse: the view answers `status_code` with the reason."""

    def __init__(self, message: str, *, status_code: int = 400, extra: dict | None = None):
        super().__init__(message, extra)
        self.status_code = status_code
