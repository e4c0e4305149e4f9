"""The sync worker's services: claim a row, upsert it in ZOHO idempotently, record the outcome.

    entity_sync(entity_type="payment", pk=7)            # what the task and commands call

Flow for one entity (no transaction is open during any HTTP call):
1. `entity_claim`: lock the row with `select_for_update(skip_locked=True)` and move it to
   `syncing` with a lease (`zoho_next_attempt_at` = now + STALE_MINUTES). A row that another worker
   holds, that is already synced, failed (needs a human or `--force`), or not yet due is left alone:
   that is also the debounce (five changes, five tasks, one ZOHO call).
2. Prerequisites first: customer before subscription / invoice / payment, invoice before payment
   (`_ensure_synced`, which syncs them inline under their own claim).
3. Upsert: the stored ZOHO id, else a search by our reference (account-number custom field / email,
   subscription `reference_id`, invoice `reference_number`, payment `reference_number`), else
   create. A crash after ZOHO created the record but before we saved its id is therefore harmless.
4. `_finish_*`: synced (only if nothing changed meanwhile: the lease value is compared, and
   `enqueue_sync` moves it), or retrying with backoff 1, 2, 4 ... minutes capped at 4 hours, and
   failed after MAX_ATTEMPTS. One SyncLog row per attempt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from circletel.errors import ApplicationError
from circletel.money import format_zar
from zoho_sync.clients.zoho import ZohoClient, ZohoNotFoundError, ZohoValidationError, get_client
from zoho_sync.models import RefundManualEntry, SyncLog, SyncStatus
from zoho_sync.services import mappers

# entity type -> "app.Model": filled by the apps that own the mirrored models, from their
# AppConfig.ready() (`register_mirrored_model`: billing registers customer, service, invoice and the
# credit note; payments the payment), so zoho_sync imports no domain app.
ENTITY_MODELS: dict[str, str] = {}
RELATED_MODELS: dict[str, str] = {}  # models synced as part of an entity (credit notes with their invoice)
DEPENDENCY_ORDER = ("customer", "service", "invoice", "payment")


def register_mirrored_model(entity_type: str, label: str, *, part_of: str | None = None) -> None:
    """Tell the mirror which model an entity type is (`part_of`: synced with that entity, not alone)."""
    (RELATED_MODELS if part_of else ENTITY_MODELS)[entity_type] = label
BACKOFF_CAP_MINUTES = 240
logger = logging.getLogger(__name__)


class ZohoSyncError(ApplicationError):
    """A sync could not complete (the message is shown to staff)."""


class SyncNotReady(ZohoSyncError):
    """Nothing is wrong yet; try later (ZOHO has not generated a recurring invoice, or a prerequisite
    is being synced by another worker)."""


class PlanMissingError(ZohoSyncError):
    pass


class TotalsMismatchError(ZohoSyncError):
    pass


def model_for(entity_type: str):
    try:
        return apps.get_model(ENTITY_MODELS[entity_type])
    except KeyError:
        raise ZohoSyncError(f"unknown entity type {entity_type!r}; use one of {', '.join(ENTITY_MODELS)}")


def _conf(key: str, default):
    return getattr(settings, "ZOHO_SYNC", {}).get(key, default)


def backoff_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after the 1st, 2nd, 3rd ... failure, capped at 4 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), BACKOFF_CAP_MINUTES))


@dataclass
class Claim:
    entity_type: str
    pk: int
    lease: object  # datetime written to zoho_next_attempt_at; compared on finish


@dataclass
class SyncResult:
    entity_type: str
    pk: int
    status: str  # synced | retrying | failed | skipped (not claimed)
    zoho_id: str = ""
    action: str = ""
    error: str = ""
    duration_ms: int = 0
    log_id: int | None = None
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("synced", "skipped")


@dataclass
class Outcome:
    action: str
    zoho_id: str
    request: dict = field(default_factory=dict)
    response: dict = field(default_factory=dict)
    log_status: str = SyncLog.Status.SUCCESS
    note: str = ""


def entity_claim(*, entity_type: str, pk: int, force: bool = False) -> Claim | None:
    """Move the row to `syncing` if it is this worker's to sync now; None when it is not."""
    model = model_for(entity_type)
    now = timezone.now()
    with transaction.atomic():
        row = (model.objects.select_for_update(skip_locked=True).filter(pk=pk)
               .values("zoho_sync_status", "zoho_next_attempt_at").first())
        if row is None:
            return None
        status, due = row["zoho_sync_status"], row["zoho_next_attempt_at"]
        if status == SyncStatus.SYNCING and due and due > now:
            return None  # another worker holds a live lease
        if not force:
            if status in (SyncStatus.SYNCED, SyncStatus.FAILED):
                return None
            if status in (SyncStatus.PENDING, SyncStatus.RETRYING) and due and due > now:
                return None
        lease = now + timedelta(minutes=_conf("STALE_MINUTES", 30))
        model.objects.filter(pk=pk).update(zoho_sync_status=SyncStatus.SYNCING, zoho_next_attempt_at=lease)
    return Claim(entity_type, pk, lease)


