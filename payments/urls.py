"""The payment flow's pages (result, NetCash return, sandbox gateway). The pay pages that start a
payment are the portal's (portal/urls.py)."""

from django.urls import path

from payments import sandbox_mandates, views

app_name = "payments"

urlpatterns = [
    path("payments/result/<str:reference>", views.payment_result, name="result"),
    path("payments/netcash/return", views.netcash_return, name="netcash-return"),
    path("payments/sandbox/checkout", views.sandbox_checkout, name="sandbox-checkout"),
    path("payments/sandbox/complete", views.sandbox_complete, name="sandbox-complete"),
    path("payments/sandbox/mandate/<str:reference>", sandbox_mandates.sandbox_mandate, name="sandbox-mandate"),
    path("payments/sandbox/mandate/<str:reference>/sign", sandbox_mandates.sandbox_mandate_sign,
         name="sandbox-mandate-sign"),
]
