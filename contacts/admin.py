"""Admin for sending lists, contacts and labels.

The admin follows the dashboard's rules: phone numbers go through `normalize_phone` with the
account's region, label rows through the one label validator, and a contact's labels are written
only by `services.contact_labels_replace`. Labels are edited on their contact; the label list is
read-only. Contacts are imported as CSV into one sending list by the dashboard's import pipeline
(`contacts.importing.import_file`: the same rows, outcomes and messages), at
django-import-export's import and confirmation URLs with its forms; the export is
django-import-export's, of one sending list (`contacts.resources`). The label key and value
counts are read-only lists whose actions rename a key, merge values and delete a value or a key
with the dashboard's review (`hygiene.edit_review`, `hygiene.naming_audiences`) and job
(`audiences.services.label_edit_start`).
"""

from collections import defaultdict

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.forms import ConfirmImportForm, ExportForm, ImportForm

from audiences import bulk, hygiene
from audiences.forms import LabelActionForm
from audiences.models import LabelChange
from audiences.services import label_change_start, label_edit_start
from contacts import importing, services
from contacts.import_views import effect_context
from contacts.labels import check_label_count, check_new_key, clean_key, clean_value
from contacts.models import Contact, Label, LabelKeyCount, LabelValueCount, SendingList
from contacts.resources import ContactResource
from trackly.admin import ReadOnlyAdmin
from trackly.models import Account
from trackly.phones import DEFAULT_REGION, normalize_phone
from trackly.text import check_text, counted

PHONE_HELP = "Read with the account's default region and stored in E.164 form."


def _lock_related_field(form: type[forms.ModelForm], name: str) -> None:
    # Disabled rather than read-only, so that the uniqueness checks that include it still run.
    field = form.base_fields[name]
    field.disabled = True
    field.widget.can_add_related = field.widget.can_change_related = False
    field.widget.can_delete_related = False


class SendingListAdminForm(forms.ModelForm):
    # Longer than the stored E.164 form: the typed number may carry spaces and punctuation.
    phone_number = forms.CharField(max_length=64, help_text=PHONE_HELP)

    class Meta:
        model = SendingList
        fields = ["account", "name", "phone_number", "status"]

    def clean_name(self) -> str:
        return check_text(self.cleaned_data["name"])

    def clean(self) -> dict:
        cleaned = super().clean()
        account, phone = cleaned.get("account"), cleaned.get("phone_number")
        if account is not None and phone:
            try:
                cleaned["phone_number"] = normalize_phone(phone, account.default_region)
            except ValidationError as error:
                self.add_error("phone_number", error)
        if account is not None:
            # The service's uniqueness check, with the dashboard's and the API's messages.
            try:
                services.sending_list_check_unique(
                    account=account,
                    name=cleaned.get("name"),
                    phone_number=cleaned.get("phone_number"),
                    sending_list=self.instance if self.instance.pk else None,
                )
            except ValidationError as error:
                self.add_error(None, error)
        return cleaned


