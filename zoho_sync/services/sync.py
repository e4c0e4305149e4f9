"""The sync worker's services: claim a row, upsert it in ZOHO idempotently, record the outcome.

    entity_sync(entity_type="payment", pk=7)            # what the task and commands call

Flow for one entity (no transaction is open during any HTTP call):
1. `entity_claim`: lock the row with `select_for_update(skip_locked=True)` and move it to
   `syncing` with a lease (`zoho_next_attempt_at` = now + STALE_MINUTES). A row that another worker
   holds, that is already synced, failed (needs a human or `--force`), or not yet due is left alone:
   that is also the debounce (five changes, five tasks, one ZOHO call).
2. Prerequisites first: customer before subscription / invoice / payment, the allocated invoices
   before a payment (`_ensure_synced`, which syncs them inline under their own claim).
3. Upsert: the stored ZOHO id, else a search through documented reads (customers: candidates by
   email, each fetched and matched on our account number; subscriptions by `reference_id`; invoices
   by `reference_number`), else create. Payments and credit notes have no documented list
   (CONTRACTS 1.8a): an `OutboundIntent` is written before the POST and ZOHO's id is saved on our
   row the moment the POST answers; an intent still there means the outcome was unknown, and the
   record is looked up (the invoice's payments, the customer's transactions) before posting again.
4. Outcomes:
   - synced (only if nothing changed meanwhile: the lease value is compared, and `enqueue_sync`
     moves it);
   - *waiting* (`SyncWaiting`): ZOHO has not generated the recurring invoice yet (or a payment
     is applied to one). Not a failure, not an attempt: pending, next check around ZOHO's
     generation time, a `SyncWait` row (the dashboard counts it), one alert after WAIT_ALERT_DAYS;
   - *deferred* (`SyncNotReady`, `CircuitOpenError`): a prerequisite is busy with another worker
     or a limit breaker is open: pending again at the given time, not an attempt;
   - retrying with backoff 1, 2, 4 ... minutes capped at 4 hours, and failed after MAX_ATTEMPTS.
   One SyncLog row per attempt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from circletel.errors import ApplicationError
from circletel.http import PermanentProviderError
from circletel.money import format_zar
from zoho_sync.breaker import CircuitOpenError
from zoho_sync.clients.zoho import ZohoClient, ZohoNotFoundError, ZohoValidationError, get_client
from zoho_sync.models import (
    CreditApplication,
    ManualEntry,
    OutboundIntent,
    RefundManualEntry,
    RefundPush,
    SyncLog,
    SyncStatus,
    SyncWait,
)
from zoho_sync.services import mappers

# entity type -> "app.Model": filled by the apps that own the mirrored models, from their
# AppConfig.ready() (`register_mirrored_model`: billing registers customer, service, invoice and the
# credit note; payments the payment), so zoho_sync imports no domain app.
ENTITY_MODELS: dict[str, str] = {}
RELATED_MODELS: dict[str, str] = {}  # models synced as part of an entity (credit notes with their invoice)
DEPENDENCY_ORDER = ("customer", "service", "invoice", "payment")
# Allocation readers, registered by the apps that own the allocations (`register_allocation_reader`):
# "payment": reader(payment_id) -> [(invoice_id, amount)] (payments: PaymentAllocation, incl. the
#            allocations made later from the payment's unallocated credit);
# "credit_note": reader(invoice_id) -> [(credit_note_id, amount)]: credit notes of *other*
#            invoices applied to this invoice (billing: CreditNoteAllocation).
ALLOCATION_READERS: dict[str, Callable] = {}


def register_mirrored_model(entity_type: str, label: str, *, part_of: str | None = None) -> None:
    """Tell the mirror which model an entity type is (`part_of`: synced with that entity, not alone)."""
    (RELATED_MODELS if part_of else ENTITY_MODELS)[entity_type] = label


def register_allocation_reader(kind: str, reader: Callable) -> None:
    """Hand the mirror our allocations (see ALLOCATION_READERS); applied amounts in ZOHO follow them."""
    if kind not in ("payment", "credit_note"):
        raise ValueError(f"unknown allocation kind {kind!r}")
    ALLOCATION_READERS[kind] = reader


BACKOFF_CAP_MINUTES = 240
WAITING_TYPES = ("invoice", "payment")  # entity types that can wait for ZOHO or post with an intent
CANCELLED_SUBSCRIPTION_STATUSES = ("cancelled", "cancelled_from_dunning", "expired")
MAX_CUSTOMER_CANDIDATES = 10
logger = logging.getLogger(__name__)


class ZohoSyncError(ApplicationError):
    """A sync could not complete (the message is shown to staff)."""


class SyncNotReady(ZohoSyncError):
    """Nothing is wrong; try again at `until` (a prerequisite is being synced by another worker).
    Not counted as an attempt."""

    def __init__(self, message: str, *, until: datetime | None = None, extra: dict | None = None):
        super().__init__(message, extra)
        self.until = until


class SyncWaiting(SyncNotReady):
    """ZOHO has not generated a recurring invoice yet (or the payment depends on one): waiting."""

    def __init__(self, message: str, *, due_on: date | None, until: datetime | None = None):
        super().__init__(message, until=until)
        self.due_on = due_on


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


def next_wait_check(due_on: date | None, now: datetime | None = None) -> datetime:
    """When to look for a recurring invoice again: at ZOHO's generation hour on the period start
    (ASSUMPTION: ZOHO generates early on the billing date; `ZOHO_GENERATION_HOUR`, SAST, default
    03:00), and every WAIT_CHECK_MINUTES (60) after that."""
    now = now or timezone.now()
    step = now + timedelta(minutes=_conf("WAIT_CHECK_MINUTES", 60))
    if due_on is None:
        return step
    hour = _conf("ZOHO_GENERATION_HOUR", 3)
    first = timezone.make_aware(datetime(due_on.year, due_on.month, due_on.day, hour, 0))
    return first if first > now else step


@dataclass
class Claim:
    entity_type: str
    pk: int
    lease: object  # datetime written to zoho_next_attempt_at; compared on finish


@dataclass
class SyncResult:
    entity_type: str
    pk: int
    status: str  # synced | waiting | deferred | retrying | failed | skipped (not claimed)
    zoho_id: str = ""
    action: str = ""
    error: str = ""
    duration_ms: int = 0
    log_id: int | None = None
    details: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("synced", "skipped", "waiting", "deferred")


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
    if claim.entity_type in WAITING_TYPES:  # only these wait or post with an intent
        SyncWait.objects.filter(entity_type=claim.entity_type, entity_id=claim.pk).delete()
        OutboundIntent.objects.filter(entity_type=claim.entity_type, entity_id=claim.pk).delete()
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
    # A real failure: the row no longer counts as waiting (the next check re-records a wait).
    if claim.entity_type in WAITING_TYPES:
        SyncWait.objects.filter(entity_type=claim.entity_type, entity_id=claim.pk).delete()
    return status, next_at


def _finish_later(claim: Claim, *, until: datetime, note: str) -> None:
    """Waiting or deferred: pending again at `until`; the attempt count is left as it is."""
    model_for(claim.entity_type).objects.filter(pk=claim.pk).update(
        zoho_sync_status=SyncStatus.PENDING, zoho_next_attempt_at=until, zoho_last_error=note[:2000])


def _record_wait(claim: Claim, exc: SyncWaiting) -> SyncWait:
    now = timezone.now()
    wait, created = SyncWait.objects.get_or_create(
        entity_type=claim.entity_type, entity_id=claim.pk, defaults={"reason": str(exc.message)[:2000],
                                                                   "due_on": exc.due_on})
    SyncWait.objects.filter(pk=wait.pk).update(reason=str(exc.message)[:2000], due_on=exc.due_on, checked_at=now,
                                               checks=wait.checks + 1)
    wait.refresh_from_db()
    alert_days = _conf("WAIT_ALERT_DAYS", 2)
    if (wait.alerted_at is None and exc.due_on is not None
            and timezone.localdate(now) >= exc.due_on + timedelta(days=alert_days)):
        _wait_alert(wait, alert_days)
    return wait


def _wait_alert(wait: SyncWait, alert_days: int) -> None:
    """Once per waiting entity: still missing `alert_days` after the period started. Never raises."""
    from notifications.services import notify_ops
    from zoho_sync.selectors import entity_labels

    label = entity_labels([(wait.entity_type, wait.entity_id)]).get((wait.entity_type, wait.entity_id), "")
    try:
        with transaction.atomic():
            notify_ops(event="ops_alert", idempotency_key=f"zoho_wait:{wait.entity_type}:{wait.entity_id}", context={
                "title": f"ZOHO has not made the invoice for {label or wait.entity_type + ' #' + str(wait.entity_id)}",
                "severity": "warning",
                "message": (f"{wait.entity_type} #{wait.entity_id} ({label}) has waited since "
                            f"{timezone.localtime(wait.since):%Y-%m-%d %H:%M} for ZOHO's recurring invoice for the "
                            f"period starting {wait.due_on}; it is still missing {alert_days} day(s) after the period "
                            f"started. Check the subscription in ZOHO (status, next billing date). {wait.reason}"),
                "fields": {"entity": f"{wait.entity_type}#{wait.entity_id}", "period start": str(wait.due_on),
                           "checks": wait.checks, "admin": "/admin/zoho_sync/syncdashboard/"}})
    except Exception:  # an alert never fails the sync
        logger.exception("could not alert ops about waiting %s #%s", wait.entity_type, wait.entity_id)
        return
    SyncWait.objects.filter(pk=wait.pk, alerted_at__isnull=True).update(alerted_at=timezone.now())


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


def _skip_log(claim: Claim, duration: int, note: str, response: dict | None = None) -> SyncLog:
    return _log(entity_type=claim.entity_type, pk=claim.pk, duration_ms=duration, outcome=Outcome(
        SyncLog.Action.SKIP, "", {}, response or {}, SyncLog.Status.SKIPPED, note))


def _run_claimed(claim: Claim, *, client: ZohoClient | None) -> SyncResult:
    t0 = time.monotonic()
    try:
        client = client or get_client()
        obj = model_for(claim.entity_type).objects.get(pk=claim.pk)
        outcome = SYNCERS[claim.entity_type](obj, client)
    except SyncWaiting as exc:
        duration = int((time.monotonic() - t0) * 1000)
        until = exc.until or next_wait_check(exc.due_on)
        note = f"waiting for ZOHO: {exc.message}"
        _finish_later(claim, until=until, note=note)
        wait = _record_wait(claim, exc)
        log = _skip_log(claim, duration, note, {"waiting": True, "due_on": str(exc.due_on or ""),
                                               "next_check": until.isoformat(), "checks": wait.checks})
        return SyncResult(claim.entity_type, claim.pk, "waiting", error=note, duration_ms=duration, log_id=log.pk,
                          details={"next_attempt_at": until.isoformat(), "due_on": str(exc.due_on or "")})
    except (SyncNotReady, CircuitOpenError) as exc:
        duration = int((time.monotonic() - t0) * 1000)
        if isinstance(exc, CircuitOpenError):
            until, note = exc.open_until + timedelta(seconds=1), f"deferred: {exc}"
        else:
            until = exc.until or timezone.now() + timedelta(minutes=1)
            note = f"deferred: {exc.message}"
        _finish_later(claim, until=until, note=note)
        log = _skip_log(claim, duration, note, {"deferred_until": until.isoformat()})
        return SyncResult(claim.entity_type, claim.pk, "deferred", error=note, duration_ms=duration, log_id=log.pk,
                          details={"next_attempt_at": until.isoformat()})
    except Exception as exc:  # recorded on the row and in the log; the task must not crash the worker
        duration = int((time.monotonic() - t0) * 1000)
        error = f"{type(exc).__name__}: {exc}"
        status, next_at = _finish_failure(claim, error)
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
    """The ZOHO id of a prerequisite, syncing it first (inline, under its own claim) if it has none.
    A prerequisite that waits makes the caller wait; one that is busy or paused defers the caller."""
    obj.refresh_from_db(fields=["zoho_id", "zoho_sync_status"])
    if obj.zoho_id:
        return obj.zoho_id
    claim = entity_claim(entity_type=entity_type, pk=obj.pk, force=True)
    if claim is None:
        raise SyncNotReady(f"{entity_type} #{obj.pk} is being synced by another worker; trying again shortly")
    result = _run_claimed(claim, client=client)
    if result.status == "waiting":
        until = datetime.fromisoformat(result.details["next_attempt_at"])
        due = result.details.get("due_on") or None
        raise SyncWaiting(f"{entity_type} #{obj.pk} is waiting for ZOHO ({result.error})", until=until,
                          due_on=date.fromisoformat(due) if due else None)
    if result.status == "deferred":
        raise SyncNotReady(f"{entity_type} #{obj.pk} deferred ({result.error})",
                           until=datetime.fromisoformat(result.details["next_attempt_at"]))
    if result.status != "synced" or not result.zoho_id:
        raise ZohoSyncError(f"prerequisite {entity_type} #{obj.pk} could not be synced: {result.error}")
    return result.zoho_id


# --- Creates with an intent (CONTRACTS 1.8a) ---------------------------------------------------------
def _intent_open(entity_type: str, pk: int) -> bool:
    return OutboundIntent.objects.filter(entity_type=entity_type, entity_id=pk).exists()


def _create_with_intent(entity_type: str, pk: int, reference: str, create: Callable[[], dict], id_key: str,
                        save_id: Callable[[str], None]) -> dict:
    """POST a create with an intent row around it. ZOHO's id is saved on our row (`save_id`) the
    moment the POST answers; a refusal (4xx) clears the intent (nothing was created); a timeout,
    5xx or lost connection leaves it, so the next attempt looks the record up before posting."""
    OutboundIntent.objects.get_or_create(entity_type=entity_type, entity_id=pk, defaults={"reference": reference})
    try:
        created = create()
    except PermanentProviderError:
        OutboundIntent.objects.filter(entity_type=entity_type, entity_id=pk).delete()
        raise
    zoho_id = str(created.get(id_key) or "")
    if not zoho_id:
        raise ZohoSyncError(f"ZOHO answered the {entity_type} create without {id_key}")
    save_id(zoho_id)
    OutboundIntent.objects.filter(entity_type=entity_type, entity_id=pk).delete()
    return created


def _save_row_id(entity_type: str, pk: int) -> Callable[[str], None]:
    def save(zoho_id: str) -> None:
        model_for(entity_type).objects.filter(pk=pk).update(zoho_id=zoho_id)
    return save


# --- Customer ---------------------------------------------------------------------------------------
def _find_customer(client: ZohoClient, customer) -> dict | None:
    """Our customer in ZOHO: candidates by email (CONTRACTS 1.5 [3P]), each fetched with GET
    /customers/{id} (list items carry no custom_fields, 1.8a) and matched on our account number.
    Never "the first customer with this email": two customers may share one."""
    for candidate in client.find_customers_by_email(customer.email)[:MAX_CUSTOMER_CANDIDATES]:
        candidate_id = str(candidate.get("customer_id") or "")
        if not candidate_id:
            continue
        detail = client.get_customer(candidate_id)
        if mappers.customer_account_number(detail) == customer.account_number:
            return detail
    return None


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
    # Always looked up before a create (above), so an unknown outcome needs no intent: ZOHO's id is
    # kept the moment the POST answers.
    zc = client.create_customer(body)
    _save_row_id("customer", customer.pk)(zc["customer_id"])
    return Outcome(SyncLog.Action.CREATE, zc["customer_id"], req, {"customer_id": zc["customer_id"]})


# --- Service -> subscription -------------------------------------------------------------------------
def service_sync(service, client: ZohoClient) -> Outcome:
    """Create (anchored to the billing day), then keep ZOHO's subscription in our state: cancelled on
    cancellation, paused while suspended, resumed on reactivation (CONTRACTS 1.6 cancel/reactivate;
    1.8a: pausing is `/postpone` or cancel + reactivate: we use cancel + reactivate, whose bodies
    are documented)."""
    S = service.Status
    if service.status == S.PENDING and not service.zoho_id:
        return Outcome(SyncLog.Action.SKIP, "", {"service_status": service.status}, {},
                       SyncLog.Status.SKIPPED, "service not activated yet: the subscription is created on activation")
    customer_zoho_id = _ensure_synced("customer", service.customer, client)
    plan_code = mappers.plan_code_for(service.package_name)
    body = mappers.subscription_body(service, customer_zoho_id=customer_zoho_id, plan_code=plan_code)
    req = mappers.summary(body, plan_code=plan_code, service_status=service.status,
                          starts_at=body.get("starts_at", ""))
    subscription_id, action = service.zoho_id, SyncLog.Action.UPDATE
    zoho_status = ""
    if not subscription_id:
        ref = body["reference_id"]
        existing = [s for s in client.list_subscriptions(customer_zoho_id) if s.get("reference_id") == ref]
        if existing:
            subscription_id, action = existing[0]["subscription_id"], SyncLog.Action.LINK
            zoho_status = existing[0].get("status", "")
        else:
            if service.status == S.CANCELLED:
                return Outcome(SyncLog.Action.SKIP, "", req, {}, SyncLog.Status.SKIPPED,
                               "cancelled before it reached ZOHO: nothing to create")
            try:
                client.get_plan(plan_code)
            except ZohoNotFoundError:
                raise PlanMissingError(
                    f"ZOHO has no plan with code '{plan_code}' for package '{service.package_name}': create the "
                    f"plan in ZOHO Billing or map the package in ZOHO_PLAN_CODES")
            sub = client.create_subscription(body)  # looked up by reference_id first (above): no intent needed
            _save_row_id("service", service.pk)(sub["subscription_id"])
            subscription_id, action, zoho_status = sub["subscription_id"], SyncLog.Action.CREATE, sub.get("status", "")
            if service.status != S.SUSPENDED:
                return Outcome(action, subscription_id, req, {"subscription_id": subscription_id,
                                                              "status": zoho_status})
    if not zoho_status:
        zoho_status = client.get_subscription(subscription_id).get("status", "")
    paused = zoho_status in CANCELLED_SUBSCRIPTION_STATUSES
    resp = {"subscription_id": subscription_id, "zoho_status": zoho_status}
    if service.status in (S.CANCELLED, S.SUSPENDED):
        if not paused:
            client.cancel_subscription(subscription_id)
        resp["cancelled" if service.status == S.CANCELLED else "paused"] = True
        return Outcome(action, subscription_id, req, resp,
                       note="" if service.status == S.CANCELLED else "suspended: ZOHO subscription cancelled until reactivation")
    if paused:
        client.reactivate_subscription(subscription_id)
        resp["reactivated"] = True
    update = {k: v for k, v in body.items() if k in ("plan", "reference_id", "custom_fields", "auto_collect")}
    sub = client.update_subscription(subscription_id, update)
    resp["status"] = sub.get("status", "")
    return Outcome(action, subscription_id, req, resp)


# --- Invoice ----------------------------------------------------------------------------------------
def _link_recurring(invoice, client: ZohoClient) -> Outcome:
    if invoice.service_id is None:
        raise ZohoSyncError(f"recurring invoice {invoice.number} has no service to link through")
    start = invoice.period_start or invoice.issue_date
    subscription_id = _ensure_synced("service", invoice.service, client)
    if not subscription_id:
        raise SyncWaiting(f"service #{invoice.service_id} has no ZOHO subscription yet", due_on=start)
    end = invoice.period_end or start + timedelta(days=1)
    for zi in client.list_invoices(subscription_id=subscription_id):
        day = zi.get("date", "")
        if start.isoformat() <= day < end.isoformat():
            drift = mappers.invoice_totals_drift(invoice, zi)
            return Outcome(SyncLog.Action.LINK, zi["invoice_id"], {"subscription_id": subscription_id,
                                                                   "period_start": start.isoformat()},
                           {"invoice_id": zi["invoice_id"], "drift": drift})
    raise SyncWaiting(f"ZOHO has not generated the invoice for subscription {subscription_id} period "
                      f"{start.isoformat()} yet", due_on=start)


def _recurring_while_paused(invoice) -> bool:
    """Our monthly invoice for a service that is suspended or cancelled: its ZOHO subscription is
    paused/cancelled (service_sync), so ZOHO will not make this invoice: we create it ourselves."""
    service = invoice.service
    return service is not None and service.status in (service.Status.SUSPENDED, service.Status.CANCELLED)


def invoice_sync(invoice, client: ZohoClient) -> Outcome:
    """Upsert (or link) the invoice, then mirror its credit notes and the credit of other credit
    notes applied to it (not for a void invoice: the void already zeroes it in ZOHO, which nets the
    same as our credit notes + void entry)."""
    outcome = _invoice_upsert(invoice, client)
    if outcome.zoho_id and invoice.status != invoice.Status.VOID:
        notes = credit_notes_sync(invoice, outcome.zoho_id, client)
        notes += credit_allocations_sync(invoice, outcome.zoho_id, client)
        if notes:
            outcome.response = {**outcome.response, "credit_notes": notes}
    return outcome


def _find_credit_note(client: ZohoClient, customer_zoho_id: str, number: str) -> dict | None:
    """After an unknown outcome only: the spec has no credit-note list (CONTRACTS 1.8a), so the
    customer's CREDIT transactions (CONTRACTS 1.5) are fetched one by one and matched on our number."""
    for t in client.list_transactions(customer_zoho_id, kind="CREDIT"):
        cn_id = str(t.get("transaction_id") or "")
        if not cn_id:
            continue
        cn = client.get_credit_note(cn_id)
        if number in (cn.get("creditnote_number"), cn.get("reference_number")):
            return {**cn, "creditnote_id": cn.get("creditnote_id") or cn_id}
    return None


