"""Demo data for the ZOHO sync dashboard: a realistic mix of sync states and a few SyncLog rows,
and the demo's refunded payments: one sent to ZOHO's refund endpoint, one ZOHO refused waiting on the
"refunds to enter in ZOHO" list (no alert is sent).

Idempotent: states are a pure function of each row's id, and log rows are found by their demo
marker before being created, so running `manage.py seed_demo` twice changes nothing.
"""

from datetime import timedelta

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from zoho_sync.models import RefundManualEntry, RefundPush, SyncLog, SyncStatus, SyncWait
from zoho_sync.services.sync import (
    DEPENDENCY_ORDER,
    ENTITY_MODELS,
    MIRRORED_PAYMENT_STATUSES,
    NOT_MIRRORED_NOTE,
    REVERSED_PAYMENT_STATUS,
)

PER_TYPE = 25
ERRORS = {
    "failed": "ZohoValidationError: ZOHO rejected POST /customers (400, code 3062): The email address is invalid",
    "retrying": "ZohoServerError: ZOHO server error on GET /invoices: 503",
}


def _state_for(pk: int) -> str:
    slot = pk % 10
    if slot == 7:
        return SyncStatus.PENDING
    if slot == 8:
        return SyncStatus.RETRYING
    if slot == 9 and pk % 20 == 9:
        return SyncStatus.FAILED
    return SyncStatus.SYNCED


def seed_demo(stdout) -> None:
    now = timezone.now().replace(second=0, microsecond=0)
    counts = {}
    with transaction.atomic():
        for entity_type in DEPENDENCY_ORDER:
            model = apps.get_model(ENTITY_MODELS[entity_type])
            rows = list(model.objects.order_by("pk").values_list("pk", flat=True)[:PER_TYPE])
            not_mirrored, refunded = set(), set()
            if entity_type == "payment":  # as the real sync: declined/pending payments are skipped, never sent
                not_mirrored = set(model.objects.filter(pk__in=rows).exclude(
                    status__in=[*MIRRORED_PAYMENT_STATUSES, REVERSED_PAYMENT_STATUS]).values_list("pk", flat=True))
                # Refunded payments are in ZOHO whatever their pk, so the refund push / manual list shows.
                refunded = set(model.objects.filter(pk__in=rows, amount_refunded__gt=0).values_list("pk", flat=True))
            for pk in rows:
                if pk in not_mirrored:
                    _skipped_payment(model, pk, now)
                    continue
                state = SyncStatus.SYNCED if pk in refunded else _state_for(pk)
                fields = {"zoho_sync_status": state, "zoho_last_error": ERRORS.get(state, "")}
                if state == SyncStatus.SYNCED:
                    fields.update(zoho_id=f"90300{pk:010d}", zoho_attempts=0, zoho_next_attempt_at=None)
                elif state == SyncStatus.RETRYING:
                    fields.update(zoho_attempts=3, zoho_next_attempt_at=now + timedelta(minutes=8))
                elif state == SyncStatus.FAILED:
                    fields.update(zoho_attempts=10, zoho_next_attempt_at=None)
                model.objects.filter(pk=pk).update(**fields)
                if not model.objects.filter(pk=pk, zoho_last_synced_at__isnull=False).exists() and \
                        state == SyncStatus.SYNCED:
                    model.objects.filter(pk=pk).update(zoho_last_synced_at=now)
                status = {SyncStatus.SYNCED: SyncLog.Status.SUCCESS, SyncStatus.PENDING: None}.get(
                    state, SyncLog.Status.FAILED)
                if status is None:
                    continue
                marker = {"demo": True, "entity": f"{entity_type}:{pk}"}
                if not SyncLog.objects.filter(entity_type=entity_type, entity_id=pk, request_summary=marker).exists():
                    SyncLog.objects.create(
                        entity_type=entity_type, entity_id=pk,
                        action=SyncLog.Action.CREATE if status == SyncLog.Status.SUCCESS else SyncLog.Action.UPDATE,
                        status=status, zoho_id=fields.get("zoho_id", ""), request_summary=marker,
                        response_summary={"code": 0} if status == SyncLog.Status.SUCCESS else {},
                        duration_ms=180 + pk % 400, error=ERRORS.get(state, ""))
            counts[entity_type] = len(rows)
        refunds_sent, refunds = _refunds_awaiting_entry(now)
        waiting = _waiting_monthly_invoices(now)
    stdout.write("zoho_sync: demo sync states on " + ", ".join(f"{n} {k}s" for k, n in counts.items())
                 + f"; {refunds_sent} refund(s) sent to ZOHO, {refunds} refund(s) to enter in ZOHO by hand; {waiting} monthly invoice(s) waiting for ZOHO\n")


