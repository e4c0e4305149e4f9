"""Root URLs. Each app adds its own `urls.py` (pages) and `api/urls.py` (DRF) below."""

from importlib.util import find_spec

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

# Apps mount their page and API routes when they have them.
for app in ("billing", "payments", "zoho_sync", "reservations", "notifications"):
    if app != "billing" and find_spec(f"{app}.urls"):
        urlpatterns.append(path("", include(f"{app}.urls")))
    if find_spec(f"{app}.api") and find_spec(f"{app}.api.urls"):
        urlpatterns.append(path("api/", include(f"{app}.api.urls")))

# Provider endpoints (Stripe, PayPal webhooks and flows) shared by payments and reservations.
if find_spec("payments.urls_providers"):
    urlpatterns.append(path("", include("payments.urls_providers")))

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