def _finish_success(claim: Claim, zoho_id: str) -> bool:
    """Mark synced unless the row changed during the sync; then it goes back to pending (True)."""
    model = model_for(claim.entity_type)
    now = timezone.now()
    done = model.objects.filter(pk=claim.pk, zoho_sync_status=SyncStatus.SYNCING,
                                zoho_next_attempt_at=claim.lease).update(
        zoho_sync_status=SyncStatus.SYNCED, zoho_id=zoho_id, zoho_last_synced_at=now, zoho_last_error="",
        zoho_attempts=0, zoho_next_attempt_at=None)
    if done:
        return False
    model.objects.filter(pk=claim.pk).update(zoho_id=zoho_id, zoho_last_synced_at=now, zoho_last_error="")
    model.objects.filter(pk=claim.pk, zoho_sync_status=SyncStatus.SYNCING).update(
        zoho_sync_status=SyncStatus.PENDING, zoho_next_attempt_at=now, zoho_attempts=0)
    return True


def _finish_failure(claim: Claim, error: str) -> tuple[str, timezone.datetime | None]:
    model = model_for(claim.entity_type)
    attempts = (model.objects.filter(pk=claim.pk).values_list("zoho_attempts", flat=True).first() or 0) + 1
    max_attempts = _conf("MAX_ATTEMPTS", 10)
    if attempts >= max_attempts:
        status, next_at = SyncStatus.FAILED, None
    else:
        status, next_at = SyncStatus.RETRYING, timezone.now() + backoff_delay(attempts)
    model.objects.filter(pk=claim.pk).update(zoho_sync_status=status, zoho_attempts=attempts,
                                             zoho_last_error=error[:2000], zoho_next_attempt_at=next_at)
    return status, next_at


def _log(*, entity_type: str, pk: int, outcome: Outcome | None, error: str = "", duration_ms: int) -> SyncLog:
    if outcome is None:
        return SyncLog.objects.create(entity_type=entity_type, entity_id=pk, action=SyncLog.Action.UPDATE,
                                      status=SyncLog.Status.FAILED, error=error[:2000], duration_ms=duration_ms)
    return SyncLog.objects.create(entity_type=entity_type, entity_id=pk, action=outcome.action,
                                  status=outcome.log_status, zoho_id=outcome.zoho_id,
                                  request_summary=outcome.request, response_summary=outcome.response,
                                  error=outcome.note[:2000], duration_ms=duration_ms)


def entity_sync(*, entity_type: str, pk: int, force: bool = False, client: ZohoClient | None = None) -> SyncResult:
    """Claim, sync and record one entity. Never raises for ZOHO problems: the result says what happened."""
    if transaction.get_connection().in_atomic_block and not getattr(settings, "ZOHO_SYNC_ALLOW_IN_ATOMIC", False):
        raise ZohoSyncError("entity_sync makes HTTP calls: call it outside a transaction (enqueue it on commit)")
    claim = entity_claim(entity_type=entity_type, pk=pk, force=force)
    if claim is None:
        return SyncResult(entity_type, pk, "skipped", details={"reason": "not due, already synced, or locked"})
    return _run_claimed(claim, client=client)


