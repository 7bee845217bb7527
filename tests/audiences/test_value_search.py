"""The value search (`catalogue.search_values`) against a plain Python filter over the values,
on either database: the values that start with the text as typed, then those that contain it
in the database's case folding (SQLite's `LIKE` folds ASCII letters; PostgreSQL's `UPPER`, in
this alphabet, folds as Python's `str.upper`). On SQLite the "contains" part reads its
candidates from the trigram index (migration contacts.0008), which must not change the answer."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audiences import catalogue
from contacts.labels import clean_value
from contacts.models import Contact, Label, LabelValueCount
from tests.factories import ContactFactory, label_contact

# LIKE's and FTS's special characters, quotes, letters whose case folds in Unicode but not in
# SQLite's LIKE (é, ж), and the Kelvin sign, which FTS folds to `k` and neither LIKE nor
# UPPER does.
ALPHABET = "aAbBkKzZ09%_\\'\" -éÉжЖ\u212a"


def _valid(value: str) -> bool:
    try:
        return clean_value(value) == value
    except ValidationError:
        return False


values = st.text(alphabet=ALPHABET, min_size=1, max_size=8).filter(_valid)


def _fold(text: str) -> str:
    if connection.vendor == "sqlite":
        return "".join(c.lower() if "A" <= c <= "Z" else c for c in text)
    return text.upper()


def expected(stored: list[str], text: str) -> list[str]:
    starting = sorted(value for value in stored if value.startswith(text))
    containing = sorted(
        value for value in stored if _fold(text) in _fold(value) and not value.startswith(text)
    )
    return starting + containing


def _walk(account, key: str, text: str, limit: int) -> list[str]:
    found, cursor = [], ""
    while True:
        page = catalogue.search_values(account, key, text, limit=limit, cursor=cursor)
        assert not page.cursor_error
        found += [row.value for row in page.values]
        if not page.next_cursor:
            return found
        cursor = page.next_cursor


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(values, min_size=1, max_size=20, unique=True), data=st.data())
@example(batch=["Kelvin", "\u212aelvin", "KELVIN"], data=None)
@example(batch=['say "hi"', 'a""b', "100%", "1_0", "a\\b", "Éclair", "éclair"], data=None)
def test_the_search_is_the_python_filter_over_the_values(db, contact, batch, data):
    account = contact.account
    cases = []
    if data is None:
        cases = ["elv", "kel", '"hi', '""', "%", "0%", "_0", "\\b", "écl", "ÉCL", "Écl"]
    else:
        source = data.draw(st.sampled_from(batch))
        start = data.draw(st.integers(0, len(source) - 1))
        piece = source[start : start + data.draw(st.integers(1, 5))]
        # Some texts as typed, some in another case, some anything at all.
        cases = [piece, piece.swapcase(), data.draw(st.text(ALPHABET, min_size=1, max_size=4))]
    with transaction.atomic():
        contacts = Contact.objects.bulk_create(
            Contact(
                account=account,
                sending_list=contact.sending_list,
                phone_number=f"+1555222{index:04d}",
            )
            for index in range(len(batch))
        )
        Label.objects.bulk_create(
            Label(account_id=account.pk, contact=row, key="k", value=value)
            for row, value in zip(contacts, batch, strict=True)
        )
        for text in cases:
            want = expected(batch, text)
            found = catalogue.search_values(account, "k", text, limit=1000).values
            assert [row.value for row in found] == want, text
            assert _walk(account, "k", text, limit=2) == want, text
        transaction.set_rollback(True)


@pytest.fixture
def customers(account, sending_list):
    for value in ["cus_00beef", "cus_01BEEF", "cus_02bee", "cus_03xbeefx", "other"]:
        label_contact(ContactFactory(sending_list=sending_list), {"customer_id": value})


def test_a_rare_substring_is_found_in_any_ascii_case(account, customers):
    page = catalogue.search_values(account, "customer_id", "beef")
    assert [row.value for row in page.values] == ["cus_00beef", "cus_01BEEF", "cus_03xbeefx"]


def test_the_index_follows_every_change_of_the_values(account, sending_list, customers):
    contact = Label.objects.get(value="cus_00beef").contact
    Label.objects.filter(contact=contact).update(value="cus_00cafe")
    label_contact(ContactFactory(sending_list=sending_list), {"customer_id": "cus_09beef"})
    Label.objects.filter(value="cus_01BEEF").delete()
    search = [row.value for row in catalogue.search_values(account, "customer_id", "beef").values]
    assert search == ["cus_03xbeefx", "cus_09beef"]
    assert [row.value for row in catalogue.search_values(account, "customer_id", "afe").values] == [
        "cus_00cafe"
    ]
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            # Raises when the index and the values it indexes disagree.
            cursor.execute(
                "INSERT INTO labelvaluecount_search (labelvaluecount_search, rank) "
                "VALUES ('integrity-check', 1)"
            )
            cursor.execute("SELECT count(*) FROM labelvaluecount_search")
            assert cursor.fetchone()[0] == LabelValueCount.objects.count()


def test_other_accounts_values_are_not_found(account, customers, other_contact):
    label_contact(other_contact, {"customer_id": "cus_77beef"})
    values = [row.value for row in catalogue.search_values(account, "customer_id", "beef").values]
    assert "cus_77beef" not in values


def test_on_sqlite_the_contains_part_reads_the_trigram_index(account, customers):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's trigram index")
    prefix = Q(value__startswith="beef")
    containing = catalogue._containing(account, "customer_id", "beef", prefix)
    with connection.cursor() as cursor:
        sql, params = containing.query.sql_with_params()
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = [row[-1] for row in cursor.fetchall()]
    assert plan == [
        "SEARCH contacts_labelvaluecount USING INTEGER PRIMARY KEY (rowid=?)",
        "LIST SUBQUERY 1",
        "SCAN s VIRTUAL TABLE INDEX 0:M1",
        "SEARCH v USING INTEGER PRIMARY KEY (rowid=?)",
    ]
    # A text shorter than a trigram has none to look up: the key's values are scanned.
    short = catalogue._containing(account, "customer_id", "be", Q(value__startswith="be"))
    assert "labelvaluecount_search" not in str(short.query)
