"""The schema follows a distributed PostgreSQL's rules with the account as distribution column
(trackly/sharding.py): read from PostgreSQL's catalogue, and from the models on any database."""

import pytest
from django.apps import apps
from django.db import connection, transaction

from audiences.models import Audience, LabelChange, StaticMember
from contacts.models import CreatedContact, LabelRecord, SendingList
from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.models import Job
from trackly.sharding import (
    DISTRIBUTION_COLUMN,
    REFERENCE_TABLES,
    SHARDED_TABLES,
    schema_violations,
)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the keys are composite on PostgreSQL only"
)

# Tables of the project's apps that carry an account but are not sharded: they grow with the
# team, not with its contacts, and are read by login and key checks before any account is known.
PER_TEAM_TABLES = ("trackly_membership", "trackly_apikey")


def _project_models():
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label in ("trackly", "contacts", "audiences")
    ]


@postgresql_only
@pytest.mark.django_db
def test_the_schema_follows_the_sharding_rules():
    assert schema_violations(connection) == []


@postgresql_only
@pytest.mark.django_db
def test_the_label_key_to_its_contact_is_the_only_one_and_includes_the_account():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = 'contacts_label'::regclass AND contype IN ('f', 'p', 'u')"
            " ORDER BY contype, 1"
        )
        assert [definition for (definition,) in cursor.fetchall()] == [
            "FOREIGN KEY (contact_id, account_id) REFERENCES contacts_contact(id, account_id)"
            " DEFERRABLE INITIALLY DEFERRED",
            "PRIMARY KEY (id, account_id)",
            "UNIQUE (contact_id, key, account_id)",
        ]


# Each statement breaks one rule; the checker names it.
BROKEN = [
    (
        "ALTER TABLE contacts_label ADD CONSTRAINT label_key_value_uniq UNIQUE (key, value)",
        "contacts_label: unique constraint label_key_value_uniq ('key', 'value') lacks account_id",
    ),
    (
        "ALTER TABLE contacts_labelrecord ADD CONSTRAINT record_contact_fk FOREIGN KEY"
        " (contact_id, account_id) REFERENCES contacts_contact (id, account_id),"
        " ADD CONSTRAINT record_job_fk FOREIGN KEY (job_id, contact_id)"
        " REFERENCES trackly_job (id, account_id)",
        "contacts_labelrecord: foreign key record_job_fk ('job_id', 'contact_id') -> trackly_job"
        "('id', 'account_id') lacks account_id on both sides",
    ),
    (
        # A primary key column is NOT NULL: the key goes first.
        "ALTER TABLE contacts_createdcontact DROP CONSTRAINT contacts_createdcontact_pkey,"
        " ALTER COLUMN account_id DROP NOT NULL",
        "contacts_createdcontact: account_id may be NULL",
    ),
    (
        "ALTER TABLE trackly_apikey ADD COLUMN contact_id bigint, ADD CONSTRAINT apikey_contact_fk"
        " FOREIGN KEY (contact_id, account_id) REFERENCES contacts_contact (id, account_id)",
        "trackly_apikey: foreign key apikey_contact_fk points into sharded table contacts_contact",
    ),
    (
        "ALTER TABLE contacts_label ADD COLUMN worker_id bigint REFERENCES trackly_worker (id)",
        "contacts_label: foreign key contacts_label_worker_id_fkey points to trackly_worker,"
        " neither sharded nor reference",
    ),
    (
        "CREATE UNIQUE INDEX label_value_once ON contacts_label (value) WHERE key = 'x'",
        "contacts_label: unique index label_value_once lacks account_id",
    ),
    (
        "ALTER TABLE contacts_labelkeycount DROP CONSTRAINT contacts_labelkeycount_pkey,"
        " ADD PRIMARY KEY (id)",
        "contacts_labelkeycount: primary key contacts_labelkeycount_pkey ('id',) lacks account_id",
    ),
    (
        "ALTER TABLE contacts_labelvaluecount DROP COLUMN account_id CASCADE",
        "contacts_labelvaluecount: no account_id column",
    ),
]


