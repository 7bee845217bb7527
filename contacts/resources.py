"""Admin import and export of a sending list's contacts with label columns (django-import-export).

The admin import keeps the dashboard import's rules (spec §9) by running its code: the file's
records are read by the import pipeline's CSV reader, the header by `read_header`, each row by
`parse_row` (the one label validator) and `normalize_phone` with the account's region, and every
write goes through `contacts.services`, which locks the contact and enforces the 50-label limit.
django-import-export adds what the admin shows: a preview of every row, the rejected rows with
their reasons, and a confirmation that imports the same file for real.

An import or export concerns one sending list, given to the resource: it looks contacts up only
among that list's contacts (`get_queryset`), creates contacts only on it, and exports only its
contacts. The export is the shared contact export (`contacts.exporting`), whose file imports back
into the list unchanged.
"""

import io

import tablib
from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets
from import_export.formats import base_formats
from import_export.tmp_storages import TempFolderStorage

from contacts import services
from contacts.exporting import contact_rows
from contacts.importing import (
    LABEL_PREFIX,
    PHONE_COLUMNS,
    Header,
    new_upload_name,
    parse_row,
    read_header,
    read_records,
    remove_stale_uploads,
    upload_path,
)
from contacts.models import Contact, SendingList
from contacts.phones import normalize_phone


class PendingUpload(TempFolderStorage):
    """Where an admin import's file waits between its preview and its confirmation: the
    dashboard's import directory, under a random name that `upload_path` checks (the name comes
    back from the browser), so that previews never confirmed are deleted with the dashboard's
    stale uploads."""

    def save(self, data: bytes | str) -> None:
        remove_stale_uploads()
        self.name = new_upload_name()
        binary = isinstance(data, bytes)
        with open(
            self.get_full_path(),
            "wb" if binary else "w",
            encoding=None if binary else self.encoding,
        ) as file:
            file.write(data)

    def get_full_path(self) -> str:
        return str(upload_path(self.name))


class ContactRows(tablib.Dataset):
    """A CSV file's rows for django-import-export, with the dashboard import's checks.

    The header is read by `read_header` (a bad one raises `invalid_header`, so no dataset has
    one) and its phone column is named `phone_number`, whichever alias the file uses. Blank rows
    are not rows. tablib needs every row at the header's width, so `records` keeps what cutting
    and padding lose: each row's spreadsheet number and its cells as written.
    """

    def __init__(self, names: list[str], records: list[tuple[int, list[str]]]):
        self.header = read_header(names)
        self.records = [(number, cells) for number, cells in records if _has_content(cells)]
        width = len(names)
        columns = list(names)
        columns[self.header.phone] = PHONE_COLUMNS[0]
        rows = ((cells + [""] * width)[:width] for _, cells in self.records)
        super().__init__(*rows, headers=columns)


def _has_content(cells: list[str]) -> bool:
    return any(cell.strip() for cell in cells)


class ContactCSV(base_formats.CSV):
    """CSV, read as the dashboard import reads it: a malformed file or a bad header raises
    `ValidationError` with the dashboard's message, before any row is imported."""

    def create_dataset(self, in_stream) -> ContactRows:
        if isinstance(in_stream, bytes):
            in_stream = in_stream.decode(self.encoding or "utf-8-sig")
        records = read_records(io.StringIO(in_stream))
        first = next(records, None)
        if first is None:
            raise ValidationError("The file is empty.", code="invalid_file")
        return ContactRows(first[1], list(records))


class _LabelsWidget(widgets.Widget):
    """A contact's labels in the import preview, as `key=value` pairs in key order."""

    def render(self, value, obj=None, **kwargs) -> str:
        return "; ".join(f"{key}={label}" for key, label in sorted((value or {}).items()))


