"""The one check of free text (names and descriptions) that every face calls: the dashboard's
forms, the API and the admin refuse the same characters with the same message."""

import unicodedata

from django.core.exceptions import ValidationError

# Cc: C0/C1 controls (NUL, tab, newline...); Zl/Zp: line and paragraph separators, which break
# lines like a newline; Cs: lone surrogates, which cannot be stored as UTF-8 at all. PostgreSQL
# cannot store NUL, and the others would break the dashboard's pages.
_CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp", "Cs"})
# A multi-line text (a description) keeps its line breaks and tabs.
_MULTILINE_ALLOWED = frozenset("\n\r\t")


def control_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of `text` that text may not hold, or None."""
    for char in text:
        if multiline and char in _MULTILINE_ALLOWED:
            continue
        if unicodedata.category(char) in _CONTROL_CATEGORIES:
            return char
    return None


def check_text(text: str, *, multiline: bool = False) -> str:
    """Return `text`, or raise `control_character` naming the first character it may not
    hold; `multiline` allows line breaks and tabs."""
    char = control_character(text, multiline=multiline)
    if char is not None:
        raise ValidationError(
            f"The text contains the control character U+{ord(char):04X}.",
            code="control_character",
        )
    return text


def check_multiline_text(text: str) -> str:
    """`check_text` for a text of several lines, such as a description."""
    return check_text(text, multiline=True)


def counted(number: int, singular: str, plural: str = "") -> str:
    """A count with its noun, in the one number format of every page: "1 contact",
    "60,277 contacts" (`plural` when adding an s is wrong)."""
    noun = singular if number == 1 else (plural or f"{singular}s")
    return f"{number:,} {noun}"
