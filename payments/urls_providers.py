"""Provider endpoints (Stripe and PayPal), mounted at the root by circletel/urls.py."""

from django.urls import path

from payments.webhooks_paypal import PayPalCaptureView, PayPalCreateOrderView, paypal_webhook
from payments.webhooks_stripe import stripe_webhook

urlpatterns = [
    path("api/webhooks/stripe", stripe_webhook, name="stripe-webhook"),
    path("api/paypal/webhook", paypal_webhook, name="paypal-webhook"),
    path("api/paypal/create-order", PayPalCreateOrderView.as_view(), name="paypal-create-order"),
    path("api/paypal/capture", PayPalCaptureView.as_view(), name="paypal-capture"),
]
