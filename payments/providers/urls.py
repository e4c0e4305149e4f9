"""Provider endpoints (server to server), mounted at the root by circletel/urls.py."""

from django.urls import path

from payments.providers import netcash, paypal, stripe

urlpatterns = [
    # The Pay Now Notify URL: its last segment is the secret NETCASH_NOTIFY_TOKEN (ADR 0010). The old
    # /api/payments/netcash/webhook path is gone on purpose: it answers 404 and stores nothing.
    path("api/payments/netcash/notify/<str:token>", netcash.netcash_notify, name="netcash-notify"),
    path("api/payments/netcash/notify/<str:token>/", netcash.netcash_notify),  # as pasted with a trailing slash
    path("api/payments/netcash/mandate/<str:token>", netcash.netcash_mandate_postback,
         name="netcash-mandate-postback"),
    path("api/payments/netcash/mandate/<str:token>/", netcash.netcash_mandate_postback),
    path("api/webhooks/stripe", stripe.stripe_webhook, name="stripe-webhook"),
    path("api/paypal/webhook", paypal.paypal_webhook, name="paypal-webhook"),
]
