from django.urls import path

from billing import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.sign_up, name="signup"),
    path("accounts/signup/sent/", views.sign_up_sent, name="signup_sent"),
    path("accounts/signup/confirm/<str:token>/", views.sign_up_confirm, name="signup_confirm"),
]
