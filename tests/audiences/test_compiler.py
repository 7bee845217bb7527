"""The audience compiler: exact members for every operator and shape, scope and tenancy, bounded
queries per count, and a differential test against the reference semantics
(`conditions.evaluate`)."""

import contextlib
import datetime
import re
from unittest.mock import patch

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences import compiler
from audiences.compiler import compile_conditions, count_members, members, negation_normal_form
from audiences.conditions import (
    And,
    Condition,
    InAudience,
    Not,
    Op,
    Or,
    evaluate,
    parse,
    replace_audiences,
    to_text,
)
from audiences.models import Audience, StaticMember, count_matching, matching
from contacts.models import Contact, Label
from tests.factories import AccountFactory, ContactFactory, SendingListFactory, label_contact


def _unsubscribe(contact):
    contact.status = Contact.Status.UNSUBSCRIBED
    contact.unsubscribed_at = timezone.now()
    contact.save()
    return contact


@pytest.fixture
def second_list(account):
    return SendingListFactory(account=account, name="Second", phone_number="+14155550200")


@pytest.fixture
def people(sending_list, second_list, other_account):
    """Named contacts of the account (two lists) and of another account with the same labels."""
    other_list = SendingListFactory(account=other_account, name="Theirs")

    def make(sending_list, labels):
        return label_contact(ContactFactory(sending_list=sending_list), labels)

    return {
        "ann": make(sending_list, {"source": "facebook", "tier": "gold"}),
        "bob": make(sending_list, {"source": "google", "tier": "silver"}),
        "cat": make(sending_list, {"source": "Facebook", "Source": "facebook"}),
        "dan": make(sending_list, {}),
        "eve": make(sending_list, {"tier": "gold", "note": "two words"}),
        "fay": _unsubscribe(make(sending_list, {"source": "facebook", "tier": "gold"})),
        "gus": make(second_list, {"source": "facebook", "tier": "bronze"}),
        "out": make(other_list, {"source": "facebook", "tier": "gold", "note": "two words"}),
    }


def names(people, account, text, list_ids=None):
    found = set(members(account, parse(text), list_ids).values_list("pk", flat=True))
    return {name for name, contact in people.items() if contact.pk in found}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source = facebook", {"ann", "gus"}),
        ("label:source == facebook", {"ann", "gus"}),
        ("source != facebook", {"bob", "cat", "dan", "eve"}),
        ("source IN [google, Facebook]", {"bob", "cat"}),
        ("source IN [nobody]", set()),
        ("source NOT IN [google, Facebook]", {"ann", "dan", "eve", "gus"}),
        ("source EXISTS", {"ann", "bob", "cat", "gus"}),
        ("source NOT EXISTS", {"dan", "eve"}),
        ("note = 'two words'", {"eve"}),
        ("note = two", set()),
    ],
)
def test_each_operator_matches_exactly(people, account, text, expected):
    assert names(people, account, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source = facebook AND tier = gold", {"ann"}),
        ("source = facebook OR tier = gold", {"ann", "eve", "gus"}),
        ("NOT source = facebook", {"bob", "cat", "dan", "eve"}),
        ("NOT source != facebook", {"ann", "gus"}),
        ("NOT NOT source = facebook", {"ann", "gus"}),
        ("NOT source EXISTS", {"dan", "eve"}),
        ("NOT source NOT EXISTS", {"ann", "bob", "cat", "gus"}),
        ("NOT tier IN [gold, silver]", {"cat", "dan", "gus"}),
        ("NOT tier NOT IN [gold, silver]", {"ann", "bob", "eve"}),
        ("NOT (source = facebook OR tier = gold)", {"bob", "cat", "dan"}),
        ("NOT (source = facebook AND tier = gold)", {"bob", "cat", "dan", "eve", "gus"}),
        ("(source = facebook OR source = google) AND tier != gold", {"bob", "gus"}),
        ("tier = gold AND (source NOT EXISTS OR NOT (source = facebook))", {"eve"}),
        ("source = facebook AND tier = gold OR source = google", {"ann", "bob"}),
        ("source = google OR tier IN [gold, bronze] OR note EXISTS", {"ann", "bob", "eve", "gus"}),
        ("source = google OR tier != gold", {"bob", "cat", "dan", "gus"}),
        ("(source = facebook AND tier = gold) OR source NOT EXISTS", {"ann", "dan", "eve"}),
        ("tier != gold AND (source = facebook OR Source EXISTS)", {"cat", "gus"}),
        ("NOT (source EXISTS AND NOT (tier = gold OR note EXISTS))", {"ann", "dan", "eve"}),
    ],
)
def test_and_or_not_and_groups_match_exactly(people, account, text, expected):
    assert names(people, account, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source = facebook", {"ann", "gus"}),
        ("Source = facebook", {"cat"}),
        ("source = Facebook", {"cat"}),
        ("SOURCE EXISTS", set()),
        ("Source NOT EXISTS", {"ann", "bob", "dan", "eve", "gus"}),
    ],
)
def test_keys_and_values_are_case_sensitive(people, account, text, expected):
    assert names(people, account, text) == expected


