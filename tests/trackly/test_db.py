import pytest
from django.db import connection, transaction

from contacts import importing
from tests.factories import ContactFactory
from trackly.db import lookup_reads, plan_as_lookups

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the settings are PostgreSQL's"
)


def settings_now() -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('jit')")
        return cursor.fetchone()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_lookup_plans_hold_until_the_transaction_ends():
    before = settings_now()
    assert before[0] == "on"
    with transaction.atomic():
        plan_as_lookups()
        assert settings_now() == ("off", "off")
    assert settings_now() == before


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_lookup_plans_outside_a_transaction_end_with_their_statement():
    before = settings_now()
    plan_as_lookups()
    assert settings_now() == before


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_lookup_reads_plan_as_lookups_in_a_transaction_that_takes_the_settings_with_it():
    before = settings_now()
    with lookup_reads():
        assert connection.in_atomic_block
        assert settings_now() == ("off", "off")
    assert settings_now() == before


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite's write lock")
@pytest.mark.django_db(transaction=True)
def test_lookup_reads_take_no_transaction_on_sqlite(django_assert_num_queries):
    with django_assert_num_queries(0), lookup_reads():
        assert not connection.in_atomic_block


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_the_import_reads_stored_numbers_without_leaving_its_plans_on_the_connection(
    sending_list,
):
    # A pooler in transaction mode would hand the connection, settings and all, to another
    # client (docs/scaling.md).
    contact = ContactFactory(sending_list=sending_list)
    before = settings_now()
    store = importing._store_for(sending_list, None)
    assert store.stored_phones([contact.phone_number, "+14155550100"]) == {contact.phone_number}
    assert settings_now() == before


@pytest.mark.skipif(connection.vendor == "postgresql", reason="nothing to tell SQLite")
@pytest.mark.django_db
def test_sqlite_is_told_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        plan_as_lookups()
