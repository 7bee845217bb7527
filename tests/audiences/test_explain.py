"""Explaining membership: each node's verdict and reason, the checks beside the conditions, the
funnel of an empty audience, and agreement with the SQL members on generated data."""

import dataclasses
import datetime

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences import compiler
from audiences.conditions import Condition, Op, parse, to_text
from audiences.explain import (
    CONDITION_REASONS,
    Facts,
    Reason,
    explain,
    explain_conditions,
    explain_contact,
    explain_phone,
    funnel,
)
from audiences.models import Audience
from contacts.models import Contact
from contacts.services import contact_labels_update
from tests.audiences.test_compiler import contact_rows, trees
from tests.factories import AccountFactory, ContactFactory, SendingListFactory, label_contact


def reason_of(text: str, labels: dict[str, str]) -> tuple[bool, str]:
    step = explain_conditions(parse(text), labels)
    return step.matched, step.reason.text()


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("ltv_tier = vip", {"ltv_tier": "vip"}, (True, "`ltv_tier` is `vip`")),
        (
            "ltv_tier = vip",
            {"ltv_tier": "standard"},
            (False, "`ltv_tier` is `standard`, not `vip`"),
        ),
        ("ltv_tier = vip", {}, (False, "has no `ltv_tier` label")),
        ("ltv_tier != vip", {}, (True, "has no `ltv_tier` label")),
        (
            "ltv_tier != vip",
            {"ltv_tier": "gold"},
            (True, "`ltv_tier` is `gold`, not `vip`"),
        ),
        ("ltv_tier != vip", {"ltv_tier": "vip"}, (False, "`ltv_tier` is `vip`")),
        (
            "tier IN [gold, silver]",
            {"tier": "gold"},
            (True, "`tier` is `gold`, one of `gold`, `silver`"),
        ),
        (
            "tier IN [gold, silver]",
            {"tier": "bronze"},
            (False, "`tier` is `bronze`, not one of `gold`, `silver`"),
        ),
        ("tier IN [gold, silver]", {}, (False, "has no `tier` label")),
        ("tier NOT IN [gold]", {}, (True, "has no `tier` label")),
        ("tier NOT IN [gold]", {"tier": "gold"}, (False, "`tier` is `gold`, one of `gold`")),
        ("churned EXISTS", {"churned": "yes"}, (True, "has `churned` (it is `yes`)")),
        ("churned EXISTS", {}, (False, "has no `churned` label")),
        ("churned NOT EXISTS", {}, (True, "has no `churned` label")),
        ("churned NOT EXISTS", {"churned": "yes"}, (False, "has `churned` (it is `yes`)")),
        ("a = 1 AND b = 2", {"a": "1"}, (False, "1 condition of 2 false")),
        ("a = 1 AND b = 2", {"a": "1", "b": "2"}, (True, "all 2 conditions are true")),
        ("a = 1 OR b = 2 OR c = 3", {"b": "2"}, (True, "1 condition of 3 true")),
        ("a = 1 OR b = 2", {}, (False, "none of the 2 conditions is true")),
        ("NOT a = 1", {}, (True, "the condition inside is false")),
        ("NOT a = 1", {"a": "1"}, (False, "the condition inside is true")),
    ],
)
def test_each_node_says_why_it_is_true_or_false(text, labels, expected):
    assert reason_of(text, labels) == expected


def test_every_operator_has_its_reasons():
    assert set(CONDITION_REASONS) == set(Op)