def test_unsubscribed_contacts_never_match(people, account):
    everyone = {"ann", "bob", "cat", "dan", "eve", "gus"}
    assert names(people, account, "") == everyone
    assert "fay" not in names(people, account, "source = facebook AND tier = gold")
    assert "fay" not in names(people, account, "source NOT EXISTS OR source EXISTS")


def test_lists_restrict_the_scope_and_combine_as_a_union(
    people, account, sending_list, second_list
):
    assert names(people, account, "source = facebook", [sending_list.pk]) == {"ann"}
    assert names(people, account, "source = facebook", [second_list.pk]) == {"gus"}
    assert names(people, account, "source = facebook", [sending_list.pk, second_list.pk]) == {
        "ann",
        "gus",
    }
    assert names(people, account, "source NOT EXISTS", [second_list.pk]) == set()


def test_another_accounts_contacts_never_match(people, account, other_account):
    assert "out" not in names(people, account, "source = facebook AND tier = gold")
    assert "out" not in names(people, account, "note = 'two words'")
    assert "out" not in names(people, account, "")
    # From the other account's side, only its own contact matches.
    assert names(people, other_account, "source = facebook AND tier = gold") == {"out"}
    assert names(people, other_account, "source != facebook") == set()


def test_lists_of_another_account_give_no_members(people, account):
    other_list_id = people["out"].sending_list_id
    assert names(people, account, "", [other_list_id]) == set()
    assert names(people, account, "source NOT EXISTS", [other_list_id]) == set()
    assert count_members(account, None, [other_list_id]) == 0


def test_no_conditions_match_every_subscribed_contact_in_scope(people, account, second_list):
    assert compile_conditions(None, account_id=account.pk, today=account.today()) == Q()
    assert count_members(account, None, None) == 6
    assert count_members(account, None, []) == 6
    assert names(people, account, "", [second_list.pk]) == {"gus"}


@pytest.fixture
def shoppers(sending_list):
    """Contacts labelled after the seed's e-commerce strategy."""
    labels = {
        "vip_recent": {"ltv_tier": "vip", "last_purchase_days": "90", "buyer_status": "repeat"},
        "vip_lapsed": {"ltv_tier": "vip", "last_purchase_days": "180"},
        "mid_recent": {"ltv_tier": "mid", "last_purchase_days": "90"},
        "q1_engaged": {"cohort": "2024-Q1", "engagement_level": "high", "buyer_status": "never"},
        "q1_bought": {"cohort": "2024-Q1", "engagement_level": "high", "buyer_status": "once"},
        "q2_engaged": {"cohort": "2024-Q2", "engagement_level": "high", "buyer_status": "never"},
        "promo_once": {"promo_responsive": "true", "buyer_status": "once"},
        "promo_never": {"promo_responsive": "true", "buyer_status": "never"},
        "cold_once": {"promo_responsive": "false", "buyer_status": "once"},
    }
    return {
        name: label_contact(ContactFactory(sending_list=sending_list), contact_labels)
        for name, contact_labels in labels.items()
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ltv_tier=vip AND last_purchase_days=90", {"vip_recent"}),
        ("cohort=2024-Q1 AND engagement_level=high AND buyer_status=never", {"q1_engaged"}),
        ("promo_responsive=true AND buyer_status=once", {"promo_once"}),
    ],
)
def test_the_seeds_example_audiences(shoppers, account, text, expected):
    assert names(shoppers, account, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "source = facebook",
        "source != facebook",
        "(source = facebook OR tier IN [gold, silver]) AND note NOT EXISTS AND NOT tier = bronze",
    ],
)
def test_count_is_one_query(people, account, sending_list, django_assert_num_queries, text):
    node = parse(text)
    with django_assert_num_queries(1):
        count_members(account, node, [sending_list.pk])