def _run_claimed(claim: Claim, *, client: ZohoClient | None) -> SyncResult:
    t0 = time.monotonic()
    try:
        client = client or get_client()
        obj = model_for(claim.entity_type).objects.get(pk=claim.pk)
        outcome = SYNCERS[claim.entity_type](obj, client)
    except Exception as exc:  # recorded on the row and in the log; the task must not crash the worker
        duration = int((time.monotonic() - t0) * 1000)
        error = f"{type(exc).__name__}: {exc}"
        status, next_at = _finish_failure(claim, error)
        if isinstance(exc, SyncNotReady):
            log = _log(entity_type=claim.entity_type, pk=claim.pk, duration_ms=duration, outcome=Outcome(
                SyncLog.Action.SKIP, "", {}, {}, SyncLog.Status.SKIPPED, error))
        else:
            log = _log(entity_type=claim.entity_type, pk=claim.pk, outcome=None, error=error, duration_ms=duration)
        return SyncResult(claim.entity_type, claim.pk, str(status), error=error, duration_ms=duration,
                          log_id=log.pk, details={"next_attempt_at": next_at.isoformat() if next_at else None})
    duration = int((time.monotonic() - t0) * 1000)
    changed = _finish_success(claim, outcome.zoho_id)
    log = _log(entity_type=claim.entity_type, pk=claim.pk, outcome=outcome, duration_ms=duration)
    if changed and settings.ENABLE_ZOHO_SYNC:
        from zoho_sync.services.outbox import enqueue_task

        enqueue_task(claim.entity_type, claim.pk)
    return SyncResult(claim.entity_type, claim.pk, "synced", zoho_id=outcome.zoho_id, action=outcome.action,
                      duration_ms=duration, log_id=log.pk, details={"changed_during_sync": changed})


def _ensure_synced(entity_type: str, obj, client: ZohoClient) -> str:
    """The ZOHO id of a prerequisite, syncing it first (inline, under its own claim) if it has none."""
    obj.refresh_from_db(fields=["zoho_id", "zoho_sync_status"])
    if obj.zoho_id:
        return obj.zoho_id
    claim = entity_claim(entity_type=entity_type, pk=obj.pk, force=True)
    if claim is None:
        raise SyncNotReady(f"{entity_type} #{obj.pk} is being synced by another worker; retrying later")
    result = _run_claimed(claim, client=client)
    if result.status != "synced" or not result.zoho_id:
        raise ZohoSyncError(f"prerequisite {entity_type} #{obj.pk} could not be synced: {result.error}")
    return result.zoho_id


# --- Customer ---------------------------------------------------------------------------------------
def _find_customer(client: ZohoClient, customer) -> dict | None:
    candidates = client.find_customers_by_email(customer.email)
    by_account = [c for c in candidates if mappers.customer_account_number(c) == customer.account_number]
    if by_account:
        return by_account[0]
    same_email = [c for c in candidates if (c.get("email") or "").lower() == customer.email.lower()
                  and not mappers.customer_account_number(c)]
    return same_email[0] if same_email else None


def customer_sync(customer, client: ZohoClient) -> Outcome:
    body = mappers.customer_body(customer)
    req = mappers.summary(body, account_number=customer.account_number)
    if customer.zoho_id:
        try:
            zc = client.update_customer(customer.zoho_id, body)
            return Outcome(SyncLog.Action.UPDATE, zc["customer_id"], req, {"customer_id": zc["customer_id"]})
        except ZohoNotFoundError:
            pass  # deleted in ZOHO: find or recreate below
    found = _find_customer(client, customer)
    if found:
        zc = client.update_customer(found["customer_id"], body)
        return Outcome(SyncLog.Action.LINK, zc["customer_id"], req, {"customer_id": zc["customer_id"], "found": True})
    zc = client.create_customer(body)
    return Outcome(SyncLog.Action.CREATE, zc["customer_id"], req, {"customer_id": zc["customer_id"]})


