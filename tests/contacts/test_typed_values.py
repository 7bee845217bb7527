"""A label's value as a number and as a date: the generated columns agree with the rules in
Python (`contacts.labels.number_value`, `date_value`) on both databases, and every write path
fills them."""

import datetime

from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audiences import bulk
from contacts import services
from contacts.importing import import_file
from contacts.labels import date_value, number_value
from contacts.models import Contact, Label
from tests.contacts.test_admin import admin_url, contact_form, stored_rows

EDGE_VALUES = [
    "90",
    "-2.5",
    "007",
    "-0",
    "0.50",
    "1e5",
    "1,000",
    "200+",
    ".5",
    "5.",
    "-",
    "--5",
    "1.2.3",
    "+5",
    "٣",
    "2024-02-29",
    "2023-02-29",
    "2024-02-30",
    "2024-2-3",
    "2000-02-29",
    "1900-02-29",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31",
    "2024-13-01",
    "2024-00-10",
    "2024-04-31",
    "2024-04-30",
    "2024-03-20x",
    "Jan 15, 2024",
    "20240320",
]

values = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.text(alphabet="0123456789-.", min_size=1, max_size=12),
    st.builds(
        "{:04d}-{:02d}-{:02d}".format,
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
    ),
    # Up to 15 significant digits: doubles read them exactly on every database.
    st.decimals(min_value=-(10**12), max_value=10**12, places=3, allow_nan=False).map(str),
)


def typed(label: Label) -> tuple:
    label.refresh_from_db()
    return label.value_number, label.value_date


def test_the_edge_values_read_as_the_rules_say():
    assert [value for value in EDGE_VALUES if number_value(value) is not None] == [
        "90",
        "-2.5",
        "007",
        "-0",
        "0.50",
        "20240320",
    ]
    assert [value for value in EDGE_VALUES if date_value(value) is not None] == [
        "2024-02-29",
        "2000-02-29",
        "0001-01-01",
        "9999-12-31",
        "2024-04-30",
    ]


@settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(values, min_size=1, max_size=30))
@example(batch=EDGE_VALUES)
def test_the_columns_agree_with_the_python_rules(db, contact, batch):
    with transaction.atomic():
        Label.objects.filter(contact=contact).delete()
        contacts = Contact.objects.bulk_create(
            Contact(
                account=contact.account,
                sending_list=contact.sending_list,
                phone_number=f"+1555111{index:04d}",
            )
            for index in range(len(batch))
        )
        Label.objects.bulk_create(
            Label(account_id=row.account_id, contact=row, key="k", value=value)
            for row, value in zip(contacts, batch, strict=True)
        )
        stored = {
            contact_id: (number, day)
            for contact_id, number, day in Label.objects.filter(contact__in=contacts).values_list(
                "contact_id", "value_number", "value_date"
            )
        }
        for row, value in zip(contacts, batch, strict=True):
            assert stored[row.pk] == (number_value(value), date_value(value)), value
        transaction.set_rollback(True)


# One test per write path


def test_the_contact_services_fill_the_columns(contact):
    services.contact_labels_update(contact=contact, labels={"score": "90", "since": "2024-03-20"})
    assert typed(contact.labels.get(key="score")) == (90.0, None)
    assert typed(contact.labels.get(key="since")) == (None, datetime.date(2024, 3, 20))
    services.contact_labels_update(contact=contact, labels={"score": "200+"})
    assert typed(contact.labels.get(key="score")) == (None, None)


def test_the_import_fills_the_columns(sending_list, tmp_path, settings):
    settings.IMPORT_DIR = tmp_path / "imports"
    file = tmp_path / "contacts.csv"
    file.write_text(
        "phone_number,label_score,label_since\n+12125550100,-2.5,2024-02-29\n+12125550101,1e5,2023-02-29\n"
    )
    import_file(file, sending_list=sending_list)
    labels = {
        (label.contact.phone_number, label.key): (label.value_number, label.value_date)
        for label in Label.objects.select_related("contact")
    }
    assert labels == {
        ("+12125550100", "score"): (-2.5, None),
        ("+12125550100", "since"): (None, datetime.date(2024, 2, 29)),
        ("+12125550101", "score"): (None, None),
        ("+12125550101", "since"): (None, None),
    }


def test_bulk_add_label_fills_the_columns(contact):
    contacts = Contact.objects.filter(pk=contact.pk)
    bulk.apply(
        contacts, account_id=contact.account_id, action=bulk.ADD, key="since", value="2024-01-15"
    )
    assert typed(contact.labels.get(key="since")) == (None, datetime.date(2024, 1, 15))
    bulk.apply(contacts, account_id=contact.account_id, action=bulk.ADD, key="since", value="7")
    assert typed(contact.labels.get(key="since")) == (7.0, None)


def test_the_admin_fills_the_columns(superuser_client, contact):
    rows = [*stored_rows(contact), (None, "score", "0.50", False)]
    response = superuser_client.post(
        admin_url("contact", "change", contact.pk), contact_form(contact, rows)
    )
    assert response.status_code == 302
    assert typed(contact.labels.get(key="score")) == (0.5, None)
