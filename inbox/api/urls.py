from django.urls import path

from inbox.api.views import WebhookHealthView

urlpatterns = [
    path("health/webhooks", WebhookHealthView.as_view(), name="api-webhook-health"),
]
