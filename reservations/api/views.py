from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from circletel.drf import ErrorSerializer
from circletel.errors import error_body
from circletel.throttle import client_ip
from reservations import services
from reservations.errors import TooManyRequests
from reservations.models import Puppy
from reservations.serializers import ReserveRequestSerializer
from reservations.services.limits import reservation_limits_check, reservation_rate_check_ip, storable_ip


class ReserveInputSerializer(ReserveRequestSerializer):
    puppy = serializers.SlugField()


class ReservationCreatedSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.CharField()
    deposit_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    expires_at = serializers.DateTimeField(help_text="The hold lapses then unless the deposit is paid.")
    checkout_url = serializers.CharField(help_text="Send the buyer here to pay the deposit.")


class ReserveView(APIView):
    """`POST /api/reservations/` -> 201 with the checkout URL; 400 `provider_not_offered` (`extra.code`;
    `extra.offered` lists the providers the listing takes) for a provider the listing does not offer,
    PayPal on a listing priced in rand (PayPal takes no ZAR, ADR 0014): nothing is held and no provider
    is called; 409 when already reserved (`extra.code` `race_condition_lost`) or the buyer holds too
    many unpaid reservations (`hold_limit_reached`); 429 with `Retry-After` past the per-address or
    per-email rate limit (`rate_limited`, reservations/services/limits.py)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["reservations"], summary="Reserve a puppy: hold it and answer the deposit's checkout URL",
        request=ReserveInputSerializer,
        responses={201: ReservationCreatedSerializer,
                   400: OpenApiResponse(ErrorSerializer, description="Invalid input, or `provider_not_offered`"),
                   404: OpenApiResponse(ErrorSerializer, description="No such puppy"),
                   409: OpenApiResponse(ErrorSerializer, description="Already reserved (`race_condition_lost`) "
                                                                     "or too many unpaid holds (`hold_limit_reached`)"),
                   429: OpenApiResponse(ErrorSerializer, description="Rate limited (`rate_limited`); see "
                                                                     "`Retry-After`"),
                   502: OpenApiResponse(ErrorSerializer, description="The payment provider could not start "
                                                                     "the checkout")})
    def post(self, request):
        address = client_ip(request)
        try:
            reservation_rate_check_ip(client_ip=address)
            data = ReserveInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            reservation_limits_check(client_ip=address, email=v["email"])
        except TooManyRequests as exc:
            return Response(error_body(exc), status=exc.status_code, headers={"Retry-After": str(exc.retry_after)})
        puppy = get_object_or_404(Puppy, slug=v["puppy"])
        reservation = services.reserve(puppy.pk, name=v["name"], email=v["email"], phone=v["phone"],
                                       provider=v["provider"], client_ip=storable_ip(address),
                                       client_user_agent=request.headers.get("User-Agent", ""))
        url = services.reservation_start_checkout(
            reservation=reservation, **services.checkout_urls(reservation, request.build_absolute_uri))
        return Response({"reference": reservation.reference, "status": reservation.status,
                         "deposit_amount": f"{reservation.deposit_amount:.2f}", "currency": reservation.currency,
                         "expires_at": reservation.expires_at,
                         "checkout_url": url}, status=201)
