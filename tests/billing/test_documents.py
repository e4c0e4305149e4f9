"""Issue 16, finding 4: invoice documents follow the money.

An invoice's PDF is rendered again (on the documents queue, once per transaction per invoice) when it
is paid, part-paid, credited or voided; the document lists the payments and credits, the amount due
now, a PAID or VOID mark, "Please pay by" only while something is due, and a reissue names the
invoice it replaces. The dashboard's invoice page shows the same facts.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils.html import strip_tags

from billing.models import Invoice
from billing.services.invoices import credit_note_create, invoice_reissue, invoice_void
from billing.services.lifecycle import service_activate
from billing.services.pdf import invoice_documents_changed, invoice_payments_and_credits, invoice_pdf_html
from payments.services.payments import payment_complete
from portal.pdf import invoice_pdf_bytes as dashboard_pdf_bytes
from tests.billing.factories import service as make_service
from tests.portal.factories import customer_with_login

D = Decimal
pytestmark = pytest.mark.django_db
RENDER = "billing.tasks.render_invoice_pdf"


def _invoice(customer=None) -> Invoice:
    """R 499.00 a month activated on 15 Jan 2026 (billing day 1): first invoice R 273.65."""
    kwargs = {"customer": customer} if customer else {}
    svc = make_service(monthly_price=D("499.00"), **kwargs)
    invoice = service_activate(service=svc, reason="installed", activation_date=date(2026, 1, 15))
    assert invoice.total == D("273.65")
    return invoice


def _pay(invoice, amount, ref):
    return payment_complete(reference=ref, amount=amount, customer=invoice.customer, method="eft",
                            provider="manual", invoice=invoice)


def _renders(queued, invoice) -> int:
    return sum(1 for func, args in queued if func == RENDER and args == (invoice.pk,))


def test_a_paid_invoice_is_rendered_again_and_says_paid(queued, django_capture_on_commit_callbacks):
    invoice = _invoice()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _pay(invoice, D("273.65"), "PAY-DOC-1")
    assert _renders(queued, invoice) == 1

    invoice.refresh_from_db()
    html = invoice_pdf_html(invoice)
    assert 'data-mark="paid"' in html and "PAID" in html
    assert "Payments and credits" in html and "Payment PAY-DOC-1" in html
    assert "Amount due now" in html and "R 0.00" in html
    assert "Please pay" not in html and "How to pay" not in html
    assert "Nothing is due on this invoice" in html


def test_an_unpaid_invoice_asks_for_payment_and_has_no_marks():
    """Positive control: before any money moves the invoice asks to be paid and carries no mark."""
    html = invoice_pdf_html(_invoice())
    assert "Please pay R 273.65 by 22 January 2026" in html
    assert 'data-mark="paid"' not in html and 'data-mark="void"' not in html
    assert "Payments and credits" not in html


def test_a_part_paid_invoice_lists_the_payment_and_the_amount_still_due(queued, django_capture_on_commit_callbacks):
    invoice = _invoice()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _pay(invoice, D("100.00"), "PAY-DOC-2")
    assert _renders(queued, invoice) == 1
    invoice.refresh_from_db()
    assert invoice.is_open and invoice.amount_due == D("173.65")
    html = invoice_pdf_html(invoice)
    assert "Payment PAY-DOC-2" in html and "R 100.00" in html
    assert "Please pay R 173.65 by 22 January 2026" in html
    assert 'data-mark="paid"' not in html
    rows = invoice_payments_and_credits(invoice)
    assert [(r.description, r.amount) for r in rows] == [("Payment PAY-DOC-2", D("100.00"))]


def test_a_credited_invoice_lists_the_credit_note(queued, django_capture_on_commit_callbacks):
    invoice = _invoice()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        note = credit_note_create(invoice=invoice, amount=D("73.65"), reason="installation was late")
    assert _renders(queued, invoice) == 1
    invoice.refresh_from_db()
    html = invoice_pdf_html(invoice)
    assert f"Credit note {note.number}: installation was late" in html
    assert "Please pay R 200.00 by" in html
    assert sum(r.amount for r in invoice_payments_and_credits(invoice)) == invoice.amount_paid == D("73.65")


def test_payments_and_credits_add_up_to_what_was_paid():
    invoice = _invoice()
    _pay(invoice, D("100.00"), "PAY-DOC-3")
    credit_note_create(invoice=invoice, amount=D("50.00"), reason="goodwill")
    _pay(invoice, D("123.65"), "PAY-DOC-4")
    invoice.refresh_from_db()
    rows = invoice_payments_and_credits(invoice)
    assert sorted(r.amount for r in rows) == [D("50.00"), D("100.00"), D("123.65")]
    assert sum(r.amount for r in rows) == invoice.amount_paid == invoice.total
    assert invoice.status == Invoice.Status.PAID


def test_a_void_invoice_says_void_and_asks_for_nothing(queued, django_capture_on_commit_callbacks):
    invoice = _invoice()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        invoice_void(invoice=invoice, reason="wrong package")
    assert _renders(queued, invoice) == 1
    invoice.refresh_from_db()
    html = invoice_pdf_html(invoice)
    assert 'data-mark="void"' in html and "VOID" in html
    assert "Please pay" not in html
    assert "This invoice is void (wrong package)" in html


def test_a_reissue_names_the_invoice_it_replaces_and_the_void_one_names_its_replacement(
        queued, django_capture_on_commit_callbacks):
    invoice = _invoice()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        replacement = invoice_reissue(invoice=invoice, reason="wrong price")
    assert _renders(queued, invoice) == 1 and _renders(queued, replacement) == 1
    assert f"Replaces invoice {invoice.number}" in invoice_pdf_html(replacement)
    invoice.refresh_from_db()
    assert f"replaced by invoice {replacement.number}" in invoice_pdf_html(invoice)


def test_one_render_per_invoice_per_transaction_and_none_after_a_rollback(queued, django_capture_on_commit_callbacks):
    invoice = _invoice()
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            _pay(invoice, D("10.00"), "PAY-DOC-5")
            _pay(invoice, D("20.00"), "PAY-DOC-6")
            invoice_documents_changed(invoice.pk)
    assert _renders(queued, invoice) == 1

    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                _pay(invoice, D("5.00"), "PAY-DOC-7")
                raise RuntimeError("the unit of work fails")
        except RuntimeError:
            pass
    assert _renders(queued, invoice) == 0  # nothing moved, nothing rendered


def test_a_stored_pdf_older_than_the_money_is_not_served(settings):
    """The dashboard download serves the stored file only while it is current; after a payment (before
    the queued render ran) it renders the invoice as it stands now."""
    from billing.services.pdf import invoice_render_pdf

    invoice = _invoice()
    invoice_render_pdf(invoice_id=invoice.pk)
    invoice.refresh_from_db()
    stored = invoice.pdf.read()
    invoice.pdf.close()
    assert dashboard_pdf_bytes(invoice) == stored  # current: the stored file is served
    _pay(invoice, D("273.65"), "PAY-DOC-8")
    invoice.refresh_from_db()
    assert dashboard_pdf_bytes(invoice) != stored


def test_the_dashboard_invoice_page_shows_the_same_facts(client):
    customer = customer_with_login()
    invoice = _invoice(customer)
    _pay(invoice, D("273.65"), "PAY-DOC-9")
    client.force_login(customer.user)
    body = client.get(f"/dashboard/invoices/{invoice.pk}/").content.decode()
    assert "Payments and credits" in body and "Payment PAY-DOC-9" in body
    assert 'data-testid="invoice-due"><strong>R 0.00' in body
    assert 'data-mark="paid"' in body
    assert "Pay now" not in body

    other = _invoice(customer)
    body = client.get(f"/dashboard/invoices/{other.pk}/").content.decode()
    assert "Pay now R 273.65" in body  # positive control: an open invoice still offers payment
    replacement = invoice_reissue(invoice=other, reason="wrong price")
    body = client.get(f"/dashboard/invoices/{replacement.pk}/").content.decode()
    assert f"Replaces invoice {other.number}" in strip_tags(body)
    body = client.get(f"/dashboard/invoices/{other.pk}/").content.decode()
    assert 'data-mark="void"' in body and f"Replaced by invoice {replacement.number}" in strip_tags(body)


def test_the_demo_has_a_paid_invoice_whose_stored_pdf_says_paid_and_a_vat_number_on_the_business_invoices(settings):
    """seed_demo: billing's services and invoices, payments' demo payments, then the portal step renders
    the PDFs the money moved on; the business customer's VAT number prints on its tax invoices."""
    import io

    from billing.demo import DEMO_VAT_NUMBER
    from billing.demo import seed_demo as billing_demo
    from payments.demo import seed_demo as payments_demo
    from portal.demo import seed_demo as portal_demo
    from tests.factories import CustomerFactory

    settings.FIELD_ENCRYPTION_KEYS = []  # no debit-order demo (it needs keys); invoices and payments only
    for email in ("thandiwe.nkosi@example.co.za", "pieter.vdm@example.co.za", "aisha.patel@example.co.za",
                  "johan@karoo-guesthouse.example.co.za"):
        CustomerFactory(email=email)
    CustomerFactory(email="sipho@dlamini-logistics.example.co.za", account_type="business", company_name="Dlamini")
    billing_demo(io.StringIO())
    payments_demo(io.StringIO())
    out = io.StringIO()
    portal_demo(out)

    paid = Invoice.objects.filter(status=Invoice.Status.PAID).order_by("pk").first()
    assert paid is not None and paid.pdf and paid.pdf_generated_at >= paid.updated_at
    assert f"{paid.number} is paid and its PDF says PAID" in out.getvalue()
    assert 'data-mark="paid"' in invoice_pdf_html(paid)
    business = Invoice.objects.filter(customer__account_type="business").exclude(status="void").first()
    assert f"Customer VAT no. {DEMO_VAT_NUMBER}" in invoice_pdf_html(business)
    again = io.StringIO()
    portal_demo(again)
    assert again.getvalue().startswith("portal: 0 invoice PDF(s)")  # idempotent: current files are left alone


