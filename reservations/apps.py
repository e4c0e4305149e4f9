from django.apps import AppConfig


class ReservationsConfig(AppConfig):
    name = "reservations"
    verbose_name = "Reservations"

    def ready(self):
        # Deposit webhook routes (Stripe Checkout, PayPal captures, refunds), handed up to the inbox.
        from reservations.webhook_handlers import register_webhook_handlers

        register_webhook_handlers()
