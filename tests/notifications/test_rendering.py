from decimal import Decimal

import pytest

from notifications.events import EVENTS
from notifications.rendering import (
    MissingContextError,
    UnknownEventError,
    render,
    render_message,
    truncate_sms,
)
from notifications.templatetags.money import format_zar, payment_method
from tests.notifications.contexts import CONTEXTS, EXPECTED_TEXT

CUSTOMER_EVENTS = [e for e, spec in EVENTS.items() if spec.audience == "customer"]
OPS_EVENTS = [e for e, spec in EVENTS.items() if spec.audience == "ops"]


def test_every_event_has_a_test_context():
    assert set(CONTEXTS) == set(EVENTS)
    assert set(EXPECTED_TEXT) == set(EVENTS)


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_email_renders_subject_text_and_html_with_company_layout(event, settings):
    message = render(event=event, channel="email", context=CONTEXTS[event])

    assert message.subject and "\n" not in message.subject
    assert "{{" not in message.body and "{%" not in message.body
    assert EXPECTED_TEXT[event] in message.body
    assert message.html.startswith("<!doctype html>")
    assert settings.COMPANY["name"] in message.html
    assert f"VAT {settings.COMPANY['vat_number']}" in message.html
    assert settings.COMPANY["address"] in message.html
    assert "{{" not in message.html
    for key in EVENTS[event].required:
        assert key in CONTEXTS[event]


@pytest.mark.parametrize("event", sorted(CUSTOMER_EVENTS))
def test_sms_renders_short_single_line(event):
    subject, body = render_message(event=event, channel="sms", context=CONTEXTS[event])

    assert subject == ""
    assert "\n" not in body and body.strip() == body
    assert len(body) <= 160, body
    assert "{{" not in body


@pytest.mark.parametrize("event", sorted(OPS_EVENTS))
def test_ops_text_renders_title_first(event):
    message = render(event=event, channel="ops", context=CONTEXTS[event])
    email = render(event=event, channel="email", context=CONTEXTS[event])

    assert message.subject == email.subject
    assert message.body.splitlines()[0] == message.subject
    assert message.html == ""


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_missing_required_key_is_a_clear_error(event):
    spec = EVENTS[event]
    context = dict(CONTEXTS[event])
    del context[spec.required[0]]

    with pytest.raises(MissingContextError) as excinfo:
        render_message(event=event, channel="email", context=context)
    assert excinfo.value.extra == {"event": event, "missing": [spec.required[0]]}
    assert "notifications/events.py" in str(excinfo.value)


def test_exact_invoice_issued_email():
    message = render(event="invoice_issued", channel="email", context=CONTEXTS["invoice_issued"])

    assert message.subject == "Invoice INV-2026-00123 from CircleTel (Pty) Ltd: R 1,034.85 due 8 December 2026"
    assert message.body.startswith(
        "Hi Thandi Mokoena,\n\nYour invoice INV-2026-00123 is ready.\n\nAccount: CT-2026-00042\n"
        "Invoice: INV-2026-00123\nIssued: 1 December 2026\nPeriod: 1 December 2026 to 31 December 2026\n"
        "Invoice total (incl. VAT): R 1,034.85\nAmount due: R 1,034.85\nDue date: 8 December 2026\n\n"
        "Pay online: https://billing.circletel.co.za/pay/INV-2026-00123\n"
        "To pay by EFT: First National Bank, account 62000000000, branch 250655, reference INV-2026-00123.\n"
    )
    assert message.body.endswith("Kind regards,\nCircleTel (Pty) Ltd\naccounts@circletel.co.za | +27 12 345 6789\n"
                                 "1 Fibre Street, Centurion, 0157")
    assert 'href="https://billing.circletel.co.za/pay/INV-2026-00123"' in message.html


