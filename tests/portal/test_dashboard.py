"""Dashboard behaviour: query counts, summary figures, preferences, profile, statements, PDFs."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import BillingAccount, Customer
from notifications.templatetags.money import format_zar
from portal.selectors import dashboard_summary, next_invoice_preview, statement
from portal.services import DashboardError, billing_preferences_update, customer_contact_update
from tests.factories import CustomerServiceFactory, UserFactory
from tests.portal.factories import (
    InvoiceFactory,
    InvoiceLineFactory,
    LedgerEntryFactory,
    PaymentFactory,
    UsageFactory,
    customer_with_login,
    payment_method,
)


def test_zar_format():
    assert format_zar(Decimal("1234.5")) == "R 1,234.50"
    assert format_zar(Decimal("-0.005")) == "-R 0.01"
    assert format_zar(Decimal("1000000")) == "R 1,000,000.00"
    assert format_zar(None) == ""


def _history(customer, n):
    svc = CustomerServiceFactory(customer=customer, status="active", data_cap_gb=50)
    for i in range(n):
        inv = InvoiceFactory(customer=customer, service=None, issue_date=date(2024, 1, 1) + timedelta(days=i))
        PaymentFactory(customer=customer, invoice=inv)
    UsageFactory(service=svc, date=timezone.localdate())
    CustomerServiceFactory(customer=customer, status="suspended")
    return svc


@pytest.mark.parametrize("history", [1, 40])
def test_home_and_summary_run_a_fixed_number_of_queries(client, db, django_assert_max_num_queries, history):
    customer = customer_with_login()
    _history(customer, history)
    client.force_login(customer.user)
    with django_assert_max_num_queries(10):
        assert client.get("/dashboard/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/api/dashboard/summary").status_code == 200


def test_summary_figures_are_exact(db):
    customer = customer_with_login()
    today = date(2026, 11, 20)
    svc = CustomerServiceFactory(customer=customer, status="active", billing_day=25, data_cap_gb=10,
                                 monthly_price=Decimal("499.00"), next_billing_date=date(2026, 11, 25))
    CustomerServiceFactory(customer=customer, status="active", billing_day=25, monthly_price=Decimal("100.50"),
                           next_billing_date=date(2026, 11, 25))
    CustomerServiceFactory(customer=customer, status="cancelled")
    InvoiceFactory(customer=customer, total=Decimal("899.00"), due_date=date(2026, 11, 8))          # overdue
    InvoiceFactory(customer=customer, total=Decimal("300.00"), subtotal=Decimal("260.87"),
                   vat_amount=Decimal("39.13"), amount_paid=Decimal("100.00"), status="partial",
                   due_date=date(2026, 11, 30))
    InvoiceFactory(customer=customer, status="paid", amount_paid=Decimal("899.00"))
    UsageFactory(service=svc, date=date(2026, 10, 25), cycle_start=date(2026, 10, 25))  # this cycle (25 Oct..)
    UsageFactory(service=svc, date=date(2026, 10, 24), cycle_start=date(2026, 9, 25))   # previous cycle
    BillingAccount.objects.filter(customer=customer).update(balance=Decimal("1099.00"))
    customer = Customer.objects.select_related("billing_account").get(pk=customer.pk)

    s = dashboard_summary(customer=customer, today=today)

    assert s.balance == Decimal("1099.00")
    assert s.amount_due == Decimal("1099.00")
    assert s.overdue_amount == Decimal("899.00")
    assert s.open_invoice_count == 2
    assert s.active_services == 2
    assert s.next_invoice.date == date(2026, 11, 25)
    assert s.next_invoice.amount == Decimal("599.50")
    assert s.data_used_mb == Decimal("1024.00")
    assert s.cards[0].percent == 10


def test_next_invoice_adds_vat_for_business(db):
    customer = customer_with_login(account_type="business", company_name="Acme")
    svc = CustomerServiceFactory(customer=customer, status="active", monthly_price=Decimal("1000.00"),
                                 next_billing_date=date(2026, 12, 1))
    nxt = next_invoice_preview(customer=customer, services=[svc], today=date(2026, 11, 20))
    assert (nxt.date, nxt.amount) == (date(2026, 12, 1), Decimal("1150.00"))


def test_home_shows_amounts_in_rand_and_empty_states(client, db):
    customer = customer_with_login()
    client.force_login(customer.user)
    body = client.get("/dashboard/").content.decode()
    assert "R 0.00" in body
    assert "You have no services yet" in body
    assert "No invoices yet" in body
    InvoiceFactory(customer=customer, total=Decimal("1234.50"), subtotal=Decimal("1073.48"),
                   vat_amount=Decimal("161.02"))
    body = client.get("/dashboard/").content.decode()
    assert "R 1,234.50" in body


# --- preferences and profile -----------------------------------------------------------------------

def test_preferences_edit_through_the_page(client, db):
    customer = customer_with_login()
    payment_method(customer, primary=True)
    client.force_login(customer.user)
    response = client.post("/dashboard/billing/", {"auto_pay": "on", "notify_email": "on"})
    assert response.status_code == 302
    account = BillingAccount.objects.get(customer=customer)
    assert (account.auto_pay, account.notify_email, account.notify_sms) == (True, True, False)


def test_auto_pay_needs_a_primary_method_and_changes_nothing(client, db):
    customer = customer_with_login()
    client.force_login(customer.user)
    response = client.post("/dashboard/billing/", {"auto_pay": "on"})
    assert response.status_code == 200
    assert "Add a payment method" in response.content.decode()
    account = BillingAccount.objects.get(customer=customer)
    assert (account.auto_pay, account.notify_email, account.notify_sms) == (False, True, True)


def test_sms_needs_a_phone(db):
    customer = customer_with_login(phone="")
    with pytest.raises(DashboardError):
        billing_preferences_update(customer=customer, auto_pay=False, notify_email=False, notify_sms=True)
    assert BillingAccount.objects.get(customer=customer).notify_email is True


def test_preferences_post_requires_csrf(db):
    from django.test import Client

    customer = customer_with_login()
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(customer.user)
    assert csrf_client.post("/dashboard/billing/", {"notify_email": ""}).status_code == 403
    assert BillingAccount.objects.get(customer=customer).notify_email is True


def test_profile_edit_updates_contact_and_enqueues_sync(client, db, monkeypatch):
    calls = []
    monkeypatch.setattr("zoho_sync.services.outbox.enqueue_sync", lambda *, entity: calls.append(entity.pk))
    customer = customer_with_login()
    client.force_login(customer.user)
    data = {"first_name": "Thandi", "last_name": "Mokoena", "company_name": "", "phone": "+27821112222",
            "address_line1": "5 Oak Avenue", "address_line2": "", "city": "Durban", "province": "KZN",
            "postal_code": "4001"}
    assert client.post("/dashboard/profile/", data).status_code == 302
    customer.refresh_from_db()
    assert (customer.first_name, customer.phone, customer.city) == ("Thandi", "+27821112222", "Durban")
    assert calls == [customer.pk]


def test_profile_rejects_bad_phone_and_changes_nothing(client, db):
    customer = customer_with_login()
    before = customer.phone
    client.force_login(customer.user)
    data = {"first_name": "X", "last_name": "Y", "phone": "082 123 45"}  # a digit short of a number
    response = client.post("/dashboard/profile/", data)
    assert response.status_code == 200
    assert "Enter a valid phone number" in response.content.decode()
    customer.refresh_from_db()
    assert customer.phone == before and customer.first_name != "X"


@pytest.mark.parametrize("typed", ["082 123 4501", "082-123-4501", "0821234501", "+27 (82) 123-4501", "27821234501"])
def test_profile_accepts_phone_numbers_as_people_type_them_and_stores_e164(client, db, typed):
    """Same rule as order imports (`phone_normalise`): local and spaced numbers become +27..."""
    customer = customer_with_login()
    client.force_login(customer.user)
    data = {"first_name": "Thandi", "last_name": "Mokoena", "company_name": "", "phone": typed,
            "address_line1": "5 Oak Avenue", "address_line2": "", "city": "Durban", "province": "KZN",
            "postal_code": "4001"}
    response = client.post("/dashboard/profile/", data)
    assert response.status_code == 302, response.context["form"].errors
    customer.refresh_from_db()
    assert customer.phone == "+27821234501"


def test_contact_update_refuses_email_change(db):
    customer = customer_with_login()
    with pytest.raises(DashboardError):
        customer_contact_update(customer=customer, email="new@example.co.za")


# --- statement -------------------------------------------------------------------------------------

def _ledger(customer):
    LedgerEntryFactory(customer=customer, amount=Decimal("899.00"), effective_date=date(2026, 9, 1))
    LedgerEntryFactory(customer=customer, amount=Decimal("-500.00"), entry_type="payment",
                       effective_date=date(2026, 9, 15))
    LedgerEntryFactory(customer=customer, amount=Decimal("899.00"), effective_date=date(2026, 10, 1))
    LedgerEntryFactory(customer=customer, amount=Decimal("-899.00"), entry_type="payment",
                       effective_date=date(2026, 10, 3))
    LedgerEntryFactory(customer=customer, amount=Decimal("-100.01"), entry_type="credit_note",
                       effective_date=date(2026, 10, 31))
    LedgerEntryFactory(customer=customer, amount=Decimal("450.50"), effective_date=date(2026, 11, 1))


def test_statement_totals_are_exact(db):
    customer = customer_with_login()
    _ledger(customer)
    s = statement(customer=customer, date_from=date(2026, 10, 1), date_to=date(2026, 10, 31))
    assert s.opening_balance == Decimal("399.00")
    assert [line.balance for line in s.lines] == [Decimal("1298.00"), Decimal("399.00"), Decimal("298.99")]
    assert s.total_debits == Decimal("899.00")
    assert s.total_credits == Decimal("999.01")
    assert s.closing_balance == Decimal("298.99")


def test_statement_page_and_pdf(client, db):
    customer = customer_with_login()
    _ledger(customer)
    client.force_login(customer.user)
    body = client.get("/dashboard/statement/?date_from=2026-10-01&date_to=2026-10-31").content.decode()
    assert "R 399.00" in body and "R 298.99" in body
    response = client.get("/dashboard/statement/?date_from=2026-10-01&date_to=2026-10-31&format=pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_statement_first_load_shows_the_prefilled_range(client, db):
    customer = customer_with_login()
    today = timezone.localdate()
    LedgerEntryFactory(customer=customer, amount=Decimal("123.45"), effective_date=today, description="Invoice X1")
    LedgerEntryFactory(customer=customer, amount=Decimal("50.00"), effective_date=today - timedelta(days=400))
    client.force_login(customer.user)
    response = client.get("/dashboard/statement/")
    assert response.status_code == 200
    s = response.context["s"]
    assert (s.date_from, s.date_to) == ((today - timedelta(days=90)).replace(day=1), today)
    assert (s.opening_balance, s.closing_balance) == (Decimal("50.00"), Decimal("173.45"))
    body = response.content.decode()
    assert "Invoice X1" in body and "R 173.45" in body
    assert f'value="{s.date_from.isoformat()}"' in body  # the dates shown are the dates used
    pdf = client.get("/dashboard/statement/?format=pdf")  # no dates: the same default range
    assert pdf["Content-Type"] == "application/pdf"


def test_statement_rejects_reversed_range(client, db):
    customer = customer_with_login()
    client.force_login(customer.user)
    response = client.get("/dashboard/statement/?date_from=2026-10-31&date_to=2026-10-01&format=pdf")
    assert response.status_code == 200
    assert "start date must be on or before" in response.content.decode()


# --- invoices ---------------------------------------------------------------------------------------

def test_invoice_list_filters_and_paginates(client, db):
    customer = customer_with_login()
    for i in range(23):
        InvoiceFactory(customer=customer, issue_date=date(2026, 1, 1) + timedelta(days=i))
    InvoiceFactory(customer=customer, status="paid", amount_paid=Decimal("899.00"))
    client.force_login(customer.user)
    page1 = client.get("/dashboard/invoices/?status=unpaid")
    assert page1.context["page"].paginator.count == 23
    assert len(page1.context["page"].object_list) == 20
    assert client.get("/dashboard/invoices/?status=paid").context["page"].paginator.count == 1
    api = client.get("/api/dashboard/invoices?status=paid&limit=5").json()
    assert api["count"] == 1 and api["results"][0]["status"] == "paid"
    assert client.get("/api/dashboard/invoices?status=bogus").status_code == 400


def test_invoice_pdf_served_from_stored_file(client, db):
    from django.core.files.base import ContentFile

    customer = customer_with_login()
    invoice = InvoiceFactory(customer=customer)
    invoice.pdf.save("x.pdf", ContentFile(b"%PDF-1.7 stored"), save=True)
    # rendered after the invoice's last change (as the render task records it): current
    type(invoice).objects.filter(pk=invoice.pk).update(pdf_generated_at=timezone.now())
    client.force_login(customer.user)
    for url in (f"/dashboard/invoices/{invoice.pk}/pdf/", f"/api/dashboard/invoices/{invoice.pk}/pdf"):
        response = client.get(url)
        assert response.status_code == 200
        assert response.content == b"%PDF-1.7 stored"
        assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'


def test_invoice_detail_shows_vat_and_pay_link(client, db):
    customer = customer_with_login()
    invoice = InvoiceFactory(customer=customer)
    client.force_login(customer.user)
    body = client.get(f"/dashboard/invoices/{invoice.pk}/").content.decode()
    assert "R 117.26" in body and "R 899.00" in body
    from django.urls import reverse

    assert reverse("dashboard:invoice_pay", args=[invoice.number]) == f"/billing/invoices/{invoice.number}/pay"
    assert f'href="/billing/invoices/{invoice.number}/pay"' in body


def test_invoice_pdf_rendered_on_demand_when_not_stored(client, db):
    customer = customer_with_login()
    invoice = InvoiceFactory(customer=customer)
    client.force_login(customer.user)
    response = client.get(f"/api/dashboard/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
    invoice.refresh_from_db()
    assert not invoice.pdf  # served, not stored: a GET writes nothing


def test_invoice_detail_names_the_prorata_days_once(client, db):
    customer = customer_with_login()
    invoice = InvoiceFactory(customer=customer)
    InvoiceLineFactory(invoice=invoice, description="Fibre 100/50, 9-30 Nov 2026 (22 of 30 days)",
                       unit_price=Decimal("659.27"), amount=Decimal("659.27"), period_start=date(2026, 11, 9),
                       period_end=date(2026, 12, 1), days_charged=22, days_in_period=30,
                       unrounded_amount=Decimal("659.2666666667"))
    client.force_login(customer.user)
    body = client.get(f"/dashboard/invoices/{invoice.pk}/").content.decode()
    assert "Fibre 100/50, 9-30 Nov 2026 (22 of 30 days)" in body
    assert body.count("22 of 30 days") == 1
    assert "659.266" not in body


# --- landing after sign-in ---------------------------------------------------------------------------

PASSWORD = "correct-horse-battery"


def _sign_in(client, user, **query):
    from urllib.parse import urlencode

    url = "/accounts/login/" + (f"?{urlencode(query)}" if query else "")
    response = client.post(url, {"username": user.email, "password": PASSWORD, **query})
    assert response.status_code == 302
    return client.get(response.url) if response.url == "/" else response


def test_customer_lands_on_the_dashboard_after_sign_in(client, db):
    customer = customer_with_login()
    landing = _sign_in(client, customer.user)
    assert landing.status_code == 302 and landing.url == "/dashboard/"
    assert client.get("/").url == "/dashboard/"  # the home link of a signed-in customer, too


def test_sign_in_keeps_an_explicit_next(client, db):
    customer = customer_with_login()
    landing = _sign_in(client, customer.user, next="/dashboard/invoices/")
    assert landing.url == "/dashboard/invoices/"
    assert client.get("/?next=/dashboard/usage/").url == "/dashboard/usage/"
    assert client.get("/?next=https://evil.example.com/").url == "/dashboard/"  # off-site: ignored


def test_staff_without_a_customer_land_on_the_admin(client, db):
    staff = UserFactory(is_staff=True)
    assert _sign_in(client, staff).url == "/admin/"


def test_home_page_for_anonymous_and_unlinked_sign_ins(client, db):
    anonymous = client.get("/")
    assert anonymous.status_code == 200 and "Create an account" in anonymous.content.decode()
    client.force_login(UserFactory())
    unlinked = client.get("/")
    assert unlinked.status_code == 200 and "not linked to a customer account" in unlinked.content.decode()


# --- payment result --------------------------------------------------------------------------------

def test_declined_payment_try_again_goes_to_the_invoice_pay_page_for_its_customer(client, db):
    customer = customer_with_login()
    invoice = InvoiceFactory(customer=customer)
    failed = PaymentFactory(customer=customer, invoice=invoice, status="failed", failure_reason="Card declined")
    url = f"/payments/result/{failed.reference}"

    assert 'href="/pay/"' in client.get(url).content.decode()  # anonymous payer: the public form

    client.force_login(customer_with_login().user)  # someone else's sign-in: still the public form
    assert 'href="/pay/"' in client.get(url).content.decode()

    client.force_login(customer.user)
    body = client.get(url).content.decode()
    assert f'href="/billing/invoices/{invoice.number}/pay"' in body and 'href="/pay/"' not in body


# --- site chrome -----------------------------------------------------------------------------------

def test_pages_link_a_favicon_that_exists(client, db, admin_client):
    from django.contrib.staticfiles import finders

    assert finders.find("favicon.svg")
    link = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    assert link in client.get("/").content.decode()
    customer = customer_with_login()
    client.force_login(customer.user)
    assert link in client.get("/dashboard/").content.decode()
    assert link in admin_client.get("/admin/").content.decode()
