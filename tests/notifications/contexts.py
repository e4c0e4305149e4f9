"""A realistic context for every event in notifications.events.EVENTS (used by the template tests)."""

from datetime import date
from decimal import Decimal

CONTEXTS = {
    "invoice_issued": {
        "customer_name": "Thandi Mokoena", "account_number": "CT-2026-00042", "invoice_number": "INV-2026-00123",
        "amount_due": Decimal("1034.85"), "total": Decimal("1034.85"), "due_date": date(2026, 12, 8),
        "issue_date": date(2026, 12, 1), "period_start": date(2026, 12, 1), "period_end": date(2027, 1, 1),
        "pay_url": "https://billing.circletel.co.za/pay/INV-2026-00123",
    },
    "invoice_pre_due": {
        "customer_name": "Thandi Mokoena", "invoice_number": "INV-2026-00123", "amount_due": Decimal("1034.85"),
        "due_date": date(2026, 12, 8), "auto_pay": True,
    },
    "invoice_overdue": {
        "customer_name": "Thandi Mokoena", "invoice_number": "INV-2026-00123", "amount_due": Decimal("1034.85"),
        "due_date": date(2026, 12, 8), "days_overdue": 1, "suspend_date": date(2026, 12, 22),
    },
    "invoice_reminder": {
        "customer_name": "Thandi Mokoena", "invoice_number": "INV-2026-00123", "amount_due": Decimal("1034.85"),
        "due_date": date(2026, 12, 8), "days_overdue": 7, "reminder_number": 2, "suspend_date": date(2026, 12, 22),
    },
    "payment_received": {
        "customer_name": "Thandi Mokoena", "account_number": "CT-2026-00042", "amount": Decimal("1500.00"),
        "method": "debit_order", "reference": "PAY-2026-00077", "invoice_number": "INV-2026-00123",
        "balance": Decimal("-465.15"), "paid_at": date(2026, 12, 8),
    },
    "payment_failed": {
        "customer_name": "Thandi Mokoena", "amount": Decimal("1034.85"), "reason": "Insufficient funds",
        "method": "debit_order", "invoice_number": "INV-2026-00123", "retry_date": date(2026, 12, 15),
    },
    "refund_issued": {
        "customer_name": "Thandi Mokoena", "amount": Decimal("250.00"), "reference": "INV-2026-00123-RSTRI",
        "method": "card", "manual": False, "fully_refunded": False,
    },
    "refund_reversed": {
        "customer_name": "Thandi Mokoena", "amount": Decimal("250.00"), "reference": "INV-2026-00123-RSTRI",
        "method": "card", "balance": Decimal("-250.00"),
    },
    "debit_order_upcoming": {
        "customer_name": "Thandi Mokoena", "amount": Decimal("1034.85"), "debit_date": date(2026, 12, 8),
        "account_masked": "FNB ****4321", "invoice_number": "INV-2026-00123",
    },
    "mandate_accepted": {
        "customer_name": "Thandi Mokoena", "bank_name": "FNB", "account_masked": "****4321",
        "first_debit_date": date(2027, 1, 1),
    },
    "mandate_declined": {
        "customer_name": "Thandi Mokoena", "reason": "The account holder did not accept the mandate",
        "mandate_url": "https://billing.circletel.co.za/mandate/",
    },
    "service_activated": {
        "customer_name": "Thandi Mokoena", "package_name": "Fibre 50/50", "activation_date": date(2026, 11, 23),
        "installation_address": "12 Jacaranda Street, Pretoria", "monthly_price": Decimal("899.00"),
        "billing_day": 1,
    },
    "service_suspended": {
        "customer_name": "Thandi Mokoena", "package_name": "Fibre 50/50",
        "message": "Suspended because an invoice is overdue. Paying what is owed restores the service.",
        "amount_due": Decimal("1034.85"),
    },
    "service_reactivated": {"customer_name": "Thandi Mokoena", "package_name": "Fibre 50/50"},
    "usage_80": {"customer_name": "Thandi Mokoena", "package_name": "LTE 100GB", "used_gb": Decimal("80.4"),
                 "cap_gb": 100, "reset_date": date(2026, 12, 1)},
    "usage_95": {"customer_name": "Thandi Mokoena", "package_name": "LTE 100GB", "used_gb": Decimal("95.2"),
                 "cap_gb": 100, "reset_date": date(2026, 12, 1)},
    "signup_confirm": {"customer_name": "Thandi Mokoena", "valid_days": 3,
                       "confirm_url": "https://billing.circletel.co.za/accounts/signup/confirm/eyJlbWFpbCI6/"},
    "signup_existing_account": {"customer_name": "Thandi Mokoena", "has_login": True, "account_number": "CT-2026-00042",
                                "sign_in_url": "https://billing.circletel.co.za/accounts/login/",
                                "reset_url": "https://billing.circletel.co.za/accounts/password_reset/"},
    "password_reset": {"customer_name": "Thandi Mokoena", "email": "thandi@example.co.za", "valid_days": 3,
                       "reset_url": "https://billing.circletel.co.za/accounts/reset/MQ/cz6j1u-0123456789abcdef/"},
    "deposit_confirmed": {
        "buyer_name": "Pieter van der Merwe", "item_name": "Bella (Golden Retriever)", "amount": Decimal("2000.00"),
        "reference": "RES-2026-00009", "balance_due": Decimal("6000.00"), "owner_name": "Sunny Acres Kennels",
    },
    "deposit_new_owner": {
        "buyer_name": "Pieter van der Merwe", "buyer_email": "pieter@example.co.za", "buyer_phone": "+27825550123",
        "item_name": "Bella (Golden Retriever)", "amount": Decimal("2000.00"), "reference": "RES-2026-00009",
    },
    "ops_alert": {"title": "Debit order run failed", "message": "NetCash rejected the batch file.",
                  "fields": {"run": "DO-2026-12-01", "items": 42}, "severity": "high"},
    "webhook_failures": {"count": 3, "provider": "stripe", "oldest_at": "2026-11-23 08:10",
                         "last_error": "invoice INV-2026-00123 not found"},
    "zoho_sync_alert": {"failed_count": 4, "pending_count": 12, "last_error": "429 Too Many Requests",
                        "message": "Success rate 71% in the last 24 hours"},
}