# --- Service -> subscription -------------------------------------------------------------------------
def service_sync(service, client: ZohoClient) -> Outcome:
    if service.status == service.Status.PENDING and not service.zoho_id:
        return Outcome(SyncLog.Action.SKIP, "", {"service_status": service.status}, {},
                       SyncLog.Status.SKIPPED, "service not activated yet: the subscription is created on activation")
    customer_zoho_id = _ensure_synced("customer", service.customer, client)
    plan_code = mappers.plan_code_for(service.package_name)
    body = mappers.subscription_body(service, customer_zoho_id=customer_zoho_id, plan_code=plan_code)
    req = mappers.summary(body, plan_code=plan_code)
    subscription_id = service.zoho_id
    if not subscription_id:
        ref = body["reference_id"]
        existing = [s for s in client.list_subscriptions(customer_zoho_id) if s.get("reference_id") == ref]
        if existing:
            subscription_id = existing[0]["subscription_id"]
            action = SyncLog.Action.LINK
        else:
            try:
                client.get_plan(plan_code)
            except ZohoNotFoundError:
                raise PlanMissingError(
                    f"ZOHO has no plan with code '{plan_code}' for package '{service.package_name}': create the "
                    f"plan in ZOHO Billing or map the package in ZOHO_PLAN_CODES")
            sub = client.create_subscription(body)
            return Outcome(SyncLog.Action.CREATE, sub["subscription_id"], req,
                           {"subscription_id": sub["subscription_id"], "status": sub.get("status", "")})
    else:
        action = SyncLog.Action.UPDATE
    if service.status == service.Status.CANCELLED:
        client.cancel_subscription(subscription_id)
        return Outcome(action, subscription_id, req, {"cancelled": True})
    update = {k: v for k, v in body.items() if k in ("plan", "reference_id", "custom_fields", "auto_collect")}
    sub = client.update_subscription(subscription_id, update)
    return Outcome(action, subscription_id, req, {"subscription_id": subscription_id, "status": sub.get("status", "")})


# --- Invoice ----------------------------------------------------------------------------------------
def _link_recurring(invoice, client: ZohoClient) -> Outcome:
    if invoice.service_id is None:
        raise ZohoSyncError(f"recurring invoice {invoice.number} has no service to link through")
    subscription_id = _ensure_synced("service", invoice.service, client)
    if not subscription_id:
        raise SyncNotReady(f"service #{invoice.service_id} has no ZOHO subscription yet")
    start = invoice.period_start or invoice.issue_date
    end = invoice.period_end or start + timedelta(days=1)
    for zi in client.list_invoices(subscription_id=subscription_id):
        date = zi.get("date", "")
        if start.isoformat() <= date < end.isoformat():
            drift = mappers.invoice_totals_drift(invoice, zi)
            return Outcome(SyncLog.Action.LINK, zi["invoice_id"], {"subscription_id": subscription_id,
                                                                   "period_start": start.isoformat()},
                           {"invoice_id": zi["invoice_id"], "drift": drift})
    raise SyncNotReady(f"ZOHO has not generated the invoice for subscription {subscription_id} period "
                       f"{start.isoformat()} yet; will link later")


def invoice_sync(invoice, client: ZohoClient) -> Outcome:
    """Upsert (or link) the invoice, then mirror its credit notes (not for a void invoice: the void
    already zeroes it in ZOHO, which nets the same as our credit notes + void entry)."""
    outcome = _invoice_upsert(invoice, client)
    if outcome.zoho_id and invoice.status != invoice.Status.VOID:
        notes = credit_notes_sync(invoice, outcome.zoho_id, client)
        if notes:
            outcome.response = {**outcome.response, "credit_notes": notes}
    return outcome


