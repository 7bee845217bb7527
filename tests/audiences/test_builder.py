import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict
from hypothesis import given
from hypothesis import strategies as st

from audiences.builder import Builder, Group, Row, builder_from_post, builder_from_tree
from audiences.conditions import And, Condition, Not, Op, Or, evaluate, parse, to_text


def test_rows_become_the_seed_audience():
    builder = Builder(
        groups=[
            Group(rows=[Row("ltv_tier", Op.EQ, ["vip"])]),
            Group(rows=[Row("last_purchase_days", Op.EQ, ["90"])]),
        ]
    )
    assert to_text(builder.tree()) == "label:ltv_tier = vip AND label:last_purchase_days = 90"


def test_incomplete_rows_are_left_out():
    builder = Builder(
        groups=[
            Group(rows=[Row("tier", Op.IN, ["gold", "silver"]), Row("", Op.EQ, [])]),
            Group(rows=[Row("source", Op.EQ, [""])]),
            Group(rows=[Row("churned", Op.NOT_EXISTS, ["ignored"])]),
        ]
    )
    assert to_text(builder.tree()) == "label:tier IN [gold, silver] AND label:churned NOT EXISTS"


def test_a_group_of_rows_is_joined_by_the_other_operator():
    builder = Builder(
        join="AND",
        groups=[
            Group(rows=[Row("tier", Op.EQ, ["gold"])]),
            Group(rows=[Row("source", Op.EQ, ["facebook"]), Row("source", Op.EQ, ["google"])]),
        ],
    )
    assert to_text(builder.tree()) == (
        "label:tier = gold AND (label:source = facebook OR label:source = google)"
    )


def test_text_with_one_level_of_groups_becomes_rows():
    tree = parse("tier IN [gold, silver] AND (source = facebook OR NOT source = google)")
    builder = builder_from_tree(tree)
    assert builder.join == "AND"
    assert [[(r.key, r.op, r.values) for r in g.rows] for g in builder.groups] == [
        [("tier", Op.IN, ["gold", "silver"])],
        [("source", Op.EQ, ["facebook"]), ("source", Op.NE, ["google"])],
    ]


def test_deeper_text_is_edited_as_text_only():
    assert builder_from_tree(parse("NOT (a = 1 OR b = 2)")) is None
    assert builder_from_tree(parse("a = 1 AND (b = 2 OR (c = 3 AND d = 4))")) is None
    assert builder_from_tree(None).groups == []


def test_posted_rows_are_read_back():
    data = QueryDict(mutable=True)
    data.update({"join": "OR", "groups": "2", "g0-rows": "1", "g1-rows": "1"})
    data.update({"g0-r0-key": "vip", "g0-r0-op": "EXISTS"})
    data.update({"g1-r0-key": "tier", "g1-r0-op": "NOT IN"})
    data.setlist("g1-r0-value", ["gold", "silver"])
    assert to_text(builder_from_post(data).tree()) == (
        "label:vip EXISTS OR label:tier NOT IN [gold, silver]"
    )


def test_malformed_posts_read_as_empty_or_default():
    data = QueryDict("groups=abc&g0-rows=5&g0-r0-op=LIKE&g0-r0-key=a&g0-r0-value=1")
    assert builder_from_post(data).tree() is None
    data = QueryDict("groups=1&g0-rows=1&g0-r0-op=LIKE&g0-r0-key=a&g0-r0-value=1")
    assert to_text(builder_from_post(data).tree()) == "label:a = 1"
    assert builder_from_post(QueryDict("groups=99999&g0-rows=99999")).tree() is None