def _applied_amount(zoho_invoices, invoice_zoho_id: str) -> Decimal:
    return sum((mappers.money(i.get("amount_applied")) for i in zoho_invoices or []
                if str(i.get("invoice_id")) == str(invoice_zoho_id)), ZERO)


def credit_notes_sync(invoice, invoice_zoho_id: str, client: ZohoClient) -> list[dict]:
    """Create the invoice's credit notes missing in ZOHO and apply each to the ZOHO invoice.

    Idempotent: ZOHO's id is saved the moment the create answers (with an intent around the POST;
    after an unknown outcome the credit note is looked up before posting again), and the amount we
    applied is recorded in `CreditApplication`, so a retry applies only what is missing (without a
    record, ZOHO's own `invoices` list on the credit note tells). Raises on the first problem so the
    invoice row retries; the credit notes done so far keep their ids.
    """
    CreditNote = apps.get_model(RELATED_MODELS["credit_note"])

    notes = list(CreditNote.objects.filter(invoice_id=invoice.pk).order_by("pk"))
    if not notes:
        return []
    recorded = {a.credit_note_id: a for a in CreditApplication.objects.filter(invoice_id=invoice.pk)}
    pending = [n for n in notes if not n.zoho_id or recorded.get(n.pk) is None
               or recorded[n.pk].amount != n.applied_amount]
    if not pending:
        return []
    customer_zoho_id = _ensure_synced("customer", invoice.customer, client)
    done = []
    for note in pending:
        zcn, action = None, SyncLog.Action.UPDATE
        zoho_cn_id = note.zoho_id
        if not zoho_cn_id and _intent_open("credit_note", note.pk):
            found = _find_credit_note(client, customer_zoho_id, note.number)
            if found:
                zcn, zoho_cn_id, action = found, found["creditnote_id"], SyncLog.Action.LINK
                CreditNote.objects.filter(pk=note.pk, zoho_id="").update(zoho_id=zoho_cn_id)
                OutboundIntent.objects.filter(entity_type="credit_note", entity_id=note.pk).delete()
        if not zoho_cn_id:
            body = mappers.credit_note_body(note, customer_zoho_id=customer_zoho_id, invoice_number=invoice.number)
            zcn = _create_with_intent(
                "credit_note", note.pk, note.number, lambda b=body: client.create_credit_note(b), "creditnote_id",
                lambda zid, pk=note.pk: CreditNote.objects.filter(pk=pk, zoho_id="").update(zoho_id=zid))
            zoho_cn_id, action = zcn["creditnote_id"], SyncLog.Action.CREATE
            if "total" in zcn and mappers.money(zcn["total"]) != note.total:
                raise TotalsMismatchError(f"ZOHO credit note {zoho_cn_id} total "
                                          f"{mappers.amount(mappers.money(zcn['total']))} differs from {note.number} "
                                          f"total {mappers.amount(note.total)}")
        record = recorded.get(note.pk)
        if action == SyncLog.Action.CREATE:
            already = ZERO  # just created: nothing applied yet
        elif record is None:
            # No record of our own: ask ZOHO what is applied (a credit note synced before records
            # were kept, or an apply whose answer we never saw).
            zcn = zcn if zcn is not None and "invoices" in zcn else client.get_credit_note(zoho_cn_id)
            already = _applied_amount(zcn.get("invoices"), invoice_zoho_id)
        else:
            already = record.amount
        missing = note.applied_amount - already
        if missing > ZERO:
            client.apply_credit_note(zoho_cn_id, invoice_id=invoice_zoho_id, amount=mappers.amount(missing))
        elif missing < ZERO:
            _manual_entry(kind=ManualEntry.Kind.UNAPPLY, entity_type="invoice", entity_id=invoice.pk,
                          key=f"unapply:credit_note:{note.pk}:invoice:{invoice.pk}:{mappers.amount(note.applied_amount)}",
                          summary=(f"Reduce credit note {note.number} applied to ZOHO invoice {invoice_zoho_id} "
                                   f"({invoice.number}) from {format_zar(already)} to {format_zar(note.applied_amount)}"),
                          details={"creditnote_id": zoho_cn_id, "invoice_id": invoice_zoho_id})
        CreditApplication.objects.update_or_create(
            credit_note_id=note.pk, invoice_id=invoice.pk,
            defaults={"zoho_creditnote_id": zoho_cn_id, "zoho_invoice_id": invoice_zoho_id,
                      "amount": max(note.applied_amount, already)})
        done.append({"number": note.number, "creditnote_id": zoho_cn_id, "action": str(action),
                     "applied": mappers.amount(note.applied_amount)})
    return done


