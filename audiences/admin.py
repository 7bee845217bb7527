from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from audiences import hygiene, services
from audiences.conditions import ConditionError, parse, to_text
from audiences.models import Audience, LabelChange, resolve_audiences
from trackly.admin import ReadOnlyAdmin
from trackly.text import check_multiline_text, check_text


class AudienceAdminForm(forms.ModelForm):
    class Meta:
        model = Audience
        fields = ["account", "name", "description", "conditions", "sending_lists", "status"]

    def clean_name(self) -> str:
        return check_text(self.cleaned_data["name"])

    def clean_description(self) -> str:
        return check_multiline_text(self.cleaned_data["description"])

    def clean_conditions(self) -> str:
        """The one parser checks the conditions; they are stored as canonical text."""
        try:
            return to_text(parse(self.cleaned_data["conditions"]))
        except ConditionError as error:
            raise ValidationError(error.messages[0], code=error.code) from None

    def clean(self) -> dict:
        cleaned = super().clean()
        account = cleaned.get("account")
        lists = cleaned.get("sending_lists")
        if account and lists and any(item.account_id != account.pk for item in lists):
            self.add_error("sending_lists", "Choose sending lists of the audience's account.")
        if account and cleaned.get("conditions"):
            # Stored with audiences by id (docs/conditions.md, Audiences of audiences).
            try:
                tree = resolve_audiences(
                    account, parse(cleaned["conditions"]), audience=self.instance
                )
            except ConditionError as error:
                self.add_error("conditions", error.messages[0])
            else:
                cleaned["conditions"] = to_text(tree)
        archiving = cleaned.get("status") == Audience.Status.ARCHIVED
        if archiving and self.instance.pk and self.instance.status != Audience.Status.ARCHIVED:
            try:
                services.audience_check_unused(audience=self.instance, doing="archived")
            except ValidationError as error:
                self.add_error("status", error)
        return cleaned

    def _save_m2m(self) -> None:
        # The list scope's rows carry the account (the distribution column), which the form's
        # own `set()` would leave empty.
        self.instance.sending_lists.set(
            self.cleaned_data["sending_lists"],
            through_defaults={"account_id": self.instance.account_id},
        )


@admin.register(Audience)
class AudienceAdmin(admin.ModelAdmin):
    form = AudienceAdminForm
    list_display = ["name", "account", "kind", "conditions", "status", "updated_at"]
    list_filter = ["kind", "status", "account"]
    list_select_related = ["account"]
    search_fields = ["name", "conditions"]
    autocomplete_fields = ["sending_lists"]
    readonly_fields = ["kind", "created_by", "created_at", "updated_at"]
    actions = ["delete_selected"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "sending_lists":
            # Its table has a model of its own (for the account on each row), and the admin
            # leaves such fields out unless asked; `_save_m2m` above writes them.
            kwargs["widget"] = AutocompleteSelectMultiple(
                db_field, self.admin_site, using=kwargs.get("using")
            )
            return db_field.formfield(**kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    # Deleting goes by the dashboard's rule (`services.audience_check_unused`): an audience that
    # others use with IN AUDIENCE is refused before the confirmation page, and again on delete.

    def _refusals(self, audiences) -> list[str]:
        refusals = []
        for audience in audiences:
            try:
                services.audience_check_unused(audience=audience, doing="deleted")
            except ValidationError as error:
                refusals.append(error.messages[0])
        return refusals

    def delete_view(self, request, object_id, extra_context=None):
        audience = self.get_object(request, object_id)
        refusals = self._refusals([audience]) if audience is not None else []
        if refusals:
            self.message_user(request, refusals[0], level=messages.ERROR)
            return redirect("admin:audiences_audience_change", audience.pk)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        try:
            services.audience_delete(audience=obj)
        except ValidationError as error:
            self.message_user(request, error.messages[0], level=messages.ERROR)

    def delete_queryset(self, request, queryset):
        for audience in queryset:
            self.delete_model(request, audience)

    @admin.action(description=django_delete_selected.short_description, permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Django's "Delete selected" action, refused as a whole when any selected audience is
        used by another with IN AUDIENCE."""
        refusals = self._refusals(queryset)
        for refusal in refusals:
            self.message_user(request, refusal, level=messages.ERROR)
        if refusals:
            return None
        return django_delete_selected(self, request, queryset)


@admin.register(LabelChange)
class LabelChangeAdmin(ReadOnlyAdmin):
    """The audit log, read-only."""

    list_display = ["created_at", "account", "created_by", "action", "key", "value", "target"]
    list_filter = ["action", "account"]
    list_select_related = ["account", "created_by"]
    search_fields = ["key", "value", "target"]
    actions = ["undo"]

    def has_undo_permission(self, request) -> bool:
        # Those who may change labels may take a change back; viewers of the log only look.
        return request.user.has_perm("contacts.change_label")

    @admin.action(description="Undo the selected changes", permissions=["undo"])
    def undo(self, request, queryset):
        """The dashboard's undo: a review of what undoing each change would do now, then one
        job per change. A change that cannot be undone says why."""
        reviews = []
        for change in queryset.select_related("account", "job").order_by("-created_at"):
            try:
                if change.job is None:
                    raise ValidationError("it has no job to undo.")
                hygiene.check_undoable(change.job)
            except ValidationError as error:
                self.message_user(request, f"{change}: {error.messages[0]}", level=messages.ERROR)
                continue
            reviews.append((change, hygiene.undo_review(change.job)))
        if not reviews:
            return None
        if "confirm" not in request.POST:
            context = {
                **self.admin_site.each_context(request),
                "title": "Undo the selected changes",
                "opts": self.model._meta,
                "reviews": [
                    (
                        change,
                        review,
                        hygiene.rewrites_to_undo(change.job),
                        hygiene.records_kept_until(change.job),
                    )
                    for change, review in reviews
                ],
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(request, "admin/audiences/undo.html", context)
        for change, _ in reviews:
            undo = services.undo_start(account=change.account, user=request.user, job=change.job)
            self.message_user(request, f"{change}: undo started as job #{undo.job_id}.")
        return None
