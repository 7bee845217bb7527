"""The condition language: parsing, canonical text, JSON trees, limits and reference semantics.

No database and no Django settings are needed: everything here is plain Python.
"""

import dataclasses
import datetime
import json

import pytest
from django.core.exceptions import ValidationError
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from audiences.conditions import (
    MAX_CONDITIONS,
    MAX_DAYS,
    MAX_LIST_VALUES,
    MAX_NESTING_DEPTH,
    MAX_TEXT_LENGTH,
    And,
    Condition,
    ConditionError,
    InAudience,
    Not,
    Op,
    Or,
    evaluate,
    from_json,
    parse,
    quote_value,
    replace_audiences,
    to_json,
    to_text,
)
from contacts.labels import clean_value

CODES = {"invalid_conditions", "invalid_label_key", "invalid_label_value"}


TODAY = datetime.date(2024, 3, 1)
OPS = (
    "=, !=, IN, NOT IN, EXISTS, NOT EXISTS, <, <=, >, >=, BETWEEN, WITHIN LAST DAYS, "
    "MORE THAN DAYS AGO, CONTAINS, STARTS WITH, ENDS WITH"
)


def eq(key, value):
    return Condition(key, Op.EQ, (value,))


def ne(key, value):
    return Condition(key, Op.NE, (value,))


def in_(key, *values):
    return Condition(key, Op.IN, values)


def exists(key):
    return Condition(key, Op.EXISTS)


def parse_error(text):
    with pytest.raises(ConditionError) as info:
        parse(text)
    return info.value


def json_error(data):
    with pytest.raises(ConditionError) as info:
        from_json(data)
    return info.value


# ---------------------------------------------------------------------------------------------
# The seed's examples
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree", "canonical"),
    [
        ("label:source = facebook", eq("source", "facebook"), "label:source = facebook"),
        (
            "label:tier IN [gold, silver]",
            in_("tier", "gold", "silver"),
            "label:tier IN [gold, silver]",
        ),
        ("label:vip EXISTS", exists("vip"), "label:vip EXISTS"),
        (
            "label:churned NOT EXISTS",
            Condition("churned", Op.NOT_EXISTS),
            "label:churned NOT EXISTS",
        ),
        (
            "ltv_tier=vip AND last_purchase_days=90",
            And((eq("ltv_tier", "vip"), eq("last_purchase_days", "90"))),
            "label:ltv_tier = vip AND label:last_purchase_days = 90",
        ),
        (
            "cohort=2024-Q1 AND engagement_level=high AND buyer_status=never",
            And(
                (
                    eq("cohort", "2024-Q1"),
                    eq("engagement_level", "high"),
                    eq("buyer_status", "never"),
                )
            ),
            "label:cohort = 2024-Q1 AND label:engagement_level = high"
            " AND label:buyer_status = never",
        ),
        (
            "promo_responsive=true AND buyer_status=once",
            And((eq("promo_responsive", "true"), eq("buyer_status", "once"))),
            "label:promo_responsive = true AND label:buyer_status = once",
        ),
        ("label:landing = /promo", eq("landing", "/promo"), "label:landing = /promo"),
        ("spend=200+", eq("spend", "200+"), "label:spend = 200+"),
        ("spend_band = 0-50", eq("spend_band", "0-50"), "label:spend_band = 0-50"),
    ],
)
def test_seed_examples_parse_to_the_expected_tree(text, tree, canonical):
    assert parse(text) == tree
    assert to_text(tree) == canonical
    assert parse(canonical) == tree


@pytest.mark.parametrize("text", ["", "   ", " \t\n "])
def test_empty_text_means_no_conditions(text):
    assert parse(text) is None
    assert to_text(None) == ""
    assert to_json(None) is None
    assert from_json(None) is None


# ---------------------------------------------------------------------------------------------
# Reading: precedence, keywords, operators, values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree", "canonical"),
    [
        (
            "a = 1 OR b = 2 AND c = 3",
            Or((eq("a", "1"), And((eq("b", "2"), eq("c", "3"))))),
            "label:a = 1 OR label:b = 2 AND label:c = 3",
        ),
        (
            "(a = 1 OR b = 2) AND c = 3",
            And((Or((eq("a", "1"), eq("b", "2"))), eq("c", "3"))),
            "(label:a = 1 OR label:b = 2) AND label:c = 3",
        ),
        (
            "NOT a = 1 AND b = 2",
            And((Not(eq("a", "1")), eq("b", "2"))),
            "NOT label:a = 1 AND label:b = 2",
        ),
        (
            "NOT (a = 1 AND b = 2)",
            Not(And((eq("a", "1"), eq("b", "2")))),
            "NOT (label:a = 1 AND label:b = 2)",
        ),
        (
            "NOT (a = 1 OR b = 2) OR c EXISTS",
            Or((Not(Or((eq("a", "1"), eq("b", "2")))), exists("c"))),
            "NOT (label:a = 1 OR label:b = 2) OR label:c EXISTS",
        ),
        ("NOT (a = 1)", Not(eq("a", "1")), "NOT label:a = 1"),
        ("not not a exists", Not(Not(exists("a"))), "NOT NOT label:a EXISTS"),
        ("((a = 1))", eq("a", "1"), "label:a = 1"),
        (
            "a = 1 AND (b = 2 AND c = 3)",
            And((eq("a", "1"), eq("b", "2"), eq("c", "3"))),
            "label:a = 1 AND label:b = 2 AND label:c = 3",
        ),
        (
            "(a = 1 OR b = 2) OR (c = 3 OR d = 4)",
            Or((eq("a", "1"), eq("b", "2"), eq("c", "3"), eq("d", "4"))),
            "label:a = 1 OR label:b = 2 OR label:c = 3 OR label:d = 4",
        ),
        (
            "a = 1 OR (b = 2 AND c = 3)",
            Or((eq("a", "1"), And((eq("b", "2"), eq("c", "3"))))),
            "label:a = 1 OR label:b = 2 AND label:c = 3",
        ),
    ],
)
def test_not_binds_tighter_than_and_which_binds_tighter_than_or(text, tree, canonical):
    assert parse(text) == tree
    assert to_text(tree) == canonical


def test_keywords_and_the_label_prefix_are_case_insensitive():
    text = "label:a exists and LABEL:b not exists Or Label:c in [x] AnD d Not In [y]"
    assert parse(text) == Or(
        (
            And((exists("a"), Condition("b", Op.NOT_EXISTS))),
            And((in_("c", "x"), Condition("d", Op.NOT_IN, ("y",)))),
        )
    )
    assert to_text(parse(text)) == (
        "label:a EXISTS AND label:b NOT EXISTS OR label:c IN [x] AND label:d NOT IN [y]"
    )


