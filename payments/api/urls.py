from django.urls import path

from payments.api import payments_views as pv

urlpatterns = [
    path("payments/process", pv.ProcessPaymentView.as_view(), name="payments-process"),
    path("payments/history", pv.PaymentHistoryView.as_view(), name="payments-history"),
    path("payments/refund", pv.RefundView.as_view(), name="payments-refund"),
    path("payments/methods", pv.PaymentMethodsView.as_view(), name="payments-methods"),
    path("payments/methods/<int:pk>", pv.PaymentMethodDetailView.as_view(), name="payments-method-detail"),
    path("payments/<int:pk>", pv.PaymentDetailView.as_view(), name="payments-detail"),
    path("payments/<int:pk>/receipt", pv.PaymentReceiptView.as_view(), name="payments-receipt"),
]
