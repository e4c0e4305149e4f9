from django.urls import path

from payments.api import views

urlpatterns = [
    path("payments/netcash/webhook", views.netcash_webhook, name="netcash-webhook"),
    path("payments/netcash/webhook/", views.netcash_webhook),
    path("payments/netcash/mandate/<str:token>", views.netcash_mandate_postback, name="netcash-mandate-postback"),
]