def test_keys_and_values_are_case_sensitive():
    assert parse("Source = Facebook") == eq("Source", "Facebook")


@pytest.mark.parametrize(
    "text", ["a == 1", "a==1", "a = 1", "a=1", "label:a = 1", "  a\t=\n1  ", "(a = 1)"]
)
def test_equals_is_written_in_several_ways(text):
    assert parse(text) == eq("a", "1")


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("a != 1", ne("a", "1")),
        ("a!=1", ne("a", "1")),
        ("a IN[x,y]", in_("a", "x", "y")),
        ("a not  in\t[ x ,y ]", Condition("a", Op.NOT_IN, ("x", "y"))),
        ("NOT(a EXISTS)", Not(exists("a"))),
        ("a EXISTS AND(b EXISTS)", And((exists("a"), exists("b")))),
    ],
)
def test_operators_need_no_surrounding_space_where_punctuation_separates(text, tree):
    assert parse(text) == tree


def test_duplicate_values_in_a_list_keep_their_first_position():
    assert parse("tier IN [gold, silver, gold, bronze, silver]") == in_(
        "tier", "gold", "silver", "bronze"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("k = 'it\\'s'", "it's"),
        ('k = "say \\"hi\\""', 'say "hi"'),
        ('k = "C:\\\\temp"', "C:\\temp"),
        ("k = 'a \" inside'", 'a " inside'),
        ('k = "  padded  "', "padded"),
        ('k = "a, b [c] (d)"', "a, b [c] (d)"),
        ('k = "AND"', "AND"),
        ("k = and", "and"),
        ("k = a=b", "a=b"),
        ("k=a=b", "a=b"),
        ("k = !x", "!x"),
        ("k = a\\b", "a\\b"),
        ("k = label:x", "label:x"),
        ("k = café", "café"),
        ("k = \u0131n", "\u0131n"),
    ],
)
def test_values_may_be_bare_or_quoted(text, value):
    assert parse(text) == eq("k", value)


def test_a_key_that_is_a_keyword_needs_the_label_prefix():
    assert parse("label:and = x") == eq("and", "x")
    assert parse("label:NOT EXISTS") == exists("NOT")
    assert parse("label = x") == eq("label", "x")
    assert parse("label:label = x") == eq("label", "x")
    assert parse_error("and = x").message == "expected a condition at column 1"


# ---------------------------------------------------------------------------------------------
# Canonical text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("vip", "vip"),
        ("/promo", "/promo"),
        ("200+", "200+"),
        ("2024-Q1", "2024-Q1"),
        ("label:x", "label:x"),
        ("café", "café"),
        ("andy", "andy"),
        ("\u0131n", "\u0131n"),
        ("a b", '"a b"'),
        ("a\u00a0b", '"a\u00a0b"'),
        ("x,y", '"x,y"'),
        ("[x]", '"[x]"'),
        ("(x)", '"(x)"'),
        ("it's", '"it\'s"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
        ("a=b", '"a=b"'),
        ("!x", '"!x"'),
        ("and", '"and"'),
        ("Or", '"Or"'),
        ("NOT", '"NOT"'),
        ("in", '"in"'),
        ("Exists", '"Exists"'),
        ("", '""'),
    ],
)
def test_values_are_quoted_only_when_needed(value, printed):
    assert quote_value(value) == printed
    if value:
        assert parse(f"label:k = {printed}") == eq("k", value)


def test_canonical_text_of_every_operator():
    tree = And(
        (
            eq("a", "x"),
            ne("b", "y z"),
            in_("c", "1", "2"),
            Condition("d", Op.NOT_IN, ("3",)),
            exists("e"),
            Condition("f", Op.NOT_EXISTS),
        )
    )
    assert to_text(tree) == (
        'label:a = x AND label:b != "y z" AND label:c IN [1, 2] AND label:d NOT IN [3]'
        " AND label:e EXISTS AND label:f NOT EXISTS"
    )


# ---------------------------------------------------------------------------------------------
# Errors in text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("label:source =", "expected a value after '=' at column 15", 15),
        ("label:a != ", "expected a value after '!=' at column 12", 12),
        ("a ==", "expected a value after '==' at column 5", 5),
        ("label:tier IN [gold, silver", "expected ',' or ']' at column 28", 28),
        ("a IN [x y]", "expected ',' or ']' at column 9", 9),
        ("label:tier IN gold", "expected '[' after IN at column 15", 15),
        ("a NOT IN gold", "expected '[' after NOT IN at column 10", 10),
        ("label:a IN []", "expected a value at column 13", 13),
        ("label:a IN [x,]", "expected a value at column 15", 15),
        ("label:a = 1 foo", "unexpected 'foo' at column 13", 13),
        ("a = 1 b = 2", "unexpected 'b' at column 7", 7),
        ("a = 1)", "unexpected ')' at column 6", 6),
        ('label:a = "abc', "unterminated string starting at column 11", 11),
        ("a IN ['x, y]", "unterminated string starting at column 7", 7),
        ("a = 'x\\", "unterminated string starting at column 5", 5),
        ("(label:a = 1", "expected ')' at column 13", 13),
        ("a = 1 AND\n(b = 2", "expected ')' at column 17", 17),
        ("label:a = 1 AND", "expected a condition at column 16", 16),
        ("a = 1 OR OR b = 2", "expected a condition at column 10", 10),
        (")", "expected a condition at column 1", 1),
        ("[", "expected a condition at column 1", 1),
        ("NOT", "expected a condition at column 4", 4),
        ("()", "expected a condition at column 2", 2),
        (
            "label:a",
            "expected an operator (=, !=, IN, EXISTS, <, >, BETWEEN, WITHIN LAST, CONTAINS, ...)"
            " at column 8",
            8,
        ),
        (
            "a \u0131n [x]",
            "expected an operator (=, !=, IN, EXISTS, <, >, BETWEEN, WITHIN LAST, CONTAINS, ...)"
            " at column 3",
            3,
        ),
        ("label:a NOT = 1", "expected IN or EXISTS after NOT at column 13", 13),
        ("label: = x", "expected a label key after 'label:' at column 7", 7),
        ('a = "x\\q"', "invalid escape '\\q' at column 7 (use \\\", \\' or \\\\)", 7),
        ('a = "\\\n"', "invalid escape at column 6 (use \\\", \\' or \\\\)", 6),
    ],
)
def test_malformed_text_names_what_was_expected_and_where(text, message, column):
    error = parse_error(text)
    assert error.code == "invalid_conditions"
    assert error.message == message
    assert error.column == column


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        (
            "label:bad.key = x",
            "invalid label key 'bad.key' at column 7: "
            "Label key 'bad.key' may only contain letters, digits, '_' and '-'.",
            7,
        ),
        (
            "a = 1 AND b:c EXISTS",
            "invalid label key 'b:c' at column 11: "
            "Label key 'b:c' may only contain letters, digits, '_' and '-'.",
            11,
        ),
        (
            "label:" + "k" * 65 + " EXISTS",
            "invalid label key 'kkkkkkkkkkkkkkkkkkkk…' at column 7: "
            "Label key is 65 characters long; the limit is 64.",
            7,
        ),
        (
            "\x00",
            "invalid label key '\\x00' at column 1: "
            "Label key '\\x00' may only contain letters, digits, '_' and '-'.",
            1,
        ),
    ],
)
def test_a_bad_key_is_an_invalid_label_key(text, message, column):
    error = parse_error(text)
    assert error.code == "invalid_label_key"
    assert error.message == message
    assert error.column == column


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('a = ""', "invalid label value at column 5: Label value is empty."),
        ("a = '   '", "invalid label value at column 5: Label value is empty."),
        (
            'a = "x\ty"',
            "invalid label value at column 5: Label value contains the control character U+0009.",
        ),
        (
            "a = \x00",
            "invalid label value at column 5: Label value contains the control character U+0000.",
        ),
        (
            "a = " + "v" * 257,
            "invalid label value at column 5: "
            "Label value is 257 characters long; the limit is 256.",
        ),
    ],
)
def test_a_bad_value_is_an_invalid_label_value(text, message):
    error = parse_error(text)
    assert error.code == "invalid_label_value"
    assert error.message == message
    assert error.column == 5


