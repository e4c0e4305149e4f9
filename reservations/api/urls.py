from django.urls import path

from reservations.api.views import ReserveView

urlpatterns = [
    path("reservations/", ReserveView.as_view(), name="api-reserve"),
]
