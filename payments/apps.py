from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self):
        # Payments hands its parts up by registration; the apps below never import it.
        from billing.services.credit import register_credit_source
        from billing.services.ledger_check import register_invoice_paid_source
        from circletel.logging import register_log_secrets
        from payments import checks  # noqa: F401  (registers payments.E001, the PayPal currency check)
        from payments.selectors import invoice_allocations
        from payments.services.allocation import payment_credit_source
        from payments.services.mandates import mandate_postback_secrets
        from payments.webhook_handlers import register_webhook_handlers
        from zoho_sync.services.sync import register_mirrored_model

        register_webhook_handlers()  # invoice payments' webhook routes (NetCash Pay Now, Stripe, PayPal)
        register_invoice_paid_source(invoice_allocations)  # check_ledger proves invoices' amount_paid
        register_credit_source(payment_credit_source)  # a payment's unallocated part pays new invoices
        register_mirrored_model("payment", "payments.PaymentTransaction")  # the ZOHO mirror
        # ZOHO's applied amounts follow our allocations (issue 17; zoho_sync helper's insertion).
        from payments.zoho import payment_allocations
        from zoho_sync.services.sync import register_allocation_reader

        register_allocation_reader("payment", payment_allocations)
        register_log_secrets(mandate_postback_secrets)  # the mandate postback URL's token never reaches a log
        # (Receipts are follow-ups, recovered by the platform's sweep; `issue_missing_receipts` stays the
        # deeper net every 15 minutes. A debit-order run that died is NOT resumed automatically: a
        # batch NetCash may have accepted before the worker died must not be uploaded twice; the admin
        # shows the died run for a person to check.)
