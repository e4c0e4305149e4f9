"""Root URLs. Each app adds its own `urls.py` (pages) and `api/urls.py` (DRF) below."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_replace
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from billing.forms import EmailAuthenticationForm
from billing.views import password_reset
from circletel.errors import api_not_found
from circletel.health import health

urlpatterns = [
    path("health/", health, name="health"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm), name="login"),
    path("accounts/password_reset/", password_reset, name="password_reset"),  # rate limited, sent from the queue
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("billing.urls")),
]

# Each app's pages (`<app>/urls.py`) and API (`<app>/api/urls.py`, under /api/).
urlpatterns += [
    path("", include("portal.urls")),  # dashboard pages and APIs, pay pages (namespace `dashboard`)
    path("", include("payments.urls")),
    path("", include("reservations.urls")),
    path("api/", include("billing.api.urls")),
    path("api/", include("inbox.api.urls")),
    path("api/", include("payments.api.urls")),
    path("api/", include("portal.api.urls")),  # PayPal order endpoints (invoices and deposits)
    path("api/", include("reservations.api.urls")),
    path("api/", include("zoho_sync.api.urls")),
    # Provider endpoints: NetCash notify and mandate postback, Stripe and PayPal webhooks.
    path("", include("payments.providers.urls")),
]

# The OpenAPI schema of every app's API and its two docs pages. Redoc's bundle cannot run under the
# site-wide policy (circletel/settings.py): at load, before any nonce can reach it, it adds <style>
# elements; it builds its search index in a Worker from a blob: URL; and its sidebar always shows
# Redocly's logo from their CDN. So /api/redoc/ alone allows inline <style> elements, blob: workers
# and that one image host. It shows only our own schema.
REDOC_CSP = {
    "style-src-elem": [SELF, UNSAFE_INLINE],
    "worker-src": [SELF, "blob:"],
    "img-src": [SELF, "data:", "https://cdn.redoc.ly"],
}
urlpatterns += [
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", csp_replace(REDOC_CSP)(csp_replace(REDOC_CSP, REPORT_ONLY=True)(
        SpectacularRedocView.as_view(url_name="schema"))), name="api-redoc"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Last: an /api/ URL nothing above matched answers 404 in the API's JSON error envelope (also with DEBUG on),
# and a 404 raised under /api/ outside DRF too; other URLs keep the HTML page.
urlpatterns += [re_path(r"^api/", api_not_found, name="api-not-found")]
handler404 = "circletel.errors.not_found"