def _find_credit_note(client: ZohoClient, customer_zoho_id: str, number: str) -> dict | None:
    try:
        found = client.list_credit_notes(customer_zoho_id)
    except (ZohoNotFoundError, ZohoValidationError):
        # Listing is not in the official spec: without it our unique `creditnote_number` is the
        # guard (ZOHO rejects a second credit note with the same number).
        return None
    for cn in found:
        if number in (cn.get("creditnote_number"), cn.get("reference_number")):
            return cn
    return None


def credit_notes_sync(invoice, invoice_zoho_id: str, client: ZohoClient) -> list[dict]:
    """Create the invoice's credit notes missing in ZOHO and apply them to the ZOHO invoice.

    Idempotent: a credit note with a ZOHO id is done (the id is stored only after it has been
    applied); otherwise ZOHO is searched by our CN number first, and an already-applied credit is
    not applied twice (the credit note's `invoices` list tells). Raises on the first problem so the
    invoice row retries; the credit notes done so far keep their ids.
    """
    CreditNote = apps.get_model(RELATED_MODELS["credit_note"])

    pending = list(CreditNote.objects.filter(invoice_id=invoice.pk, zoho_id="").order_by("pk"))
    if not pending:
        return []
    customer_zoho_id = _ensure_synced("customer", invoice.customer, client)
    done = []
    for note in pending:
        body = mappers.credit_note_body(note, customer_zoho_id=customer_zoho_id, invoice_number=invoice.number)
        found = _find_credit_note(client, customer_zoho_id, note.number)
        if found:
            zcn, action = client.get_credit_note(found["creditnote_id"]) or found, SyncLog.Action.LINK
        else:
            zcn, action = client.create_credit_note(body), SyncLog.Action.CREATE
        zoho_cn_id = zcn.get("creditnote_id") or (found or {}).get("creditnote_id", "")
        if not zoho_cn_id:
            raise ZohoSyncError(f"ZOHO returned no creditnote_id for credit note {note.number}")
        if "total" in zcn and mappers.money(zcn["total"]) != note.total:
            raise TotalsMismatchError(f"ZOHO credit note {zoho_cn_id} total {mappers.amount(mappers.money(zcn['total']))}"
                                      f" differs from {note.number} total {mappers.amount(note.total)}")
        applied_ids = {str(i.get("invoice_id")) for i in zcn.get("invoices") or []}
        if note.applied_amount > 0 and str(invoice_zoho_id) not in applied_ids:
            client.apply_credit_note(zoho_cn_id, invoice_id=invoice_zoho_id, amount=mappers.amount(note.applied_amount))
        CreditNote.objects.filter(pk=note.pk, zoho_id="").update(zoho_id=zoho_cn_id)
        done.append({"number": note.number, "creditnote_id": zoho_cn_id, "action": str(action),
                     "applied": mappers.amount(note.applied_amount)})
    return done


def _void_in_zoho(outcome: Outcome, client: ZohoClient) -> Outcome:
    """Void ZOHO's invoice `outcome.zoho_id` unless it is void already (a task run twice, or a
    retry after a lost answer, must not fail on ZOHO refusing a second void)."""
    if client.get_invoice(outcome.zoho_id).get("status") == "void":
        outcome.response = {**outcome.response, "voided": False}
        outcome.note = "already void in ZOHO"
        return outcome
    client.void_invoice(outcome.zoho_id)
    outcome.response = {**outcome.response, "voided": True}
    return outcome


def _void_subscription_invoice(invoice, client: ZohoClient) -> Outcome:
    """We voided a monthly invoice: void ZOHO's own invoice for that period too, or ZOHO keeps
    asking for it. Linked first if the sweep had not linked it yet; until ZOHO has made it the row
    retries like a link does."""
    if invoice.zoho_id:
        return _void_in_zoho(Outcome(SyncLog.Action.UPDATE, invoice.zoho_id, {"invoice_id": invoice.zoho_id}), client)
    try:
        linked = _link_recurring(invoice, client)
    except SyncNotReady:
        if invoice.service is not None and invoice.service.status == invoice.service.Status.CANCELLED:
            # Voided by the cancellation: ZOHO's cancelled subscription will not bill that period.
            return Outcome(SyncLog.Action.SKIP, "", {"period_start": str(invoice.period_start)}, {},
                           SyncLog.Status.SKIPPED, "void before ZOHO made it; the subscription is cancelled")
        raise
    return _void_in_zoho(linked, client)


