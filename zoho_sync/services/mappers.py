"""Pure mappers: our rows -> ZOHO Billing request bodies (no ORM queries, no HTTP).

Money leaves as a 2-place string ("899.00"): CONTRACTS 1.7 allows string or number, and a string
never passes through float. ZOHO's answers come back through `money()` into `Decimal`.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.utils import timezone
from django.utils.text import slugify

CENT = Decimal("0.01")

# Our payment method -> ZOHO `payment_mode` (CONTRACTS 1.8: check, cash, creditcard, banktransfer,
# bankremittance, autotransaction, others). `autotransaction` is reserved for ZOHO's own gateway
# charges, which we never use (auto_collect is off), so bank debits are bank transfers.
PAYMENT_MODES = {
    "card": "creditcard",
    "stripe": "creditcard",
    "debit_order": "banktransfer",
    "eft": "banktransfer",
    "instant_eft": "banktransfer",
    "cash": "cash",
    "paypal": "others",
}

# Invoice types we create in ZOHO; recurring invoices are ZOHO's own (from the subscription), linked.


def money(value) -> Decimal:
    """A ZOHO amount (number or string) as Decimal, 2 places half-up."""
    return Decimal(str(value if value not in (None, "") else "0")).quantize(CENT, rounding=ROUND_HALF_UP)


def amount(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))


def _sync_settings() -> dict:
    return getattr(settings, "ZOHO_SYNC", {})


def payment_mode_for(method: str) -> str:
    return PAYMENT_MODES.get(method, "others")


def plan_code_for(package_name: str) -> str:
    """ZOHO plan code for one of our packages: `ZOHO_PLAN_CODES` override, else the package slug."""
    codes = _sync_settings().get("PLAN_CODES") or {}
    return codes.get(package_name) or slugify(package_name)


def customer_body(customer) -> dict:
    label = _sync_settings().get("ACCOUNT_NUMBER_FIELD", "Account Number")
    body = {
        "display_name": customer.display_name,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "email": customer.email,
        "currency_code": "ZAR",
        "billing_address": {
            "attention": customer.full_name,
            "street": ", ".join(p for p in (customer.address_line1, customer.address_line2) if p),
            "city": customer.city,
            "state": customer.province,
            "zip": customer.postal_code,
            "country": "South Africa",
        },
        "custom_fields": [{"label": label, "value": customer.account_number}],
        "notes": f"CircleTel account {customer.account_number}",
    }
    if customer.company_name:
        body["company_name"] = customer.company_name
    if customer.phone:
        body["phone"] = customer.phone
        body["mobile"] = customer.phone
    if customer.vat_number:
        body["vat_reg_no"] = customer.vat_number
    return body


def customer_account_number(zoho_customer: dict) -> str:
    label = _sync_settings().get("ACCOUNT_NUMBER_FIELD", "Account Number")
    for field in zoho_customer.get("custom_fields") or []:
        if field.get("label") == label:
            return str(field.get("value") or "")
    return ""


def subscription_reference(service) -> str:
    return f"{service.customer.account_number}-S{service.pk}"


def _billing_date(year: int, month: int, billing_day: int):
    """Our billing date in a month: the billing day, or the month's last day when shorter (the 30th
    in February) (ARCHITECTURE "Time and money conventions")."""
    import calendar
    from datetime import date

    return date(year, month, min(billing_day, calendar.monthrange(year, month)[1]))


def first_zoho_billing_date(activation, billing_day: int):
    """The first billing date strictly after activation: N of the activation period [P, N).

    Our activation invoice charges [A, N) (pro-rata, or a full month when A is a billing date), so
    the ZOHO subscription must start billing at N, or ZOHO bills that period a second time
    (CONTRACTS 1.8a: `starts_at` sets when ZOHO bills). Pure function (mirrors billing's
    `billing_period`, which zoho_sync may not import)."""
    year, month = activation.year, activation.month
    this_month = _billing_date(year, month, billing_day)
    if this_month > activation:
        return this_month
    month += 1
    if month > 12:
        year, month = year + 1, 1
    return _billing_date(year, month, billing_day)


def subscription_body(service, *, customer_zoho_id: str, plan_code: str) -> dict:
    body = {
        "customer_id": customer_zoho_id,
        "auto_collect": False,  # ZOHO never charges anyone: we collect, ZOHO mirrors
        "reference_id": subscription_reference(service),
        "plan": {"plan_code": plan_code, "quantity": 1, "price": amount(service.monthly_price), "billing_cycles": -1},
        "custom_fields": [{"label": "Billing Day", "value": str(service.billing_day)}],
    }
    if service.activation_date:
        # Anchored to the billing day: ZOHO's first bill is the first period after our activation
        # invoice (which already charged [activation, N)).
        body["starts_at"] = first_zoho_billing_date(service.activation_date, service.billing_day).isoformat()
    return body


def _line_item(*, name: str, description: str, quantity: Decimal, unit_price: Decimal, line_amount: Decimal,
               tax_id: str) -> dict:
    # Send unit price x quantity when it reproduces our line amount with a whole quantity (CONTRACTS
    # 1.8a: invoice item `quantity` is typed integer); else the amount as one unit (pro-rata lines,
    # fractional quantities), so ZOHO's item_total equals ours.
    if quantity != quantity.to_integral() or (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP) != line_amount:
        quantity, unit_price = Decimal("1"), line_amount
    item = {
        "name": name[:100],
        "description": description[:2000],
        "quantity": int(quantity),
        "price": amount(unit_price),
        "rate": amount(unit_price),  # CONTRACTS 1.7: spec says price, practice says rate: send both
    }
    if tax_id:
        item["tax_id"] = tax_id
    return item


def invoice_body(invoice, lines, *, customer_zoho_id: str) -> dict:
    """A manual invoice with its lines one to one (an invoice without lines becomes one line for its
    total). Line prices are as the customer sees them; `is_inclusive_tax` tells ZOHO which, so with
    the org's 15% VAT tax on every item ZOHO derives the same VAT and total we did."""
    tax_id = _sync_settings().get("VAT_TAX_ID", "")
    items = [
        _line_item(name=line.description, description=line.description, quantity=line.quantity,
                   unit_price=line.unit_price, line_amount=line.amount, tax_id=tax_id)
        for line in lines
    ]
    if not items:
        gross = invoice.total if invoice.prices_include_vat else invoice.subtotal
        label = f"{invoice.get_invoice_type_display()} {invoice.number}"
        items = [_line_item(name=label, description=invoice.notes or label, quantity=Decimal("1"),
                            unit_price=gross, line_amount=gross, tax_id=tax_id)]
    return {
        "customer_id": customer_zoho_id,
        "date": invoice.issue_date.isoformat(),
        "due_date": invoice.due_date.isoformat(),
        "reference_number": invoice.number,
        "is_inclusive_tax": bool(invoice.prices_include_vat),
        "invoice_items": items,
        "notes": (invoice.notes or "")[:2000],
        "custom_fields": [{"label": "CircleTel Invoice", "value": invoice.number}],
    }


