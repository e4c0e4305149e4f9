"""Reservation writes. Import from here: `from reservations.services import reserve, AlreadyReserved`."""

from reservations.errors import (
    AlreadyReserved,
    InvalidReservation,
    InvalidTransition,
    ProviderNotOffered,
    PuppyNotFound,
    ReservationError,
    ReservationNotFound,
)
from reservations.services.conversions import reservation_send_conversions, reservations_retry_conversions
from reservations.services.deposit_checkout import (
    checkout_urls,
    paypal_order_for_reservation,
    reservation_confirm_from_return,
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
from reservations.services.unmatched import (
    unmatched_payment_record,
    unmatched_payment_refund,
    unmatched_payment_request_refund,
    unmatched_payment_resolve,
    unmatched_payments_retry_refunds,
)

__all__ = [
    "AlreadyReserved", "checkout_urls", "deposit_charge_refunded", "deposit_refund_update", "paypal_order_for_reservation", "reservation_mark_refunded",
    "reservation_paypal_capture", "InvalidReservation", "InvalidTransition", "ProviderNotOffered", "PuppyNotFound", "ReservationError",
    "ReservationNotFound", "expire_reservations", "puppy_mark_sold", "reservation_cancel",
    "reservation_confirm_payment", "reservation_refund", "reservation_request_refund", "reservation_send_conversions",
    "reservation_start_checkout", "reservations_retry_refunds", "reserve", "sandbox_approve", "sandbox_decline",
    "sandbox_webhook_secret", "reservation_confirm_from_return", "reservations_retry_conversions",
    "unmatched_payment_record", "unmatched_payment_refund", "unmatched_payment_request_refund",
    "unmatched_payment_resolve", "unmatched_payments_retry_refunds",
]
