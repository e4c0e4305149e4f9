from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from inbox.health import webhook_health


class WebhookHealthView(APIView):
    """`GET /api/health/webhooks`: 200 when healthy, 503 when failures or backlog cross thresholds
    (every provider: NetCash, Stripe, PayPal)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["health"], summary="Webhook processing health (200 healthy, 503 not)",
                   responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Healthy"),
                              503: OpenApiResponse(OpenApiTypes.OBJECT, description="Failures or backlog past "
                                                                                 "the thresholds")})
    def get(self, request):
        health = webhook_health()
        return Response(health, status=200 if health["healthy"] else 503)
