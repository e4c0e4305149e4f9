"""What payments hands the ZOHO mirror (registered in PaymentsConfig.ready; zoho_sync never imports payments)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Sum


def payment_allocations(payment_id: int) -> list[tuple[int, Decimal]]:
    """(invoice id, amount) per invoice this payment paid, including allocations made later from its
    unallocated credit; ZOHO's applied amounts follow these (issue 17, finding 3)."""
    from payments.models import PaymentAllocation

    rows = (PaymentAllocation.objects.filter(payment_id=payment_id).values("invoice_id")
            .annotate(total=Sum("amount")).order_by("invoice_id"))
    return [(row["invoice_id"], row["total"]) for row in rows]
