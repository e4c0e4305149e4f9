from django.contrib import admin

from billing.models import BillingAccount, Customer, Order, OrderIssue


class BillingAccountInline(admin.StackedInline):
    model = BillingAccount
    can_delete = False
    readonly_fields = ("balance",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("account_number", "display_name", "email", "phone", "account_type", "status", "created_at")
    list_filter = ("status", "account_type", "zoho_sync_status")
    search_fields = ("account_number", "email", "first_name", "last_name", "company_name", "phone")
    readonly_fields = ("account_number", "created_at", "updated_at", "zoho_id", "zoho_sync_status",
                       "zoho_last_synced_at", "zoho_last_error")
    raw_id_fields = ("user",)
    inlines = [BillingAccountInline]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("pk", "name", "email", "package", "status", "customer", "created_at")
    list_filter = ("status", "package")
    search_fields = ("name", "email", "phone", "external_ref", "customer__account_number")
    raw_id_fields = ("customer",)
    list_select_related = ("customer",)


@admin.register(OrderIssue)
class OrderIssueAdmin(admin.ModelAdmin):
    list_display = ("created_at", "source", "row_ref", "reason", "resolved")
    list_filter = ("source", "resolved")
    search_fields = ("row_ref", "reason")
    raw_id_fields = ("order",)