# How SQLite takes the unsubscribed contacts away from one condition's labels (the last query
# of the count), told apart by their SQL.
ONE_CONDITION_SHAPES = {
    # A probe of each label's contact.
    "probe": r'NOT EXISTS\(SELECT 1 AS "a" FROM "contacts_contact"',
    # Each label's contact looked up in the list of the unsubscribed contacts.
    "list": r'NOT \("\w+"\."contact_id" IN \(SELECT',
    # All the labels, less the unsubscribed contacts having one.
    "unsubscribed": r"'unsubscribed' AND EXISTS\(SELECT 1 AS \"a\" FROM \"contacts_label\"",
}


@pytest.mark.parametrize(
    ("text", "few_labels", "per_unsubscribed", "shape", "queries"),
    [
        # The count tables bound the labels (3 for source = facebook); few: a probe each.
        ("source = facebook", 5000, 5, "probe", 2),
        ("source = nobody", 5000, 5, "probe", 2),
        ("NOT note EXISTS", 5000, 5, "probe", 2),
        # More than "few": the unsubscribed contacts are counted (1), 3 labels are fewer than 5
        # per unsubscribed contact: the list ...
        ("source = facebook", 0, 5, "list", 3),
        # ... and 3 or more per unsubscribed contact: from the unsubscribed contacts.
        ("source = facebook", 0, 3, "unsubscribed", 3),
        ("NOT source EXISTS", 0, 5, "unsubscribed", 3),
        # The key's count only bounds a typed or text condition: always the list, and the
        # unsubscribed contacts are not counted.
        ("source CONTAINS face", 0, 0, "list", 2),
        ("NOT tier > 5", 0, 0, "list", 2),
    ],
)
def test_one_condition_on_every_list_is_counted_from_the_labels(
    people,
    account,
    django_assert_num_queries,
    monkeypatch,
    text,
    few_labels,
    per_unsubscribed,
    shape,
    queries,
):
    monkeypatch.setattr(compiler, "_FEW_LABELS", few_labels)
    monkeypatch.setattr(compiler, "_LABELS_PER_UNSUBSCRIBED", per_unsubscribed)
    node = parse(text)
    expected = members(account, node, None).count()
    # PostgreSQL chooses the side itself, in one statement.
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else queries) as done:
        assert count_members(account, node, None) == expected
    if connection.vendor == "sqlite":
        count = done.captured_queries[-1]["sql"]
        chosen = [name for name, sql in ONE_CONDITION_SHAPES.items() if re.search(sql, count)]
        assert chosen == [shape], count
        # One statement reads the labels once: their table appears once outside the
        # unsubscribed contacts' side.
        assert count.count('FROM "contacts_label"') == 1 + (shape == "unsubscribed"), count


@pytest.mark.parametrize(
    ("text", "counted"),
    [
        ("source = facebook AND tier = gold", True),
        ("source = facebook AND note NOT EXISTS AND NOT tier > 5", True),
        # No positive condition: no labels to start from.
        ("source != facebook AND note NOT EXISTS", False),
        ("source = facebook OR tier = gold", False),
        ("source = facebook", False),
    ],
)
def test_ands_of_label_conditions_are_counted_from_the_rarest_on_sqlite(text, counted):
    assert compiler._counts_from_the_rarest(negation_normal_form(parse(text))) is counted


def test_trees_with_lists_are_not_counted_from_the_rarest():
    tree = And((parse("source = facebook"), compiler.InLists((1,))))
    assert compiler._counts_from_the_rarest(tree) is False


