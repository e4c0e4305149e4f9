from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self):
        # The ZOHO mirror learns billing's mirrored models by registration (it imports no domain app).
        from billing import checks  # noqa: F401  (registers billing.E001)
        from billing.services.credit import invoice_credit_allocations
        from billing.services.ledger_check import register_invoice_paid_source
        from zoho_sync.services.sync import register_mirrored_model

        register_invoice_paid_source(invoice_credit_allocations)  # credit-note remainders paid onto invoices

        register_mirrored_model("customer", "billing.Customer")
        register_mirrored_model("service", "billing.CustomerService")
        register_mirrored_model("invoice", "billing.Invoice")
        register_mirrored_model("credit_note", "billing.CreditNote", part_of="invoice")
        # Credit-note remainders applied to other invoices, mirrored in ZOHO (issue 17; zoho_sync helper's insertion).
        from billing.zoho import credit_note_allocations
        from zoho_sync.services.sync import register_allocation_reader

        register_allocation_reader("credit_note", credit_note_allocations)

        # Recovery (issue 20): an invoice run whose worker died, or whose scheduled task was lost, is
        # started again for the same date; it continues from the services' next billing dates.
        from circletel.jobs import register_resumable

        register_resumable("generate_invoices", task="billing.tasks.run_invoice_run", schedule="invoice_run",
                           date_arg="run_date")
        register_resumable("dunning", task="billing.tasks.run_dunning", schedule="dunning", date_arg="run_date")