@pytest.mark.parametrize("text", [None, 42, b"a = 1", ["a = 1"], {"key": "a"}])
def test_only_text_can_be_parsed(text):
    error = parse_error(text)
    assert error.code == "invalid_conditions"
    assert error.message == "conditions must be text"
    assert error.column is None


def test_condition_error_is_a_validation_error():
    error = parse_error("a =")
    assert isinstance(error, ValidationError)
    assert error.messages == ["expected a value after '=' at column 4"]


# ---------------------------------------------------------------------------------------------
# Limits and pathological input
# ---------------------------------------------------------------------------------------------


def test_text_longer_than_the_limit_is_rejected_before_reading_it():
    error = parse_error("x" * 1_000_000)
    assert error.code == "invalid_conditions"
    assert error.message == "conditions are 1000000 characters long; the limit is 10000"
    assert error.column == MAX_TEXT_LENGTH + 1


def test_text_at_the_length_limit_is_read():
    text = "a EXISTS" + " " * (MAX_TEXT_LENGTH - len("a EXISTS"))
    assert len(text) == MAX_TEXT_LENGTH
    assert parse(text) == exists("a")


def test_ten_thousand_open_parentheses_stop_at_the_nesting_limit():
    error = parse_error("(" * 10_000)
    assert error.message == "conditions are nested too deeply at column 21; the limit is 20 levels"
    assert error.column == 21


def test_ten_thousand_nots_stop_at_the_nesting_limit():
    error = parse_error("NOT " * 2_500)
    assert error.message == "conditions are nested too deeply at column 81; the limit is 20 levels"


def test_nesting_up_to_the_limit_is_accepted():
    assert parse("(" * MAX_NESTING_DEPTH + "a EXISTS" + ")" * MAX_NESTING_DEPTH) == exists("a")
    tree = parse("NOT " * MAX_NESTING_DEPTH + "a EXISTS")
    assert to_text(tree) == "NOT " * MAX_NESTING_DEPTH + "label:a EXISTS"
    assert parse(to_text(tree)) == tree
    assert to_text(parse("NOT (" * 10 + "a EXISTS" + ")" * 10)) == "NOT " * 10 + "label:a EXISTS"
    assert parse_error("NOT (" * 11 + "a EXISTS" + ")" * 11).column == 1 + len("NOT (" * 10)


def test_more_conditions_than_the_limit_are_rejected():
    text = " AND ".join(f"k{i} EXISTS" for i in range(MAX_CONDITIONS))
    assert parse(text) == And(tuple(exists(f"k{i}") for i in range(MAX_CONDITIONS)))
    error = parse_error(text + " AND extra EXISTS")
    assert error.message == f"too many conditions at column {len(text) + 6}; the limit is 100"


def test_a_list_longer_than_the_limit_is_rejected():
    values = ", ".join(f"v{i}" for i in range(MAX_LIST_VALUES))
    assert len(parse(f"a IN [{values}]").values) == MAX_LIST_VALUES
    error = parse_error(f"a IN [{values}, extra]")
    assert error.message == (
        f"too many values in the list at column {len(values) + 9}; the limit is 100"
    )


def test_text_whose_canonical_form_would_be_too_long_is_rejected():
    # Bare backslashes are doubled and quoted when printed.
    text = " AND ".join(f"k{i} = {'\\' * 250}" for i in range(38))
    assert len(text) <= MAX_TEXT_LENGTH
    error = parse_error(text)
    assert error.code == "invalid_conditions"
    assert error.message.startswith("the canonical text of these conditions is ")
    assert error.message.endswith(" characters long; the limit is 10000")


@pytest.mark.parametrize(
    "text",
    [
        '"',
        "'",
        'a = "',
        "a = 'x\" AND b = 'y",
        "a IN [\"x', 'y]",
        "\x00" * 100,
        "a = 1 \x00",
        "[" * 5_000,
        "]" * 5_000,
        "a IN [" * 2_000,
        ",,,,",
        "\\" * 10_000,
        "label:" * 1_000,
        "=" * 10_000,
    ],
)
def test_pathological_text_fails_cleanly(text):
    assert parse_error(text).code in CODES


# ---------------------------------------------------------------------------------------------
# JSON trees
# ---------------------------------------------------------------------------------------------


def test_json_shape_of_each_node():
    tree = parse("a = x AND (b != y OR c IN [1, 2]) AND NOT d EXISTS AND e NOT IN [3]")
    assert to_json(tree) == {
        "and": [
            {"key": "a", "op": "=", "value": "x"},
            {
                "or": [
                    {"key": "b", "op": "!=", "value": "y"},
                    {"key": "c", "op": "IN", "values": ["1", "2"]},
                ]
            },
            {"not": {"key": "d", "op": "EXISTS"}},
            {"key": "e", "op": "NOT IN", "values": ["3"]},
        ]
    }
    assert from_json(to_json(tree)) == tree
    assert from_json(json.loads(json.dumps(to_json(tree)))) == tree


def test_json_trees_are_cleaned_and_normalised():
    data = {
        "and": [
            {"key": " tier ", "op": "IN", "values": ["gold", " silver ", "gold"]},
            {"and": [{"key": "a", "op": "EXISTS"}, {"or": [{"key": "b", "op": "EXISTS"}]}]},
        ]
    }
    assert from_json(data) == And((in_("tier", "gold", "silver"), exists("a"), exists("b")))


