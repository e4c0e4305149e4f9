"""The customer dashboard: server-rendered pages, the dashboard/staff APIs and admin reports.

Reads go through `selectors.py`; the dashboard's own writes (preferences, profile, adding a debit
order with its eMandate) through `services.py`. Other apps are called directly: saved methods via
`payments.services.methods`, eMandates via `payments.services.mandates`, invoice PDFs via
`billing.services.pdf`, staff lifecycle actions via `billing.services.lifecycle`, and the pay-now
page is the `payments:invoice_pay` route.
"""
