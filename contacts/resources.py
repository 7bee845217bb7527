"""Admin export of a sending list's contacts with label columns (django-import-export).

The export is the shared contact export (`contacts.exporting`), whose file imports back into the
list unchanged. The admin's import does not go through a resource: it runs the one import
pipeline (`contacts.importing.import_file`), as the dashboard does (see `contacts.admin`).
"""

import tablib
from import_export import fields, resources

from contacts.exporting import contact_rows
from contacts.importing import LABEL_PREFIX, PHONE_COLUMNS
from contacts.models import Contact, SendingList


class ContactResource(resources.ModelResource):
    """One sending list's contacts, exported as `phone_number` and one `label_<key>` column per
    key; it also names those columns on the admin's import page."""

    class Meta:
        model = Contact
        fields = ("phone_number",)

    def __init__(self, sending_list: SendingList | None = None, **kwargs):
        """`sending_list` may be missing only where the admin lists the columns."""
        super().__init__(**kwargs)
        self.sending_list = sending_list

    def get_queryset(self):
        return Contact.objects.filter(sending_list=self.sending_list)

    def get_user_visible_fields(self) -> list[fields.Field]:
        return [
            fields.Field(column_name=PHONE_COLUMNS[0]),
            fields.Field(column_name=f"{LABEL_PREFIX}<key> (one column per label)"),
        ]

    def import_data(self, *args, **kwargs):
        raise NotImplementedError("The admin imports through contacts.importing.import_file.")

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
