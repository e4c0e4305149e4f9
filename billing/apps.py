from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # The ZOHO mirror learns billing's mirrored models by registration (it imports no domain app).
        from zoho_sync.services.sync import register_mirrored_model

        register_mirrored_model("customer", "billing.Customer")
        register_mirrored_model("service", "billing.CustomerService")
        register_mirrored_model("invoice", "billing.Invoice")
        register_mirrored_model("credit_note", "billing.CreditNote", part_of="invoice")
