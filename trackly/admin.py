from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet

from trackly import services
from trackly.forms import TimeZoneField
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
        if self.instance.pk is None or any(self.errors):
            return
        changes: dict[int, Role | None] = {}
        added: list[Role] = []
        for form in self.forms:
            deleted = self.can_delete and self._should_delete_form(form)
            role = form.cleaned_data.get("role")
            if form.instance.pk is not None:
                changes[form.instance.pk] = None if deleted else Role(role)
            elif form.has_changed() and not deleted and role:
                added.append(Role(role))
        services.members_check_admin(account=self.instance, changes=changes, added=added)


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]


class AccountAdminForm(forms.ModelForm):
    time_zone = TimeZoneField()

    class Meta:
        model = Account
        fields = ["name", "slug", "default_region", "time_zone"]


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountAdminForm
    list_display = ["name", "slug", "default_region", "time_zone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]

    def save_formset(self, request, form, formset, change):
        if not isinstance(formset, MembershipInlineFormSet):
            return super().save_formset(request, form, formset, change)
        # Role changes and removals go through the services, which check under the account's
        # lock that it keeps an admin: promotions first, removals last.
        for membership in formset.save(commit=False):
            if membership.pk is None:
                membership.save()
        changed = sorted(formset.changed_objects, key=lambda item: item[0].role != Role.ADMIN)
        try:
            for membership, fields in changed:
                if others := [name for name in fields if name != "role"]:
                    membership.save(update_fields=others)
                if "role" in fields:
                    services.member_set_role(membership=membership, role=Role(membership.role))
            for membership in formset.deleted_objects:
                services.member_remove(membership=membership)
        except ValidationError as error:
            self.message_user(request, error.messages[0], level=messages.ERROR)
        return None


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "account", "role"]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if self.instance.pk is not None:
            services.members_check_admin(
                account=self.instance.account, changes={self.instance.pk: Role(role)}
            )
        return role


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "account", "role", "created_at"]
    list_filter = ["role"]
    list_select_related = ["user", "account"]
    search_fields = ["user__email", "account__name"]
    autocomplete_fields = ["user", "account"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None) -> list[str]:
        # A membership never moves to another user or account: moving an account's last admin
        # away would leave it without one.
        if obj is None:
            return self.readonly_fields
        return [*self.readonly_fields, "user", "account"]

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Role changes go through the service, which keeps an admin in every account.
        try:
            services.member_set_role(membership=obj, role=Role(obj.role))
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


class TracklyUserAdmin(UserAdmin):
    actions = ["issue_one_time_passwords"]

    @admin.action(
        description="Reset password: issue a one-time password that must be changed at log-in",
        permissions=["change"],
    )
    def issue_one_time_passwords(self, request, queryset) -> None:
        for user in queryset.order_by("username"):
            password = services.issue_one_time_password(user)
            # Shown on the next page only, never stored in clear.
            self.message_user(
                request,
                f"{user.username} can log in with the one-time password {password} and must "
                "then choose a new one. It is shown only this once: pass it on now.",
                messages.WARNING,
            )


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), TracklyUserAdmin)