def _invoice_upsert(invoice, client: ZohoClient) -> Outcome:
    if invoice.is_subscription_invoice:
        if invoice.status == invoice.Status.VOID:
            return _void_subscription_invoice(invoice, client)
        return _link_recurring(invoice, client)
    customer_zoho_id = _ensure_synced("customer", invoice.customer, client)
    lines = list(invoice.lines.all())
    body = mappers.invoice_body(invoice, lines, customer_zoho_id=customer_zoho_id)
    req = mappers.summary(body, total=mappers.amount(invoice.total), vat=mappers.amount(invoice.vat_amount))
    zoho_id, action = invoice.zoho_id, SyncLog.Action.UPDATE
    if not zoho_id:
        existing = [zi for zi in client.list_invoices(customer_id=customer_zoho_id)
                    if zi.get("reference_number") == invoice.number]
        if existing:
            zoho_id, action = existing[0]["invoice_id"], SyncLog.Action.LINK
    if invoice.status == invoice.Status.VOID:
        if not zoho_id:
            return Outcome(SyncLog.Action.SKIP, "", req, {}, SyncLog.Status.SKIPPED, "void before it reached ZOHO")
        return _void_in_zoho(Outcome(action, zoho_id, req), client)
    if not zoho_id:
        zi = client.create_invoice(body)
        action = SyncLog.Action.CREATE
    else:
        zi = client.get_invoice(zoho_id)
        if zi.get("status") == "paid" or invoice.status == invoice.Status.PAID:
            drift = mappers.invoice_totals_drift(invoice, zi)
            return Outcome(action, zoho_id, req, {"invoice_id": zoho_id, "status": zi.get("status"), "drift": drift},
                           SyncLog.Status.SUCCESS, "paid invoice: never edited in ZOHO")
        zi = client.update_invoice(zoho_id, body)
    drift = mappers.invoice_totals_drift(invoice, zi)
    resp = {"invoice_id": zi["invoice_id"], "total": str(zi.get("total", "")), "tax_total": str(zi.get("tax_total", ""))}
    if drift:
        # Keep the id (so a retry updates, not duplicates) and fail loudly for a human.
        invoice.__class__.objects.filter(pk=invoice.pk).update(zoho_id=zi["invoice_id"])
        raise TotalsMismatchError(f"ZOHO totals differ from invoice {invoice.number}: {drift}")
    return Outcome(action, zi["invoice_id"], req, resp)


# --- Payment ----------------------------------------------------------------------------------------
MIRRORED_PAYMENT_STATUSES = ("completed", "refunded", "partially_refunded")
NOT_MIRRORED_NOTE = "only received payments are mirrored"
# Stable markers of a refund ZOHO cannot take: the SyncLog note starts with MANUAL_REFUND_NOTE and
# its response summary carries MANUAL_REFUND_KEY ({"state": "awaiting" | "entered", ...}).
MANUAL_REFUND_NOTE = "refund awaits manual entry in ZOHO"
MANUAL_REFUND_KEY = "manual_refund"
ZERO = Decimal("0.00")


