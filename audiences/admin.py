from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelectMultiple
from django.core.exceptions import ValidationError

from audiences import services
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


@admin.register(LabelChange)
class LabelChangeAdmin(ReadOnlyAdmin):
    """The audit log, read-only."""

    list_display = ["created_at", "account", "created_by", "action", "key", "value", "target"]
    list_filter = ["action", "account"]
    list_select_related = ["account", "created_by"]
    search_fields = ["key", "value", "target"]
    actions = ["undo"]

    @admin.action(description="Undo the selected changes")
    def undo(self, request, queryset):
        """The dashboard's undo, one job per change; a change that cannot be undone says why."""
        for change in queryset.select_related("account", "job"):
            if change.job is None:
                self.message_user(request, f"{change}: it has no job to undo.", level="error")
                continue
            try:
                undo = services.undo_start(
                    account=change.account, user=request.user, job=change.job
                )
            except ValidationError as error:
                self.message_user(request, f"{change}: {error.messages[0]}", level="error")
            else:
                self.message_user(request, f"{change}: undo started as job #{undo.job_id}.")
