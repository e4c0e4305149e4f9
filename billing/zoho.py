"""What billing hands the ZOHO mirror besides its mirrored models (registered in BillingConfig.ready)."""

from __future__ import annotations

from decimal import Decimal


def credit_note_allocations(invoice_id: int) -> list[tuple[int, Decimal]]:
    """(credit note id, amount) of other invoices' credit notes applied to this invoice
    (CreditNoteAllocation); ZOHO applies the same credit to the same invoice (issue 17, finding 3)."""
    from billing.models.invoices import CreditNoteAllocation

    return list(CreditNoteAllocation.objects.filter(invoice_id=invoice_id).order_by("credit_note_id")
                .values_list("credit_note_id", "amount"))
