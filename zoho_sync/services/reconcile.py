"""Drift between our books and ZOHO's, per customer (read-only on both sides)."""

from __future__ import annotations

from decimal import Decimal

from django.apps import apps
from django.db.models import Sum

from circletel.errors import ApplicationError
from zoho_sync.services.mappers import amount, money

TOLERANCE = Decimal("0.01")


class ReconcileError(ApplicationError):
    pass


def _ours(customer) -> dict:
    Invoice = apps.get_model("billing.Invoice")
    Payment = apps.get_model("payments.PaymentTransaction")
    inv = Invoice.objects.filter(customer=customer).exclude(status="void").aggregate(
        total=Sum("total"), vat=Sum("vat_amount"), due=Sum("amount_due"))
    paid = Payment.objects.filter(customer=customer, status__in=["completed", "partially_refunded"]).aggregate(
        s=Sum("amount"), r=Sum("amount_refunded"))
    zero = Decimal("0.00")
    return {"invoice_total": inv["total"] or zero, "vat_total": inv["vat"] or zero,
            "payments_total": (paid["s"] or zero) - (paid["r"] or zero), "outstanding": inv["due"] or zero}


def _zoho(client, zoho_customer_id: str) -> dict:
    """ZOHO's side through documented reads only (CONTRACTS 1.8a: there is no GET /payments list):
    the customer's invoices (GET /invoices?customer_id=, 1.7) and its PAYMENT and REFUND
    transactions (GET /transactions?customer_id=&filter_by=TransactionType.*, 1.5)."""
    invoices = [i for i in client.list_invoices(customer_id=zoho_customer_id) if i.get("status") != "void"]
    payments = client.list_transactions(zoho_customer_id, kind="PAYMENT")
    refunds = client.list_transactions(zoho_customer_id, kind="REFUND")
    return {
        "invoice_total": sum((money(i.get("total")) for i in invoices), Decimal("0.00")),
        "vat_total": sum((money(i.get("tax_total")) for i in invoices), Decimal("0.00")),
        "payments_total": (sum((money(p.get("amount")) for p in payments), Decimal("0.00"))
                           - sum((money(r.get("amount")) for r in refunds), Decimal("0.00"))),
        "outstanding": sum((money(i.get("balance")) for i in invoices), Decimal("0.00")),
    }


def reconcile_customers(*, customer_id: int | None = None, limit: int | None = None, client=None) -> list[dict]:
    from zoho_sync.clients.zoho import get_client

    Customer = apps.get_model("billing.Customer")
    qs = Customer.objects.exclude(zoho_id="").order_by("pk")
    if customer_id is not None:
        if not Customer.objects.filter(pk=customer_id).exists():
            raise ReconcileError(f"customer #{customer_id} does not exist")
        qs = qs.filter(pk=customer_id)
        if not qs.exists():
            raise ReconcileError(f"customer #{customer_id} has not been synced to ZOHO yet")
    if limit:
        qs = qs[:limit]
    client = client or get_client()
    rows = []
    for customer in qs:
        ours, theirs = _ours(customer), _zoho(client, customer.zoho_id)
        drift = {k: {"ours": amount(ours[k]), "zoho": amount(theirs[k]), "diff": amount(ours[k] - theirs[k])}
                 for k in ours if abs(ours[k] - theirs[k]) > TOLERANCE}
        rows.append({"customer_id": customer.pk, "account_number": customer.account_number,
                     "zoho_id": customer.zoho_id, "ours": {k: amount(v) for k, v in ours.items()},
                     "zoho": {k: amount(v) for k, v in theirs.items()}, "drift": drift})
    return rows
