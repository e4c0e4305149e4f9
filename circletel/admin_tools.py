"""Shared admin building blocks: logs, ledgers and provider records are read-only in the console;
money columns read "R 1,234.56"; money-changing actions ask for a reason; every changelist bounds its search
and turns a lookup the database refuses into the admin's "invalid lookup" answer (`ConsoleAdminMixin`)."""

from itertools import islice

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import FieldDoesNotExist
from django.db import DataError, NotSupportedError, models, router, transaction
from django.db.models.constants import LOOKUP_SEP
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import smart_split

from circletel.errors import ApplicationError
from circletel.money import format_zar


def zar_column(field_name: str, description: str | None = None):
    """A changelist column showing a money field as "R 1,234.56", sortable by the field."""

    @admin.display(description=description or field_name.replace("_", " "), ordering=field_name)
    def column(obj):
        return format_zar(getattr(obj, field_name))

    column.__name__ = f"{field_name}_zar"
    return column


def job_run_link(pk, text: str | None = None):
    """ "job run #12" as a link to that run's page in the console, for admin messages and pages (the
    messages framework keeps the link: the string is marked safe, its parts escaped)."""
    text = text or f"job run #{pk}"
    try:
        url = reverse("admin:circletel_jobrun_change", args=[pk])
    except NoReverseMatch:
        return text
    return format_html('<a href="{}">{}</a>', url, text)


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


SEARCH_MAX_TERMS = 5
SEARCH_MAX_LENGTH = 100


def search_term_limit(search_term: str, *, max_terms: int = SEARCH_MAX_TERMS,
                      max_length: int = SEARCH_MAX_LENGTH) -> tuple[str, str]:
    """(the search actually run, a note for the user or "") for an admin search box entry: the first
    `max_terms` words (quoted phrases count as one, as the admin splits them) of its first `max_length`
    characters."""
    words = list(islice(smart_split(search_term[:max_length]), max_terms + 1))
    if len(words) > max_terms:
        return " ".join(words[:max_terms]), f"Only the first {max_terms} search words were used."
    if len(search_term) > max_length:
        return " ".join(words), f"Only the first {max_length} characters of the search were used."
    return search_term, ""


class SearchLimitMixin:
    """Bounded admin search. Django ORs every search field per word and ANDs the words, so a search's SQL
    and its cost grow with the number of words (1,040 words timed the payments changelist out): only the
    first `search_max_terms` words of the first `search_max_length` characters are searched, and the
    changelist says so when some were dropped. Autocomplete (which searches through here too) is bounded
    the same way, silently."""

    search_max_terms = SEARCH_MAX_TERMS
    search_max_length = SEARCH_MAX_LENGTH

    def get_search_results(self, request, queryset, search_term):
        limited, note = search_term_limit(search_term, max_terms=self.search_max_terms,
                                          max_length=self.search_max_length)
        if note and SEARCH_VAR in request.GET:
            self.message_user(request, note, messages.WARNING, fail_silently=True)
        return super().get_search_results(request, queryset, limited)


# Refused on changelists: the pattern is the caller's, so a bad one is a database error (PostgreSQL: DataError,
# SQLite: OperationalError from Python's re) and a slow one holds a worker.
DISALLOWED_LOOKUPS = frozenset({"regex", "iregex"})


class SafeLookupsMixin:
    """A changelist's query string is the caller's. Regex lookups (`?name__regex=`) are not allowed (400, as
    for any disallowed lookup); a NUL byte, or a value the database refuses when the list is counted
    (PostgreSQL DataError, SQLite's unsupported JSON lookups and integer overflow), is the admin's usual
    answer to wrong lookup parameters (a redirect to `?e=1`) instead of a 500. The changelist's queries run in
    a savepoint so a refused one leaves the connection usable."""

    def lookup_allowed(self, lookup, value, request=None):
        if lookup.rsplit(LOOKUP_SEP, 1)[-1] in DISALLOWED_LOOKUPS:
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_changelist_instance(self, request):
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            raise IncorrectLookupParameters("NUL byte in the query string")
        try:
            with transaction.atomic(using=router.db_for_read(self.model)):
                return super().get_changelist_instance(request)
        except (DataError, NotSupportedError, OverflowError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class ConsoleAdminMixin(SearchLimitMixin, SafeLookupsMixin):
    """What every ModelAdmin on the console includes: ours through `ConsoleModelAdmin` or `ReadOnlyAdmin`,
    third-party ones (auth, django-q2, DRF tokens, django-axes) through `console_admins_wrap()` at start-up."""


class ConsoleModelAdmin(ConsoleAdminMixin, admin.ModelAdmin):
    pass


def console_admins_wrap(site=None) -> list[type]:
    """Re-register every ModelAdmin on `site` (default: the admin site) that lacks `ConsoleAdminMixin` as a
    subclass with it, keeping its name; returns the models re-registered. Runs from `CircletelConfig.ready()`,
    after the admin has imported every app's admin module. Our own admins include the mixin in their class,
    so only third-party ones are wrapped (tests/circletel/test_admin_request_limits.py fails if one of ours is)."""
    site = site or admin.site
    wrapped = []
    for model, model_admin in list(site._registry.items()):
        admin_class = type(model_admin)
        if isinstance(model_admin, ConsoleAdminMixin):
            continue
        console_class = type(admin_class.__name__, (ConsoleAdminMixin, admin_class), {
            "__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__,
            "console_wrapped_from": admin_class,
        })
        site.unregister(model)
        site.register(model, console_class)
        wrapped.append(model)
    return wrapped


class ReadOnlyAdmin(ReadOnlyMixin, ConsoleModelAdmin):
    pass


class ReadOnlyInline(ReadOnlyMixin):
    extra = 0
    can_delete = False
    show_change_link = True


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=300, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Recorded with the change.")


def reason_action(modeladmin, request, queryset, *, title: str, apply, form_class=ReasonForm, intro: str = "",
                  selected: list | None = None):
    """The intermediate page for lifecycle and money-changing admin actions.

    The first POST (from the changelist) shows `form_class` (a reason at least) for the selected rows;
    the second (with `apply`) validates it and calls `apply(obj, cleaned_data)` for each row, reporting
    an `ApplicationError` per row with `messages.error`. When `apply` returns a sentence (what
    happened to that row: "R 100.00 recorded for finance to pay back by hand") it is shown per row;
    otherwise one "N done" line. Returns None when done, so the admin redirects back to the changelist.
    `selected` (primary keys) narrows the rows the form carries to its second POST (default: the rows ticked).
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
        "selected": ([str(pk) for pk in selected] if selected is not None
                     else request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME)),
    })
