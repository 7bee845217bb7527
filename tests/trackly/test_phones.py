import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from trackly.phones import normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "4155551234",
        "(415) 555-1234",
        "415.555.1234",
        "+1 415 555 1234",
        "14155551234",
        "+1 (415) 555-1234",
        "+14155551234",
        "  415-555-1234  ",
    ],
)
def test_the_spec_formats_normalise_to_e164(raw):
    assert normalize_phone(raw) == "+14155551234"


def test_the_region_reads_national_numbers():
    assert normalize_phone("020 7946 0958", "GB") == "+442079460958"
    assert normalize_phone("+44 20 7946 0958", "US") == "+442079460958"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Phone number is empty."),
        ("   ", "Phone number is empty."),
        ("bad", "'bad' is not a valid phone number."),
        ("555-1234", "'555-1234' is not a valid phone number."),
        ("+1415555123", "'+1415555123' is not a valid phone number."),
        ("1" * 65, "Phone number is too long."),
        (None, "Phone number is empty."),
    ],
)
def test_invalid_numbers_are_rejected(raw, message):
    with pytest.raises(ValidationError) as info:
        normalize_phone(raw)
    assert info.value.code == "invalid_phone"
    assert info.value.messages == [message]


@given(st.text(max_size=80))
def test_any_text_either_normalises_or_is_invalid_phone(raw):
    try:
        result = normalize_phone(raw)
    except ValidationError as error:
        result = error.code
    if result != "invalid_phone":
        assert result.startswith("+")
        assert result[1:].isdigit()
        # Normalising is idempotent.
        assert normalize_phone(result) == result


@given(
    st.sampled_from(["415", "212", "310", "646"]),
    st.integers(min_value=200, max_value=999),
    st.integers(min_value=0, max_value=9999),
    st.sampled_from(["{a}{e}{n}", "({a}) {e}-{n}", "{a}.{e}.{n}", "+1 {a} {e} {n}", "1{a}{e}{n}"]),
)
def test_every_accepted_format_gives_the_same_number(area, exchange, number, layout):
    raw = layout.format(a=area, e=exchange, n=f"{number:04d}")
    try:
        expected = normalize_phone(f"+1{area}{exchange}{number:04d}")
    except ValidationError:
        return
    assert normalize_phone(raw) == expected
