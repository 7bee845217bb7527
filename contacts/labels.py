"""The one label validator: every write path (dashboard, API, import, admin, bulk) uses it."""

import datetime
import re
import string
from collections.abc import Container, Mapping

from django.core.exceptions import ValidationError

from trackly.text import control_character

MAX_LABELS_PER_CONTACT = 50
KEY_MAX_LENGTH = 64
VALUE_MAX_LENGTH = 256

KEY_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{KEY_MAX_LENGTH}}}")


def clean_key(key: object) -> str:
    """Return the key without surrounding white space, or raise `invalid_label_key`."""
    if not isinstance(key, str):
        raise ValidationError("Label key must be text.", code="invalid_label_key")
    key = key.strip()
    if not key:
        raise ValidationError("Label key is empty.", code="invalid_label_key")
    if len(key) > KEY_MAX_LENGTH:
        raise ValidationError(
            f"Label key is {len(key)} characters long; the limit is {KEY_MAX_LENGTH}.",
            code="invalid_label_key",
        )
    if not KEY_PATTERN.fullmatch(key):
        raise ValidationError(
            f"Label key {key!r} may only contain letters, digits, '_' and '-'.",
            code="invalid_label_key",
        )
    return key


def clean_value(value: object) -> str:
    """Return the value without surrounding white space, or raise `invalid_label_value`."""
    if not isinstance(value, str):
        raise ValidationError("Label value must be text.", code="invalid_label_value")
    value = value.strip()
    if not value:
        raise ValidationError("Label value is empty.", code="invalid_label_value")
    if len(value) > VALUE_MAX_LENGTH:
        raise ValidationError(
            f"Label value is {len(value)} characters long; the limit is {VALUE_MAX_LENGTH}.",
            code="invalid_label_value",
        )
    char = control_character(value)
    if char is not None:
        raise ValidationError(
            f"Label value contains the control character U+{ord(char):04X}.",
            code="invalid_label_value",
        )
    return value


def check_label_count(count: int) -> None:
    """Raise `too_many_labels` when a contact would end up with more labels than allowed."""
    if count > MAX_LABELS_PER_CONTACT:
        raise ValidationError(
            f"A contact can have at most {MAX_LABELS_PER_CONTACT} labels; this would make {count}.",
            code="too_many_labels",
        )


def check_new_key(key: str, keys: Container[str]) -> None:
    """Raise `invalid_label_key` when `key` is one of `keys` already: a contact has each key
    once, so a set of labels, a form's rows or a file's columns name each key once."""
    if key in keys:
        raise ValidationError(f"Label key {key!r} is given twice.", code="invalid_label_key")


def clean_label_set(labels: Mapping[object, object]) -> dict[str, str]:
    """Validate every key and value of a set of labels; keys that collide after trimming are
    an error. Not counted: the write counts the labels the contact ends with, under its lock."""
    cleaned: dict[str, str] = {}
    for raw_key, raw_value in labels.items():
        key = clean_key(raw_key)
        check_new_key(key, cleaned)
        cleaned[key] = clean_value(raw_value)
    return cleaned


def clean_labels(labels: Mapping[object, object]) -> dict[str, str]:
    """Validate a whole set of labels, at most `MAX_LABELS_PER_CONTACT` of them."""
    cleaned = clean_label_set(labels)
    check_label_count(len(cleaned))
    return cleaned


# A label value read as a number or as a date (docs/conditions.md, Numbers, dates and text).
# The typed columns of Label compute the same in SQL (contacts.models.NumberOf and DateOf).
NUMBER_PATTERN = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
DATE_PATTERN = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def number_value(value: str) -> float | None:
    """The value as a number when it is one (`90`, `-2.5`, `007`; not `1e5`, `1,000`, `.5`),
    as a double, or None."""
    value = value.strip()
    return float(value) if NUMBER_PATTERN.fullmatch(value) else None


def date_value(value: str) -> datetime.date | None:
    """The value as a date when it is a calendar date written `YYYY-MM-DD` (year 0001 to 9999),
    or None (`2024-02-30`, `2024-2-3`, `Jan 15, 2024`)."""
    match = DATE_PATTERN.fullmatch(value.strip())
    if match is None:
        return None
    try:
        return datetime.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def fold_case(text: str) -> str:
    """`text` with ASCII letters in lower case and every other character as it is: the case
    folding of the text operators (CONTAINS, STARTS WITH, ENDS WITH) on both databases."""
    return text.translate(_ASCII_LOWER)