@admin.register(SendingList)
class SendingListAdmin(admin.ModelAdmin):
    form = SendingListAdminForm
    list_display = ["name", "phone_number", "account", "status", "created_at"]
    list_filter = ["status", "account"]
    list_select_related = ["account"]
    search_fields = ["name", "phone_number"]
    autocomplete_fields = ["account"]
    readonly_fields = ["created_at"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            # Contacts and labels carry their list's account, so a list never changes account.
            _lock_related_field(form, "account")
        return form


class LabelInlineForm(forms.ModelForm):
    # Without max_length or `required`, every problem with a key or value is reported by the
    # label validator, with its own message, as on the dashboard and in the API.
    key = forms.CharField(required=False, strip=False)
    value = forms.CharField(required=False, strip=False)

    class Meta:
        model = Label
        fields = ["key", "value"]

    def clean_key(self) -> str:
        return clean_key(self.cleaned_data["key"])

    def clean_value(self) -> str:
        return clean_value(self.cleaned_data["value"])

    # The formset checks the keys against each other and the service writes the whole set, so
    # checking one row against the stored rows would wrongly reject, say, two keys swapped.
    def validate_unique(self) -> None:
        pass

    def validate_constraints(self) -> None:
        pass


class LabelInlineFormSet(BaseInlineFormSet):
    """A contact's labels as rows; the rows that are kept become the contact's whole label set."""

    def kept_forms(self) -> list[forms.Form]:
        """The rows that stay: stored or newly filled in, and not marked for deletion."""
        return [
            form
            for form in self.forms
            if (form.instance.pk is not None or form.has_changed())
            and not (self.can_delete and self._should_delete_form(form))
        ]

    def clean(self) -> None:
        # Replaces the model formset's own duplicate check, so that the messages are the
        # validator's; the row count goes through the same limit as every other write.
        seen: set[str] = set()
        kept = self.kept_forms()
        for form in kept:
            key = form.cleaned_data.get("key")
            if key is None:
                continue
            try:
                check_new_key(key, seen)
            except ValidationError as error:
                form.add_error("key", error)
            seen.add(key)
        # Counted here too: the admin can show only a formset's errors, not the service's.
        check_label_count(len(kept))

    def labels(self) -> dict[str, str]:
        return {form.cleaned_data["key"]: form.cleaned_data["value"] for form in self.kept_forms()}

    def note_changes(self) -> None:
        """Fill in what `formset.save()` would have saved, which the admin's history reads."""
        self.new_objects, self.changed_objects, self.deleted_objects = [], [], []
        for form in self.forms:
            if self.can_delete and self._should_delete_form(form):
                if form.instance.pk is not None:
                    self.deleted_objects.append(form.instance)
            elif form.instance.pk is None:
                if form.has_changed():
                    self.new_objects.append(form.instance)
            elif form.has_changed():
                self.changed_objects.append((form.instance, form.changed_data))


class LabelInline(admin.TabularInline):
    model = Label
    form = LabelInlineForm
    formset = LabelInlineFormSet
    fields = ["key", "value"]
    extra = 1

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("key")


class ContactAdminForm(forms.ModelForm):
    # Longer than the stored E.164 form: the typed number may carry spaces and punctuation.
    phone_number = forms.CharField(max_length=64, help_text=PHONE_HELP)

    class Meta:
        model = Contact
        fields = ["sending_list", "phone_number", "status"]

    def clean(self) -> dict:
        cleaned = super().clean()
        sending_list, phone = cleaned.get("sending_list"), cleaned.get("phone_number")
        if sending_list is not None and phone:
            try:
                cleaned["phone_number"] = normalize_phone(
                    phone, sending_list.account.default_region
                )
            except ValidationError as error:
                self.add_error("phone_number", error)
        if sending_list is not None:
            # The account comes with the list, and is part of the (list, phone, account)
            # unique constraint that the model validation checks below.
            self.instance.account_id = sending_list.account_id
        return cleaned

    def _get_validation_exclusions(self) -> set[str]:
        # The account takes part in the unique check only once the list gave it one: without a
        # valid list there is no account, and the list's own error says why.
        exclusions = super()._get_validation_exclusions()
        if self.instance.account_id is None:
            return exclusions
        return exclusions - {"account"}


class SendingListChoiceField(forms.ModelChoiceField):
    """A choice of every sending list (the admin is staff-wide), each shown with its account:
    list names are unique only within an account."""

    def __init__(self, **kwargs):
        lists = SendingList.objects.select_related("account").order_by("account__name", "name")
        super().__init__(queryset=lists, **kwargs)

    def label_from_instance(self, obj: SendingList) -> str:
        return f"{obj.account}: {obj.name} ({obj.phone_number})"


class ContactImportForm(ImportForm):
    sending_list = SendingListChoiceField(
        help_text="New numbers become contacts of this list; only its contacts are updated."
    )
    field_order = ["sending_list", "resource", "import_file", "format"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["import_file"].help_text = (
            "CSV UTF-8 with a phone_number column (or phone, or msisdn) and one label_<key> "
            "column per label; an empty cell leaves that label as it is."
        )

    def clean_import_file(self):
        upload = self.cleaned_data["import_file"]
        if upload.size > importing.max_bytes():
            raise importing.too_large_error(upload.size)
        return upload


class ContactConfirmImportForm(ConfirmImportForm):
    # The confirmed import goes to the list the preview was made for.
    sending_list = SendingListChoiceField(widget=forms.HiddenInput)

    def clean_import_file_name(self) -> str:
        # The name of the waiting file comes back from the browser: it must name one.
        name = super().clean_import_file_name()
        if not importing.upload_path(name).is_file():
            raise ValidationError(
                "This upload is no longer here; upload the file again.", code="upload_gone"
            )
        return name


class ContactExportForm(ExportForm):
    sending_list = SendingListChoiceField(
        help_text="Only this list's contacts are exported (of those the contact list's filters "
        "and search show)."
    )
    field_order = ["sending_list", "resource", "format"]


def _chosen_list(form: forms.Form | None) -> SendingList | None:
    """The sending list a valid import or export form names (none on a blank form)."""
    return getattr(form, "cleaned_data", {}).get("sending_list")


def _summary(result: importing.ImportResult) -> str:
    return (
        f"{counted(result.rows, 'row')}: {result.created:,} created, {result.updated:,} updated, "
        f"{result.unchanged:,} unchanged, {result.skipped:,} skipped (unsubscribed), "
        f"{result.rejected:,} rejected."
    )


@admin.register(Contact)
class ContactAdmin(ImportExportMixin, admin.ModelAdmin):
    form = ContactAdminForm
    list_display = ["phone_number", "sending_list", "account", "status", "created_at"]
    list_filter = ["status", "sending_list__account"]
    list_select_related = ["sending_list", "account"]
    search_fields = ["phone_number"]
    # Counting a whole large table on every filtered page costs more than it tells.
    show_full_result_count = False
    autocomplete_fields = ["sending_list"]
    fields = [
        "sending_list",
        "account",
        "phone_number",
        "status",
        "unsubscribed_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["account", "unsubscribed_at", "created_at", "updated_at"]
    inlines = [LabelInline]
    actions = ["add_label", "remove_label"]
    # CSV import and export of one sending list's contacts, with label columns.
    resource_classes = [ContactResource]
    import_formats = [base_formats.CSV]
    export_formats = [base_formats.CSV]
    import_form_class = ContactImportForm
    confirm_form_class = ContactConfirmImportForm
    export_form_class = ContactExportForm
    import_template_name = "admin/contacts/contact_import.html"

    def has_import_permission(self, request) -> bool:
        # Without this, django-import-export lets any staff user import.
        return self.has_add_permission(request) and self.has_change_permission(request)

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def export_action(self, request):
        # The export applies the contact list's filters from the query string; filters that
        # do not exist would fail the export, so it starts again without them, as the contact
        # list itself does.
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            messages.error(request, "The filters in this link do not exist; export without them.")
            return HttpResponseRedirect(request.path)

    def get_export_resource_kwargs(self, request, **kwargs) -> dict:
        return {"sending_list": _chosen_list(kwargs.get("export_form"))}

    def get_confirm_form_initial(self, request, import_form) -> dict:
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["sending_list"] = import_form.cleaned_data["sending_list"].pk
        return initial

    def import_action(self, request, **kwargs):
        """Upload a file into a sending list and show its preview: the import pipeline's dry
        run, with the dashboard's counts, rejected rows and first rows."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        form = self.create_import_form(request)
        context = {}
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["import_file"]
            name = importing.store_upload(upload)
            try:
                result = importing.import_file(
                    importing.upload_path(name),
                    sending_list=form.cleaned_data["sending_list"],
                    dry_run=True,
                )
            except ValidationError as error:
                importing.upload_path(name).unlink(missing_ok=True)
                form.add_error("import_file", error)
            else:
                # Read by `get_confirm_form_initial`: the confirmation names the stored file.
                upload.tmp_storage_name = name
                context = {
                    **effect_context(result.as_dict(), shown=None),
                    "is_preview": True,
                    "confirm_form": self.create_confirm_form(request, import_form=form),
                }
        return self._import_page(request, form, context)

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        """Import a previewed file, then show what the import did, as the dashboard does."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        confirm_form = self.create_confirm_form(request)
        if not confirm_form.is_valid():
            return self._import_page(request, None, {"confirm_form": confirm_form})
        sending_list = confirm_form.cleaned_data["sending_list"]
        file_name = confirm_form.cleaned_data["original_file_name"]
        path = importing.upload_path(confirm_form.cleaned_data["import_file_name"])
        try:
            result = importing.import_file(path, sending_list=sending_list)
        except ValidationError as error:
            messages.error(request, f"Nothing was imported: {error.messages[0]}")
            url = reverse("admin:contacts_contact_import", current_app=self.admin_site.name)
            return HttpResponseRedirect(url)
        finally:
            path.unlink(missing_ok=True)
        self.log_change(request, sending_list, f"Imported {file_name}: {_summary(result)}")
        context = {**effect_context(result.as_dict(), shown=None), "is_preview": False}
        return self._import_page(request, None, context)

    def _import_page(self, request, form, context: dict) -> TemplateResponse:
        resource = ContactResource()
        context = {
            **self.admin_site.each_context(request),
            "title": "Import",
            "opts": self.model._meta,
            "form": form,
            "media": self.media + (form.media if form is not None else forms.Media()),
            "fields_list": [
                (
                    resource.get_display_name(),
                    [field.column_name for field in resource.get_user_visible_fields()],
                )
            ],
            **context,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, [self.import_template_name], context)

    @admin.action(description="Add a label to the selected contacts")
    def add_label(self, request, queryset):
        return self._label_action(request, queryset, bulk.ADD)

    @admin.action(description="Remove a label from the selected contacts")
    def remove_label(self, request, queryset):
        return self._label_action(request, queryset, bulk.REMOVE)

    def _label_action(self, request, queryset, action: str):
        """Ask for the key (and value), then run the same bulk label job as the dashboard:
        one job per account of the selected contacts, each recorded in the audit log."""
        # The dashboard's form, so that a key or value is refused with the same messages.
        form = LabelActionForm(request.POST if "key" in request.POST else None, action=action)
        if form.is_bound and form.is_valid():
            by_account: dict[Account, list[int]] = defaultdict(list)
            for contact in queryset.select_related("account"):
                by_account[contact.account].append(contact.pk)
            for account, ids in by_account.items():
                change = label_change_start(
                    account=account,
                    user=request.user,
                    action=action,
                    key=form.cleaned_data["key"],
                    value=form.cleaned_data["value"],
                    target=f"{counted(len(ids), 'contact')} chosen in the admin",
                    selection={"contacts": {"ids": ids}},
                )
                self.message_user(request, f"{account}: {change} started as job #{change.job_id}.")
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Add a label" if action == bulk.ADD else "Remove a label",
            "form": form,
            "adds": action == bulk.ADD,
            "action": "add_label" if action == bulk.ADD else "remove_label",
            "contacts": queryset,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/contacts/label_action.html", context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is not None:
            # Labels carry their contact's account, so a contact never moves to another list.
            _lock_related_field(form, "sending_list")
        return form

    def get_search_results(self, request, queryset, search_term):
        # A whole phone number, however it is typed, finds its contacts by their E.164 form.
        try:
            phone = normalize_phone(search_term, DEFAULT_REGION)
        except ValidationError:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(phone_number=phone), False

    def save_model(self, request, obj, form, change):
        obj.account_id = obj.sending_list.account_id
        if obj.status == Contact.Status.SUBSCRIBED:
            obj.unsubscribed_at = None
        elif obj.unsubscribed_at is None:
            obj.unsubscribed_at = timezone.now()
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        if not isinstance(formset, LabelInlineFormSet):
            return super().save_formset(request, form, formset, change)
        # The service locks the contact and re-checks the limit; the formset saves no rows.
        formset.note_changes()
        services.contact_labels_replace(contact=form.instance, labels=formset.labels())
        return None


@admin.register(Label)
class LabelAdmin(ReadOnlyAdmin):
    """Read-only: labels are changed on their contact, through the one write path."""

    list_display = ["key", "value", "contact_link", "account"]
    list_select_related = ["contact", "account"]
    # No filter by key: listing the distinct keys of a large table for the sidebar is too slow.
    search_fields = ["key", "value"]
    show_full_result_count = False
    fields = ["account", "contact_link", "key", "value"]
    readonly_fields = fields

    @admin.display(description="contact", ordering="contact__phone_number")
    def contact_link(self, label: Label) -> str:
        url = reverse("admin:contacts_contact_change", args=[label.contact_id])
        return format_html('<a href="{}">{}</a>', url, label.contact)


Edit = LabelChange.Action
EDIT_TITLES = {
    Edit.RENAME_KEY: "Rename a key",
    Edit.MERGE_VALUES: "Merge values",
    Edit.DELETE_VALUE: "Delete a value",
    Edit.DELETE_KEY: "Delete a key",
}


class LabelEditActions:
    """Admin actions that edit labels account-wide: a form where the edit needs one, the
    review with exact counts and the saved audiences that name what changes, then the job."""

    def has_label_edit_permission(self, request) -> bool:
        # Those who may change labels may edit them account-wide; viewers only look.
        return request.user.has_perm("contacts.change_label")

    def _selection_problem(self, rows: list, action: str) -> str | None:
        if action == Edit.MERGE_VALUES:
            if len({(row.account_id, row.key) for row in rows}) > 1:
                return "Choose values of one key of one account to merge."
            return None
        if len(rows) != 1:
            thing = "key" if action in (Edit.RENAME_KEY, Edit.DELETE_KEY) else "value"
            return f"Choose one {thing} at a time: {counted(len(rows), 'row')} were selected."
        return None

    def _label_edit(self, request, queryset, action: str):
        rows = list(queryset.select_related("account").order_by("value" if self.values else "key"))
        problem = self._selection_problem(rows, action)
        if problem:
            self.message_user(request, problem, level=messages.ERROR)
            return None
        first = rows[0]
        given = {"new_key": request.POST.get("new_key", ""), "value": request.POST.get("value", "")}
        if action == Edit.MERGE_VALUES:
            given["values"] = [row.value for row in rows]
        elif action == Edit.DELETE_VALUE:
            given["value"] = first.value
        context = {
            **self.admin_site.each_context(request),
            "title": EDIT_TITLES[action],
            "opts": self.model._meta,
            "action": action,
            "rows": rows,
            "account": first.account,
            "key": first.key,
            "given": given,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        asked = "review" in request.POST or "confirm" in request.POST
        if asked or action in (Edit.DELETE_VALUE, Edit.DELETE_KEY):
            try:
                edit = hygiene.clean_edit(action=action, key=first.key, **given)
            except ValidationError as error:
                context["error"] = error.messages[0]
            else:
                if "confirm" in request.POST:
                    change = label_edit_start(
                        account=first.account,
                        user=request.user,
                        edit=edit,
                        audience_ids=[
                            int(pk) for pk in request.POST.getlist("rewrite") if pk.isdigit()
                        ],
                    )
                    self.message_user(
                        request, f"{first.account}: {change} started as job #{change.job_id}."
                    )
                    return None
                context.update(
                    edit=edit,
                    review=hygiene.edit_review(first.account, edit),
                    audiences=hygiene.naming_audiences(first.account, edit),
                )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/contacts/label_edit.html", context)


@admin.register(LabelKeyCount)
class LabelKeyCountAdmin(LabelEditActions, ReadOnlyAdmin):
    """An account's label keys with their contacts; rename or delete a key from here."""

    values = False
    list_display = ["key", "contacts", "account"]
    list_filter = ["account"]
    list_select_related = ["account"]
    search_fields = ["key"]
    show_full_result_count = False
    ordering = ["account", "key"]
    actions = ["rename_key", "delete_key"]

    @admin.action(description="Rename the selected key", permissions=["label_edit"])
    def rename_key(self, request, queryset):
        return self._label_edit(request, queryset, Edit.RENAME_KEY)

    @admin.action(
        description="Delete the selected key from its account", permissions=["label_edit"]
    )
    def delete_key(self, request, queryset):
        return self._label_edit(request, queryset, Edit.DELETE_KEY)


@admin.register(LabelValueCount)
class LabelValueCountAdmin(LabelEditActions, ReadOnlyAdmin):
    """An account's label values with their contacts; merge values or delete one from here."""

    values = True
    list_display = ["key", "value", "contacts", "account"]
    list_filter = ["account"]
    list_select_related = ["account"]
    search_fields = ["key", "value"]
    show_full_result_count = False
    ordering = ["account", "key", "value"]
    actions = ["merge_values", "delete_value"]

    @admin.action(description="Merge the selected values into one", permissions=["label_edit"])
    def merge_values(self, request, queryset):
        return self._label_edit(request, queryset, Edit.MERGE_VALUES)

    @admin.action(
        description="Delete the selected value from its account", permissions=["label_edit"]
    )
    def delete_value(self, request, queryset):
        return self._label_edit(request, queryset, Edit.DELETE_VALUE)
