"""The billing ops console as staff read it: money as "R 1,234.56", the ZOHO bookkeeping read-only and
out of the way, long histories limited on the customer page, view-only invoice pages, labelled choices,
and lifecycle actions that say what happened to each row."""

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from billing.models import BillingAccount, CreditNote, Customer, CustomerService, Invoice, LedgerEntry, Suspension
from tests.billing.factories import service as make_service
from tests.factories import CustomerFactory, InvoiceFactory, InvoiceLineFactory, UserFactory

pytestmark = pytest.mark.django_db

ZOHO_FIELDS = ("zoho_id", "zoho_sync_status", "zoho_last_synced_at", "zoho_last_error", "zoho_attempts",
               "zoho_next_attempt_at")


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(email="staff@circletel.co.za", is_staff=True, is_superuser=True))
    return client


def _cells(html: str, column: str) -> list[str]:
    """The text of a changelist column's cells, top to bottom."""
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(rf'<td class="field-{column}[^"]*"[^>]*>(.*?)</td>', html, re.S)]


def _messages(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request)]


def test_changelists_show_money_as_rand(staff_client):
    customer = CustomerFactory()
    BillingAccount.objects.filter(customer=customer).update(balance=Decimal("-52.00"))
    InvoiceFactory(customer=customer, subtotal=Decimal("1899.00"), vat_amount=Decimal("284.85"),
                   total=Decimal("2183.85"), amount_paid=Decimal("1000.00"))
    LedgerEntry.objects.create(customer=customer, entry_type=LedgerEntry.EntryType.PAYMENT, amount=Decimal("-1234.5"),
                               reference="payment:test", description="Payment", effective_date=date(2026, 11, 2))
    make_service(customer=customer, monthly_price=Decimal("1899.00"))
    CreditNote.objects.create(number="CN-2026-00001", invoice=Invoice.objects.get(), customer=customer, reason="x",
                              subtotal=Decimal("86.96"), vat_amount=Decimal("13.04"), total=Decimal("100.00"),
                              applied_amount=Decimal("100.00"), issue_date=date(2026, 11, 3))

    invoices = staff_client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert (_cells(invoices, "total_zar"), _cells(invoices, "amount_due_zar")) == (["R 2,183.85"], ["R 1,183.85"])
    customers = staff_client.get(reverse("admin:billing_customer_changelist")).content.decode()
    assert _cells(customers, "balance") == ["-R 52.00"]
    ledger = staff_client.get(reverse("admin:billing_ledgerentry_changelist")).content.decode()
    assert _cells(ledger, "amount_zar") == ["-R 1,234.50"]
    services = staff_client.get(reverse("admin:billing_customerservice_changelist")).content.decode()
    assert _cells(services, "monthly_price_zar") == ["R 1,899.00"]
    notes = staff_client.get(reverse("admin:billing_creditnote_changelist")).content.decode()
    assert (_cells(notes, "total_zar"), _cells(notes, "applied_amount_zar")) == (["R 100.00"], ["R 100.00"])


def test_ledger_entry_and_credit_note_pages_show_money_as_rand(staff_client):
    customer = CustomerFactory()
    entry = LedgerEntry.objects.create(customer=customer, entry_type=LedgerEntry.EntryType.PAYMENT,
                                       amount=Decimal("-1234.5"), reference="payment:test", description="Payment",
                                       effective_date=date(2026, 11, 2))
    note = CreditNote.objects.create(number="CN-2026-00001", invoice=InvoiceFactory(customer=customer),
                                     customer=customer, reason="x", subtotal=Decimal("869.57"),
                                     vat_amount=Decimal("130.43"), total=Decimal("1000.00"),
                                     applied_amount=Decimal("0.00"), issue_date=date(2026, 11, 3))

    entry_page = staff_client.get(reverse("admin:billing_ledgerentry_change", args=[entry.pk])).content.decode()
    note_page = staff_client.get(reverse("admin:billing_creditnote_change", args=[note.pk])).content.decode()

    assert '<div class="readonly">-R 1,234.50</div>' in entry_page
    for amount in ("R 869.57", "R 130.43", "R 1,000.00", "R 0.00"):
        assert f'<div class="readonly">{amount}</div>' in note_page


