from django.urls import path

from zoho_sync.api import views

app_name = "zoho_sync_api"

urlpatterns = [
    path("admin/zoho-sync/status", views.StatusView.as_view(), name="status"),
    path("admin/zoho-sync/logs", views.LogsView.as_view(), name="logs"),
    path("admin/zoho-sync/retry", views.RetryView.as_view(), name="retry"),
    path("admin/payments/sync-stats", views.PaymentSyncStatsView.as_view(), name="payment-sync-stats"),
]
