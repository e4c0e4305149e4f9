"""Shared admin building blocks: logs, ledgers and provider records are read-only in the console."""

from django.contrib import admin


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