def test_account_credit_applied_to_a_new_invoice_is_listed_on_it(queued, django_capture_on_commit_callbacks):
    """Credit from an over-payment and from a credit note's remainder pays the next invoice (issue 16,
    finding 1); that invoice's document names where the money came from and is rendered again."""
    from billing.services.invoices import LineSpec, invoice_create

    first = _invoice()
    _pay(first, D("373.65"), "PAY-DOC-10")  # R 100.00 more than the invoice: credit on the account
    note = credit_note_create(invoice=first, amount=D("50.00"), reason="goodwill")  # paid invoice: all credit
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        second = invoice_create(customer=first.customer, invoice_type="adjustment",
                                lines=[LineSpec("Static IP", D("120.00"))])
    second.refresh_from_db()

    rows = invoice_payments_and_credits(second)
    assert second.status == Invoice.Status.PAID
    described = {r.description.split(" (")[0]: r.amount for r in rows}
    assert set(described) == {"Payment PAY-DOC-10", f"Credit from credit note {note.number}"}
    assert sum(described.values()) == second.amount_paid == D("120.00")  # oldest credit first: the split is billing's
    assert _renders(queued, second) >= 1
    assert 'data-mark="paid"' in invoice_pdf_html(second)


def test_an_invoice_settled_by_its_credit_note_says_credited_not_paid():
    """Probe F7: no money was received, so the document must not say PAID."""
    invoice = _invoice()
    credit_note_create(invoice=invoice, amount=invoice.total, reason="goodwill: outage")
    invoice.refresh_from_db()
    html = invoice_pdf_html(invoice)
    assert invoice.status == Invoice.Status.PAID and 'data-mark="credited"' in html and 'data-mark="paid"' not in html
    paid = _invoice()
    _pay(paid, paid.total, "PAY-CONTROL")
    paid.refresh_from_db()
    assert 'data-mark="paid"' in invoice_pdf_html(paid)  # positive control: money received says PAID