@pytest.mark.parametrize(
    ("text", "in_list_per_label", "start", "lists", "probes"),
    [
        # source = facebook has 3 labels, tier = gold 3, note EXISTS 1 (the count tables).
        ("source = facebook AND tier = gold", 3, "source", ["tier"], []),
        ("tier = gold AND note EXISTS", 3, "note", ["tier"], []),
        # More labels than 0 per label of the rarest: a probe per label.
        ("source = facebook AND tier = gold", 0, "source", [], ["tier"]),
        # A negative condition is always a probe.
        ("source = facebook AND note NOT EXISTS", 3, "source", [], ["note"]),
    ],
)
def test_an_and_is_counted_from_its_rarest_conditions_labels_on_sqlite(
    people,
    account,
    django_assert_num_queries,
    monkeypatch,
    text,
    in_list_per_label,
    start,
    lists,
    probes,
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's shape")
    monkeypatch.setattr(compiler, "_IN_LIST_PER_LABEL", in_list_per_label)
    node = parse(text)
    expected = members(account, node, None).count()
    leaves = len(negation_normal_form(node).children)
    # The count tables for each condition, then one count that reads no contact row.
    with django_assert_num_queries(leaves + 1) as done:
        assert count_members(account, node, None) == expected
    count = done.captured_queries[-1]["sql"]
    assert count.startswith('SELECT COUNT(*) AS "__count" FROM "contacts_label" WHERE')
    assert f'"contacts_label"."key" = \'{start}\'' in count
    for key in lists:
        assert re.search(rf"\"contact_id\" IN \(SELECT [^)]*\"key\" = '{key}'", count), count
    for key in probes:
        assert re.search(rf"EXISTS\(SELECT 1 AS \"a\" FROM [^)]*\"key\" = '{key}'", count), count
    assert 'JOIN "contacts_contact"' not in count


@pytest.mark.parametrize(
    ("text", "grouped"),
    [
        ("(source = facebook OR tier IN [gold]) AND note NOT EXISTS", True),
        ("source = facebook OR tier > 5", True),
        ("source = facebook OR (tier EXISTS AND note != x)", True),
        ("source = facebook OR NOT (tier EXISTS AND note = x)", False),
        # No OR: subqueries, which PostgreSQL joins.
        ("source = facebook AND tier = gold", False),
        # A contact without any of these labels matches: not in any group.
        ("source != facebook OR tier = gold", False),
        ("NOT (source = facebook AND tier = gold)", False),
    ],
)
def test_trees_with_an_or_are_counted_by_grouping_labels_when_every_member_has_one(text, grouped):
    assert compiler._counts_by_grouping(negation_normal_form(parse(text))) is grouped


def _or_of(conditions: int, last: str) -> str:
    """`source = c0 OR ... OR <last>`: `conditions` conditions, `last` the last of them."""
    return " OR ".join([*(f"source = c{n}" for n in range(conditions - 1)), last])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"({_or_of(70, 'tier = gold')}) AND note NOT EXISTS", {"ann"}),
        (f"({_or_of(70, 'note EXISTS')}) AND tier = gold", {"eve"}),
        (_or_of(90, "tier = bronze"), {"gus"}),
    ],
)
def test_grouped_counts_of_many_conditions(people, account, text, expected):
    assert compiler._counts_by_grouping(negation_normal_form(parse(text))) is True
    assert names(people, account, text) == expected
    assert count_members(account, parse(text), None) == len(expected)


def test_trees_with_lists_are_not_counted_by_grouping():
    # IN AUDIENCE of a dynamic audience, as expanded: its lists are no label.
    tree = Or((parse("source = facebook"), compiler.InLists((1,))))
    assert compiler._counts_by_grouping(tree) is False


@pytest.mark.parametrize(
    "text",
    [
        "(source = facebook OR tier IN [gold, silver]) AND note NOT EXISTS",
        "source = facebook OR (tier EXISTS AND note != x)",
        "(source = google OR note EXISTS) AND (tier = gold OR source != facebook)",
    ],
)
def test_grouped_counts_equal_the_members(people, account, django_assert_num_queries, text):
    node = parse(text)
    expected = members(account, node, None).count()
    with django_assert_num_queries(1):
        assert count_members(account, node, None) == expected


@pytest.mark.parametrize(
    "text",
    [
        "source != facebook",
        "tier NOT IN [gold, silver]",
        "NOT (source = facebook OR tier EXISTS)",
        "source = facebook OR tier NOT IN [gold]",
    ],
)
def test_negative_conditions_compile_to_not_exists_never_not_in(account, text):
    sql = str(members(account, parse(text), None).query).upper()
    assert "NOT (EXISTS(" in sql
    assert " NOT IN (" not in sql


def test_members_are_not_duplicated_by_labels(people, account):
    contacts = members(account, parse("source EXISTS OR tier EXISTS OR note EXISTS"), None)
    pks = list(contacts.values_list("pk", flat=True))
    assert len(pks) == len(set(pks)) == 5
    assert contacts.count() == 5


