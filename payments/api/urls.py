from django.urls import path

from payments.api import views

urlpatterns = [
    path("payments/netcash/webhook", views.netcash_webhook, name="netcash-webhook"),
    path("payments/netcash/webhook/", views.netcash_webhook),
]
