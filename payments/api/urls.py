from django.urls import path

from payments.api import payments_views as pv
from payments.api import views

urlpatterns = [
    # The Pay Now Notify URL: its last segment is the secret NETCASH_NOTIFY_TOKEN (ADR 0010). The old
    # /payments/netcash/webhook path is gone on purpose: it answers 404 and stores nothing.
    path("payments/netcash/notify/<str:token>", views.netcash_notify, name="netcash-notify"),
    path("payments/netcash/notify/<str:token>/", views.netcash_notify),  # as pasted with a trailing slash
    path("payments/netcash/mandate/<str:token>", views.netcash_mandate_postback, name="netcash-mandate-postback"),
    # Payments II (payments/api/payments_views.py)
    path("payments/process", pv.ProcessPaymentView.as_view(), name="payments-process"),
    path("payments/history", pv.PaymentHistoryView.as_view(), name="payments-history"),
    path("payments/refund", pv.RefundView.as_view(), name="payments-refund"),
    path("payments/methods", pv.PaymentMethodsView.as_view(), name="payments-methods"),
    path("payments/methods/<int:pk>", pv.PaymentMethodDetailView.as_view(), name="payments-method-detail"),
    path("payments/<int:pk>", pv.PaymentDetailView.as_view(), name="payments-detail"),
    path("payments/<int:pk>/receipt", pv.PaymentReceiptView.as_view(), name="payments-receipt"),
]
