from importlib.util import find_spec

from django.urls import include, path

from billing import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.sign_up, name="signup"),
    path("accounts/signup/sent/", views.sign_up_sent, name="signup_sent"),
    path("accounts/signup/confirm/<str:token>/", views.sign_up_confirm, name="signup_confirm"),
]

# The customer dashboard (pages under /dashboard/, its API under /api/dashboard/).
if find_spec("billing.dashboard") and find_spec("billing.dashboard.urls"):
    urlpatterns.append(path("", include("billing.dashboard.urls")))
