"""Admin for usage: daily records (staff manual corrections through the service) and sent cap alerts.

Found by the admin autodiscovery like any app's `admin.py` (billing's admin does not know about usage).
Adding or changing a record here always records a *manual* correction with a reason via
`usage_record_manual`; synced figures are never edited in place. Alerts are a read-only log.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.utils import timezone

from circletel.admin_tools import ConsoleModelAdmin
from circletel.errors import ApplicationError
from usage.models import UsageRecord, UsageThresholdAlert
from usage.services import usage_record_manual


class ManualUsageForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True,
                             help_text="Why the figures are corrected (kept on the record).")
    upload_mb = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2)
    download_mb = forms.DecimalField(min_value=0, max_digits=14, decimal_places=2)

    class Meta:
        model = UsageRecord
        fields = ("service", "date", "upload_mb", "download_mb", "reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.source != UsageRecord.Source.MANUAL:
            self.initial["reason"] = ""  # a correction of synced figures needs its own reason

    def clean_date(self):
        date = self.cleaned_data["date"]
        if date and date > timezone.localdate():
            raise forms.ValidationError("Usage cannot be recorded for a future date.")
        return date

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required for a manual usage correction.")
        return reason

    def clean(self):
        data = super().clean()
        if not self.instance.pk and data.get("service") and data.get("date"):
            # Adding a correction for a day that already has a row corrects that row (the service upserts).
            existing = UsageRecord.objects.filter(service=data["service"], date=data["date"]).first()
            if existing is not None:
                self.instance = existing
        return data


@admin.register(UsageRecord)
class UsageRecordAdmin(ConsoleModelAdmin):
    form = ManualUsageForm
    list_display = ("date", "service", "account_number", "upload_mb", "download_mb", "total_mb", "source",
                    "cycle_start", "updated_by", "updated_at")
    list_filter = ("source", "date", "cycle_start")
    date_hierarchy = "date"
    search_fields = ("service__customer__account_number", "service__provider_subscriber_id")
    list_select_related = ("service", "service__customer")
    raw_id_fields = ("service",)
    readonly_fields = ("total_mb", "source", "cycle_start", "updated_by", "updated_at")
    ordering = ("-date", "service_id")

    @admin.display(description="Account", ordering="service__customer__account_number")
    def account_number(self, obj):
        return obj.service.customer.account_number

    def get_readonly_fields(self, request, obj=None):
        # The day a record describes never moves; correct its figures instead.
        return self.readonly_fields + (("service", "date") if obj else ())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        service = obj.service if change else data["service"]
        day = obj.date if change else data["date"]
        try:
            record = usage_record_manual(service=service, date=day, upload_mb=data["upload_mb"],
                                         download_mb=data["download_mb"], reason=data["reason"], actor=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = record.pk
        obj.source, obj.cycle_start, obj.updated_by = record.source, record.cycle_start, record.updated_by

    # When the service refused the correction (message shown), there is nothing to log or open.
    def log_addition(self, request, obj, message):
        return super().log_addition(request, obj, message) if obj.pk else None

    def log_change(self, request, obj, message):
        return super().log_change(request, obj, message) if obj.pk else None

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:
            return HttpResponseRedirect(request.path)
        return super().response_add(request, obj, post_url_continue)


@admin.register(UsageThresholdAlert)
class UsageThresholdAlertAdmin(ConsoleModelAdmin):
    list_display = ("created_at", "service", "account_number", "cycle_start", "threshold", "used_mb", "cap_mb")
    list_filter = ("threshold", "cycle_start")
    search_fields = ("service__customer__account_number",)
    list_select_related = ("service", "service__customer")
    raw_id_fields = ("service",)

    @admin.display(description="Account", ordering="service__customer__account_number")
    def account_number(self, obj):
        return obj.service.customer.account_number

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
