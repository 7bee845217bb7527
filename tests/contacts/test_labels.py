import string

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from contacts.labels import (
    MAX_LABELS_PER_CONTACT,
    check_label_count,
    check_new_key,
    clean_key,
    clean_label_set,
    clean_labels,
    clean_value,
)

KEY_CHARS = string.ascii_letters + string.digits + "_-"
keys = st.text(alphabet=KEY_CHARS, min_size=1, max_size=64)
# Printable text with no control, line or paragraph separator characters, nor surrogates.
value_chars = st.characters(blacklist_categories=("Cc", "Zl", "Zp", "Cs"))
values = st.text(alphabet=value_chars, min_size=1, max_size=256).filter(
    lambda v: v == v.strip() and v
)


def outcome_of(validate, value) -> str:
    try:
        validate(value)
    except ValidationError as error:
        return error.code
    return "ok"


def code_of(call) -> str:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.code


@pytest.mark.parametrize("key", ["source", "ltv_tier", "sign-up-date", "A", "x" * 64, "2024"])
def test_valid_keys_are_kept_exactly(key):
    assert clean_key(key) == key


def test_key_case_is_kept():
    assert clean_key("Source") == "Source"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "Label key is empty."),
        ("   ", "Label key is empty."),
        ("x" * 65, "Label key is 65 characters long; the limit is 64."),
        ("bad key", "Label key 'bad key' may only contain letters, digits, '_' and '-'."),
        ("tier.gold", "Label key 'tier.gold' may only contain letters, digits, '_' and '-'."),
        ("café", "Label key 'café' may only contain letters, digits, '_' and '-'."),
        ("a\x00b", "Label key 'a\\x00b' may only contain letters, digits, '_' and '-'."),
        (None, "Label key must be text."),
    ],
)
def test_invalid_keys_are_rejected_with_a_message(key, message):
    with pytest.raises(ValidationError) as info:
        clean_key(key)
    assert info.value.code == "invalid_label_key"
    assert info.value.messages == [message]


def test_keys_are_trimmed_of_surrounding_white_space():
    assert clean_key("  source\t") == "source"


@pytest.mark.parametrize("value", ["/promo", "200+", "0-50", "2024-Q1", "facebook", "Zürich 🎉"])
def test_seed_values_and_non_ascii_values_are_valid(value):
    assert clean_value(value) == value


def test_values_are_trimmed_and_length_is_counted_after_trimming():
    assert clean_value("  gold \n") == "gold"
    assert clean_value(" " + "v" * 256 + " ") == "v" * 256


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Label value is empty."),
        (" \t ", "Label value is empty."),
        ("v" * 257, "Label value is 257 characters long; the limit is 256."),
        ("a\tb", "Label value contains the control character U+0009."),
        ("a\nb", "Label value contains the control character U+000A."),
        ("a\x00b", "Label value contains the control character U+0000."),
        ("a\u2028b", "Label value contains the control character U+2028."),
        ("a\ud800b", "Label value contains the control character U+D800."),
        (5, "Label value must be text."),
    ],
)
def test_invalid_values_are_rejected_with_a_message(value, message):
    with pytest.raises(ValidationError) as info:
        clean_value(value)
    assert info.value.code == "invalid_label_value"
    assert info.value.messages == [message]


def test_fifty_labels_are_allowed_and_fifty_one_are_not():
    check_label_count(MAX_LABELS_PER_CONTACT)
    with pytest.raises(ValidationError) as info:
        check_label_count(51)
    assert info.value.code == "too_many_labels"
    assert info.value.messages == ["A contact can have at most 50 labels; this would make 51."]


def test_clean_labels_rejects_keys_that_collide_after_trimming():
    with pytest.raises(ValidationError) as info:
        clean_labels({"tier": "gold", " tier": "silver"})
    assert info.value.code == "invalid_label_key"
    assert info.value.messages == ["Label key 'tier' is given twice."]


def test_a_key_given_twice_is_refused_with_one_message():
    check_new_key("tier", {"source"})
    with pytest.raises(ValidationError) as info:
        check_new_key("tier", {"source", "tier"})
    assert info.value.code == "invalid_label_key"
    assert info.value.messages == ["Label key 'tier' is given twice."]


def test_clean_label_set_validates_but_leaves_the_count_to_the_write():
    labels = {f" k{n} ": f" v{n} " for n in range(51)}
    assert clean_label_set(labels) == {f"k{n}": f"v{n}" for n in range(51)}
    with pytest.raises(ValidationError) as info:
        clean_label_set({"tier": "gold", "tier ": "silver"})
    assert info.value.messages == ["Label key 'tier' is given twice."]


@given(keys)
def test_every_key_of_allowed_characters_up_to_64_is_valid(key):
    assert clean_key(key) == key


@given(st.text(alphabet=KEY_CHARS, min_size=65, max_size=200))
def test_every_key_over_64_characters_is_invalid(key):
    assert code_of(lambda: clean_key(key)) == "invalid_label_key"


@given(keys, st.characters(blacklist_characters=KEY_CHARS).filter(lambda c: not c.isspace()))
def test_any_other_character_in_a_key_is_invalid(key, char):
    assert code_of(lambda: clean_key(key[:32] + char + key[32:])) == "invalid_label_key"


@given(values, st.text(alphabet=" \t\n\r", max_size=3), st.text(alphabet=" \t\n\r", max_size=3))
def test_valid_values_survive_surrounding_white_space(value, before, after):
    assert clean_value(before + value + after) == value


@given(st.text(alphabet=value_chars, min_size=257, max_size=400).filter(lambda v: v.strip() == v))
def test_every_value_over_256_characters_is_invalid(value):
    assert code_of(lambda: clean_value(value)) == "invalid_label_value"


@given(values, st.characters(whitelist_categories=("Cc", "Zl", "Zp")))
def test_an_inner_control_character_makes_a_value_invalid(value, control):
    assert code_of(lambda: clean_value(value + control + value)) == "invalid_label_value"


@given(st.one_of(st.none(), st.integers(), st.text(), st.binary(), st.lists(st.text())))
def test_the_validators_raise_only_validation_errors(anything):
    for validate, code in ((clean_key, "invalid_label_key"), (clean_value, "invalid_label_value")):
        outcome = outcome_of(validate, anything)
        assert outcome == "ok" or outcome == code


@given(st.dictionaries(keys, values, max_size=60))
def test_clean_labels_accepts_up_to_fifty_labels(labels):
    if len(labels) <= MAX_LABELS_PER_CONTACT:
        assert clean_labels(labels) == labels
    else:
        assert code_of(lambda: clean_labels(labels)) == "too_many_labels"