def test_the_tree_marks_each_condition():
    step = explain_conditions(
        parse("ltv_tier = vip AND (churned NOT EXISTS OR NOT city = Paris)"),
        {"ltv_tier": "standard", "churned": "yes", "city": "Lyon"},
    )
    assert step.as_json() == {
        "kind": "and",
        "text": "label:ltv_tier = vip AND (label:churned NOT EXISTS OR NOT label:city = Paris)",
        "matched": False,
        "reason": "1 condition of 2 false",
        "condition": {
            "and": [
                {"key": "ltv_tier", "op": "=", "value": "vip"},
                {
                    "or": [
                        {"key": "churned", "op": "NOT EXISTS"},
                        {"not": {"key": "city", "op": "=", "value": "Paris"}},
                    ]
                },
            ]
        },
        "children": [
            {
                "kind": "condition",
                "text": "label:ltv_tier = vip",
                "matched": False,
                "reason": "`ltv_tier` is `standard`, not `vip`",
                "condition": {"key": "ltv_tier", "op": "=", "value": "vip"},
                "children": [],
            },
            {
                "kind": "or",
                "text": "label:churned NOT EXISTS OR NOT label:city = Paris",
                "matched": True,
                "reason": "1 condition of 2 true",
                "condition": {
                    "or": [
                        {"key": "churned", "op": "NOT EXISTS"},
                        {"not": {"key": "city", "op": "=", "value": "Paris"}},
                    ]
                },
                "children": [
                    {
                        "kind": "condition",
                        "text": "label:churned NOT EXISTS",
                        "matched": False,
                        "reason": "has `churned` (it is `yes`)",
                        "condition": {"key": "churned", "op": "NOT EXISTS"},
                        "children": [],
                    },
                    {
                        "kind": "not",
                        "text": "NOT label:city = Paris",
                        "matched": True,
                        "reason": "the condition inside is false",
                        "condition": {"not": {"key": "city", "op": "=", "value": "Paris"}},
                        "children": [
                            {
                                "kind": "condition",
                                "text": "label:city = Paris",
                                "matched": False,
                                "reason": "`city` is `Lyon`, not `Paris`",
                                "condition": {"key": "city", "op": "=", "value": "Paris"},
                                "children": [],
                            }
                        ],
                    },
                ],
            },
        ],
    }


def test_an_operator_without_reasons_still_gets_its_verdict(monkeypatch):
    monkeypatch.delitem(CONDITION_REASONS, Op.EQ)
    assert reason_of("a = 1", {"a": "1"}) == (True, "this condition is true")
    assert reason_of("a = 1", {}) == (False, "this condition is false")


