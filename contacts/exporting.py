"""Contacts as spreadsheet rows: the one shape of every contact export (an audience's members in
the dashboard, a sending list's contacts in the admin).

The columns are `phone_number`, then one `label_<key>` column per key that any exported contact
has, sorted by key: the columns the CSV import reads, so an export imports back as it is.

Label values are neutralised against formula injection (`contacts.cells`), in a way the import
undoes. Phone numbers are stored in E.164 form (a `+` and digits only, checked by the phone
normaliser), which is never a formula, so they are written unchanged.
"""

from collections.abc import Iterator

from django.db.models import QuerySet

from contacts.cells import label_cell
from contacts.importing import LABEL_PREFIX
from contacts.models import Contact, Label

# Contacts read at a time: a chunk and its labels stay small whatever the export's size.
EXPORT_CHUNK = 2000


def contact_rows(contacts: QuerySet[Contact]) -> Iterator[list[str]]:
    """The header row, then one row per contact of `contacts` in id order.

    One query finds the label keys, then two queries per EXPORT_CHUNK contacts read them and
    their labels, whatever the number of contacts.
    """
    keys = sorted(
        Label.objects.filter(contact__in=contacts.values("pk"))
        .values_list("key", flat=True)
        .distinct()
    )
    yield ["phone_number", *(f"{LABEL_PREFIX}{key}" for key in keys)]
    last_id = 0
    while True:
        chunk = list(
            contacts.filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "phone_number")[:EXPORT_CHUNK]
        )
        if not chunk:
            return
        labels: dict[int, dict[str, str]] = {pk: {} for pk, _ in chunk}
        rows = Label.objects.filter(contact_id__in=labels).values_list("contact_id", "key", "value")
        for contact_id, key, value in rows:
            labels[contact_id][key] = value
        for pk, phone in chunk:
            yield [phone, *(label_cell(labels[pk].get(key, "")) for key in keys)]
        last_id = chunk[-1][0]