def credit_allocations_sync(invoice, invoice_zoho_id: str, client: ZohoClient) -> list[dict]:
    """Credit of *other* invoices' credit notes that we applied to this invoice (billing's
    CreditNoteAllocation, through the "credit_note" allocation reader): applied in ZOHO with
    POST /invoices/{id}/credits `apply_creditnotes` (specs/invoices.yml), only the difference to
    what we applied before (`CreditApplication`)."""
    reader = ALLOCATION_READERS.get("credit_note")
    if reader is None:
        return []
    wanted = {cn_id: amt for cn_id, amt in reader(invoice.pk)}
    if not wanted:
        return []
    CreditNote = apps.get_model(RELATED_MODELS["credit_note"])
    recorded = {a.credit_note_id: a for a in CreditApplication.objects.filter(invoice_id=invoice.pk,
                                                                               credit_note_id__in=list(wanted))}
    done = []
    for note in CreditNote.objects.filter(pk__in=list(wanted)).select_related("invoice").order_by("pk"):
        amount = wanted[note.pk]
        already = recorded[note.pk].amount if note.pk in recorded else ZERO
        if amount == already:
            continue
        if not note.zoho_id:
            _ensure_synced("invoice", note.invoice, client)  # creates the credit note with its own invoice
            note.refresh_from_db(fields=["zoho_id"])
            if not note.zoho_id:
                raise SyncNotReady(f"credit note {note.number} is not in ZOHO yet")
        if amount > already:
            client.apply_credits_to_invoice(invoice_zoho_id,
                                            credit_notes=[(note.zoho_id, mappers.amount(amount - already))])
        else:
            _manual_entry(kind=ManualEntry.Kind.UNAPPLY, entity_type="invoice", entity_id=invoice.pk,
                          key=f"unapply:credit_note:{note.pk}:invoice:{invoice.pk}:{mappers.amount(amount)}",
                          summary=(f"Reduce credit note {note.number} applied to ZOHO invoice {invoice_zoho_id} "
                                   f"({invoice.number}) from {format_zar(already)} to {format_zar(amount)}"),
                          details={"creditnote_id": note.zoho_id, "invoice_id": invoice_zoho_id})
        CreditApplication.objects.update_or_create(
            credit_note_id=note.pk, invoice_id=invoice.pk,
            defaults={"zoho_creditnote_id": note.zoho_id, "zoho_invoice_id": invoice_zoho_id,
                      "amount": max(amount, already)})
        done.append({"number": note.number, "creditnote_id": note.zoho_id, "action": "apply",
                     "applied": mappers.amount(amount)})
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
    waits like a link does."""
    if invoice.zoho_id:
        return _void_in_zoho(Outcome(SyncLog.Action.UPDATE, invoice.zoho_id, {"invoice_id": invoice.zoho_id}), client)
    try:
        linked = _link_recurring(invoice, client)
    except SyncWaiting:
        if _recurring_while_paused(invoice):
            # Voided while the service is paused/cancelled: ZOHO's cancelled subscription will not bill it.
            return Outcome(SyncLog.Action.SKIP, "", {"period_start": str(invoice.period_start)}, {},
                           SyncLog.Status.SKIPPED, "void before ZOHO made it; the subscription is cancelled or paused")
        raise
    return _void_in_zoho(linked, client)


def _invoice_upsert(invoice, client: ZohoClient) -> Outcome:
    if invoice.is_subscription_invoice and not invoice.zoho_id:
        if invoice.status == invoice.Status.VOID:
            return _void_subscription_invoice(invoice, client)
        try:
            return _link_recurring(invoice, client)
        except SyncWaiting:
            if not _recurring_while_paused(invoice):
                raise
            # The subscription is paused/cancelled in ZOHO: ZOHO will not make it; ours goes as its own.
    elif invoice.is_subscription_invoice:
        if invoice.status == invoice.Status.VOID:
            return _void_subscription_invoice(invoice, client)
        zi = client.get_invoice(invoice.zoho_id)
        return Outcome(SyncLog.Action.UPDATE, invoice.zoho_id, {"invoice_id": invoice.zoho_id},
                       {"invoice_id": invoice.zoho_id, "status": zi.get("status"),
                        "drift": mappers.invoice_totals_drift(invoice, zi)})
    customer_zoho_id = _ensure_synced("customer", invoice.customer, client)
    lines = list(invoice.lines.all())
    body = mappers.invoice_body(invoice, lines, customer_zoho_id=customer_zoho_id)
    req = mappers.summary(body, total=mappers.amount(invoice.total), vat=mappers.amount(invoice.vat_amount))
    zoho_id, action = invoice.zoho_id, SyncLog.Action.UPDATE
    if not zoho_id:
        # CONTRACTS 1.7: GET /invoices?customer_id= is documented; matched on our reference_number.
        existing = [zi for zi in client.list_invoices(customer_id=customer_zoho_id)
                    if zi.get("reference_number") == invoice.number]
        if existing:
            zoho_id, action = existing[0]["invoice_id"], SyncLog.Action.LINK
    if invoice.status == invoice.Status.VOID:
        if not zoho_id:
            return Outcome(SyncLog.Action.SKIP, "", req, {}, SyncLog.Status.SKIPPED, "void before it reached ZOHO")
        return _void_in_zoho(Outcome(action, zoho_id, req), client)
    if not zoho_id:
        zi = _create_with_intent("invoice", invoice.pk, invoice.number, lambda: client.create_invoice(body),
                                 "invoice_id", _save_row_id("invoice", invoice.pk))
        action = SyncLog.Action.CREATE
    else:
        zi = client.get_invoice(zoho_id)
        if zi.get("status") == "paid" or invoice.status == invoice.Status.PAID:
            drift = mappers.invoice_totals_drift(invoice, zi)
            return Outcome(action, zoho_id, req, {"invoice_id": zoho_id, "status": zi.get("status"), "drift": drift},
                           SyncLog.Status.SUCCESS, "paid invoice: never edited in ZOHO")
        if zi.get("status") == "void":
            return Outcome(action, zoho_id, req, {"invoice_id": zoho_id, "status": "void"},
                           SyncLog.Status.SUCCESS, "void in ZOHO: not edited")
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
REVERSED_PAYMENT_STATUS = "reversed"
NOT_MIRRORED_NOTE = "only received payments are mirrored"
# Stable markers of a refund the sync cannot send: the SyncLog note starts with MANUAL_REFUND_NOTE and
# its response summary carries MANUAL_REFUND_KEY ({"state": "awaiting" | "entered", ...}); a refund
# mirrored through the refund endpoint carries REFUND_KEY ({"state": "mirrored", ...}) instead.
MANUAL_REFUND_NOTE = "refund awaits manual entry in ZOHO"
MANUAL_REFUND_KEY = "manual_refund"
ZERO = Decimal("0.00")


def payment_allocations(payment) -> list[tuple[int, Decimal]]:
    """Our allocations of this payment, per invoice (through the registered reader)."""
    reader = ALLOCATION_READERS.get("payment")
    if reader is None:
        raise ZohoSyncError("no payment allocation reader is registered (payments registers it in AppConfig.ready)")
    totals: dict[int, Decimal] = {}
    for invoice_id, amt in reader(payment.pk):
        totals[invoice_id] = totals.get(invoice_id, ZERO) + Decimal(amt)
    return sorted(totals.items())


def _find_payment(client: ZohoClient, payment, *, customer_zoho_id: str, applied: list) -> str:
    """After an unknown outcome: our payment in ZOHO by documented reads only (CONTRACTS 1.8a): the
    payments of an invoice it was applied to (GET /invoices/{id}), else the customer's PAYMENT
    transactions (GET /transactions) with our amount, each fetched (GET /payments/{id}) and matched
    on our reference_number. "" when ZOHO has none."""
    for invoice_zoho_id, _ in applied[:3]:
        for p in client.get_invoice(invoice_zoho_id).get("payments") or []:
            if p.get("reference_number") == payment.reference and p.get("payment_id"):
                return str(p["payment_id"])
    for t in client.list_transactions(customer_zoho_id, kind="PAYMENT"):
        tid = str(t.get("transaction_id") or "")
        if not tid or mappers.money(t.get("amount")) != payment.amount:
            continue
        zp = client.get_payment(tid)
        if zp.get("reference_number") == payment.reference:
            return str(zp.get("payment_id") or tid)
    return ""


def payment_sync(payment, client: ZohoClient) -> Outcome:
    if payment.status == REVERSED_PAYMENT_STATUS:
        return payment_reversal_sync(payment, client)
    if payment.status not in MIRRORED_PAYMENT_STATUSES:
        return Outcome(SyncLog.Action.SKIP, payment.zoho_id, {"payment_status": payment.status}, {},
                       SyncLog.Status.SKIPPED, NOT_MIRRORED_NOTE)
    customer_zoho_id = _ensure_synced("customer", payment.customer, client)
    Invoice = model_for("invoice")
    allocations = payment_allocations(payment)
    invoices = {i.pk: i for i in Invoice.objects.filter(pk__in=[pk for pk, _ in allocations])}
    applied: list[tuple[str, Decimal]] = []
    for invoice_pk, amt in allocations:
        invoice = invoices[invoice_pk]
        if invoice.status == invoice.Status.VOID:
            continue  # ZOHO unapplies payments from a voided invoice itself (specs/invoices.yml, void)
        applied.append((_ensure_synced("invoice", invoice, client), amt))
    body = mappers.payment_body(payment, customer_zoho_id=customer_zoho_id, applied=applied)
    req = mappers.summary(body, applied={zid: mappers.amount(a) for zid, a in applied} or "unapplied")
    zoho_id, action, zp = payment.zoho_id, SyncLog.Action.UPDATE, None
    if not zoho_id and _intent_open("payment", payment.pk):
        zoho_id = _find_payment(client, payment, customer_zoho_id=customer_zoho_id, applied=applied)
        if zoho_id:
            action = SyncLog.Action.LINK
            _save_row_id("payment", payment.pk)(zoho_id)
            OutboundIntent.objects.filter(entity_type="payment", entity_id=payment.pk).delete()
    if not zoho_id:
        zp = _create_with_intent("payment", payment.pk, payment.reference, lambda: client.create_payment(body),
                                 "payment_id", _save_row_id("payment", payment.pk))
        zoho_id, action = str(zp["payment_id"]), SyncLog.Action.CREATE
        if "invoices" not in zp:  # ZOHO applied what we sent
            zp = {**zp, "invoices": body.get("invoices", [])}
    else:
        zp = client.get_payment(zoho_id)
    outcome = Outcome(action, zoho_id, req, {"payment_id": zoho_id, "status": zp.get("status", "")})
    changes = _payment_applications_follow(payment, zoho_id, zp, applied, client)
    if changes:
        outcome.response = {**outcome.response, "applied_later": changes}
    # Refunds: sent with POST /payments/{id}/refunds; what it cannot do goes to the manual list.
    refund = _refund_follow(payment, zoho_payment_id=zoho_id, customer_zoho_id=customer_zoho_id, client=client)
    if refund is not None:
        key = MANUAL_REFUND_KEY if refund["state"] in ("awaiting", "entered") else REFUND_KEY
        outcome.response = {**outcome.response, key: refund["summary"]}
        outcome.note = refund["note"]
        if payment.zoho_id and refund["state"] == "awaiting":
            outcome.action, outcome.log_status = SyncLog.Action.SKIP, SyncLog.Status.SKIPPED
    return outcome


def _payment_applications_follow(payment, zoho_id: str, zp: dict, applied: list, client: ZohoClient) -> dict:
    """Bring the amounts ZOHO applied from this payment to our allocations, per invoice.

    More allocated here than applied in ZOHO (an allocation made later from the payment's credit):
    POST /invoices/{id}/credits with `invoice_payments` (specs/invoices.yml, apply-credits-request).
    Less: ZOHO has no documented way to unapply part of a payment, so it goes to the manual list
    (ops alerted once)."""
    theirs: dict[str, Decimal] = {}
    for item in zp.get("invoices") or []:
        zid = str(item.get("invoice_id"))
        theirs[zid] = theirs.get(zid, ZERO) + mappers.money(item.get("amount_applied"))
    changes = {}
    for zid, ours in applied:
        have = theirs.pop(str(zid), ZERO)
        if ours > have:
            client.apply_credits_to_invoice(zid, payments=[(zoho_id, mappers.amount(ours - have))])
            changes[zid] = mappers.amount(ours - have)
        elif ours < have:
            _unapply_entry(payment, zoho_id, zid, have, ours)
    for zid, have in theirs.items():
        if have > ZERO:
            _unapply_entry(payment, zoho_id, zid, have, ZERO)
    return changes


def _unapply_entry(payment, zoho_id: str, invoice_zoho_id: str, have: Decimal, ours: Decimal) -> None:
    _manual_entry(kind=ManualEntry.Kind.UNAPPLY, entity_type="payment", entity_id=payment.pk,
                  key=f"unapply:payment:{payment.pk}:{invoice_zoho_id}:{mappers.amount(ours)}",
                  summary=(f"Reduce ZOHO payment {zoho_id} ({payment.reference}) applied to ZOHO invoice "
                           f"{invoice_zoho_id} from {format_zar(have)} to {format_zar(ours)}"),
                  details={"payment_id": zoho_id, "invoice_id": invoice_zoho_id, "applied_in_zoho": mappers.amount(have),
                           "ours": mappers.amount(ours)})


def payment_reversal_sync(payment, client: ZohoClient) -> Outcome:
    """A reversed (bounced) payment is undone in ZOHO: DELETE /payments/{id} (CONTRACTS 1.8); ZOHO
    reopens the invoices it paid, as ours did. Already gone (404): done. ZOHO refusing the delete
    goes to the manual list (ops told once). Never marked synced without one of these."""
    req = {"payment_status": payment.status, "reference_number": payment.reference}
    zoho_id = payment.zoho_id
    if not zoho_id and _intent_open("payment", payment.pk):
        customer_zoho_id = _ensure_synced("customer", payment.customer, client)
        Invoice = model_for("invoice")
        applied = [(i.zoho_id, ZERO) for i in Invoice.objects.filter(
            pk__in=[pk for pk, _ in payment_allocations(payment)]).exclude(zoho_id="")]
        zoho_id = _find_payment(client, payment, customer_zoho_id=customer_zoho_id, applied=applied)
        if zoho_id:
            _save_row_id("payment", payment.pk)(zoho_id)
        OutboundIntent.objects.filter(entity_type="payment", entity_id=payment.pk).delete()
    if not zoho_id:
        return Outcome(SyncLog.Action.SKIP, "", req, {"reversed": True, "in_zoho": False}, SyncLog.Status.SUCCESS,
                       "reversed before it reached ZOHO: nothing to undo there")
    try:
        client.get_payment(zoho_id)
    except ZohoNotFoundError:
        return Outcome(SyncLog.Action.DELETE, zoho_id, req, {"deleted": False, "already_gone": True},
                       note="reversed: the ZOHO payment is already deleted")
    try:
        client.delete_payment(zoho_id)
    except ZohoValidationError as exc:
        entry = _manual_entry(kind=ManualEntry.Kind.REVERSAL, entity_type="payment", entity_id=payment.pk,
                              key=f"reversal:payment:{payment.pk}",
                              summary=(f"Delete (or reverse) ZOHO payment {zoho_id} ({payment.reference}, "
                                       f"{format_zar(payment.amount)}): the debit order was returned unpaid; ZOHO "
                                       f"refused the delete ({exc})"),
                              details={"payment_id": zoho_id, "error": str(exc)[:500]})
        return Outcome(SyncLog.Action.SKIP, zoho_id, req, {"manual_entry": entry.pk}, SyncLog.Status.SKIPPED,
                       f"reversal awaits manual entry in ZOHO (entry #{entry.pk})")
    return Outcome(SyncLog.Action.DELETE, zoho_id, req, {"deleted": True}, note="reversed: ZOHO payment deleted")


def _manual_entry(*, kind: str, entity_type: str, entity_id: int, key: str, summary: str, details: dict) -> ManualEntry:
    """Something for staff to enter in ZOHO by hand: one row per fact (unique key), ops alerted once."""
    try:
        entry, _ = ManualEntry.objects.get_or_create(key=key[:200], defaults={
            "kind": kind, "entity_type": entity_type, "entity_id": entity_id, "summary": summary, "details": details})
    except IntegrityError:
        entry = ManualEntry.objects.get(key=key[:200])
    if entry.alerted_at is None:
        from notifications.services import notify_ops

        try:
            with transaction.atomic():
                notify_ops(event="ops_alert", idempotency_key=f"zoho_manual:{entry.key}"[:200], context={
                    "title": "Enter in ZOHO by hand", "severity": "warning",
                    "message": f"{summary}. Then mark it entered in the admin (ZOHO sync > Entries to make in ZOHO by hand).",
                    "fields": {**{k: str(v) for k, v in details.items()}, "admin": "/admin/zoho_sync/manualentry/"}})
        except Exception as exc:  # an alert never fails the sync; retried on the next sync
            logger.exception("could not alert ops about manual ZOHO entry %s", entry.key)
            ManualEntry.objects.filter(pk=entry.pk).update(alert_error=f"{type(exc).__name__}: {exc}"[:2000])
            return entry
        ManualEntry.objects.filter(pk=entry.pk, alerted_at__isnull=True).update(alerted_at=timezone.now(), alert_error="")
    return entry


def manual_entry_mark_entered(*, entry_id: int, actor: str, reason: str) -> ManualEntry:
    """Staff made this entry in ZOHO by hand."""
    reason = (reason or "").strip()
    if not reason:
        raise ZohoSyncError("Say how it was entered in ZOHO: a reason is required.")
    with transaction.atomic():
        entry = ManualEntry.objects.select_for_update().filter(pk=entry_id).first()
        if entry is None:
            raise ZohoSyncError(f"entry #{entry_id} does not exist")
        if entry.entered_at is not None:
            raise ZohoSyncError(f"already marked entered by {entry.entered_by or 'someone'}")
        entry.entered_at, entry.entered_by, entry.entered_reason = timezone.now(), actor[:150], reason
        entry.save(update_fields=["entered_at", "entered_by", "entered_reason"])
    return entry


# --- Refunds (POST /payments/{payment_id}/refunds) ---------------------------------------------------
# Source: Letstream/zoho-billing-python-sdk specs/refunds.yml @2bf0952194ce95f8645f7ad6da35021cfbb92fe8,
# "Refund a payment" (a credit note is made for the amount and refunded); ZOHO's total is the payment's
# `amount_refunded` (specs/payments.yml, same commit, GET /payments/{payment_id}).
REFUND_KEY = "refund"
REFUND_DESCRIPTION_MAX = 200


def _refund_references(payment) -> list[str]:
    """Our refund rows behind the payment's refunded total (not failed ones), for ZOHO's description."""
    try:
        Refund = apps.get_model("payments.Refund")
    except LookupError:
        return []
    return [f"#{pk}" for pk in Refund.objects.filter(payment_id=payment.pk).exclude(status="failed")
            .order_by("pk").values_list("pk", flat=True)]


def _refund_description(payment, target: Decimal) -> str:
    refs = _refund_references(payment)
    shown = ", ".join(refs[:8]) + (f" +{len(refs) - 8} more" if len(refs) > 8 else "")
    text = (f"CircleTel refund{'s' if len(refs) != 1 else ''} {shown or '(no reference)'} on {payment.reference}; "
            f"refunded in total {mappers.amount(target)}")
    return text[:REFUND_DESCRIPTION_MAX]


def _zoho_refunded(client: ZohoClient, zoho_payment_id: str) -> Decimal:
    """ZOHO's refunded total for the payment: `amount_refunded` of GET /payments/{payment_id}."""
    return mappers.money(client.get_payment(zoho_payment_id).get("amount_refunded"))


def _settle_unknown_refunds(payment, theirs: Decimal) -> list[dict]:
    """Refund POSTs whose answer we never saw, settled by ZOHO's total just read: it reached the
    push's target, so ZOHO saved it (`found`); it did not, so it was not saved (`not_saved`)."""
    settled = []
    for push in RefundPush.objects.filter(payment_id=payment.pk, state=RefundPush.State.SENT):
        state = RefundPush.State.FOUND if theirs >= push.target_total else RefundPush.State.NOT_SAVED
        RefundPush.objects.filter(pk=push.pk, state=RefundPush.State.SENT).update(state=state,
                                                                                 answered_at=timezone.now())
        settled.append({"push": push.pk, "amount": mappers.amount(push.amount), "state": state})
    return settled


def _refund_follow(payment, *, zoho_payment_id: str, customer_zoho_id: str, client: ZohoClient) -> dict | None:
    """Bring ZOHO's refunded total for this payment to ours, never refunding twice.

    Reads ZOHO's `amount_refunded` first (ZOHO has no idempotency key: after a timeout the read is
    how we learn whether a refund landed), then POSTs a refund for the difference when ZOHO shows
    less, and reads again: "mirrored" only when ZOHO's total equals ours. Everything the endpoint
    cannot do goes to the manual list (RefundManualEntry, ops alerted once): our total went down,
    ZOHO shows more, ZOHO refused, or ZOHO confirmed a refund its total does not show. A total that
    is on the manual list (not yet entered), or that staff marked entered by hand, is never POSTed.
    Returns None for a payment that never had a refund; else {"state", "summary", "note"}."""
    ours = payment.amount_refunded
    if (ours == ZERO and not RefundPush.objects.filter(payment_id=payment.pk).exists()
            and not RefundManualEntry.objects.filter(payment_id=payment.pk).exists()):
        return None
    theirs = _zoho_refunded(client, zoho_payment_id)
    settled = _settle_unknown_refunds(payment, theirs)
    base = {"refunded_total": mappers.amount(ours), "zoho_before": mappers.amount(theirs)}
    if settled:
        base["unknown_settled"] = settled
    if theirs == ours:
        return {"state": "mirrored", "summary": {"state": "mirrored", **base},
                "note": "" if not settled else f"refund total {format_zar(ours)} confirmed in ZOHO by reading it back"}
    entered = RefundManualEntry.objects.filter(payment_id=payment.pk, refunded_total=ours, entered_at__isnull=False)
    if entered.exists():
        return {"state": "entered", "summary": {"state": "entered", **base},
                "note": (f"refund total {format_zar(ours)} was entered in ZOHO by hand (marked by staff); ZOHO shows "
                         f"{format_zar(theirs)}")}
    pushed = RefundPush.objects.filter(payment_id=payment.pk, state__in=[RefundPush.State.SAVED, RefundPush.State.FOUND])
    if theirs > ours:
        higher_before = (pushed.filter(target_total__gt=ours).exists()
                         or RefundManualEntry.objects.filter(payment_id=payment.pk, refunded_total__gt=ours).exists())
        reason = RefundManualEntry.Reason.DECREASED if higher_before else RefundManualEntry.Reason.ZOHO_ABOVE
        return _refund_manual(payment, reason=reason, theirs=theirs, zoho_payment_id=zoho_payment_id,
                              customer_zoho_id=customer_zoho_id, base=base)
    awaiting = RefundManualEntry.objects.awaiting().filter(payment_id=payment.pk).first()
    if awaiting is not None:  # a human owns this total now
        return _refund_manual(payment, reason=awaiting.reason, theirs=theirs, zoho_payment_id=zoho_payment_id,
                              customer_zoho_id=customer_zoho_id, base=base)
    # Pushes before staff last fixed this payment in ZOHO by hand are history: their targets may be
    # above what ZOHO now rightly shows.
    fixed_at = (RefundManualEntry.objects.filter(payment_id=payment.pk, entered_at__isnull=False)
                .order_by("-entered_at").values_list("entered_at", flat=True).first())
    if fixed_at is not None:
        pushed = pushed.filter(created_at__gt=fixed_at)
    if pushed.filter(target_total__gt=theirs, target_total__lte=ours).exists():
        # ZOHO said it saved a refund its total does not show: posting again could refund twice.
        return _refund_manual(payment, reason=RefundManualEntry.Reason.UNCONFIRMED, theirs=theirs,
                              zoho_payment_id=zoho_payment_id, customer_zoho_id=customer_zoho_id, base=base)
    delta = ours - theirs
    push = RefundPush.objects.create(payment_id=payment.pk, zoho_payment_id=zoho_payment_id, amount=delta,
                                     zoho_total_before=theirs, target_total=ours,
                                     description=_refund_description(payment, ours))
    try:
        zr = client.refund_payment(zoho_payment_id, amount=mappers.amount(delta), description=push.description)
    except (ZohoValidationError, ZohoNotFoundError) as exc:  # a definite "no": nothing was refunded
        RefundPush.objects.filter(pk=push.pk).update(state=RefundPush.State.REFUSED, error=str(exc)[:2000],
                                                     answered_at=timezone.now())
        return _refund_manual(payment, reason=RefundManualEntry.Reason.REFUSED, theirs=theirs,
                              zoho_payment_id=zoho_payment_id, customer_zoho_id=customer_zoho_id,
                              base={**base, "refused": str(exc)[:300]})
    # A timeout, 5xx or lost answer propagates: the push stays `sent`, and the next attempt reads first.
    creditnote = zr.get("creditnote") or {}
    RefundPush.objects.filter(pk=push.pk).update(
        state=RefundPush.State.SAVED, zoho_refund_id=str(zr.get("refund_id") or "")[:64],
        zoho_creditnote_id=str(creditnote.get("creditnote_id") or "")[:64], answered_at=timezone.now())
    sent = {"push": push.pk, "amount": mappers.amount(delta), "refund_id": str(zr.get("refund_id") or ""),
            "creditnote_id": str(creditnote.get("creditnote_id") or ""), "description": push.description}
    after = _zoho_refunded(client, zoho_payment_id)
    if after != ours:
        return _refund_manual(payment, reason=RefundManualEntry.Reason.UNCONFIRMED, theirs=after,
                              zoho_payment_id=zoho_payment_id, customer_zoho_id=customer_zoho_id,
                              base={**base, "sent": sent, "zoho_after": mappers.amount(after)})
    return {"state": "mirrored", "summary": {"state": "mirrored", **base, "sent": sent, "zoho_after": mappers.amount(after)},
            "note": (f"refund of {format_zar(delta)} sent to ZOHO payment {zoho_payment_id} (refund "
                     f"{sent['refund_id'] or '?'}); ZOHO shows {format_zar(after)} refunded, as we do")}


REFUND_MANUAL_WHY = {
    RefundManualEntry.Reason.DECREASED: ("our refunded total went down (a refund failed after it was sent); ZOHO has "
                                         "no documented way to reduce a refund"),
    RefundManualEntry.Reason.ZOHO_ABOVE: "ZOHO shows more refunded than we do",
    RefundManualEntry.Reason.REFUSED: "ZOHO refused the refund",
    RefundManualEntry.Reason.UNCONFIRMED: ("ZOHO confirmed a refund that its payment's refunded total does not show; "
                                           "the sync will not post again (it could refund twice)"),
    RefundManualEntry.Reason.NO_ENDPOINT: "recorded before refunds were sent to ZOHO",
}


def _refund_manual(payment, *, reason: str, theirs: Decimal, zoho_payment_id: str, customer_zoho_id: str,
                   base: dict) -> dict:
    """Make sure a RefundManualEntry exists for the payment's refunded total and ops were alerted
    once (the entry's unique total and the alert's idempotency key make a re-run a no-op)."""
    total = payment.amount_refunded
    last_alerted = (RefundManualEntry.objects.filter(payment_id=payment.pk, alerted_at__isnull=False)
                    .exclude(refunded_total=total).order_by("-pk").values_list("refunded_total", flat=True).first())
    entry, _ = RefundManualEntry.objects.get_or_create(
        payment_id=payment.pk, refunded_total=total,
        defaults={"previous_total": theirs if last_alerted is None else last_alerted,
                  "zoho_payment_id": zoho_payment_id, "reason": reason, "zoho_total": theirs})
    if entry.alerted_at is not None:
        alert = "already sent"
    else:
        alert = _refund_manual_alert(entry, payment=payment, theirs=theirs, zoho_payment_id=zoho_payment_id,
                                     customer_zoho_id=customer_zoho_id)
    summary = {"state": "awaiting", **base, "entry_id": entry.pk, "reason": entry.reason,
               "since_last_alert": mappers.amount(total - entry.previous_total), "alert": alert}
    note = (f"{MANUAL_REFUND_NOTE}: {format_zar(total)} refunded in total, {format_zar(theirs)} in ZOHO "
            f"({REFUND_MANUAL_WHY.get(entry.reason, entry.reason)}); set ZOHO payment {zoho_payment_id} to "
            f"{format_zar(total)} refunded by hand; ops alert: {alert}")
    return {"state": "awaiting", "summary": summary, "note": note}


def _refund_manual_alert(entry, *, payment, theirs: Decimal, zoho_payment_id: str, customer_zoho_id: str) -> str:
    """Best effort, once per refunded total: tell ops exactly what to record in ZOHO. Never raises
    (the sync must not fail for an alert); a failure is kept on the entry and retried by the next
    sync of the payment (same idempotency key, so never sent twice)."""
    from notifications.services import notify_ops
    total = entry.refunded_total
    customer = payment.customer
    who = f"{customer.account_number} {customer.display_name}".strip()
    if total > theirs:
        todo = (f"Record a refund of {format_zar(total - theirs)} on ZOHO payment {zoho_payment_id} so that ZOHO "
                f"shows {format_zar(total)} refunded in total.")
    else:
        todo = (f"Reduce the refund on ZOHO payment {zoho_payment_id} by {format_zar(theirs - total)} so that ZOHO "
                f"shows {format_zar(total)} refunded in total.")
    why = REFUND_MANUAL_WHY.get(entry.reason, entry.reason)
    context = {
        "title": f"Enter a refund in ZOHO by hand: {payment.reference}",
        "severity": "warning",
        "message": (f"Payment {payment.reference} of {who} has {format_zar(total)} refunded; ZOHO shows "
                    f"{format_zar(theirs)}. The sync cannot mirror it: {why}. {todo} Then mark it entered in the "
                    f"admin (ZOHO sync > Refunds to enter in ZOHO)."),
        "fields": {"customer": who, "ZOHO customer id": customer_zoho_id, "our payment reference": payment.reference,
                   "ZOHO payment id": zoho_payment_id, "payment amount": format_zar(payment.amount),
                   "refunded in total": format_zar(total), "refunded in ZOHO": format_zar(theirs),
                   "why": why, "new since the last alert": format_zar(total - entry.previous_total),
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