@postgresql_only
@pytest.mark.django_db
@pytest.mark.parametrize(("statement", "problem"), BROKEN)
def test_a_broken_rule_is_named(statement, problem):
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
        assert problem in schema_violations(connection)
        transaction.set_rollback(True)
    assert schema_violations(connection) == []


def test_every_table_with_an_account_is_sharded_or_per_team():
    with_account = {
        model._meta.db_table
        for model in _project_models()
        if DISTRIBUTION_COLUMN in {field.column for field in model._meta.concrete_fields}
    }
    assert with_account == set(SHARDED_TABLES) | set(PER_TEAM_TABLES)


def test_every_table_pointing_into_a_sharded_table_is_sharded():
    pointing = {
        (model._meta.db_table, field.related_model._meta.db_table)
        for model in _project_models()
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model._meta.db_table in SHARDED_TABLES
    }
    assert pointing
    assert {table for table, _ in pointing} <= set(SHARDED_TABLES)


def test_sharded_tables_point_only_to_sharded_and_reference_tables():
    targets = {
        field.related_model._meta.db_table
        for model in _project_models()
        if model._meta.db_table in SHARDED_TABLES
        for field in model._meta.concrete_fields
        if field.is_relation
    }
    assert targets - set(SHARDED_TABLES) == set(REFERENCE_TABLES)


@pytest.mark.django_db
def test_an_aggregate_over_a_sharded_table_groups_by_its_columns(sending_list, contact):
    # PostgreSQL refuses `GROUP BY id` when the table's key is (id, account_id).
    (listed,) = SendingList.objects.with_contact_count()
    assert (listed.name, listed.contact_count) == ("Main", 1)


def _fill_account(account, phone: str) -> None:
    """One row in every sharded table of the account."""
    sending_list = SendingListFactory(account=account, phone_number=phone)
    contact = label_contact(ContactFactory(sending_list=sending_list), {"tier": "gold"})
    audience = Audience.objects.create(account=account, name="A", kind=Audience.Kind.STATIC)
    audience.sending_lists.set([sending_list], through_defaults={"account_id": account.pk})
    StaticMember.objects.create(audience=audience, contact=contact, account=account)
    job = Job.objects.create(account=account, kind=Job.Kind.IMPORT)
    LabelChange.objects.create(
        account=account, job=job, action="add", key="tier", value="gold", audience=audience
    )
    LabelRecord.objects.create(
        job=job, account_id=account.pk, contact_id=contact.pk, key="tier", after="gold"
    )
    CreatedContact.objects.create(job=job, account_id=account.pk, contact_id=contact.pk)


def _rows_by_table(account_id: int) -> dict[str, int]:
    with connection.cursor() as cursor:
        counts = {}
        for table in SHARDED_TABLES:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE account_id = %s", [account_id])
            counts[table] = cursor.fetchone()[0]
        return counts


@pytest.mark.django_db
def test_deleting_an_account_deletes_its_rows_of_every_sharded_table(account, other_account):
    _fill_account(account, "+14155550100")
    _fill_account(other_account, "+14155550101")
    everything = dict.fromkeys(SHARDED_TABLES, 1)
    assert _rows_by_table(account.pk) == everything
    deleted = account.pk
    account.delete()  # sets account.pk to None
    assert _rows_by_table(deleted) == dict.fromkeys(SHARDED_TABLES, 0)
    assert _rows_by_table(other_account.pk) == everything


@pytest.mark.django_db
def test_deleting_a_list_deletes_its_contacts_labels_and_audience_rows(account):
    _fill_account(account, "+14155550100")
    SendingList.objects.get(account=account).delete()
    counts = _rows_by_table(account.pk)
    assert {table: counts[table] for table in SHARDED_TABLES[:4]} == {
        "contacts_sendinglist": 0,
        "contacts_contact": 0,
        "contacts_label": 0,
        "contacts_labelkeycount": 0,
    }
    assert (counts["audiences_staticmember"], counts["audiences_audience_sending_lists"]) == (0, 0)
    assert (counts["audiences_audience"], counts["audiences_labelchange"]) == (1, 1)
