"""Billing admin API (staff only): parse input, call one service, answer."""

from datetime import date

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.services.invoice_run import invoice_run_start
from circletel.drf import API_AUTHENTICATION


class GenerateInvoicesInput(serializers.Serializer):
    run_date = serializers.DateField(required=False, help_text="Defaults to today (SAST).")


class GenerateInvoicesOutput(serializers.Serializer):
    job_run_id = serializers.IntegerField()
    status = serializers.CharField()


class GenerateInvoicesNowView(APIView):
    """Start the invoice run now as a task; answers 202 with the job-run id to poll."""

    authentication_classes = API_AUTHENTICATION
    permission_classes = [IsAdminUser]

    @extend_schema(tags=["admin"], summary="Start the invoice run now (answers the job run to poll)",
                   request=GenerateInvoicesInput, responses={202: GenerateInvoicesOutput})
    def post(self, request):
        data = GenerateInvoicesInput(data=request.data)
        data.is_valid(raise_exception=True)
        run_date: date | None = data.validated_data.get("run_date")
        record = invoice_run_start(triggered_by=f"api:{request.user.get_username()}", run_date=run_date)
        return Response({"job_run_id": record.pk, "status": record.status}, status=status.HTTP_202_ACCEPTED)
