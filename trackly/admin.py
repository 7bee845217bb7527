from django.contrib import admin

from trackly.models import Account, Membership

admin.site.site_header = "Trackly administration"
admin.site.site_title = "Trackly admin"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "default_region", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "account"]
    search_fields = ["user__email", "account__name"]
    autocomplete_fields = ["user", "account"]
    readonly_fields = ["created_at"]