def test_an_unknown_node_kind_gets_a_generic_reason(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Always:
        pass

    monkeypatch.setattr("audiences.explain.evaluate", lambda *args, **kwargs: True)
    step = explain_conditions(Always(), {})
    assert (step.kind, step.matched, step.reason.text(), step.text) == (
        "always",
        True,
        "this condition is true",
        "test_an_unknown_node_kind_gets_a_generic_reason.<locals>.Always()",
    )
    assert step.as_json()["condition"] is None


def test_reasons_render_their_terms_as_code_in_html():
    reason = Reason(
        "{key} is {value}, not one of {expected}",
        {
            "key": "k<b>",
            "value": "v&",
            "expected": ("x", "y"),
        },
    )
    assert reason.html() == (
        "<code>k&lt;b&gt;</code> is <code>v&amp;</code>, not one of <code>x</code>, <code>y</code>"
    )


# ---------------------------------------------------------------------------------------------
# Checks beside the conditions
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def second_list(account):
    return SendingListFactory(account=account, name="Second")


def test_an_unsubscribed_contact_is_not_a_member_even_when_its_labels_match(
    account, sending_list, contact
):
    contact.status = Contact.Status.UNSUBSCRIBED
    audience = Audience.objects.create(account=account, name="FB", conditions="source = facebook")
    explanation = explain_contact(audience, contact)
    assert explanation.member is False
    assert [check.as_json() for check in explanation.checks] == [
        {"check": "subscribed", "passed": False, "reason": "unsubscribed"},
        {
            "check": "in_scope",
            "passed": True,
            "reason": "on `Main`; the audience takes every list",
        },
    ]
    assert explanation.conditions_matched is True


def test_a_contact_on_a_list_out_of_scope_is_not_a_member(account, contact, second_list):
    audience = Audience.objects.create(account=account, name="FB", conditions="")
    audience.sending_lists.set([second_list], through_defaults={"account_id": audience.account_id})
    explanation = explain_contact(audience, contact)
    assert explanation.member is False
    assert explanation.checks[1].as_json() == {
        "check": "in_scope",
        "passed": False,
        "reason": "on `Main`, not on a list in scope (`Second`)",
    }
    assert explanation.as_json()["conditions"] is None
    audience.sending_lists.set(
        [contact.sending_list], through_defaults={"account_id": audience.account_id}
    )
    assert explain_contact(audience, contact).checks[1].reason.text() == (
        "on `Main`, a list in scope"
    )
    assert explain_contact(audience, contact).member is True


def test_a_phone_is_explained_for_each_list_it_is_on(account, contact, second_list):
    again = label_contact(
        ContactFactory(sending_list=second_list, phone_number=contact.phone_number),
        {"source": "google"},
    )
    audience = Audience.objects.create(account=account, name="FB", conditions="source = facebook")
    found = explain_phone(audience, "(415) 555-1234")
    assert [(c.pk, e.member) for c, e in found] == [(contact.pk, True), (again.pk, False)]
    assert found[1][1].conditions.reason.text() == "`source` is `google`, not `facebook`"
    assert explain_phone(audience, "+14155550000") == []


def test_a_phone_of_another_account_is_not_found(account, other_contact):
    audience = Audience.objects.create(account=account, name="All", conditions="")
    assert explain_phone(audience, other_contact.phone_number) == []


# ---------------------------------------------------------------------------------------------
# The funnel of an audience
# ---------------------------------------------------------------------------------------------


def test_the_funnel_says_which_condition_removed_everyone(account, sending_list, second_list):
    for labels in ({"tier": "gold"}, {"tier": "gold", "city": "Paris"}, {"tier": "silver"}):
        label_contact(ContactFactory(sending_list=sending_list), labels)
    label_contact(
        ContactFactory(
            sending_list=sending_list, status="unsubscribed", unsubscribed_at="2025-01-01T00:00Z"
        ),
        {"tier": "gold", "city": "Rome"},
    )
    label_contact(ContactFactory(sending_list=second_list), {"tier": "gold", "city": "Rome"})
    node = parse("tier = gold AND city = Rome AND churned NOT EXISTS")
    steps = funnel(account, node, [sending_list.pk])
    assert [(step.kind, step.label.text(), step.contacts) for step in steps] == [
        ("account", "contacts in the account", 5),
        ("subscribed", "subscribed", 4),
        ("scope", "on a list in scope (`Main`)", 3),
        ("condition", "`label:tier = gold`", 2),
        ("condition", "`label:city = Rome`", 0),
    ]
    everything = funnel(account, None, [])
    assert [(step.kind, step.label.text(), step.contacts) for step in everything] == [
        ("account", "contacts in the account", 5),
        ("subscribed", "subscribed", 4),
    ]


def test_the_funnel_is_one_count_per_step(
    account, sending_list, contact, django_assert_num_queries
):
    node = parse("source = facebook AND tier = gold")
    # A count for each of the five steps, and the names of the lists in scope.
    with django_assert_num_queries(6):
        funnel(account, node, [sending_list.pk])


# ---------------------------------------------------------------------------------------------
# Agreement with the SQL members
# ---------------------------------------------------------------------------------------------


@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(contact_rows, min_size=5, max_size=40),
    tree_list=st.lists(st.one_of(st.none(), trees()), min_size=1, max_size=4),
    scopes=st.lists(st.sets(st.sampled_from([0, 1, 2])), min_size=1, max_size=2),
)
def test_explain_agrees_with_the_sql_members_for_every_contact(db, rows, tree_list, scopes):
    # Each example builds its data inside a savepoint and rolls it back.
    with transaction.atomic():
        accounts = [AccountFactory(), AccountFactory()]
        lists = [
            SendingListFactory(account=accounts[0]),
            SendingListFactory(account=accounts[0]),
            SendingListFactory(account=accounts[1]),
        ]
        for number, ((_, list_index), subscribed, labels) in enumerate(rows):
            contact = ContactFactory(
                sending_list=lists[list_index],
                phone_number=f"+1212555{number:04d}",
                status="subscribed" if subscribed else "unsubscribed",
                unsubscribed_at=None if subscribed else "2025-01-01T00:00Z",
            )
            label_contact(contact, labels)
        account = accounts[0]
        contacts = list(Contact.objects.for_account(account).prefetch_related("labels"))
        names = {sl.pk: sl.name for sl in lists[:2]}
        for tree in tree_list:
            for scope in scopes:
                list_ids = [lists[index].pk for index in sorted(scope)]
                in_sql = set(compiler.members(account, tree, list_ids).values_list("pk", flat=True))
                explained = {
                    contact.pk
                    for contact in contacts
                    if explain(
                        tree,
                        list_ids,
                        names,
                        contact,
                        {label.key: label.value for label in contact.labels.all()},
                    ).member
                }
                assert explained == in_sql, (to_text(tree), list_ids)
        transaction.set_rollback(True)