def payment_sync(payment, client: ZohoClient) -> Outcome:
    if payment.status not in MIRRORED_PAYMENT_STATUSES:
        return Outcome(SyncLog.Action.SKIP, payment.zoho_id, {"payment_status": payment.status}, {},
                       SyncLog.Status.SKIPPED, NOT_MIRRORED_NOTE)
    customer_zoho_id = _ensure_synced("customer", payment.customer, client)
    invoice_zoho_id = None
    applied = None
    if payment.invoice_id:
        invoice_zoho_id = _ensure_synced("invoice", payment.invoice, client)
        applied = min(payment.amount, payment.invoice.total)
    body = mappers.payment_body(payment, customer_zoho_id=customer_zoho_id, invoice_zoho_id=invoice_zoho_id,
                                applied=applied)
    req = mappers.summary(body, applied_to=invoice_zoho_id or "unapplied")
    if payment.zoho_id:
        outcome = Outcome(SyncLog.Action.UPDATE, payment.zoho_id, req, {"payment_id": payment.zoho_id, "unchanged": True})
    else:
        existing = [p for p in client.list_payments(customer_zoho_id) if p.get("reference_number") == payment.reference]
        if existing:
            outcome = Outcome(SyncLog.Action.LINK, existing[0]["payment_id"], req,
                              {"payment_id": existing[0]["payment_id"]})
        else:
            zp = client.create_payment(body)
            outcome = Outcome(SyncLog.Action.CREATE, zp["payment_id"], req,
                              {"payment_id": zp["payment_id"], "status": zp.get("status", "")})
    # CONTRACTS 1.8 lists no refund endpoint for ZOHO Billing payments: never guessed; a human enters it.
    refund = _refund_manual_check(payment, zoho_payment_id=outcome.zoho_id, customer_zoho_id=customer_zoho_id)
    if refund is not None:
        outcome.response = {**outcome.response, MANUAL_REFUND_KEY: refund["summary"]}
        outcome.note = refund["note"]
        if payment.zoho_id and refund["summary"]["state"] == "awaiting":
            outcome.action, outcome.log_status = SyncLog.Action.SKIP, SyncLog.Status.SKIPPED
    return outcome


def _refund_entered_total(payment) -> Decimal:
    """The refunded total staff last marked as entered in ZOHO (0.00 if none)."""
    last = (RefundManualEntry.objects.filter(payment_id=payment.pk, entered_at__isnull=False)
            .order_by("-entered_at", "-pk").values_list("refunded_total", flat=True).first())
    return ZERO if last is None else last


def _refund_manual_check(payment, *, zoho_payment_id: str, customer_zoho_id: str) -> dict | None:
    """When our refunded total differs from what staff entered in ZOHO, make sure a RefundManualEntry
    exists for it and ops were alerted once (the entry's unique total and the alert's idempotency key
    make a re-run a no-op). Returns {"summary", "note"} for the SyncLog, or None without refunds."""
    total = payment.amount_refunded
    entered = _refund_entered_total(payment)
    if total == entered:
        if total == ZERO:
            return None
        return {"summary": {"state": "entered", "refunded_total": mappers.amount(total)},
                "note": f"refund total {format_zar(total)} was entered in ZOHO by hand (marked by staff)"}
    last_alerted = (RefundManualEntry.objects.filter(payment_id=payment.pk, alerted_at__isnull=False)
                    .exclude(refunded_total=total).order_by("-pk").values_list("refunded_total", flat=True).first())
    entry, _ = RefundManualEntry.objects.get_or_create(
        payment_id=payment.pk, refunded_total=total,
        defaults={"previous_total": entered if last_alerted is None else last_alerted,
                  "zoho_payment_id": zoho_payment_id})
    if entry.alerted_at is not None:
        alert = "already sent"
    else:
        alert = _refund_manual_alert(entry, payment=payment, entered=entered, zoho_payment_id=zoho_payment_id,
                                     customer_zoho_id=customer_zoho_id)
    summary = {"state": "awaiting", "entry_id": entry.pk, "refunded_total": mappers.amount(total),
               "entered_in_zoho": mappers.amount(entered), "since_last_alert": mappers.amount(total - entry.previous_total),
               "alert": alert}
    note = (f"{MANUAL_REFUND_NOTE}: {format_zar(total)} refunded in total, {format_zar(entered)} entered in ZOHO; "
            f"set ZOHO payment {zoho_payment_id} to {format_zar(total)} refunded by hand (no refund endpoint in "
            f"CONTRACTS 1.8); ops alert: {alert}")
    return {"summary": summary, "note": note}


