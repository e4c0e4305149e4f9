"""Linking consumer orders to customers, and importing the legacy order export."""

from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from billing.models import Customer, Order, OrderIssue
from billing.services.orders import (
    OrderImportError,
    name_split,
    orders_import_csv,
    orders_link_to_customers,
    phone_normalise,
)
from circletel.models import JobRun
from tests.factories import CustomerFactory

SAMPLE = Path(__file__).resolve().parents[2] / "docs" / "samples" / "orders_sample.csv"
HEADER = "order_id,name,email,phone,package,installation_address,status,created_at\n"


def make_order(**kwargs) -> Order:
    defaults = {"name": "Lerato Mokoena", "email": "lerato@example.co.za", "phone": "0711234506",
                "package": "Fibre 50/50", "installation_address": "3 Baobab Crescent, Polokwane"}
    return Order.objects.create(**{**defaults, **kwargs})


def write_csv(tmp_path, body: str, name="orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


# --- pure helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("0821234567", "+27821234567"),
    ("082 123 4567", "+27821234567"),
    ("(082) 123-4567", "+27821234567"),
    ("27821234567", "+27821234567"),
    ("0027821234567", "+27821234567"),
    ("+27821234567", "+27821234567"),
    ("+447700900123", "+447700900123"),
    ("", ""),
])
def test_phone_normalise_accepts_e164_and_sa_local(raw, expected):
    assert phone_normalise(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "082123456", "+2782123456", "+278212345678", "phone", "+0821234567"])
def test_phone_normalise_rejects_malformed(raw):
    with pytest.raises(ValueError, match="is not a valid number"):
        phone_normalise(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("Thandiwe Nkosi", ("Thandiwe", "Nkosi")),
    ("  Pieter   van der Merwe ", ("Pieter", "van der Merwe")),
    ("Nkosi, Thandiwe", ("Thandiwe", "Nkosi")),
    ("Dr. Aisha Patel", ("Aisha", "Patel")),
])
def test_name_split(raw, expected):
    assert name_split(raw) == expected


def test_name_split_refuses_a_single_name():
    with pytest.raises(ValueError, match="no first name and surname"):
        name_split("Madonna")


# --- linking ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_link_matches_customers_by_email_case_insensitively():
    customer = CustomerFactory(email="thandiwe.nkosi@example.co.za")
    order = make_order(email="  Thandiwe.NKOSI@Example.co.za")

    result = orders_link_to_customers()

    order.refresh_from_db()
    assert order.customer_id == customer.pk
    assert (result.total_orders, result.already_linked, result.linked, result.created, result.orphans) == (1, 0, 1, 0, 0)
    assert result.success_rate == Decimal("100.0")
    assert OrderIssue.objects.count() == 0


@pytest.mark.django_db
def test_link_without_create_missing_records_each_orphan_once():
    CustomerFactory(email="known@example.co.za")
    make_order(email="known@example.co.za")
    orphan = make_order(email="nobody@example.co.za")

    first = orders_link_to_customers()
    second = orders_link_to_customers()

    assert (first.linked, first.orphans) == (1, 1)
    assert first.success_rate == Decimal("50.0")
    assert (second.already_linked, second.linked, second.orphans) == (1, 0, 1)
    issue = OrderIssue.objects.get()
    assert (issue.source, issue.row_ref, issue.order_id) == ("link", f"order:{orphan.pk}", orphan.pk)
    assert issue.reason == "No customer with this email."
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_create_missing_creates_one_customer_per_email_and_links_all_its_orders():
    first = make_order(name="Pieter van der Merwe", email="Pieter.VDM@example.co.za", phone="083 123 4502",
                       installation_address="7 Protea Road, Durbanville")
    second = make_order(name="Pieter van der Merwe", email="pieter.vdm@example.co.za", package="LTE 20Mbps")

    result = orders_link_to_customers(create_missing=True)

    customer = Customer.objects.get()
    assert (customer.first_name, customer.last_name, customer.email, customer.phone, customer.address_line1) == (
        "Pieter", "van der Merwe", "pieter.vdm@example.co.za", "+27831234502", "7 Protea Road, Durbanville")
    assert customer.account_number.startswith("CT-") and customer.account_number.endswith("-00001")
    assert hasattr(customer, "billing_account")
    assert set(Order.objects.values_list("pk", "customer_id")) == {(first.pk, customer.pk), (second.pk, customer.pk)}
    assert (result.created, result.linked_to_created, result.orphans) == (1, 2, 0)
    assert result.success_rate == Decimal("100.0")