# One phrase each rendering must contain (email text), proving the context reached the template.
EXPECTED_TEXT = {
    "invoice_issued": "Amount due: R 1,034.85\nDue date: 8 December 2026",
    "invoice_pre_due": "invoice INV-2026-00123 for R 1,034.85 falls due on 8 December 2026",
    "invoice_overdue": "due on 8 December 2026 (1 day ago)",
    "invoice_reminder": "This is reminder 2 about invoice INV-2026-00123",
    "payment_received": "Amount paid: R 1,500.00\nPayment method: debit order\nReference: PAY-2026-00077\n"
                        "Invoice: INV-2026-00123\nDate: 8 December 2026\nCredit on your account: R 465.15",
    "payment_failed": "Your payment of R 1,034.85 by debit order for invoice INV-2026-00123 did not go through.",
    "refund_issued": "We have refunded R 250.00 of your payment INV-2026-00123-RSTRI (card).",
    "refund_reversed": "the payment provider could not complete that refund, so the money was not paid back.\n"
                       "The amount stays on your CircleTel account: it pays your open invoices first, and "
                       "anything left is credit.\nCredit on your account: R 250.00",
    "debit_order_upcoming": "a debit order of R 1,034.85 will be collected on 8 December 2026 from account FNB ****4321",
    "mandate_accepted": "Your first collection will be on 1 January 2027.",
    "mandate_declined": "Reason: The account holder did not accept the mandate",
    "service_activated": "Billing day: the 1st of each month",
    "service_suspended": "please pay the outstanding R 1,034.85",
    "service_reactivated": "your Fibre 50/50 service has been reactivated",
    "usage_80": "You have used 80.4 GB of your 100 GB data allowance on LTE 100GB (80% or more).",
    "usage_95": "You have used 95.2 GB of your 100 GB data allowance on LTE 100GB (95% or more).",
    "signup_confirm": "choose your password here:\nhttps://billing.circletel.co.za/accounts/signup/confirm/eyJlbWFpbCI6/\n\n"
                      "The link works once and for 3 days.",
    "signup_existing_account": "It already has an account (CT-2026-00042), so we did not create another.\n\n"
                               "If it was you, sign in instead: https://billing.circletel.co.za/accounts/login/\n"
                               "Forgotten your password? Reset it here: https://billing.circletel.co.za/accounts/password_reset/",
    "password_reset": "password for your CircleTel account (thandi@example.co.za).\nChoose a new password here:\n"
                      "https://billing.circletel.co.za/accounts/reset/MQ/cz6j1u-0123456789abcdef/\n\n"
                      "The link works once and for 3 days.",
    "deposit_confirmed": "deposit of R 2,000.00 and Bella (Golden Retriever) is now reserved for you",
    "deposit_new_owner": "Pieter van der Merwe has paid a deposit of R 2,000.00 and reserved Bella (Golden Retriever).",
    "ops_alert": "NetCash rejected the batch file.\n\nrun: DO-2026-12-01\nitems: 42",
    "webhook_failures": "3 stored webhook events failed processing",
    "zoho_sync_alert": "The ZOHO sync outbox has 4 failed items and 12 pending.\n\nSuccess rate 71% in the last 24 hours",
}
