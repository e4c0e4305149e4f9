"""Shared admin building blocks: logs, ledgers and provider records are read-only in the console."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from circletel.errors import ApplicationError


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
    an `ApplicationError` per row with `messages.error`. Returns None when done, so the admin
    redirects back to the changelist.
    """
    form = form_class(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        done = 0
        for obj in queryset:
            try:
                apply(obj, form.cleaned_data)
                done += 1
            except ApplicationError as exc:
                modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
        if done:
            modeladmin.message_user(request, f"{title}: {done} done.", messages.SUCCESS)
        return None
    return TemplateResponse(request, "admin/reason_form.html", {
        **modeladmin.admin_site.each_context(request), "title": title, "intro": intro, "form": form,
        "objects": queryset, "action": request.POST.get("action"), "opts": modeladmin.model._meta,
        "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
    })
