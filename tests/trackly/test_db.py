import pytest
from django.db import connection, transaction

from trackly.db import plan_as_lookups

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
@pytest.mark.django_db
def test_lookup_plans_for_the_session_outlast_the_transaction():
    before = settings_now()
    try:
        plan_as_lookups(session=True)
        with transaction.atomic():
            pass
        assert settings_now() == ("off", "off")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET enable_seqscan; RESET jit")
    assert settings_now() == before


@pytest.mark.skipif(connection.vendor == "postgresql", reason="nothing to tell SQLite")
@pytest.mark.django_db
def test_sqlite_is_told_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        plan_as_lookups()
        plan_as_lookups(session=True)