def test_invoice_page_is_view_only_with_money_as_rand(staff_client):
    invoice = InvoiceFactory(subtotal=Decimal("1899.00"), vat_amount=Decimal("284.85"), total=Decimal("2183.85"))
    url = reverse("admin:billing_invoice_change", args=[invoice.pk])

    page = staff_client.get(url).content.decode()

    assert 'name="_save"' not in page and 'name="_continue"' not in page and "closelink" in page
    for amount in ("R 1,899.00", "R 284.85", "R 2,183.85", "R 0.00"):
        assert f'<div class="readonly">{amount}</div>' in page
    assert ">2183.85<" not in page
    # A forged POST changes nothing either.
    assert staff_client.post(url, {"notes": "edited", "status": "paid"}).status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk, status="unpaid", notes="").exists()


def test_invoice_page_lists_every_field():
    """The invoice page spells its fieldsets out (to show money as rand): none may be left off."""
    model_admin = admin.site._registry[Invoice]
    shown = {getattr(f, "__name__", f).removesuffix("_zar")
             for _, options in model_admin.get_fieldsets(None, Invoice(pk=1)) for f in options["fields"]}
    assert {f.name for f in Invoice._meta.fields} - shown == {"id", "pdf"}  # pdf is shown as pdf_link


@pytest.mark.parametrize("model", [Customer, CustomerService, Invoice])
def test_zoho_bookkeeping_is_read_only_in_a_collapsed_fieldset_at_the_bottom(model):
    model_admin = admin.site._registry[model]
    fieldsets = model_admin.get_fieldsets(None, model(pk=1))
    assert fieldsets[-1] == ("ZOHO mirror", {"classes": ("collapse",), "fields": ZOHO_FIELDS})
    assert not any(f in ZOHO_FIELDS for _, options in fieldsets[:-1] for f in options["fields"])
    assert set(ZOHO_FIELDS) <= set(model_admin.get_readonly_fields(None, model(pk=1)))


def test_customer_page_has_no_zoho_or_balance_inputs(staff_client):
    customer = CustomerFactory()
    BillingAccount.objects.filter(customer=customer).update(balance=Decimal("1798.00"))
    Customer.objects.filter(pk=customer.pk).update(zoho_attempts=3)

    page = staff_client.get(reverse("admin:billing_customer_change", args=[customer.pk])).content.decode()

    assert 'name="email"' in page  # the form is editable ...
    for name in ZOHO_FIELDS:  # ... but not the sync worker's fields, nor the balance
        assert f'name="{name}"' not in page
    assert 'name="billing_account-0-balance"' not in page
    assert '<fieldset class="module aligned collapse' in page and "ZOHO mirror" in page
    assert page.count('<div class="readonly">R 1,798.00</div>') == 2  # the customer's and the account's
    assert ">1798.00<" not in page and 'value="1798.00"' not in page


def test_customer_page_shows_the_latest_20_ledger_entries_and_invoices_with_view_all_links(staff_client):
    customer, other = CustomerFactory(), CustomerFactory()
    start = date(2026, 1, 1)
    for i in range(25):
        LedgerEntry.objects.create(customer=customer, entry_type=LedgerEntry.EntryType.ADJUSTMENT, amount=Decimal("1"),
                                   reference=f"adj:{i:02d}", description=f"entry {i:02d}",
                                   effective_date=start + timedelta(days=i))
    LedgerEntry.objects.create(customer=other, entry_type=LedgerEntry.EntryType.ADJUSTMENT, amount=Decimal("1"),
                               reference="adj:other", description="other", effective_date=start)
    for i in range(22):
        InvoiceFactory(customer=customer, number=f"INV-2026-{i:05d}", issue_date=start + timedelta(days=i))

    page = staff_client.get(reverse("admin:billing_customer_change", args=[customer.pk])).content.decode()

    shown = re.findall(r"adj:(\d\d|other)", page)
    assert list(dict.fromkeys(shown)) == [f"{i:02d}" for i in range(24, 4, -1)]  # newest first, 20 of 25
    invoices = list(dict.fromkeys(re.findall(r"INV-2026-(\d{5})", page)))
    assert invoices == [f"{i:05d}" for i in range(21, 1, -1)]
    ledger_all = f'{reverse("admin:billing_ledgerentry_changelist")}?customer__id__exact={customer.pk}'
    invoices_all = f'{reverse("admin:billing_invoice_changelist")}?customer__id__exact={customer.pk}'
    assert f'href="{ledger_all}">View all ledger entries</a>' in page
    assert f'href="{invoices_all}">View all invoices</a>' in page

    full = staff_client.get(ledger_all)
    assert [e.reference for e in full.context["cl"].result_list] == [f"adj:{i:02d}" for i in range(24, -1, -1)]