def credit_note_body(note, *, customer_zoho_id: str, invoice_number: str) -> dict:
    """A credit note as ZOHO `/creditnotes` wants it (official spec, not yet in CONTRACTS.md).

    Our number is sent as `creditnote_number` with `ignore_auto_number_generation: true` in the body
    (CONTRACTS 1.8a: a body boolean for credit notes), so it is unique in ZOHO; items carry no
    `name` (1.8a: credit-note items have no name property) and an integer quantity. The spec has no `is_inclusive_tax` for credit notes, so with a VAT tax id
    the line is the VAT-exclusive subtotal and ZOHO adds the tax; without one, the total as is.
    `code` is required per item: the `CREDIT_NOTE_ITEM_CODE` setting (ASSUMPTION: an item/product
    code that exists in the ZOHO organisation; default "circletel-credit").
    """
    conf = _sync_settings()
    tax_id = conf.get("VAT_TAX_ID", "")
    item = {
        "code": conf.get("CREDIT_NOTE_ITEM_CODE", "circletel-credit"),
        "description": (f"Credit {note.number}: {note.reason or ''}")[:2000],
        "quantity": 1,
        "price": amount(note.subtotal if tax_id else note.total),
    }
    if tax_id:
        item["tax_id"] = tax_id
    return {
        "customer_id": customer_zoho_id,
        "date": note.issue_date.isoformat(),
        "creditnote_number": note.number,
        "ignore_auto_number_generation": True,
        "reference_number": invoice_number,
        "creditnote_items": [item],
        "notes": f"Credit note {note.number} on invoice {invoice_number}: {note.reason}"[:2000],
        "custom_fields": [{"label": "CircleTel Credit Note", "value": note.number}],
    }


def invoice_totals_drift(invoice, zoho_invoice: dict) -> dict:
    """Differences between our totals and ZOHO's ({} when equal to the cent)."""
    drift = {}
    ours = {"total": invoice.total, "tax_total": invoice.vat_amount}
    for key in ("total", "tax_total"):
        if key in zoho_invoice and money(zoho_invoice[key]) != ours[key]:
            drift[key] = {"ours": amount(ours[key]), "zoho": amount(money(zoho_invoice[key]))}
    return drift


def payment_body(payment, *, customer_zoho_id: str, applied: list[tuple[str, Decimal]]) -> dict:
    """A received payment; `applied` = [(ZOHO invoice id, amount)] from *our* allocations (none: the
    whole payment is unapplied credit in ZOHO, as it is on our account)."""
    date = (payment.completed_at or payment.created_at)
    body = {
        "customer_id": customer_zoho_id,
        "payment_mode": payment_mode_for(payment.method),
        "amount": amount(payment.amount),
        "date": timezone.localdate(date).isoformat(),
        "reference_number": payment.reference,
        "description": f"CircleTel payment {payment.reference} ({payment.get_method_display()})",
    }
    applied = [(zid, amt) for zid, amt in applied if amt > 0]
    if applied:
        body["invoices"] = [{"invoice_id": zid, "amount_applied": amount(amt)} for zid, amt in applied]
    return body


def summary(body: dict, **extra) -> dict:
    """A lean request summary for SyncLog: field names and references, never contact or bank data."""
    out = {"fields": sorted(body.keys())}
    for key in ("reference_number", "reference_id", "payment_mode", "amount", "date"):
        if key in body:
            out[key] = body[key]
    if "invoice_items" in body:
        out["items"] = len(body["invoice_items"])
    out.update(extra)
    return out
