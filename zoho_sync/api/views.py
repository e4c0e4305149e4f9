"""Staff APIs for the ZOHO sync (session or token auth; staff only)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from circletel.drf import API_AUTHENTICATION, ErrorSerializer
from circletel.errors import ApplicationError, NotFoundError
from zoho_sync import selectors
from zoho_sync.models import SyncLog
from zoho_sync.services.monitoring import entity_mark_for_retry
from zoho_sync.services.sync import ENTITY_MODELS


class StaffAPIView(APIView):
    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAdminUser]


class StatusView(StaffAPIView):
    @extend_schema(tags=["admin: zoho sync"], summary="Sync totals by state, success rate, stale and failed counts",
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(selectors.dashboard_stats())


class LogSerializer(serializers.ModelSerializer):
    entity_label = serializers.SerializerMethodField()

    class Meta:
        model = SyncLog
        fields = ["id", "entity_type", "entity_id", "entity_label", "action", "status", "zoho_id", "duration_ms",
                  "error", "request_summary", "response_summary", "created_at"]

    def get_entity_label(self, obj: SyncLog) -> str:
        return self.context["labels"].get((obj.entity_type, obj.entity_id), "")


class LogsQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)
    offset = serializers.IntegerField(min_value=0, default=0)
    entity_type = serializers.ChoiceField(choices=list(ENTITY_MODELS), required=False)
    status = serializers.ChoiceField(choices=SyncLog.Status.choices, required=False)
    entity_id = serializers.IntegerField(min_value=1, required=False)


class LogsPageSerializer(serializers.Serializer):
    """One page of the sync log: `limit` rows from `offset` of `count`."""

    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    results = LogSerializer(many=True)


class LogsView(StaffAPIView):
    @extend_schema(tags=["admin: zoho sync"], summary="The sync log, newest first (paginated, filterable)",
                   parameters=[LogsQuery], responses={200: LogsPageSerializer})
    def get(self, request):
        q = LogsQuery(data=request.query_params)
        q.is_valid(raise_exception=True)
        p = q.validated_data
        qs = selectors.logs(entity_type=p.get("entity_type"), status=p.get("status"), entity_id=p.get("entity_id"))
        count = qs.count()
        page = list(qs[p["offset"]:p["offset"] + p["limit"]])
        labels = selectors.entity_labels((r.entity_type, r.entity_id) for r in page)
        return Response({"count": count, "limit": p["limit"], "offset": p["offset"],
                         "results": LogSerializer(page, many=True, context={"labels": labels}).data})


class RetryInput(serializers.Serializer):
    entity_type = serializers.ChoiceField(choices=list(ENTITY_MODELS))
    entity_id = serializers.IntegerField(min_value=1)


class RetryOutput(serializers.Serializer):
    entity_type = serializers.CharField()
    entity_id = serializers.IntegerField()
    status = serializers.CharField(help_text="The row's ZOHO sync state now.")
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class RetryView(StaffAPIView):
    @extend_schema(tags=["admin: zoho sync"], summary="Queue one row (entity type and id) for another ZOHO sync",
                   request=RetryInput,
                   responses={202: RetryOutput,
                              400: OpenApiResponse(ErrorSerializer, description="Invalid input, or the row is "
                                                                                "being synced right now"),
                              404: OpenApiResponse(ErrorSerializer, description="No such row")})
    def post(self, request):
        data = RetryInput(data=request.data)
        data.is_valid(raise_exception=True)
        entity_type, pk = data.validated_data["entity_type"], data.validated_data["entity_id"]
        if not entity_mark_for_retry(entity_type=entity_type, pk=pk):
            raise NotFoundError(f"{entity_type} #{pk} does not exist")
        from django.apps import apps

        row = apps.get_model(ENTITY_MODELS[entity_type]).objects.filter(pk=pk).values(
            "zoho_sync_status", "zoho_next_attempt_at").get()
        if row["zoho_sync_status"] == "syncing":
            raise ApplicationError(f"{entity_type} #{pk} is being synced right now; try again in a moment")
        return Response({"entity_type": entity_type, "entity_id": pk, "status": row["zoho_sync_status"],
                         "next_attempt_at": row["zoho_next_attempt_at"]}, status=202)


class PaymentSyncStatsView(StaffAPIView):
    @extend_schema(tags=["admin: zoho sync"], summary="Payments' ZOHO sync counts by state",
                   responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(selectors.payment_sync_stats())
