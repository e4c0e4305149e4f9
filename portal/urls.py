"""The portal's pages and APIs, in the `dashboard` namespace: dashboard pages (/dashboard/...), the
pay pages (/billing/invoices/<number>/pay, /pay/), the customer API (/api/dashboard/...) and the staff
API (/api/admin/...). The PayPal order endpoints are in `portal/api/urls.py`."""

from django.urls import path

from portal import views
from portal.api import views as api

app_name = "dashboard"

urlpatterns = [
    path("dashboard/", views.home, name="home"),
    path("dashboard/services/", views.services, name="services"),
    path("dashboard/services/<int:pk>/", views.service_detail, name="service"),
    path("dashboard/services/<int:pk>/cancel/", views.service_cancel, name="service-cancel"),
    path("dashboard/billing/", views.billing, name="billing"),
    path("dashboard/billing/methods/debit-order/", views.method_add_debit_order, name="method-add-debit-order"),
    path("dashboard/billing/methods/<int:pk>/mandate/", views.method_mandate_retry, name="method-mandate-retry"),
    path("dashboard/billing/methods/<int:pk>/primary/", views.method_primary, name="method-primary"),
    path("dashboard/billing/methods/<int:pk>/remove/", views.method_remove, name="method-remove"),
    path("dashboard/invoices/", views.invoices, name="invoices"),
    path("dashboard/invoices/<int:pk>/", views.invoice_detail, name="invoice"),
    path("dashboard/invoices/<int:pk>/pdf/", views.invoice_pdf, name="invoice-pdf"),
    path("dashboard/payments/", views.payments, name="payments"),
    path("dashboard/payments/<int:pk>/receipt/", views.payment_receipt, name="payment-receipt"),
    path("dashboard/statement/", views.statement, name="statement"),
    path("dashboard/usage/", views.usage, name="usage"),
    path("dashboard/profile/", views.profile, name="profile"),
    path("dashboard/profile/billing-day/", views.billing_day_change, name="billing-day"),
    # paying an invoice: signed in, or public with the invoice and account numbers
    path("billing/invoices/<str:number>/pay", views.invoice_pay, name="invoice_pay"),
    path("pay/", views.public_pay, name="public_pay"),
    # customer API
    path("api/dashboard/summary", api.SummaryView.as_view(), name="api-summary"),
    path("api/dashboard/billing", api.BillingView.as_view(), name="api-billing"),
    path("api/dashboard/services", api.ServicesView.as_view(), name="api-services"),
    path("api/dashboard/services/<int:pk>", api.ServiceDetailView.as_view(), name="api-service"),
    path("api/dashboard/usage", api.UsageView.as_view(), name="api-usage"),
    path("api/dashboard/invoices", api.InvoiceListView.as_view(), name="api-invoices"),
    path("api/dashboard/invoices/<int:pk>", api.InvoiceDetailView.as_view(), name="api-invoice"),
    path("api/dashboard/invoices/<int:pk>/pdf", api.InvoicePdfView.as_view(), name="api-invoice-pdf"),
    path("api/dashboard/payment-methods", api.PaymentMethodsView.as_view(), name="api-payment-methods"),
    path("api/dashboard/payment-methods/<int:pk>", api.PaymentMethodDetailView.as_view(),
         name="api-payment-method"),
    # staff API
    *[path(f"api/admin/customers/<int:customer_id>/services/<int:service_id>/{action}",
           api.lifecycle_view(action), name=f"api-admin-service-{action}")
      for action in ("activate", "suspend", "reactivate", "cancel")],
    path("api/admin/customers/<int:customer_id>/billing", api.AdminCustomerBillingView.as_view(),
         name="api-admin-customer-billing"),
    path("api/admin/billing/invoices/<int:pk>", api.AdminInvoiceView.as_view(), name="api-admin-invoice"),
    path("api/admin/customers/<int:customer_id>/services/<int:service_id>/audit",
         api.AdminServiceAuditView.as_view(), name="api-admin-service-audit"),
]
