"""The one check of names and descriptions (`trackly.text`)."""

import pytest
from django.core.exceptions import ValidationError

from trackly.text import check_multiline_text, check_text


@pytest.mark.parametrize("text", ["Main", "Café ☕ 2025", "", "a b"])
def test_printable_text_passes(text):
    assert check_text(text) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\x00b", "The text contains the control character U+0000."),
        ("a\x07b", "The text contains the control character U+0007."),
        ("a\nb", "The text contains the control character U+000A."),
        ("a\x7fb", "The text contains the control character U+007F."),
        ("a\x85b", "The text contains the control character U+0085."),
        ("a\u2028b", "The text contains the control character U+2028."),
        ("a\ud800b", "The text contains the control character U+D800."),
    ],
)
def test_a_control_character_is_refused_by_name(text, message):
    with pytest.raises(ValidationError) as refused:
        check_text(text)
    assert (refused.value.messages, refused.value.code) == ([message], "control_character")


def test_multiline_text_keeps_line_breaks_and_tabs_only():
    assert check_multiline_text("one\r\ntwo\tthree") == "one\r\ntwo\tthree"
    with pytest.raises(ValidationError, match="U\\+0007"):
        check_multiline_text("one\n\x07")
