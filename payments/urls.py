from django.urls import path

from payments import views

app_name = "payments"

urlpatterns = [
    path("billing/invoices/<str:number>/pay", views.invoice_pay, name="invoice_pay"),
    path("pay/", views.public_pay, name="public_pay"),
    path("payments/result/<str:reference>", views.payment_result, name="result"),
    path("payments/netcash/return", views.netcash_return, name="netcash-return"),
    path("payments/sandbox/checkout", views.sandbox_checkout, name="sandbox-checkout"),
    path("payments/sandbox/complete", views.sandbox_complete, name="sandbox-complete"),
]