@pytest.mark.parametrize(
    ("text", "normal_form"),
    [
        ("NOT a = x", "label:a != x"),
        ("NOT NOT a = x", "label:a = x"),
        ("NOT a NOT IN [x, y]", "label:a IN [x, y]"),
        ("NOT (a EXISTS AND b != y)", "label:a NOT EXISTS OR label:b = y"),
        ("NOT (a = x OR NOT (b = y OR c = z))", "label:a != x AND (label:b = y OR label:c = z)"),
        ("a = x AND NOT (b = y OR c = z)", "label:a = x AND label:b != y AND label:c != z"),
    ],
)
def test_negation_normal_form_pushes_not_into_the_operators(text, normal_form):
    assert to_text(negation_normal_form(parse(text))) == normal_form


# ---------------------------------------------------------------------------------------------
# Differential test: the database against the reference semantics
# ---------------------------------------------------------------------------------------------

KEYS = ["a", "b", "c", "A"]
VALUES = ["x", "y", "z", "X", "x y"]

label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=len(KEYS))
# Where a contact lives: (account 0, list 0), (account 0, list 1) or (account 1, its only list).
contact_rows = st.tuples(st.sampled_from([(0, 0), (0, 1), (1, 2)]), st.booleans(), label_sets)

keys = st.sampled_from(KEYS)
leaves = st.one_of(
    st.builds(
        lambda key, op, value: Condition(key, op, (value,)),
        keys,
        st.sampled_from([Op.EQ, Op.NE]),
        st.sampled_from(VALUES),
    ),
    st.builds(
        lambda key, op, values: Condition(key, op, tuple(values)),
        keys,
        st.sampled_from([Op.IN, Op.NOT_IN]),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique=True),
    ),
    st.builds(Condition, keys, st.sampled_from([Op.EXISTS, Op.NOT_EXISTS])),
)


def _group(kind, children):
    flat = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else [child])
    return kind(tuple(flat))


def trees(depth=3):
    """Condition trees at most `depth` levels of groups and NOTs above the leaves."""
    if depth == 0:
        return leaves
    inner = trees(depth - 1)
    return st.one_of(
        leaves,
        st.lists(inner, min_size=2, max_size=3).map(lambda children: _group(And, children)),
        st.lists(inner, min_size=2, max_size=3).map(lambda children: _group(Or, children)),
        inner.map(Not),
    )


# (_FEW_LABELS, _LABELS_PER_UNSUBSCRIBED, _IN_LIST_PER_LABEL): SQLite's counts of one condition
# or an AND of them probe per label, then for more labels use the list of unsubscribed contacts
# or count from the unsubscribed side; the other conditions of an AND are lists or probes.
THRESHOLDS = [(5000, 5, 3), (0, 5, 0), (0, 0, 3)]


@contextlib.contextmanager
def _thresholds(few_labels, per_unsubscribed, in_list_per_label):
    with (
        patch.object(compiler, "_FEW_LABELS", few_labels),
        patch.object(compiler, "_LABELS_PER_UNSUBSCRIBED", per_unsubscribed),
        patch.object(compiler, "_IN_LIST_PER_LABEL", in_list_per_label),
    ):
        yield


@settings(
    max_examples=150,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(contact_rows, min_size=5, max_size=40),
    tree_list=st.lists(trees(), min_size=1, max_size=4),
    scopes=st.lists(st.sets(st.sampled_from([0, 1, 2])), min_size=1, max_size=2),
    thresholds=st.sampled_from(THRESHOLDS),
)
def test_database_agrees_with_the_reference_semantics(db, rows, tree_list, scopes, thresholds):
    # Each example builds its data inside a savepoint and rolls it back.
    with transaction.atomic():
        accounts = [AccountFactory(), AccountFactory()]
        lists = [
            SendingListFactory(account=accounts[0]),
            SendingListFactory(account=accounts[0]),
            SendingListFactory(account=accounts[1]),
        ]
        now = timezone.now()
        contacts = Contact.objects.bulk_create(
            Contact(
                account=accounts[account_index],
                sending_list=lists[list_index],
                phone_number=f"+1555000{number:04d}",
                status="subscribed" if subscribed else "unsubscribed",
                unsubscribed_at=None if subscribed else now,
            )
            for number, ((account_index, list_index), subscribed, _) in enumerate(rows)
        )
        Label.objects.bulk_create(
            Label(account_id=contact.account_id, contact=contact, key=key, value=value)
            for contact, (_, _, labels) in zip(contacts, rows, strict=True)
            for key, value in labels.items()
        )
        for tree in tree_list:
            parsed = parse(to_text(tree))
            assert parsed == tree
            for scope in scopes:
                list_ids = [lists[index].pk for index in sorted(scope)]
                expected = {
                    contact.pk
                    for contact, ((account_index, list_index), subscribed, labels) in zip(
                        contacts, rows, strict=True
                    )
                    if account_index == 0
                    and subscribed
                    and (not scope or list_index in scope)
                    and evaluate(tree, labels)
                }
                found = members(accounts[0], parsed, list_ids).values_list("pk", flat=True)
                assert set(found) == expected, to_text(tree)
                # Every way of counting a single condition, whichever is chosen.
                with _thresholds(*thresholds):
                    assert count_members(accounts[0], parsed, list_ids) == len(expected)
        transaction.set_rollback(True)


