"""The PayPal order endpoints for the buyer's browser (under /api/): invoices and deposits."""

from django.urls import path

from portal.api import paypal_orders

urlpatterns = [
    path("paypal/create-order", paypal_orders.PayPalCreateOrderView.as_view(), name="paypal-create-order"),
    path("paypal/capture", paypal_orders.PayPalCaptureView.as_view(), name="paypal-capture"),
]