@pytest.mark.parametrize(
    ("data", "code", "message", "path"),
    [
        ([], "invalid_conditions", "expected an object at the top level", ""),
        ("a = 1", "invalid_conditions", "expected an object at the top level", ""),
        ({}, "invalid_conditions", "missing field 'key' at the top level", ""),
        ({"foo": 1}, "invalid_conditions", "unknown field 'foo' at the top level", ""),
        ({1: 2}, "invalid_conditions", "field names must be text at the top level", ""),
        ({"and": []}, "invalid_conditions", "expected at least one condition at and", "and"),
        ({"or": {}}, "invalid_conditions", "expected a list at or", "or"),
        ({"not": [1]}, "invalid_conditions", "expected an object at not", "not"),
        (
            {"and": [{"key": "a", "op": "EXISTS"}], "key": "x"},
            "invalid_conditions",
            "'and' cannot be combined with other fields at the top level",
            "",
        ),
        (
            {"and": [{"key": "a", "op": "EXISTS"}, {"key": "b", "op": "LIKE"}]},
            "invalid_conditions",
            f"unknown operator 'LIKE' at and[1].op; expected one of {OPS}",
            "and[1].op",
        ),
        (
            {"key": "a", "op": "in", "values": ["x"]},
            "invalid_conditions",
            f"unknown operator 'in' at op; expected one of {OPS}",
            "op",
        ),
        (
            {"key": "a", "op": None},
            "invalid_conditions",
            f"unknown operator at op; expected one of {OPS}",
            "op",
        ),
        ({"op": "EXISTS"}, "invalid_conditions", "missing field 'key' at the top level", ""),
        ({"key": "a"}, "invalid_conditions", "missing field 'op' at the top level", ""),
        (
            {"not": {"key": "a", "op": "=", "values": ["x"]}},
            "invalid_conditions",
            "unexpected field 'values' for operator '=' at not",
            "not",
        ),
        (
            {"key": "a", "op": "EXISTS", "value": "x"},
            "invalid_conditions",
            "unexpected field 'value' for operator 'EXISTS' at the top level",
            "",
        ),
        (
            {"or": [{"key": "a", "op": "="}]},
            "invalid_conditions",
            "missing field 'value' for operator '=' at or[0]",
            "or[0]",
        ),
        (
            {"key": "a", "op": "IN", "values": "x"},
            "invalid_conditions",
            "expected a list at values",
            "values",
        ),
        (
            {"key": "a", "op": "IN", "values": []},
            "invalid_conditions",
            "expected at least one value at values",
            "values",
        ),
        (
            {"key": "bad.key", "op": "EXISTS"},
            "invalid_label_key",
            "invalid label key at key: "
            "Label key 'bad.key' may only contain letters, digits, '_' and '-'.",
            "key",
        ),
        (
            {"or": [{"key": "a", "op": "EXISTS"}, {"key": 7, "op": "EXISTS"}]},
            "invalid_label_key",
            "invalid label key at or[1].key: Label key must be text.",
            "or[1].key",
        ),
        (
            {"key": "a", "op": "=", "value": 5},
            "invalid_label_value",
            "invalid label value at value: Label value must be text.",
            "value",
        ),
        (
            {"key": "a", "op": "IN", "values": ["x", "\x00"]},
            "invalid_label_value",
            "invalid label value at values[1]: Label value contains the control character U+0000.",
            "values[1]",
        ),
    ],
)
def test_bad_json_trees_name_the_path(data, code, message, path):
    error = json_error(data)
    assert error.code == code
    assert error.message == message
    assert error.path == path


def test_json_limits_match_the_text_limits():
    condition = {"key": "a", "op": "EXISTS"}
    assert json_error({"and": [condition] * (MAX_CONDITIONS + 1)}).message == (
        "too many conditions at and; the limit is 100"
    )
    many = {"and": [{"or": [condition] * 50}, {"or": [condition] * 51}]}
    assert json_error(many).message == "too many conditions at and[1].or[50]; the limit is 100"
    values = [f"v{i}" for i in range(MAX_LIST_VALUES + 1)]
    assert json_error({"key": "a", "op": "IN", "values": values}).message == (
        "too many values at values; the limit is 100"
    )
    data = condition
    for _ in range(MAX_NESTING_DEPTH):
        data = {"not": data}
    assert from_json(data) == parse("NOT " * MAX_NESTING_DEPTH + "a EXISTS")
    assert json_error({"not": data}).message == (
        "conditions are nested too deeply; the limit is 20 levels"
    )


def test_deeply_nested_json_fails_cleanly():
    data = {"key": "a", "op": "EXISTS"}
    for _ in range(10_000):
        data = {"not": data}
    error = json_error(data)
    assert error.code == "invalid_conditions"
    assert error.message.startswith("conditions are nested too deeply at not.not.not.")


def test_self_referencing_json_fails_cleanly():
    data = {"and": []}
    data["and"].append(data)
    assert json_error(data).code == "invalid_conditions"


# ---------------------------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------------------------


def test_nodes_are_immutable_and_hashable():
    tree = parse("a = 1 AND (b = 2 OR NOT c EXISTS)")
    assert hash(tree) == hash(parse("a = 1 AND (b = 2 OR NOT c EXISTS)"))
    assert {tree, parse("label:a = 1 AND (label:b = 2 OR NOT label:c EXISTS)")} == {tree}
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.children = ()


@pytest.mark.parametrize(
    "build",
    [
        lambda: Condition("a", Op.EQ, ()),
        lambda: Condition("a", Op.EQ, ("x", "y")),
        lambda: Condition("a", Op.IN, ()),
        lambda: Condition("a", Op.IN, ("x", "x")),
        lambda: Condition("a", Op.EXISTS, ("x",)),
        lambda: And((exists("a"),)),
        lambda: And((exists("a"), And((exists("b"), exists("c"))))),
        lambda: Or((exists("a"), Or((exists("b"), exists("c"))))),
    ],
)
def test_malformed_trees_cannot_be_built(build):
    with pytest.raises(ValueError, match=r"cannot|needs"):
        build()


# ---------------------------------------------------------------------------------------------
# Reference semantics
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("a = x", {"a": "x"}, True),
        ("a = x", {"a": "X"}, False),
        ("a = x", {}, False),
        ("a != x", {"a": "x"}, False),
        ("a != x", {"a": "y"}, True),
        ("a != x", {}, True),
        ("a IN [x, y]", {"a": "y"}, True),
        ("a IN [x, y]", {}, False),
        ("a NOT IN [x, y]", {"a": "y"}, False),
        ("a NOT IN [x, y]", {"a": "z"}, True),
        ("a NOT IN [x, y]", {}, True),
        ("a EXISTS", {"a": "anything"}, True),
        ("a EXISTS", {"b": "x"}, False),
        ("a NOT EXISTS", {}, True),
        ("a = x AND b = y", {"a": "x", "b": "y"}, True),
        ("a = x AND b = y", {"a": "x"}, False),
        ("a = x OR b = y", {"b": "y"}, True),
        ("NOT a = x", {}, True),
        ("", {}, True),
    ],
)
def test_evaluate_follows_the_spec(text, labels, expected):
    assert evaluate(parse(text), labels) is expected


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------