class ContactResource(resources.ModelResource):
    """One sending list's contacts: imported from `ContactCSV` files, exported as
    `phone_number` and one `label_<key>` column per key."""

    phone_number = fields.Field(attribute="phone_number", column_name="phone_number")
    # The contact's labels as the row leaves them (`import_labels`, set while importing), shown
    # in the preview; the labels themselves are written by the services.
    labels = fields.Field(
        attribute="import_labels", column_name="labels", readonly=True, widget=_LabelsWidget()
    )

    class Meta:
        model = Contact
        fields = ("phone_number", "labels")
        import_id_fields = ("phone_number",)
        # One transaction per import and a savepoint per row; a dry run is rolled back whole.
        use_transactions = True

    def __init__(self, sending_list: SendingList | None = None, **kwargs):
        """`sending_list` may be missing only where the admin lists the columns."""
        super().__init__(**kwargs)
        self.sending_list = sending_list
        # The file being imported, set by `before_import`.
        self._header: Header | None = None
        self._records: list[tuple[int, list[str]]] = []
        self._region = ""
        # The label cells of the row being imported, set by `before_import_row`.
        self._given: dict[str, str] = {}

    def get_queryset(self):
        """The list's contacts: an import finds, and so changes, no other contact."""
        return Contact.objects.filter(sending_list=self.sending_list)

    def get_user_visible_fields(self) -> list[fields.Field]:
        # The columns the admin's pages announce (`labels` only serves the preview).
        return [
            fields.Field(column_name=PHONE_COLUMNS[0]),
            fields.Field(column_name=f"{LABEL_PREFIX}<key> (one column per label)"),
        ]

    # Import.

    def import_data(self, dataset, *args, **kwargs):
        if self.sending_list is None or not isinstance(dataset, ContactRows):
            raise ValueError("ContactResource imports a ContactCSV file into a sending list.")
        return super().import_data(dataset, *args, **kwargs)

    def before_import(self, dataset: ContactRows, **kwargs) -> None:
        self._header = dataset.header
        self._records = dataset.records
        self._region = self.sending_list.account.default_region

    def before_import_row(self, row, **kwargs) -> None:
        """Read the row as the dashboard import does: a rejected row raises `ValidationError`
        with the same reason (the phone's problem first, then those of the label cells)."""
        number, cells = self._records[kwargs["row_number"] - 1]
        parsed = parse_row(number, cells, self._header)
        try:
            phone = normalize_phone(parsed.phone_given, self._region)
        except ValidationError as error:
            parsed.reject(error.code, error.messages[0], first=True)
        if parsed.code:
            raise ValidationError(parsed.reason, code=parsed.code)
        # The contact is looked up, or created, by the E.164 form of its number.
        row[PHONE_COLUMNS[0]] = phone
        self._given = parsed.labels

    def init_instance(self, row=None) -> Contact:
        return Contact(account_id=self.sending_list.account_id, sending_list=self.sending_list)

    def after_init_instance(self, instance: Contact, new: bool, row, **kwargs) -> None:
        instance.import_labels = {} if new else dict(instance.labels.values_list("key", "value"))

    def import_instance(self, instance: Contact, row, **kwargs) -> None:
        super().import_instance(instance, row, **kwargs)
        # Merged as the services merge them: the file's values win, other labels stay.
        if instance.is_subscribed:
            instance.import_labels = instance.import_labels | self._given

    def skip_row(self, instance: Contact, original: Contact, row, import_validation_errors=None):
        """Skip an unsubscribed contact (an import never changes it) and a row that changes no
        label. The library's own test compares fields, which would not see the labels."""
        if import_validation_errors or instance.pk is None:
            return False
        return not instance.is_subscribed or instance.import_labels == original.import_labels

    def do_instance_save(self, instance: Contact, is_create: bool) -> None:
        # The services hold the contact's lock while they count its labels, so the 50-label
        # limit holds against concurrent edits; going over it rejects the row.
        if is_create:
            contact = services.contact_create(
                sending_list=self.sending_list,
                phone_number=instance.phone_number,
                labels=self._given,
            )
            # The admin's history links to the new contact.
            instance.pk = contact.pk
        else:
            services.contact_labels_update(contact=instance, labels=self._given)

    def after_import(self, dataset, result, **kwargs) -> None:
        """Number rejected rows as a spreadsheet does (the library counts data rows from 1).

        The library's own `after_import` is not called: it resets the table's id sequence, which
        an import that gives no ids does not need, and which, while another import inserts
        contacts, could make the database hand out an id twice.
        """
        numbers = [number for number, _ in self._records]
        for rejected in [*result.invalid_rows, *result.error_rows]:
            rejected.number = numbers[rejected.number - 1]

    # Export.

    def export(self, queryset=None, **kwargs) -> tablib.Dataset:
        """The list's contacts (those of `queryset` when given: the admin's filtered list) in
        the shared export's columns, label values neutralised against spreadsheet formulas."""
        if self.sending_list is None:
            raise ValueError("Choose the sending list to export.")
        contacts = self.get_queryset() if queryset is None else queryset
        rows = contact_rows(contacts.filter(sending_list=self.sending_list))
        dataset = tablib.Dataset(headers=next(rows))
        for row in rows:
            dataset.append(row)
        return dataset