@pytest.mark.django_db
def test_create_missing_records_orders_it_cannot_resolve():
    bad_phone = make_order(name="Johan Botha", email="johan@example.co.za", phone="12345")
    one_name = make_order(name="Madonna", email="madonna@example.co.za")
    cancelled = make_order(name="Sipho Dlamini", email="sipho@example.co.za", status=Order.Status.CANCELLED)
    good = make_order(name="Aisha Patel", email="aisha@example.co.za")

    result = orders_link_to_customers(create_missing=True)
    again = orders_link_to_customers(create_missing=True)

    assert list(Customer.objects.values_list("email", flat=True)) == ["aisha@example.co.za"]
    good.refresh_from_db()
    assert good.customer.email == "aisha@example.co.za"
    assert (result.created, result.orphans, again.created, again.orphans) == (1, 3, 0, 3)
    reasons = dict(OrderIssue.objects.values_list("row_ref", "reason"))
    assert reasons == {
        f"order:{bad_phone.pk}": "Could not create a customer: phone '12345' is not a valid number "
                                 "(use +27821234567 or 0821234567).",
        f"order:{one_name.pk}": "Could not create a customer: name 'Madonna' has no first name and surname.",
        f"order:{cancelled.pk}": "No customer with this email; the order is cancelled, so none was created.",
    }


@pytest.mark.django_db
def test_dry_run_writes_nothing():
    CustomerFactory(email="known@example.co.za")
    known = make_order(email="known@example.co.za")
    make_order(name="New Person", email="new@example.co.za")
    make_order(email="orphan@example.co.za", name="Madonna")

    result = orders_link_to_customers(create_missing=True, dry_run=True)

    assert (result.linked, result.created, result.linked_to_created, result.orphans) == (1, 1, 1, 1)
    assert result.dry_run is True
    assert Customer.objects.count() == 1
    assert Order.objects.filter(customer__isnull=False).count() == 0
    assert OrderIssue.objects.count() == 0
    known.refresh_from_db()
    assert known.customer_id is None


@pytest.mark.django_db
def test_linking_later_resolves_the_earlier_issue():
    order = make_order(email="late@example.co.za")
    orders_link_to_customers()
    CustomerFactory(email="LATE@example.co.za")

    result = orders_link_to_customers()

    assert result.linked == 1
    assert OrderIssue.objects.get(order=order).resolved is True


@pytest.mark.django_db
def test_link_command_prints_summary_and_records_a_job_run():
    CustomerFactory(email="known@example.co.za")
    make_order(email="known@example.co.za")
    orphan = make_order(email="nobody@example.co.za")
    out = StringIO()

    call_command("link_orders_to_customers", stdout=out)
    call_command("link_orders_to_customers", stdout=out)

    text = out.getvalue()
    assert "linked to existing customers: 1" in text
    assert f"order {orphan.pk}: No customer with this email." in text
    assert text.count("Success rate: 50.0% of orders linked to a customer.") == 2
    runs = list(JobRun.objects.filter(job_name="link_orders_to_customers").order_by("pk")
                .values_list("status", "processed_count", "failed_count", "skipped_count"))
    assert runs == [("partial", 1, 1, 0), ("partial", 0, 1, 1)]
    assert OrderIssue.objects.count() == 1


@pytest.mark.django_db
def test_link_command_dry_run_changes_nothing():
    make_order(name="New Person", email="new@example.co.za")
    out = StringIO()

    call_command("link_orders_to_customers", "--create-missing", "--dry-run", stdout=out)

    assert "[dry run, nothing written]" in out.getvalue()
    assert "customers created: 1 (orders linked to them: 1)" in out.getvalue()
    assert Customer.objects.count() == 0
    assert Order.objects.get().customer_id is None


# --- import -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_import_sample_file_imports_good_rows_and_reports_bad_ones():
    result = orders_import_csv(path=SAMPLE)

    assert (result.rows, result.imported, result.skipped) == (8, 4, 0)
    assert [(r.line, r.order_id, r.reasons) for r in result.rejected] == [
        (6, "WEB-1005", ["email 'aisha.patel@example' is not a valid address"]),
        (7, "WEB-1006", ["phone '12345' is not a valid number (use +27821234567 or 0821234567)"]),
        (8, "WEB-1007", ["package is missing", "installation_address is missing"]),
        (9, "WEB-1008", ["status 'on hold' is not one of new, scheduled, installed, cancelled",
                         "created_at '2024-13-01' is not a date (use YYYY-MM-DD or YYYY-MM-DD HH:MM)"]),
    ]
    first = Order.objects.get(external_ref="WEB-1001")
    assert (first.name, first.email, first.phone, first.package, first.status) == (
        "Thandiwe Nkosi", "thandiwe.nkosi@example.co.za", "+27821234501", "Fibre 50/50", "installed")
    assert first.installation_address == "14 Jacaranda Avenue, Lynnwood, Pretoria, 0081"
    assert first.created_at.isoformat() == "2024-03-13T22:00:00+00:00"  # midnight SAST
    assert Order.objects.get(external_ref="WEB-1003").name == "Mokoena, Lerato"
    assert Order.objects.get(external_ref="WEB-1004").phone == ""
    issues = dict(OrderIssue.objects.filter(source="import").values_list("row_ref", "reason"))
    assert issues["orders_sample.csv:8"] == "package is missing; installation_address is missing"
    assert sorted(issues) == ["orders_sample.csv:6", "orders_sample.csv:7", "orders_sample.csv:8",
                              "orders_sample.csv:9"]