# ---------------------------------------------------------------------------------------------
# Numbers, dates and text
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def typed_people(sending_list, other_account):
    """Contacts with number, date and text labels; `today` is the account's date."""
    other_list = SendingListFactory(account=other_account, name="Theirs")
    today = sending_list.account.today()

    def ago(days):
        return str(today - datetime.timedelta(days=days))

    def make(sending_list, labels):
        return label_contact(ContactFactory(sending_list=sending_list), labels)

    return {
        "ann": make(sending_list, {"n": "90", "d": ago(0), "t": "Big Spender"}),
        "bob": make(sending_list, {"n": "007", "d": ago(30), "t": "50% off"}),
        "cat": make(sending_list, {"n": "-2.5", "d": ago(31), "t": "a_b\\c"}),
        "dan": make(sending_list, {"n": "200+", "d": "Jan 15, 2024", "t": "CAFÉ"}),
        "eve": make(sending_list, {"n": "1e5", "d": "2024-02-30"}),
        "fay": make(sending_list, {}),
        "out": make(other_list, {"n": "90", "d": ago(0), "t": "Big Spender"}),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n > 7", {"ann"}),
        ("n >= 7", {"ann", "bob"}),
        ("n < 7", {"cat"}),
        ("n <= 007", {"bob", "cat"}),
        ("n BETWEEN -2.5 AND 7", {"bob", "cat"}),
        ("NOT n > 7", {"bob", "cat", "dan", "eve", "fay"}),
        ("NOT n BETWEEN -3 AND 100", {"dan", "eve", "fay"}),
        ("d WITHIN LAST 30 DAYS", {"ann", "bob"}),
        ("d MORE THAN 30 DAYS AGO", {"cat"}),
        ("NOT d MORE THAN 30 DAYS AGO", {"ann", "bob", "dan", "eve", "fay"}),
        ("d > 2000-01-01", {"ann", "bob", "cat"}),
        ("t CONTAINS spend", {"ann"}),
        ("t CONTAINS %", {"bob"}),
        ("t CONTAINS _", {"cat"}),
        ("t CONTAINS '\\\\c'", {"cat"}),
        ("t STARTS WITH big", {"ann"}),
        ("t ENDS WITH OFF", {"bob"}),
        ("t CONTAINS é", set()),
        ("t CONTAINS café", set()),
        ("t CONTAINS cafÉ", {"dan"}),
        ("NOT t CONTAINS a", {"ann", "bob", "eve", "fay"}),
        ("n > 7 OR t CONTAINS off", {"ann", "bob"}),
        ("n > 7 OR NOT t EXISTS", {"ann", "eve", "fay"}),
    ],
)
def test_typed_and_text_operators_match_exactly(typed_people, account, text, expected):
    assert names(typed_people, account, text) == expected
    assert count_members(account, parse(text), None) == len(expected)


def test_within_last_days_follows_the_accounts_time_zone(sending_list, account):
    # Whatever the hour, one of these zones is already on the next day or still on the
    # previous one compared with UTC: a date matches "today" in its own zone only.
    for time_zone in ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"]:
        account.time_zone = time_zone
        account.save()
        today = account.today()
        contact = label_contact(ContactFactory(sending_list=sending_list), {"d": str(today)})
        tomorrow = label_contact(
            ContactFactory(sending_list=sending_list),
            {"d": str(today + datetime.timedelta(days=1))},
        )
        found = set(members(account, parse("d WITHIN LAST 0 DAYS"), None))
        assert contact in found
        assert tomorrow not in found
        Label.objects.filter(key="d").delete()


