"""Shared admin building blocks: logs, ledgers and provider records are read-only in the console;
money columns read "R 1,234.56"; money-changing actions ask for a reason."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.template.response import TemplateResponse

from circletel.errors import ApplicationError
from circletel.money import format_zar


def zar_column(field_name: str, description: str | None = None):
    """A changelist column showing a money field as "R 1,234.56", sortable by the field."""

    @admin.display(description=description or field_name.replace("_", " "), ordering=field_name)
    def column(obj):
        return format_zar(getattr(obj, field_name))

    column.__name__ = f"{field_name}_zar"
    return column


class MoneyColumnsMixin:
    """Money fields named in `list_display` (DecimalFields with 2 places) read "R 1,234.56" instead
    of the raw "1234.56"; everything else in the list is unchanged."""

    def get_list_display(self, request):
        links = set(self.get_list_display_links(request, super().get_list_display(request)) or ())
        columns = []
        for item in super().get_list_display(request):
            field = None
            if isinstance(item, str) and item not in links:
                try:
                    field = self.model._meta.get_field(item)
                except FieldDoesNotExist:
                    field = None
            if isinstance(field, models.DecimalField) and field.decimal_places == 2:
                item = zar_column(item, str(field.verbose_name))
            columns.append(item)
        return columns


class ReadOnlyMixin:
    """No add, change or delete: rows are written by services only (views still work)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class ReadOnlyInline(ReadOnlyMixin):
    extra = 0
    can_delete = False
    show_change_link = True


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Recorded with the change.")


def reason_action(modeladmin, request, queryset, *, title: str, apply, form_class=ReasonForm, intro: str = ""):
    """The intermediate page for lifecycle and money-changing admin actions.

    The first POST (from the changelist) shows `form_class` (a reason at least) for the selected rows;
    the second (with `apply`) validates it and calls `apply(obj, cleaned_data)` for each row, reporting
    an `ApplicationError` per row with `messages.error`. When `apply` returns a sentence (what
    happened to that row: "R 100.00 recorded for finance to pay back by hand") it is shown per row;
    otherwise one "N done" line. Returns None when done, so the admin redirects back to the changelist.
    """
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done = described = 0
        for obj in queryset:
            try:
                outcome = apply(obj, form.cleaned_data)
            except ApplicationError as exc:
                modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
                continue
            done += 1
            if isinstance(outcome, str) and outcome:
                described += 1
                modeladmin.message_user(request, f"{obj}: {outcome}", messages.SUCCESS)
        if done > described:
            modeladmin.message_user(request, f"{title.rstrip('?')}: {done - described} done.", messages.SUCCESS)
        return None
    return TemplateResponse(request, "admin/reason_form.html", {
        **modeladmin.admin_site.each_context(request), "title": title, "intro": intro, "form": form,
        "objects": queryset, "action": request.POST.get("action"), "opts": modeladmin.model._meta,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
    })
