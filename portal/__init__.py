"""The customer portal: the dashboard pages and APIs, the pay pages, the PayPal order endpoints and
the staff reports. It sits on top (ARCHITECTURE "Layering"): it reads and calls reservations, usage,
payments and billing, and nothing below imports it.

Reads go through `selectors.py`; the portal's own writes (preferences, profile, adding a debit
order with its eMandate) through `services.py`. Other apps are called directly: saved methods via
`payments.services.methods`, eMandates via `payments.services.mandates`, invoice checkout via
`payments.services.paynow_checkout`, invoice PDFs via `billing.services.pdf`, staff lifecycle actions via
`billing.services.lifecycle`, PayPal orders via `payments.services.paypal_payments` (invoices) and
`reservations.services` (deposits). The admin index loads the staff reports through the
`dashboard_admin` template library (`portal/templatetags/`).
"""
