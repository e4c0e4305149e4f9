from django.urls import path

from billing.api.views import GenerateInvoicesNowView

urlpatterns = [
    path("admin/billing/generate-invoices-now", GenerateInvoicesNowView.as_view(), name="billing-generate-invoices-now"),
]