@pytest.mark.parametrize(
    ("text", "normal_form"),
    [
        ("NOT a > 5", "NOT label:a > 5"),
        ("NOT (a > 5 OR b CONTAINS x)", "NOT label:a > 5 AND NOT label:b CONTAINS x"),
        ("NOT NOT a WITHIN LAST 3 DAYS", "label:a WITHIN LAST 3 DAYS"),
    ],
)
def test_negation_normal_form_keeps_not_above_typed_conditions(text, normal_form):
    assert to_text(negation_normal_form(parse(text))) == normal_form


def test_comparisons_read_the_typed_columns(account):
    sql = str(members(account, parse("n > 5 AND d WITHIN LAST 3 DAYS"), None).query)
    assert '"value_number" >' in sql
    assert '"value_date" BETWEEN' in sql


TYPED_VALUES = [
    "007", "-0", "0", "0.50", "1e5", "1,000", "200+", "5", "-2.5", "90", "2024-02-29",
    "2023-02-29", "2024-2-3", "abc", "ABC", "a%b", "a_b", "x\\y", "É", "é", "Ab c",
]  # fmt: skip
TIME_ZONES = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Los_Angeles"]
# Dates around today in UTC, which is within a day of today in every account's time zone.
UTC_TODAY = datetime.datetime.now(datetime.UTC).date()
around_today = st.integers(-2, 35).map(lambda days: str(UTC_TODAY - datetime.timedelta(days=days)))
typed_values = st.sampled_from(TYPED_VALUES) | around_today
number_literals = st.sampled_from(["0", "-0", "5", "7", "007", "-2.5", "0.5", "90", "100000"])
date_literals = around_today | st.sampled_from(["2024-02-29", "2000-01-01"])
typed_leaves = st.one_of(
    st.builds(
        lambda key, op, literal: Condition(key, op, (literal,)),
        keys,
        st.sampled_from([Op.LT, Op.LE, Op.GT, Op.GE]),
        number_literals | date_literals,
    ),
    st.builds(
        lambda key, pair: Condition(key, Op.BETWEEN, tuple(pair)),
        keys,
        st.lists(number_literals, min_size=2, max_size=2)
        | st.lists(date_literals, min_size=2, max_size=2),
    ),
    st.builds(
        lambda key, op, days: Condition(key, op, (str(days),)),
        keys,
        st.sampled_from([Op.WITHIN_LAST_DAYS, Op.MORE_THAN_DAYS_AGO]),
        st.integers(0, 32),
    ),
    st.builds(
        lambda key, op, value: Condition(key, op, (value,)),
        keys,
        st.sampled_from([Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH]),
        st.sampled_from(["a", "B", "%", "_", "\\", "b c", "é", "0", "-", "2024"]),
    ),
)


def typed_trees(depth=2):
    if depth == 0:
        return st.one_of(typed_leaves, typed_leaves, leaves)
    inner = typed_trees(depth - 1)
    return st.one_of(
        inner,
        st.lists(inner, min_size=2, max_size=3).map(lambda children: _group(And, children)),
        st.lists(inner, min_size=2, max_size=3).map(lambda children: _group(Or, children)),
        inner.map(Not),
    )


@settings(
    max_examples=120,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    labels=st.lists(
        st.dictionaries(st.sampled_from(KEYS), typed_values, max_size=len(KEYS)),
        min_size=4,
        max_size=25,
    ),
    tree_list=st.lists(typed_trees(), min_size=1, max_size=4),
    time_zone=st.sampled_from(TIME_ZONES),
    thresholds=st.sampled_from(THRESHOLDS),
)
def test_database_agrees_with_the_reference_semantics_on_typed_and_text_conditions(
    db, labels, tree_list, time_zone, thresholds
):
    with transaction.atomic():
        account = AccountFactory(time_zone=time_zone)
        sending_list = SendingListFactory(account=account)
        today = account.today()
        contacts = Contact.objects.bulk_create(
            Contact(account=account, sending_list=sending_list, phone_number=f"+1555000{n:04d}")
            for n in range(len(labels))
        )
        Label.objects.bulk_create(
            Label(account_id=account.pk, contact=contact, key=key, value=value)
            for contact, row in zip(contacts, labels, strict=True)
            for key, value in row.items()
        )
        for tree in tree_list:
            parsed = parse(to_text(tree))
            assert parsed == tree
            expected = {
                contact.pk
                for contact, row in zip(contacts, labels, strict=True)
                if evaluate(tree, row, today=today)
            }
            found = members(account, parsed, None).values_list("pk", flat=True)
            assert set(found) == expected, to_text(tree)
            with _thresholds(*thresholds):
                assert count_members(account, parsed, None) == len(expected)
        transaction.set_rollback(True)


