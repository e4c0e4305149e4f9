from django.urls import path

from reservations.api.views import ReserveView, WebhookHealthView

urlpatterns = [
    path("reservations/", ReserveView.as_view(), name="api-reserve"),
    path("health/webhooks", WebhookHealthView.as_view(), name="api-webhook-health"),
]