@pytest.mark.django_db
def test_reimport_creates_nothing_twice():
    orders_import_csv(path=SAMPLE)
    order_ids = set(Order.objects.values_list("pk", flat=True))

    again = orders_import_csv(path=SAMPLE)

    assert (again.imported, again.skipped, len(again.rejected)) == (0, 4, 4)
    assert set(Order.objects.values_list("pk", flat=True)) == order_ids
    assert OrderIssue.objects.count() == 4


@pytest.mark.django_db
def test_import_rejects_duplicate_order_id_within_the_file(tmp_path):
    path = write_csv(tmp_path, "A1,Jo Soap,jo@example.co.za,,Fibre,1 Main Rd,,\n"
                               "A1,Jo Soap,jo@example.co.za,,Fibre,1 Main Rd,,\n")

    result = orders_import_csv(path=path)

    assert result.imported == 1
    assert [(r.line, r.reasons) for r in result.rejected] == [
        (3, ["order_id 'A1' appears twice in the file (first on line 2)"])]


@pytest.mark.django_db
def test_import_dry_run_writes_nothing():
    result = orders_import_csv(path=SAMPLE, dry_run=True)

    assert (result.imported, len(result.rejected), result.dry_run) == (4, 4, True)
    assert Order.objects.count() == 0
    assert OrderIssue.objects.count() == 0


@pytest.mark.django_db
def test_import_from_file_object_with_bom_and_aliases():
    data = ("\ufeffExternal_Ref,Name,Email,Phone,Package,Address\n"
            "Z9,Naledi Mahlangu,naledi@example.co.za,0721234507,LTE 10Mbps,5 Acacia St\n").encode()
    from io import BytesIO

    upload = BytesIO(data)
    upload.name = "upload.csv"

    result = orders_import_csv(file=upload)

    assert (result.filename, result.imported) == ("upload.csv", 1)
    order = Order.objects.get(external_ref="Z9")
    assert (order.phone, order.status, order.installation_address) == ("+27721234507", "new", "5 Acacia St")


@pytest.mark.django_db
def test_a_crash_part_way_leaves_the_database_as_it_was(monkeypatch):
    from billing.services import orders as orders_module

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(orders_module.Order.objects, "bulk_create", boom)

    with pytest.raises(RuntimeError):
        orders_import_csv(path=SAMPLE)

    assert Order.objects.count() == 0
    assert OrderIssue.objects.count() == 0  # the rejected rows' issues were rolled back too


@pytest.mark.django_db
@pytest.mark.parametrize(("content", "message"), [
    (None, "File not found"),
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "is not a"),
    (b"\xff\xfe\xfa not utf-8", "is not a UTF-8 text (CSV) file"),
    (b"order_id,name,email\nA1,Jo Soap,jo@example.co.za\n", "missing required column(s): phone, package, "
                                                          "installation_address"),
    (b'order_id,name,email,phone,package,installation_address\nA1,"unterminated\n', "is not a valid CSV file"),
])
def test_bad_file_is_a_clear_error_and_writes_nothing(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(OrderImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        orders_import_csv(path=path)
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("import_orders", str(path), stdout=StringIO())

    assert Order.objects.count() == 0
    assert OrderIssue.objects.count() == 0
    assert JobRun.objects.get(job_name="import_orders").status == "failed"


@pytest.mark.django_db
def test_import_command_prints_counts_and_reasons():
    out = StringIO()

    call_command("import_orders", str(SAMPLE), stdout=out)
    call_command("import_orders", str(SAMPLE), stdout=out)

    text = out.getvalue()
    assert "imported: 4" in text and "imported: 0" in text
    assert "skipped (already imported): 4" in text
    assert text.count("rejected: 4") == 2
    assert "line 8 (order_id WEB-1007): package is missing; installation_address is missing" in text
    runs = list(JobRun.objects.filter(job_name="import_orders").order_by("pk")
                .values_list("status", "processed_count", "skipped_count", "failed_count"))
    assert runs == [("partial", 4, 0, 4), ("partial", 0, 4, 4)]


@pytest.mark.django_db
def test_import_then_link_creates_customers_from_the_legacy_orders():
    orders_import_csv(path=SAMPLE)

    result = orders_link_to_customers(create_missing=True)

    # WEB-1004 is cancelled: no customer; the other three get one each.
    assert (result.created, result.linked_to_created, result.orphans) == (3, 3, 1)
    assert sorted(Customer.objects.values_list("last_name", flat=True)) == ["Mokoena", "Nkosi", "van der Merwe"]