@pytest.mark.parametrize("amount_due", [Decimal("0.00"), "0.00"])  # as passed, and as stored in the JSON log
def test_invoice_covered_by_credit_asks_for_no_payment(amount_due):
    message = render(event="invoice_issued", channel="email",
                     context={**CONTEXTS["invoice_issued"], "amount_due": amount_due})

    assert message.subject == "Invoice INV-2026-00123 from CircleTel (Pty) Ltd: paid from your credit"
    assert "Nothing to pay: the credit on your account covers this invoice." in message.body
    assert "To pay by EFT" not in message.body and "Pay online" not in message.body
    assert "Nothing to pay" in message.html and "Pay now" not in message.html
    sms = render(event="invoice_issued", channel="sms", context={**CONTEXTS["invoice_issued"], "amount_due": amount_due})
    assert "is paid from the credit on your account. Nothing to pay." in sms.body and "R 0.00" not in sms.body
    owing = render(event="invoice_issued", channel="sms", context=CONTEXTS["invoice_issued"])  # positive control
    assert " is due " in owing.body and "credit" not in owing.body


def test_payment_received_receipt_balance_wording():
    ctx = dict(CONTEXTS["payment_received"])
    owing = render(event="payment_received", channel="email", context={**ctx, "balance": Decimal("120.50")})
    settled = render(event="payment_received", channel="email", context={**ctx, "balance": Decimal("0.00")})
    sms = render(event="payment_received", channel="sms", context=ctx)

    assert "Balance still owing: R 120.50" in owing.body
    assert "Your account is fully paid up (balance R 0.00)." in settled.body
    assert sms.body == ("CircleTel (Pty) Ltd: payment of R 1,500.00 received (ref PAY-2026-00077) for "
                        "INV-2026-00123. Credit R 465.15. Thank you!")


def test_text_is_not_html_escaped_but_html_is():
    ctx = {**CONTEXTS["mandate_declined"], "reason": "Bank said <no> & declined"}
    message = render(event="mandate_declined", channel="email", context=ctx)

    assert "Reason: Bank said <no> & declined" in message.body
    assert "Reason: Bank said &lt;no&gt; &amp; declined" in message.html


def test_unknown_event_without_templates_is_a_clear_error():
    with pytest.raises(UnknownEventError, match="no email templates for notification event 'no_such_event'"):
        render_message(event="no_such_event", channel="email", context={})
    with pytest.raises(UnknownEventError):
        render_message(event="no_such_event", channel="sms", context={})


def test_unknown_ops_event_falls_back_to_generic_text_and_email():
    ctx = {"title": "Disk almost full", "message": "db1 at 91%", "fields": {"host": "db1"}}
    ops = render(event="disk_space", channel="ops", context=ctx, audience="ops")
    email = render(event="disk_space", channel="email", context=ctx, audience="ops")

    assert ops.subject == "Disk almost full"
    assert ops.body == "Disk almost full\ndb1 at 91%\nhost: db1"
    assert email.subject == "[CircleTel (Pty) Ltd ops] Disk almost full"
    assert email.body == ops.body
    assert "db1 at 91%" in email.html and "CircleTel (Pty) Ltd" in email.html


def test_sms_falls_back_to_truncated_email_text(tmp_path, settings):
    emails = tmp_path / "emails"
    emails.mkdir()
    (emails / "long_news.subject.txt").write_text("News")
    (emails / "long_news.txt").write_text("Hello {{ name }}. " + "Lots of words here. " * 20)
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]

    subject, body = render_message(event="long_news", channel="sms", context={"name": "Sipho"})

    assert subject == ""
    assert len(body) == 160
    assert body.startswith("Hello Sipho. Lots of words here.")
    assert body.endswith("...")


def test_truncate_sms_keeps_short_text():
    assert truncate_sms("a\n b  c") == "a b c"
    assert truncate_sms("x" * 161) == "x" * 157 + "..."


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("1234.5"), "R 1,234.50"),
    (Decimal("0"), "R 0.00"),
    (Decimal("1234567.891"), "R 1,234,567.89"),
    (Decimal("0.005"), "R 0.01"),  # half-up
    (Decimal("-20"), "-R 20.00"),
    ("899.00", "R 899.00"),
    (15, "R 15.00"),
    (None, ""),
])
def test_zar_filter(value, expected):
    assert format_zar(value) == expected


def test_payment_method_in_words():
    assert payment_method("debit_order") == "debit order"
    assert payment_method("eft") == "EFT (bank transfer)"
    assert payment_method("paypal") == "PayPal"
    assert payment_method("bank_cheque") == "bank cheque"
