from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self):
        # Invoice payments' webhook routes (NetCash Pay Now, Stripe, PayPal), handed up to the inbox.
        from billing.services.ledger_check import register_invoice_paid_source
        from payments.selectors import invoice_allocations
        from payments.webhook_handlers import register_webhook_handlers

        register_webhook_handlers()
        # check_ledger proves invoices' amount_paid against payments' allocations, without importing payments.
        register_invoice_paid_source(invoice_allocations)