def test_a_condition_without_key_value_is_shown_by_its_text():
    step = explain_conditions(Condition("k", Op.EXISTS), {})
    assert step.text == "label:k EXISTS"


# ---------------------------------------------------------------------------------------------
# Numbers, dates, text and IN AUDIENCE
# ---------------------------------------------------------------------------------------------

TODAY = datetime.date(2026, 12, 2)


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("zip < 100", {"zip": "50"}, (True, "`zip` is `50`")),
        ("zip < 100", {"zip": "200"}, (False, "`zip` is `200`")),
        ("zip < 100", {"zip": "200+"}, (False, "`zip` is `200+`, not a number")),
        ("zip < 100", {}, (False, "has no `zip` label")),
        (
            "seen BETWEEN 2026-01-01 AND 2026-12-31",
            {"seen": "2026-02-30"},
            (False, "`seen` is `2026-02-30`, not a date"),
        ),
        ("seen WITHIN LAST 30 DAYS", {"seen": "2026-11-20"}, (True, "`seen` is `2026-11-20`")),
        (
            "seen WITHIN LAST 30 DAYS",
            {"seen": "Jan 15, 2024"},
            (False, "`seen` is `Jan 15, 2024`, not a date"),
        ),
        ("seen MORE THAN 30 DAYS AGO", {"seen": "2026-11-20"}, (False, "`seen` is `2026-11-20`")),
        ("city CONTAINS par", {"city": "Paris"}, (True, "`city` is `Paris`")),
        ("city ENDS WITH par", {"city": "Paris"}, (False, "`city` is `Paris`")),
    ],
)
def test_typed_and_text_conditions_say_why(text, labels, expected):
    step = explain_conditions(parse(text), labels, Facts(today=TODAY))
    assert (step.matched, step.reason.text()) == expected


def test_in_audience_says_whether_the_contact_is_a_member_by_the_audience_name(
    account, sending_list, contact
):
    vip = Audience.objects.create(account=account, name="VIP", conditions="source = facebook")
    gold = Audience.objects.create(account=account, name="Platinum", conditions="tier = platinum")
    both = Audience.objects.create(
        account=account,
        name="Both",
        conditions=f"IN AUDIENCE #{vip.pk} AND NOT IN AUDIENCE #{gold.pk}",
    )
    explanation = explain_contact(both, contact)
    assert explanation.member is True
    first, second = explanation.conditions.children
    assert (first.kind, first.text, first.matched, first.reason.text()) == (
        "audience",
        'IN AUDIENCE "VIP"',
        True,
        "a member of `VIP`",
    )
    assert (second.text, second.matched) == ('NOT IN AUDIENCE "Platinum"', True)
    assert second.children[0].reason.text() == "not a member of `Platinum`"
    contact_labels_update(contact=contact, labels={"tier": "platinum"})
    assert explain_contact(both, contact).member is False
    steps = funnel(account, both.tree, [])
    assert [(step.label.text(), step.contacts) for step in steps][-2:] == [
        ('`IN AUDIENCE "VIP"`', 1),
        ('`NOT IN AUDIENCE "Platinum"`', 0),
    ]
