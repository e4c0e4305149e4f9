from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self):
        # Invoice payments' webhook routes (NetCash Pay Now, Stripe, PayPal), handed up to the inbox.
        from payments.webhook_handlers import register_webhook_handlers

        register_webhook_handlers()
