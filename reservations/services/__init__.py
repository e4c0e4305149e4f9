"""Reservation writes. Import from here: `from reservations.services import reserve, AlreadyReserved`."""

from reservations.errors import (
    AlreadyReserved,
    InvalidReservation,
    InvalidTransition,
    PuppyNotFound,
    ReservationError,
    ReservationNotFound,
)
from reservations.services.conversions import reservation_send_conversions
from reservations.services.deposit_checkout import (
    checkout_urls,
    paypal_order_for_reservation,
    reservation_paypal_capture,
    reservation_start_checkout,
    sandbox_approve,
    sandbox_decline,
    sandbox_webhook_secret,
)
from reservations.services.deposits import (
    deposit_charge_refunded,
    deposit_refund_update,
    expire_reservations,
    puppy_mark_sold,
    reservation_cancel,
    reservation_confirm_payment,
    reservation_mark_refunded,
    reservation_refund,
    reservation_request_refund,
    reservations_retry_refunds,
    reserve,
)

__all__ = [
    "AlreadyReserved", "checkout_urls", "deposit_charge_refunded", "deposit_refund_update", "paypal_order_for_reservation", "reservation_mark_refunded",
    "reservation_paypal_capture", "InvalidReservation", "InvalidTransition", "PuppyNotFound", "ReservationError",
    "ReservationNotFound", "expire_reservations", "puppy_mark_sold", "reservation_cancel",
    "reservation_confirm_payment", "reservation_refund", "reservation_request_refund", "reservation_send_conversions",
    "reservation_start_checkout", "reservations_retry_refunds", "reserve", "sandbox_approve", "sandbox_decline",
    "sandbox_webhook_secret",
]