def test_ledger_changelist_lists_newest_first(staff_client):
    customer = CustomerFactory()
    for reference, day in (("adj:old", 1), ("adj:new", 20), ("adj:mid", 10)):
        LedgerEntry.objects.create(customer=customer, entry_type=LedgerEntry.EntryType.ADJUSTMENT, amount=Decimal("1"),
                                   reference=reference, description=reference, effective_date=date(2026, 3, day))
    response = staff_client.get(reverse("admin:billing_ledgerentry_changelist"))
    assert [e.reference for e in response.context["cl"].result_list] == ["adj:new", "adj:mid", "adj:old"]


def test_billing_choices_have_written_labels():
    assert CustomerService(service_type="lte").get_service_type_display() == "LTE"
    assert CustomerService(service_type="fibre").get_service_type_display() == "Fibre"
    assert Invoice(invoice_type="pro_rata").get_invoice_type_display() == "Pro-rata"
    assert LedgerEntry(entry_type="credit_note").get_entry_type_display() == "Credit note"
    assert Suspension(kind="non_payment").get_kind_display() == "Non-payment"


def test_void_action_reports_the_replacement(staff_client):
    invoice = InvoiceFactory(subtotal=Decimal("1899.00"), vat_amount=Decimal("284.85"), total=Decimal("2183.85"))
    InvoiceLineFactory(invoice=invoice, unit_price=Decimal("2183.85"), amount=Decimal("2183.85"))
    url = reverse("admin:billing_invoice_changelist")

    response = staff_client.post(url, {"action": "void_invoices", "_selected_action": [invoice.pk], "apply": "1",
                                       "reason": "wrong price", "reissue": "on"})

    replacement = Invoice.objects.get(replaces=invoice)
    assert response.status_code == 302
    assert _messages(response) == [f"{invoice.number}: voided; replaced by {replacement.number} for R 2,183.85"]


def test_invoice_actions_need_the_change_permission_not_just_view(client):
    viewer = UserFactory(email="viewer@circletel.co.za", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_invoice"))
    invoice = InvoiceFactory()
    client.force_login(viewer)
    url = reverse("admin:billing_invoice_changelist")

    choices = [name for name, _ in client.get(url).context["action_form"].fields["action"].choices]
    client.post(url, {"action": "void_invoices", "_selected_action": [invoice.pk], "apply": "1", "reason": "x"})

    assert "void_invoices" not in choices and "render_pdfs" not in choices
    assert Invoice.objects.get(pk=invoice.pk).status == "unpaid"


def test_activate_action_reports_the_first_invoice(staff_client):
    svc = make_service(monthly_price=Decimal("499.00"))
    url = reverse("admin:billing_customerservice_changelist")

    response = staff_client.post(url, {"action": "activate", "_selected_action": [svc.pk], "apply": "1",
                                       "reason": "installed on site"})

    invoice = Invoice.objects.get(service=svc)
    assert _messages(response) == [f"{svc}: activated; first invoice {invoice.number} for "
                                   f"R {invoice.total:,.2f} issued"]


def test_suspend_action_reports_the_kind_and_skipped_billing(staff_client):
    from billing.services.lifecycle import service_activate

    svc = make_service()
    service_activate(service=svc, reason="live", activation_date=date(2026, 1, 15))
    response = staff_client.post(reverse("admin:billing_customerservice_changelist"), {
        "action": "suspend", "_selected_action": [svc.pk], "apply": "1", "reason": "arrears", "kind": "non_payment",
        "skip_billing": "on"})
    svc.refresh_from_db()
    assert svc.status == "suspended"
    assert _messages(response) == [f"{svc}: suspended (non-payment); the suspended days are not billed"]
