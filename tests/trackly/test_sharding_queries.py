"""The main query shapes stay inside one account: every statement that reads or writes a
sharded table names that table's account_id (trackly/sharding.py), so that a distributed
PostgreSQL routes it to the account's shard, and every join between sharded tables is then
within the account."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiences import bulk
from audiences.compiler import count_members, members
from audiences.conditions import parse
from contacts.importing import import_file
from tests.factories import ContactFactory, label_contact
from trackly.models import Job
from trackly.sharding import DISTRIBUTION_COLUMN, SHARDED_TABLES

_KEYWORDS = {
    "where", "on", "set", "left", "right", "inner", "join", "cross", "group", "order", "limit",
    "using", "values", "select", "returning", "offset", "union", "as", "for", "having", "default",
}  # fmt: skip
_TABLE = re.compile(
    r'\b(from|join|into|update)\s+"?('
    + "|".join(SHARDED_TABLES)
    + r')\b"?(?:\s+(?:as\s+)?"?(\w+)"?)?',
    re.IGNORECASE,
)
_INSERT_COLUMNS = re.compile(r"\binsert\s+into\s+\"?(\w+)\"?\s*\(([^)]*)\)", re.IGNORECASE)


def unscoped(sql: str) -> list[str]:
    """The sharded tables of a statement that no account_id of theirs scopes: for a table in a
    statement that names sharded tables several times, a qualified `<alias>.account_id`; for
    the only one, `account_id` anywhere; for an INSERT's table, account_id among its columns."""
    references = [(m.group(1).lower(), m.group(2), m.group(3)) for m in _TABLE.finditer(sql)]
    read = [reference for reference in references if reference[0] != "into"]
    missing = []
    for verb, table, alias in references:
        if verb == "into":
            columns = dict(_INSERT_COLUMNS.findall(sql)).get(table, "")
            if DISTRIBUTION_COLUMN not in columns:
                missing.append(table)
            continue
        name = alias if alias and alias.lower() not in _KEYWORDS else table
        qualified = re.compile(rf'"?{re.escape(name)}"?\s*\.\s*"?{DISTRIBUTION_COLUMN}\b')
        if qualified.search(sql):
            continue
        if len(read) == 1 and DISTRIBUTION_COLUMN in sql:
            continue
        missing.append(table)
    return missing


def test_the_checker_finds_a_join_without_the_account():
    sql = (
        'SELECT c.id FROM "contacts_contact" c JOIN contacts_label l ON l.contact_id = c.id '
        "WHERE c.account_id = 1"
    )
    assert unscoped(sql) == ["contacts_label"]
    assert unscoped(sql.replace("c.id WHERE", "c.id AND l.account_id = c.account_id WHERE")) == []
    assert unscoped("INSERT INTO contacts_labelrecord (job_id, contact_id) SELECT 1, 2") == [
        "contacts_labelrecord"
    ]


def _statements(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries
        if any(table in query["sql"] for table in SHARDED_TABLES)
        and not query["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]


@pytest.fixture
def labelled(account, sending_list):
    contacts = [
        ContactFactory(account=account, sending_list=sending_list, phone_number=phone)
        for phone in ("+14155551234", "+14155551235", "+14155551236")
    ]
    label_contact(contacts[0], {"tier": "gold", "city": "Oslo"})
    label_contact(contacts[1], {"tier": "silver"})
    return contacts


@pytest.mark.django_db
@pytest.mark.parametrize(
    "conditions",
    [
        "tier = gold",
        "tier NOT EXISTS",
        "tier IN [gold, silver] AND NOT city = Oslo",
        "tier = gold OR city EXISTS",
    ],
)
def test_audience_counts_stay_in_the_account(account, labelled, conditions):
    with CaptureQueriesContext(connection) as captured:
        count_members(account, parse(conditions), None)
        list(members(account, parse(conditions), None).values_list("pk", flat=True))
    statements = _statements(captured.captured_queries)
    assert statements
    assert {sql: unscoped(sql) for sql in statements if unscoped(sql)} == {}


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "value"), [(bulk.ADD, "on"), (bulk.REMOVE, "")])
def test_bulk_label_changes_stay_in_the_account(account, labelled, action, value):
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL)
    contacts = members(account, None, None)
    with CaptureQueriesContext(connection) as captured:
        bulk.apply(contacts, account_id=account.pk, action=action, key="tier", value=value,
                   job_id=job.pk)  # fmt: skip
    statements = _statements(captured.captured_queries)
    assert statements
    assert {sql: unscoped(sql) for sql in statements if unscoped(sql)} == {}


@pytest.mark.django_db
def test_an_import_stays_in_the_account(account, sending_list, labelled, tmp_path):
    file = tmp_path / "contacts.csv"
    phone = labelled[0].phone_number
    file.write_text(f"phone,label_tier,label_plan\n{phone},bronze,pro\n+14155551299,gold,free\n")
    job = Job.objects.create(account=account, kind=Job.Kind.IMPORT)
    with CaptureQueriesContext(connection) as captured:
        result = import_file(file, sending_list=sending_list, job_id=job.pk)
    counts = {"created": result.created, "updated": result.updated}
    assert counts == {"created": 1, "updated": 1}
    statements = _statements(captured.captured_queries)
    assert statements
    assert {sql: unscoped(sql) for sql in statements if unscoped(sql)} == {}
