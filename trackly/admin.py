from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from trackly import services
from trackly.models import Account, Job, Membership, Role

admin.site.site_header = "Trackly administration"
admin.site.site_title = "Trackly admin"


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records written only by the application (audit log, jobs, labels): view, never edit."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MembershipInlineFormSet(BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        if self.instance.pk and not any(data.get("role") == Role.ADMIN for data in kept):
            raise ValidationError("An account needs at least one admin.")


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
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

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Role changes go through the service, which keeps one admin per account.
        role = obj.role
        obj.role = Membership.objects.get(pk=obj.pk).role
        try:
            services.member_set_role(membership=obj, role=Role(role))
        except ValidationError as error:
            self.message_user(request, error.messages[0], level=messages.ERROR)
        return None

    def delete_model(self, request, obj):
        try:
            services.member_remove(membership=obj)
        except ValidationError as error:
            self.message_user(request, error.messages[0], level=messages.ERROR)

    def delete_queryset(self, request, queryset):
        for membership in queryset:
            self.delete_model(request, membership)


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    """Jobs, read-only: they are started from the dashboard, the API or the admin actions."""

    list_display = [
        "id",
        "account",
        "kind",
        "status",
        "progress_done",
        "progress_total",
        "created_at",
    ]
    list_filter = ["status", "kind", "account"]
    list_select_related = ["account"]