def _is_clean_value(value):
    try:
        return clean_value(value) == value
    except ValidationError:
        return False


keys = st.from_regex(r"[A-Za-z0-9_-]{1,12}", fullmatch=True) | st.sampled_from(
    ["and", "OR", "not", "In", "exists", "EXISTS", "label", "NOT", "-", "_", "a-b_c"]
)
values = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=12
).filter(_is_clean_value) | st.sampled_from(
    [
        "and", "OR", "Not", "in", "EXISTS", "label:x", '"', "'", "\\", '\\"', "a b", "=", "!=",
        "==", "x,y", "[a]", "(b)", "/promo", "200+", "0-50", "2024-Q1", "é", "\u0131n",
        "a\u00a0b", "日本語", "a\u3000b",
    ]
)  # fmt: skip


def conditions(keys=keys, values=values):
    return st.one_of(
        st.builds(
            lambda key, op, value: Condition(key, op, (value,)),
            keys,
            st.sampled_from([Op.EQ, Op.NE]),
            values,
        ),
        st.builds(
            lambda key, op, items: Condition(key, op, tuple(items)),
            keys,
            st.sampled_from([Op.IN, Op.NOT_IN]),
            st.lists(values, min_size=1, max_size=4, unique=True),
        ),
        st.builds(Condition, keys, st.sampled_from([Op.EXISTS, Op.NOT_EXISTS])),
        typed_conditions(keys, values),
    )


numbers = st.sampled_from(["90", "-2.5", "007", "-0", "0.50", "0"]) | st.from_regex(
    r"-?[0-9]{1,6}(\.[0-9]{1,3})?", fullmatch=True
)
dates = st.dates(datetime.date(1, 1, 1), datetime.date(9999, 12, 31)).map(str)


def typed_conditions(keys=keys, values=values):
    """Conditions with the typed and text operators."""
    literals = numbers | dates
    return st.one_of(
        st.builds(
            lambda key, op, literal: Condition(key, op, (literal,)),
            keys,
            st.sampled_from([Op.LT, Op.LE, Op.GT, Op.GE]),
            literals,
        ),
        st.builds(lambda key, a, b: Condition(key, Op.BETWEEN, (a, b)), keys, numbers, numbers),
        st.builds(lambda key, a, b: Condition(key, Op.BETWEEN, (a, b)), keys, dates, dates),
        st.builds(
            lambda key, op, days: Condition(key, op, (str(days),)),
            keys,
            st.sampled_from([Op.WITHIN_LAST_DAYS, Op.MORE_THAN_DAYS_AGO]),
            st.integers(0, MAX_DAYS),
        ),
        st.builds(
            lambda key, op, value: Condition(key, op, (value,)),
            keys,
            st.sampled_from([Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH]),
            values,
        ),
    )


def group(kind, children):
    """A normalised group: children of the same kind are spliced in."""
    flat = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else [child])
    return kind(tuple(flat))


def trees(leaves, max_leaves=8):
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, min_size=2, max_size=4).map(lambda c: group(And, c)),
            st.lists(inner, min_size=2, max_size=4).map(lambda c: group(Or, c)),
            inner.map(Not),
        ),
        max_leaves=max_leaves,
    )


def nesting(node):
    """Levels of NOT and parentheses in the canonical text, computed independently of the module."""
    if isinstance(node, Condition):
        return 0
    if isinstance(node, Not):
        return 1 + isinstance(node.child, And | Or) + nesting(node.child)
    return max(nesting(c) + (isinstance(node, And) and isinstance(c, Or)) for c in node.children)


@settings(max_examples=300)
@given(trees(conditions()))
def test_canonical_text_and_json_round_trip(tree):
    assume(nesting(tree) <= MAX_NESTING_DEPTH)
    assert parse(to_text(tree)) == tree
    assert from_json(to_json(tree)) == tree
    assert from_json(json.loads(json.dumps(to_json(tree)))) == tree


def _assert_rejected_cleanly(error, *, column=True):
    assert isinstance(error, ConditionError)
    assert error.code in CODES
    if column:
        assert error.column is None or 1 <= error.column <= MAX_TEXT_LENGTH + 1
        assert error.path is None
    else:
        assert error.column is None
        assert isinstance(error.path, str)


def _check_text(text):
    try:
        tree = parse(text)
    except ValidationError as error:
        _assert_rejected_cleanly(error)
    else:
        assert parse(to_text(tree)) == tree
        assert from_json(to_json(tree)) == tree


@settings(max_examples=300)
@given(st.text())
def test_arbitrary_text_never_crashes(text):
    _check_text(text)


grammar_pieces = st.sampled_from(
    [
        "(", ")", "[", "]", ",", "'", '"', "\\", "=", "==", "!=", "!", " ", "\t", "\n", "AND",
        "and", "OR", "NOT", "not", "IN", "in", "EXISTS", "label:", "LABEL:", "k", "tier", "v",
        "gold", "x.y", "\x00", "é", "\u0131", "200+", "/promo", ":", "-",
        "<", "<=", ">", ">=", "=<", "BETWEEN", "between", "WITHIN", "LAST", "DAYS", "AGO",
        "MORE", "THAN", "CONTAINS", "STARTS", "ENDS", "WITH", "90", "-2.5", "1e5", "1,000",
        "2024-03-20", "2024-02-30", "007", "99999999", "3", ".",
    ]
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(grammar_pieces, max_size=30).map("".join))
def test_grammar_like_text_never_crashes(text):
    _check_text(text)


