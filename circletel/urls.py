"""Root URLs. Each app adds its own `urls.py` (pages) and `api/urls.py` (DRF) below."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from billing.forms import EmailAuthenticationForm
from circletel.health import health

urlpatterns = [
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm), name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("billing.urls")),
]

# Each app's pages (`<app>/urls.py`) and API (`<app>/api/urls.py`, under /api/).
urlpatterns += [
    path("", include("payments.urls")),
    path("", include("reservations.urls")),
    path("api/", include("billing.api.urls")),
    path("api/", include("inbox.api.urls")),
    path("api/", include("payments.api.urls")),
    path("api/", include("reservations.api.urls")),
    path("api/", include("zoho_sync.api.urls")),
    # Provider endpoints: NetCash notify and mandate postback, Stripe and PayPal webhooks.
    path("", include("payments.providers.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
