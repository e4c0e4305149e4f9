"""django-q2 entry points: take ids, call one service."""

from circletel.jobs import job_run
from reservations import services


def send_conversions(reservation_id: int) -> list[str]:
    return services.reservation_send_conversions(reservation_id=reservation_id)


def refund_reservation(reservation_id: int) -> int:
    return services.reservation_refund(reservation_id=reservation_id).pk


def refund_unmatched_payment(unmatched_id: int) -> int:
    return services.unmatched_payment_refund(unmatched_id=unmatched_id).pk


def expire_reservations_job(triggered_by: str = "schedule") -> int:
    """Every 5 minutes: expire lapsed holds, retry owed refunds (deposits and unmatched payments) and
    conversions that failed (webhook alerts: inbox.tasks.webhook_health_alert)."""
    with job_run("expire_reservations", triggered_by=triggered_by) as run:
        result = services.expire_reservations()
        run.processed += result.expired
        run.skipped += result.skipped
        refunded, refund_failed = services.reservations_retry_refunds()
        returned, return_failed = services.unmatched_payments_retry_refunds()
        conversions = services.reservations_retry_conversions()
        run.details.update(expired=result.expired, refunds_succeeded=refunded, refunds_failed=refund_failed,
                           unmatched_refunded=returned, unmatched_refunds_failed=return_failed,
                           conversions_sent=conversions)
        run.failed += refund_failed + return_failed
    return run.id