def _refund_manual_alert(entry, *, payment, entered: Decimal, zoho_payment_id: str, customer_zoho_id: str) -> str:
    """Best effort, once per refunded total: tell ops exactly what to record in ZOHO. Never raises
    (the sync must not fail for an alert); a failure is kept on the entry and retried by the next
    sync of the payment (same idempotency key, so never sent twice)."""
    from notifications.services import notify_ops
    total = entry.refunded_total
    customer = payment.customer
    who = f"{customer.account_number} {customer.display_name}".strip()
    if total > entered:
        todo = (f"Record a refund of {format_zar(total - entered)} on ZOHO payment {zoho_payment_id} so that ZOHO "
                f"shows {format_zar(total)} refunded in total.")
    else:  # a refund was reversed after staff had entered more in ZOHO
        todo = (f"A refund was reversed here: reduce the refund on ZOHO payment {zoho_payment_id} by "
                f"{format_zar(entered - total)} so that ZOHO shows {format_zar(total)} refunded in total.")
    context = {
        "title": f"Enter a refund in ZOHO by hand: {payment.reference}",
        "severity": "warning",
        "message": (f"Payment {payment.reference} of {who} has {format_zar(total)} refunded. ZOHO Billing has no refund "
                    f"endpoint we may use, so the sync cannot mirror it. {todo} Then mark it entered in the admin "
                    f"(ZOHO sync > Refunds to enter in ZOHO)."),
        "fields": {"customer": who, "ZOHO customer id": customer_zoho_id, "our payment reference": payment.reference,
                   "ZOHO payment id": zoho_payment_id, "payment amount": format_zar(payment.amount),
                   "refunded in total": format_zar(total), "already entered in ZOHO": format_zar(entered),
                   "new since the last alert": format_zar(total - entry.previous_total),
                   "admin": "/admin/zoho_sync/refundmanualentry/?state=awaiting"},
    }
    try:
        with transaction.atomic():
            logs = notify_ops(event="ops_alert", context=context,
                              idempotency_key=f"zoho_refund_manual:{payment.pk}:{mappers.amount(total)}")
    except Exception as exc:  # never undo or fail the sync for an alert
        logger.exception("could not alert ops about refund %s of payment %s to enter in ZOHO", total, payment.pk)
        error = f"{type(exc).__name__}: {exc}"
        RefundManualEntry.objects.filter(pk=entry.pk).update(alert_error=error[:2000])
        return f"failed ({error[:200]})"
    RefundManualEntry.objects.filter(pk=entry.pk, alerted_at__isnull=True).update(alerted_at=timezone.now(),
                                                                                  alert_error="")
    return "sent" if logs else "none written (already sent, or no ops recipient configured)"


def refund_manual_entry_mark_entered(*, entry_id: int, actor: str, reason: str) -> RefundManualEntry:
    """Staff recorded this refunded total in ZOHO by hand: the payment stops counting as awaiting.

    Only the entry for the payment's current refunded total can be marked (an older one is out of
    date: the sync has raised, or will raise, an entry for the new total)."""
    reason = (reason or "").strip()
    if not reason:
        raise ZohoSyncError("Say how the refund was entered in ZOHO: a reason is required.")
    with transaction.atomic():
        entry = (RefundManualEntry.objects.select_for_update(of=("self",)).select_related("payment")
                 .filter(pk=entry_id).first())
        if entry is None:
            raise ZohoSyncError(f"refund entry #{entry_id} does not exist")
        if entry.entered_at is not None:
            raise ZohoSyncError(f"already marked entered in ZOHO by {entry.entered_by or 'someone'} on "
                                f"{timezone.localtime(entry.entered_at):%Y-%m-%d %H:%M}")
        if entry.refunded_total != entry.payment.amount_refunded:
            raise ZohoSyncError(f"out of date: payment {entry.payment.reference} now has "
                                f"{format_zar(entry.payment.amount_refunded)} refunded, not {format_zar(entry.refunded_total)}")
        entry.entered_at = timezone.now()
        entry.entered_by = actor[:150]
        entry.entered_reason = reason
        entry.save(update_fields=["entered_at", "entered_by", "entered_reason"])
    return entry


SYNCERS = {"customer": customer_sync, "service": service_sync, "invoice": invoice_sync, "payment": payment_sync}