json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
json_fields = st.sampled_from(["key", "op", "value", "values", "days", "and", "or", "not", "x"])
json_like = st.recursive(
    json_scalars
    | st.sampled_from([op.value for op in Op] + ["k", "tier", "bad.key", "", "90", "2024-03-20"])
    | st.builds(dict, key=keys, op=st.sampled_from([op.value for op in Op])),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(json_fields, inner, max_size=4)
        | st.dictionaries(st.text(max_size=3) | st.integers(), inner, max_size=2)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(json_like)
def test_arbitrary_json_never_crashes(data):
    try:
        tree = from_json(data)
    except ValidationError as error:
        _assert_rejected_cleanly(error, column=False)
    else:
        assert from_json(to_json(tree)) == tree
        assert parse(to_text(tree)) == tree


small_keys = st.sampled_from(["a", "b", "c"])
small_values = st.sampled_from(["x", "y", "z"])
small_trees = trees(conditions(small_keys, small_values), max_leaves=5)
small_labels = st.dictionaries(small_keys, small_values)


@settings(max_examples=200)
@given(small_keys, st.lists(small_values, min_size=1, max_size=3, unique=True), small_labels)
def test_negated_operators_are_exactly_not_of_their_positive(key, items, labels):
    value = items[0]
    assert evaluate(ne(key, value), labels) == (not evaluate(eq(key, value), labels))
    assert evaluate(Condition(key, Op.NOT_IN, tuple(items)), labels) == (
        not evaluate(Condition(key, Op.IN, tuple(items)), labels)
    )
    assert evaluate(Condition(key, Op.NOT_EXISTS), labels) == (not evaluate(exists(key), labels))
    assert evaluate(Condition(key, Op.IN, tuple(items)), labels) == any(
        evaluate(eq(key, item), labels) for item in items
    )


@settings(max_examples=200)
@given(small_trees, small_trees, small_labels)
def test_evaluate_obeys_de_morgan(left, right, labels):
    assert evaluate(Not(group(And, [left, right])), labels, today=TODAY) == evaluate(
        group(Or, [Not(left), Not(right)]), labels, today=TODAY
    )
    assert evaluate(Not(group(Or, [left, right])), labels, today=TODAY) == evaluate(
        group(And, [Not(left), Not(right)]), labels, today=TODAY
    )
    assert evaluate(Not(Not(left)), labels, today=TODAY) == evaluate(left, labels, today=TODAY)
    assert evaluate(None, labels) is True


# ---------------------------------------------------------------------------------------------
# Numbers, dates and text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree", "canonical"),
    [
        ("k > 90", Condition("k", Op.GT, ("90",)), "label:k > 90"),
        ("k>=-2.5", Condition("k", Op.GE, ("-2.5",)), "label:k >= -2.5"),
        ("k<007", Condition("k", Op.LT, ("007",)), "label:k < 007"),
        ("k <= '2024-03-20'", Condition("k", Op.LE, ("2024-03-20",)), "label:k <= 2024-03-20"),
        ('k > " 90 "', Condition("k", Op.GT, ("90",)), "label:k > 90"),
        ("k between 1 and 5", Condition("k", Op.BETWEEN, ("1", "5")), "label:k BETWEEN 1 AND 5"),
        (
            "k BETWEEN 2024-01-01 AND 2023-12-31",
            Condition("k", Op.BETWEEN, ("2024-01-01", "2023-12-31")),
            "label:k BETWEEN 2024-01-01 AND 2023-12-31",
        ),
        (
            "last_purchase within last 030 days",
            Condition("last_purchase", Op.WITHIN_LAST_DAYS, ("30",)),
            "label:last_purchase WITHIN LAST 30 DAYS",
        ),
        (
            "last_purchase MORE THAN 90 DAYS AGO",
            Condition("last_purchase", Op.MORE_THAN_DAYS_AGO, ("90",)),
            "label:last_purchase MORE THAN 90 DAYS AGO",
        ),
        ("k WITHIN LAST 0 DAYS", Condition("k", Op.WITHIN_LAST_DAYS, ("0",)), None),
        ("note contains 50%", Condition("note", Op.CONTAINS, ("50%",)), "label:note CONTAINS 50%"),
        (
            "note STARTS WITH 'Big spender'",
            Condition("note", Op.STARTS_WITH, ("Big spender",)),
            'label:note STARTS WITH "Big spender"',
        ),
        (
            "note ends with and",
            Condition("note", Op.ENDS_WITH, ("and",)),
            'label:note ENDS WITH "and"',
        ),
        # The new words are keywords only in an operator's place.
        (
            "contains contains between",
            Condition("contains", Op.CONTAINS, ("between",)),
            "label:contains CONTAINS between",
        ),
        (
            "days >= 5 AND last < 3",
            And((Condition("days", Op.GE, ("5",)), Condition("last", Op.LT, ("3",)))),
            "label:days >= 5 AND label:last < 3",
        ),
        (
            "k BETWEEN 1 AND 2 AND j = x",
            And((Condition("k", Op.BETWEEN, ("1", "2")), Condition("j", Op.EQ, ("x",)))),
            "label:k BETWEEN 1 AND 2 AND label:j = x",
        ),
        ("NOT k > 5", Not(Condition("k", Op.GT, ("5",))), "NOT label:k > 5"),
    ],
)
def test_typed_and_text_conditions_parse_and_print(text, tree, canonical):
    assert parse(text) == tree
    assert to_text(tree) == (canonical or to_text(parse(to_text(tree))))
    assert parse(to_text(tree)) == tree
    assert from_json(to_json(tree)) == tree


def test_json_shape_of_the_typed_and_text_conditions():
    tree = parse(
        "a > 90 AND b BETWEEN 2024-01-01 AND 2024-12-31 AND c WITHIN LAST 30 DAYS "
        "AND d MORE THAN 7 DAYS AGO AND e CONTAINS x AND f STARTS WITH y AND g ENDS WITH z"
    )
    assert to_json(tree) == {
        "and": [
            {"key": "a", "op": ">", "value": "90"},
            {"key": "b", "op": "BETWEEN", "values": ["2024-01-01", "2024-12-31"]},
            {"key": "c", "op": "WITHIN LAST DAYS", "days": 30},
            {"key": "d", "op": "MORE THAN DAYS AGO", "days": 7},
            {"key": "e", "op": "CONTAINS", "value": "x"},
            {"key": "f", "op": "STARTS WITH", "value": "y"},
            {"key": "g", "op": "ENDS WITH", "value": "z"},
        ]
    }
    assert from_json(to_json(tree)) == tree