# IN AUDIENCE: a dynamic audience of other conditions and lists, and a static one.

audience_leaves = st.one_of(leaves, st.sampled_from([InAudience("D"), InAudience("S")]))


def audience_trees(depth=2):
    if depth == 0:
        return audience_leaves
    inner = audience_trees(depth - 1)
    return st.one_of(
        audience_leaves,
        st.lists(inner, min_size=2, max_size=3).map(lambda children: _group(And, children)),
        st.lists(inner, min_size=2, max_size=3).map(lambda children: _group(Or, children)),
        inner.map(Not),
    )


@settings(
    max_examples=100,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(st.tuples(contact_rows, st.booleans()), min_size=5, max_size=30),
    dynamic_tree=trees(2),
    dynamic_scope=st.sets(st.sampled_from([0, 1])),
    tree_list=st.lists(audience_trees(), min_size=1, max_size=3),
    scope=st.sets(st.sampled_from([0, 1])),
)
def test_in_audience_agrees_with_the_reference_semantics(
    db, rows, dynamic_tree, dynamic_scope, tree_list, scope
):
    with transaction.atomic():
        accounts = [AccountFactory(), AccountFactory()]
        lists = [
            SendingListFactory(account=accounts[0]),
            SendingListFactory(account=accounts[0]),
            SendingListFactory(account=accounts[1]),
        ]
        now = timezone.now()
        contacts = Contact.objects.bulk_create(
            Contact(
                account=accounts[account_index],
                sending_list=lists[list_index],
                phone_number=f"+1555000{number:04d}",
                status="subscribed" if subscribed else "unsubscribed",
                unsubscribed_at=None if subscribed else now,
            )
            for number, (((account_index, list_index), subscribed, _), _) in enumerate(rows)
        )
        Label.objects.bulk_create(
            Label(account_id=contact.account_id, contact=contact, key=key, value=value)
            for contact, ((_, _, labels), _) in zip(contacts, rows, strict=True)
            for key, value in labels.items()
        )
        dynamic = Audience.objects.create(
            account=accounts[0], name="D", conditions=to_text(dynamic_tree)
        )
        dynamic.sending_lists.set(
            [lists[index] for index in dynamic_scope],
            through_defaults={"account_id": dynamic.account_id},
        )
        static = Audience.objects.create(account=accounts[0], name="S", kind=Audience.Kind.STATIC)
        # A static audience's rows: unsubscribed contacts among them are no members.
        StaticMember.objects.bulk_create(
            StaticMember(audience=static, contact=contact, account=static.account)
            for contact, (((account_index, _), _, _), kept) in zip(contacts, rows, strict=True)
            if kept and account_index == 0
        )
        ids = {"D": dynamic.pk, "S": static.pk}

        def member_of(contact_row, kept):
            (account_index, list_index), subscribed, labels = contact_row
            mine = account_index == 0 and subscribed
            return {
                dynamic.pk: mine
                and (not dynamic_scope or list_index in dynamic_scope)
                and evaluate(dynamic_tree, labels),
                static.pk: mine and kept,
            }

        for tree in tree_list:
            stored = replace_audiences(tree, lambda ref: InAudience(ids[ref.audience]))
            assert parse(to_text(stored)) == stored
            expected = {
                contact.pk
                for contact, (contact_row, kept) in zip(contacts, rows, strict=True)
                if contact_row[0][0] == 0
                and contact_row[1]
                and (not scope or contact_row[0][1] in scope)
                and evaluate(stored, contact_row[2], member_of(contact_row, kept).__getitem__)
            }
            list_ids = [lists[index].pk for index in sorted(scope)]
            found = matching(accounts[0], stored, list_ids).values_list("pk", flat=True)
            assert set(found) == expected, to_text(tree)
            assert count_matching(accounts[0], stored, list_ids) == len(expected)
        transaction.set_rollback(True)