keys = st.sampled_from(["a", "b", "tier"])
values = st.sampled_from(["x", "y", "two words"])
leaves = st.one_of(
    st.builds(lambda k, v: Condition(k, Op.EQ, (v,)), keys, values),
    st.builds(lambda k, v: Condition(k, Op.NE, (v,)), keys, values),
    st.builds(lambda k: Condition(k, Op.EXISTS), keys),
    st.builds(lambda k, v: Not(Condition(k, Op.EQ, (v,))), keys, values),
)
groups = st.lists(leaves, min_size=2, max_size=3).map(lambda c: Or(tuple(c)))
trees = st.one_of(
    leaves,
    st.lists(st.one_of(leaves, groups), min_size=2, max_size=4).map(lambda c: And(tuple(c))),
)
labels = st.dictionaries(keys, values, max_size=3)


@given(trees, labels)
def test_rows_from_a_tree_mean_the_same_as_the_tree(tree, contact_labels):
    builder = builder_from_tree(tree)
    assert builder is not None
    assert evaluate(builder.tree(), contact_labels) == evaluate(tree, contact_labels)


def test_rows_go_through_the_label_validator():
    builder = builder_from_post(QueryDict("groups=1&g0-rows=1&g0-r0-key=bad key!&g0-r0-op=EXISTS"))
    with pytest.raises(ValidationError) as caught:
        builder.tree()
    assert caught.value.messages == [
        "Label key 'bad key!' may only contain letters, digits, '_' and '-'."
    ]
    assert caught.value.code == "invalid_label_key"
    # Keys and values are trimmed as the validator trims them.
    data = QueryDict("groups=1&g0-rows=1&g0-r0-key= tier &g0-r0-op==&g0-r0-value= gold ")
    assert to_text(builder_from_post(data).tree()) == "label:tier = gold"


def _a_or_b_and_c() -> Builder:
    return builder_from_tree(parse("(a = 1 OR b = 2) AND c = 3"))


def test_the_join_between_groups_switches_without_the_joins_inside_them():
    builder = _a_or_b_and_c()
    builder.toggle_join()
    assert builder.join == "OR"
    assert [group.join for group in builder.groups] == ["OR", "AND"]
    assert to_text(builder.tree()) == "label:a = 1 OR label:b = 2 OR label:c = 3"
    builder.toggle_join()
    assert to_text(builder.tree()) == "(label:a = 1 OR label:b = 2) AND label:c = 3"


def test_a_groups_join_switches_for_that_group_only():
    builder = builder_from_tree(parse("(a = 1 OR b = 2) AND (c = 3 OR d = 4)"))
    builder.toggle_group_join(0)
    assert to_text(builder.tree()) == (
        "label:a = 1 AND label:b = 2 AND (label:c = 3 OR label:d = 4)"
    )
    builder.toggle_group_join(7)
    assert [group.join for group in builder.groups] == ["AND", "OR"]


def test_a_groups_posted_join_is_read_back():
    data = QueryDict(mutable=True)
    data.update({"join": "OR", "groups": "2", "g0-rows": "2", "g0-join": "OR", "g1-rows": "1"})
    data.update({"g0-r0-key": "a", "g0-r0-op": "EXISTS", "g0-r1-key": "b", "g0-r1-op": "EXISTS"})
    data.update({"g1-r0-key": "c", "g1-r0-op": "EXISTS", "g1-join": "nonsense"})
    builder = builder_from_post(data)
    assert [group.join for group in builder.groups] == ["OR", "AND"]
    assert to_text(builder.tree()) == "label:a EXISTS OR label:b EXISTS OR label:c EXISTS"


@given(trees, labels)
def test_switching_the_join_between_groups_keeps_each_groups_meaning(tree, contact_labels):
    builder = builder_from_tree(tree)
    groups_before = [
        evaluate(Builder(groups=[group]).tree(), contact_labels) for group in builder.groups
    ]
    builder.toggle_join()
    groups_after = [
        evaluate(Builder(groups=[group]).tree(), contact_labels) for group in builder.groups
    ]
    assert groups_after == groups_before
    combine = all if builder.join == "AND" else any
    assert evaluate(builder.tree(), contact_labels) == combine(groups_after)
