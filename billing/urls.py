from importlib.util import find_spec

from django.urls import include, path

from billing import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.sign_up, name="signup"),
]

# The customer dashboard (pages under /dashboard/, its API under /api/dashboard/).
if find_spec("billing.dashboard") and find_spec("billing.dashboard.urls"):
    urlpatterns.append(path("", include("billing.dashboard.urls")))