def _skipped_payment(model, pk: int, now) -> None:
    model.objects.filter(pk=pk).update(zoho_sync_status=SyncStatus.SYNCED, zoho_id="", zoho_last_error="",
                                       zoho_attempts=0, zoho_next_attempt_at=None, zoho_last_synced_at=now)
    marker = {"demo": True, "entity": f"payment:{pk}"}
    if not SyncLog.objects.filter(entity_type="payment", entity_id=pk, request_summary=marker).exists():
        SyncLog.objects.create(entity_type="payment", entity_id=pk, action=SyncLog.Action.SKIP,
                               status=SyncLog.Status.SKIPPED, request_summary=marker, response_summary={},
                               duration_ms=0, error=NOT_MIRRORED_NOTE)


def _refunds_awaiting_entry(now) -> tuple[int, int]:
    """Refunded demo payments already in ZOHO, as the payment sync would leave them: a refund in full
    sent with POST /payments/{id}/refunds (a saved RefundPush); a partial refund of the EFT that ZOHO
    refused (its spec applies refunds to `autotransaction` payments) waiting on the "refunds to enter
    in ZOHO" list (no alert is sent). Found by payment (and the unique (payment, total) of the entry)
    on a second run: nothing is added. Returns (sent, to enter by hand)."""
    Payment = apps.get_model("payments.PaymentTransaction")
    refunded = Payment.objects.filter(amount_refunded__gt=0, zoho_sync_status=SyncStatus.SYNCED).exclude(zoho_id="")
    sent = manual = 0
    for payment in refunded.order_by("pk"):
        full = payment.amount_refunded >= payment.amount
        if not RefundPush.objects.filter(payment=payment).exists():
            RefundPush.objects.create(
                payment=payment, zoho_payment_id=payment.zoho_id, amount=payment.amount_refunded,
                zoho_total_before=0, target_total=payment.amount_refunded,
                description=f"CircleTel refund on {payment.reference}; refunded in total {payment.amount_refunded}",
                state=RefundPush.State.SAVED if full else RefundPush.State.REFUSED,
                zoho_refund_id=f"90400{payment.pk:010d}" if full else "",
                error="" if full else "ZOHO error 4: Refunds are applicable only for autotransaction payments.",
                answered_at=now)
        if full:
            sent += 1
            continue
        RefundManualEntry.objects.get_or_create(
            payment=payment, refunded_total=payment.amount_refunded,
            defaults={"previous_total": 0, "zoho_payment_id": payment.zoho_id, "alerted_at": now,
                      "reason": RefundManualEntry.Reason.REFUSED, "zoho_total": 0})
        manual += 1
    return sent, manual


def _waiting_monthly_invoices(now) -> int:
    """Demo monthly invoices still pending: shown as waiting for ZOHO's own invoice (not failures)."""
    model = apps.get_model(ENTITY_MODELS["invoice"])
    rows = model.objects.filter(invoice_type="recurring", replaces__isnull=True, zoho_id="",
                                zoho_sync_status=SyncStatus.PENDING, period_start__isnull=False)[:5]
    for invoice in rows:
        model.objects.filter(pk=invoice.pk).update(zoho_attempts=0, zoho_next_attempt_at=now + timedelta(minutes=40),
                                                   zoho_last_error="waiting for ZOHO: ZOHO has not generated the "
                                                                   "invoice for this period yet")
        SyncWait.objects.get_or_create(entity_type="invoice", entity_id=invoice.pk, defaults={
            "reason": "ZOHO has not generated the invoice for this period yet", "due_on": invoice.period_start})
    return len(rows)
