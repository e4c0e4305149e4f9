from django.urls import path

from reservations import views

app_name = "reservations"

urlpatterns = [
    path("puppies/", views.puppy_list, name="list"),
    path("puppies/checkout/<str:reference>/sandbox/", views.sandbox_checkout, name="sandbox"),
    path("puppies/checkout/<str:reference>/success/", views.checkout_success, name="success"),
    path("puppies/checkout/<str:reference>/cancelled/", views.checkout_cancelled, name="cancelled"),
    path("puppies/checkout/<str:reference>/paypal-return/", views.paypal_return, name="paypal-return"),
    path("puppies/<slug:slug>/", views.puppy_detail, name="detail"),
    path("puppies/<slug:slug>/reserve", views.puppy_reserve, name="reserve"),
]