ANY = "expected a number or a date (like 90, -2.5 or 2024-03-20)"
NUMBER = "expected a number (like 90 or -2.5)"
DATE = "expected a date (like 2024-03-20)"
DAYS = "expected a whole number of days from 0 to 36500 at days"
OPERATOR = "expected an operator (=, !=, IN, EXISTS, <, >, BETWEEN, WITHIN LAST, CONTAINS, ...)"
TOO_MANY, LIMIT = "too many days", "; the limit is 36500"
AGO, CONT, TOP = "operator 'MORE THAN DAYS AGO'", "operator 'CONTAINS'", " at the top level"
AT, AT_1 = "values[1]", "at values[1], not '2024-01-01'"
TEXT, TWO = "Label value must be text.", "expected a list of two values at values"


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("k > 1e5", f"{ANY} at column 5, not '1e5'", 5),
        ("k > 200+", f"{ANY} at column 5, not '200+'", 5),
        ("k < 1,000", f"{ANY} at column 5, not '1,000'", 5),
        ("k < 2024-02-30", f"{ANY} at column 5, not '2024-02-30'", 5),
        ("k < 2024-2-3", f"{ANY} at column 5, not '2024-2-3'", 5),
        ("k < 'Jan 15, 2024'", f"{ANY} at column 5, not 'Jan 15, 2024'", 5),
        ("k >", "expected a number or a date after '>' at column 4", 4),
        ("k BETWEEN 1 AND 2024-01-01", f"{NUMBER} at column 17, not '2024-01-01'", 17),
        ("k BETWEEN 2024-01-01 AND 5", f"{DATE} at column 26, not '5'", 26),
        ("k BETWEEN 1 5", "expected AND after 'BETWEEN 1' at column 13", 13),
        ("k WITHIN 5 DAYS", "expected LAST after WITHIN at column 10", 10),
        ("k WITHIN LAST DAYS", "expected a number of days after 'WITHIN LAST' at column 15", 15),
        ("k WITHIN LAST -1 DAYS", "expected a number of days after 'WITHIN LAST' at column 15", 15),
        ("k WITHIN LAST 5x DAYS", "expected a number of days after 'WITHIN LAST' at column 15", 15),
        ("k WITHIN LAST 36501 DAYS", "too many days at column 15; the limit is 36500", 15),
        ("k WITHIN LAST " + "9" * 5000 + " DAYS", f"{TOO_MANY} at column 15{LIMIT}", 15),
        ("k WITHIN LAST 5", "expected DAYS at column 16", 16),
        ("k MORE THAN 5 DAYS", "expected AGO at column 19", 19),
        ("k MORE 5 DAYS AGO", "expected THAN after MORE at column 8", 8),
        ("k STARTS x", "expected WITH after STARTS at column 10", 10),
        ("k CONTAINS", "expected a value after 'CONTAINS' at column 11", 11),
        ("k LIKE x", f"{OPERATOR} at column 3", 3),
    ],
)  # fmt: skip
def test_typed_conditions_with_a_bad_literal_name_the_column(text, message, column):
    error = parse_error(text)
    assert (error.code, error.messages, error.column) == ("invalid_conditions", [message], column)


@pytest.mark.parametrize(
    ("data", "message", "path"),
    [
        ({"key": "k", "op": ">", "value": "1e5"}, f"{ANY} at value, not '1e5'", "value"),
        ({"key": "k", "op": ">", "value": 90}, f"invalid label value at value: {TEXT}", "value"),
        ({"key": "k", "op": "BETWEEN", "values": ["1"]}, TWO, "values"),
        ({"key": "k", "op": "BETWEEN", "values": ["1", "2024-01-01"]}, f"{NUMBER} {AT_1}", AT),
        ({"key": "k", "op": "WITHIN LAST DAYS", "days": "30"}, DAYS, "days"),
        ({"key": "k", "op": "WITHIN LAST DAYS", "days": True}, DAYS, "days"),
        ({"key": "k", "op": "MORE THAN DAYS AGO", "days": 36501}, DAYS, "days"),
        ({"key": "k", "op": "MORE THAN DAYS AGO"}, f"missing field 'days' for {AGO}{TOP}", ""),
        ({"key": "k", "op": "CONTAINS", "days": 3}, f"unexpected field 'days' for {CONT}{TOP}", ""),
    ],
)  # fmt: skip
def test_bad_typed_json_conditions_name_the_path(data, message, path):
    with pytest.raises(ConditionError) as caught:
        from_json(data)
    error = caught.value
    assert error.messages == [message]
    assert error.path == path


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("k > 90", {"k": "91"}, True),
        ("k > 90", {"k": "90"}, False),
        ("k >= 90", {"k": "90.0"}, True),
        ("k < 10", {"k": "007"}, True),
        ("k = 7", {"k": "007"}, False),
        ("k <= 0", {"k": "-0"}, True),
        ("k > 0.4", {"k": "0.50"}, True),
        ("k > 1", {"k": "1e5"}, False),
        ("NOT k > 1", {"k": "1e5"}, True),
        ("k <= 1", {"k": "1e5"}, False),
        ("k > 1", {"k": "1,000"}, False),
        ("k > 1", {"k": "200+"}, False),
        ("k > 1", {}, False),
        ("NOT k > 1", {}, True),
        ("k > 2024-01-01", {"k": "2024-02-29"}, True),
        ("k > 2024-01-01", {"k": "2023-02-29"}, False),
        ("k > 2024-01-01", {"k": "2024-2-3"}, False),
        ("k > 2024-01-01", {"k": "90"}, False),
        ("k > 5", {"k": "2024-03-20"}, False),
        ("k BETWEEN 1 AND 5", {"k": "5"}, True),
        ("k BETWEEN 1 AND 5", {"k": "1"}, True),
        ("k BETWEEN 1 AND 5", {"k": "5.01"}, False),
        ("k BETWEEN 5 AND 1", {"k": "3"}, False),
        ("k WITHIN LAST 30 DAYS", {"k": "2024-03-01"}, True),
        ("k WITHIN LAST 30 DAYS", {"k": "2024-01-31"}, True),
        ("k WITHIN LAST 30 DAYS", {"k": "2024-01-30"}, False),
        ("k WITHIN LAST 30 DAYS", {"k": "2024-03-02"}, False),
        ("k WITHIN LAST 0 DAYS", {"k": "2024-03-01"}, True),
        ("k MORE THAN 30 DAYS AGO", {"k": "2024-01-30"}, True),
        ("k MORE THAN 30 DAYS AGO", {"k": "2024-01-31"}, False),
        ("k MORE THAN 30 DAYS AGO", {"k": "Jan 15, 2024"}, False),
        ("NOT k MORE THAN 30 DAYS AGO", {"k": "Jan 15, 2024"}, True),
        ("k CONTAINS big", {"k": "A BIG spender"}, True),
        ("k CONTAINS 50%", {"k": "save 50% now"}, True),
        ("k CONTAINS 50%", {"k": "save 500 now"}, False),
        ("k CONTAINS a_b", {"k": "aXb"}, False),
        ("k CONTAINS '\\\\'", {"k": "a\\b"}, True),
        ("k CONTAINS '\\\\'", {"k": "ab"}, False),
        ("k STARTS WITH vip", {"k": "VIP-gold"}, True),
        ("k STARTS WITH gold", {"k": "VIP-gold"}, False),
        ("k ENDS WITH GOLD", {"k": "VIP-gold"}, True),
        # Only ASCII letters fold: É and é are different letters to the text operators.
        ("k CONTAINS é", {"k": "CAFÉ"}, False),
        ("k CONTAINS É", {"k": "CAFÉ"}, True),
    ],
)
def test_evaluate_typed_and_text_conditions(text, labels, expected):
    assert evaluate(parse(text), labels, today=TODAY) is expected


