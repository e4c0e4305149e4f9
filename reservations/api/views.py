from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from reservations import services
from reservations.models import Puppy
from reservations.serializers import ReserveRequestSerializer


class ReserveInputSerializer(ReserveRequestSerializer):
    puppy = serializers.SlugField()


class ReserveView(APIView):
    """`POST /api/reservations/` -> 201 with the checkout URL; 409 when already reserved."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["reservations"], request=ReserveInputSerializer, responses={201: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def post(self, request):
        data = ReserveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        puppy = get_object_or_404(Puppy, slug=v["puppy"])
        reservation = services.reserve(puppy.pk, name=v["name"], email=v["email"], phone=v["phone"],
                                       provider=v["provider"], client_ip=request.META.get("REMOTE_ADDR"),
                                       client_user_agent=request.headers.get("User-Agent", ""))
        url = services.reservation_start_checkout(
            reservation=reservation, **services.checkout_urls(reservation, request.build_absolute_uri))
        return Response({"reference": reservation.reference, "status": reservation.status,
                         "deposit_amount": f"{reservation.deposit_amount:.2f}", "expires_at": reservation.expires_at,
                         "checkout_url": url}, status=201)