def test_the_days_operators_need_today():
    with pytest.raises(ValueError, match="needs today's date"):
        evaluate(parse("k WITHIN LAST 3 DAYS"), {"k": "2024-01-01"})


@settings(max_examples=300)
@given(trees(typed_conditions(), max_leaves=6))
def test_typed_and_text_conditions_round_trip(tree):
    assume(nesting(tree) <= MAX_NESTING_DEPTH)
    assert parse(to_text(tree)) == tree
    assert to_text(parse(to_text(tree))) == to_text(tree)
    assert from_json(json.loads(json.dumps(to_json(tree)))) == tree


@pytest.mark.parametrize(
    "build",
    [
        lambda: Condition("k", Op.GT, ("1e5",)),
        lambda: Condition("k", Op.GT, ("1", "2")),
        lambda: Condition("k", Op.BETWEEN, ("1", "2024-01-01")),
        lambda: Condition("k", Op.BETWEEN, ("1",)),
        lambda: Condition("k", Op.WITHIN_LAST_DAYS, ("007",)),
        lambda: Condition("k", Op.WITHIN_LAST_DAYS, ("36501",)),
        lambda: Condition("k", Op.CONTAINS, ()),
    ],
)
def test_malformed_typed_conditions_cannot_be_built(build):
    with pytest.raises(ValueError, match="cannot take the values"):
        build()


# ---------------------------------------------------------------------------------------------
# IN AUDIENCE
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree", "canonical"),
    [
        ('IN AUDIENCE "VIP Winback"', InAudience("VIP Winback"), 'IN AUDIENCE "VIP Winback"'),
        ("in audience vips", InAudience("vips"), 'IN AUDIENCE "vips"'),
        ("IN AUDIENCE #12", InAudience(12), "IN AUDIENCE #12"),
        ('IN AUDIENCE "#12"', InAudience("#12"), 'IN AUDIENCE "#12"'),
        ("NOT IN AUDIENCE 'a \"b\"'", Not(InAudience('a "b"')), 'NOT IN AUDIENCE "a \\"b\\""'),
        (
            "tier = gold AND NOT IN AUDIENCE #3",
            And((Condition("tier", Op.EQ, ("gold",)), Not(InAudience(3)))),
            "label:tier = gold AND NOT IN AUDIENCE #3",
        ),
        (
            "(IN AUDIENCE #1 OR IN AUDIENCE #2) AND audience EXISTS",
            And((Or((InAudience(1), InAudience(2))), Condition("audience", Op.EXISTS))),
            "(IN AUDIENCE #1 OR IN AUDIENCE #2) AND label:audience EXISTS",
        ),
    ],
)
def test_in_audience_parses_and_prints(text, tree, canonical):
    assert parse(text) == tree
    assert to_text(tree) == canonical
    assert parse(canonical) == tree


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("IN tier", "expected AUDIENCE after IN at column 4"),
        ("IN AUDIENCE", "expected an audience name after IN AUDIENCE at column 12"),
        ("IN AUDIENCE #0", "not an audience id at column 13"),
        ('IN AUDIENCE ""', "an audience name has 1 to 255 characters (column 13)"),
        ("NOT IN", "expected AUDIENCE after IN at column 7"),
        ("tier IN AUDIENCE x", "expected '[' after IN at column 9"),
    ],
)
def test_malformed_in_audience_names_the_column(text, message):
    with pytest.raises(ConditionError) as raised:
        parse(text)
    assert raised.value.messages == [message]
    assert raised.value.code == "invalid_conditions"


def test_in_audience_as_json():
    tree = And((InAudience(7), Not(InAudience(8))))
    assert to_json(tree) == {
        "and": [
            {"op": "IN AUDIENCE", "audience_id": 7},
            {"not": {"op": "IN AUDIENCE", "audience_id": 8}},
        ]
    }
    assert from_json(to_json(tree)) == tree
    assert from_json({"op": "IN AUDIENCE", "audience": " VIPs "}) == InAudience("VIPs")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"op": "IN AUDIENCE"}, "expected either 'audience_id' or 'audience' at the top level"),
        (
            {"op": "IN AUDIENCE", "audience_id": 1, "audience": "x"},
            "expected either 'audience_id' or 'audience' at the top level",
        ),
        ({"op": "IN AUDIENCE", "audience_id": "1"}, "expected an audience id at audience_id"),
        ({"op": "IN AUDIENCE", "audience_id": True}, "expected an audience id at audience_id"),
        ({"op": "IN AUDIENCE", "audience_id": 0}, "not an audience id at audience_id"),
        (
            {"op": "IN AUDIENCE", "audience": ""},
            "expected an audience name of 1 to 255 characters at audience",
        ),
        (
            {"op": "IN AUDIENCE", "audience_id": 1, "key": "k"},
            "unexpected field 'key' for operator 'IN AUDIENCE' at the top level",
        ),
    ],
)
def test_malformed_in_audience_json_names_the_path(data, message):
    with pytest.raises(ConditionError) as raised:
        from_json(data)
    assert raised.value.messages == [message]


def test_evaluate_asks_member_of_for_in_audience():
    tree = parse("IN AUDIENCE #1 AND NOT IN AUDIENCE #2")
    assert evaluate(tree, {}, {1: True, 2: False}.__getitem__) is True
    assert evaluate(tree, {}, {1: True, 2: True}.__getitem__) is False
    with pytest.raises(ValueError, match="IN AUDIENCE needs member_of"):
        evaluate(tree, {})


audience_refs_strategy = st.one_of(
    st.integers(min_value=1, max_value=2**63 - 1).map(InAudience),
    st.text(min_size=1, max_size=30)
    .map(str.strip)
    .filter(lambda name: 0 < len(name) <= 255)
    .map(InAudience),
)


@settings(max_examples=300)
@given(trees(st.one_of(conditions(small_keys, small_values), audience_refs_strategy)))
def test_trees_with_in_audience_round_trip(tree):
    assume(len(to_text(tree)) <= MAX_TEXT_LENGTH)
    assume(nesting(replace_audiences(tree, lambda _: Condition("k", Op.EXISTS))) <= 20)
    assert parse(to_text(tree)) == tree
    assert from_json(json.loads(json.dumps(to_json(tree)))) == tree


audience_pieces = st.sampled_from(
    ["IN", "in", "NOT", "AUDIENCE", "audience", " ", '"', "'", "#", "12", "#0", "x", "AND", "OR",
     "(", ")", "=", "k", "\\", "#99999999999999999999999", "\u0131n"]
)  # fmt: skip


@settings(max_examples=500)
@given(st.lists(audience_pieces, max_size=20).map("".join))
def test_in_audience_like_text_never_crashes(text):
    _check_text(text)
