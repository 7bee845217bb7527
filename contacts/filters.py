"""The contacts table's filters (a phone search and a label), applied alike by the table, by
bulk label actions on the contacts a filter matches, and by the jobs that run those actions."""

import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from contacts.labels import VALUE_MAX_LENGTH, clean_key
from contacts.models import Contact
from trackly.phones import normalize_phone

# The longest phone search read; a formatted number with an extension fits.
PHONE_SEARCH_MAX_LENGTH = 64
# A phone search that is not a full number needs this many of its digits.
PHONE_SEARCH_MIN_DIGITS = 3
PHONE_SEARCH_TOO_SHORT = "Type a full phone number or at least three of its digits."


def filter_contacts(
    contacts: QuerySet[Contact], *, phone: str = "", key: str = "", value: str = "", region: str
) -> tuple[QuerySet[Contact], str]:
    """The `contacts` matching a phone search and a label, with a hint for the user when the
    phone search matches nothing because it is too short.

    `phone` is a full number in any accepted format (read with `region`) or at least three of
    its digits; `key` (already cleaned) is a label key the contact has, with the value `value`
    when that is given.
    """
    contacts, hint = _search_phone(contacts, phone, region)
    if key:
        contacts = contacts.having_label(key, value.strip() or None)
    return contacts, hint


VALUE_NEEDS_KEY = "Choose a label key to filter by its value."


def clean_filter(*, phone: str, key: str, value: str) -> dict[str, str]:
    """The filter as the table applies it (`q`, `key`, `value`, trimmed, the key cleaned), or a
    `ValidationError` by field naming what the table refuses."""
    phone, key, value = phone.strip(), key.strip(), value.strip()
    errors = {}
    if len(phone) > PHONE_SEARCH_MAX_LENGTH:
        errors["q"] = f"A phone search has at most {PHONE_SEARCH_MAX_LENGTH} characters."
    if len(value) > VALUE_MAX_LENGTH:
        errors["value"] = f"Label value is longer than {VALUE_MAX_LENGTH} characters."
    if key:
        try:
            key = clean_key(key)
        except ValidationError as error:
            errors["key"] = error.messages[0]
    elif value:
        errors["key"] = VALUE_NEEDS_KEY
    if errors:
        raise ValidationError(errors)
    return {"q": phone, "key": key, "value": value}


def saved_filter_contacts(
    contacts: QuerySet[Contact], saved: Mapping[str, object], *, region: str
) -> QuerySet[Contact]:
    """The `contacts` a recorded filter (`q`, `key`, `value` as the table sent them, and
    `list_id`) matches now; none when the filter is not one the table accepts."""
    try:
        chosen = clean_filter(
            **{field: str(saved.get(name) or "") for field, name in _FIELDS.items()}
        )
    except ValidationError:
        return contacts.none()
    if saved.get("list_id"):
        contacts = contacts.filter(sending_list_id=saved["list_id"])
    return filter_contacts(
        contacts, phone=chosen["q"], key=chosen["key"], value=chosen["value"], region=region
    )[0]


# `clean_filter`'s arguments and the table's field names.
_FIELDS = {"phone": "q", "key": "key", "value": "value"}


def _search_phone(
    contacts: QuerySet[Contact], query: str, region: str
) -> tuple[QuerySet[Contact], str]:
    query = query.strip()
    if not query:
        return contacts, ""
    try:
        phone = normalize_phone(query, region)
    except ValidationError:
        digits = re.sub(r"\D", "", query)
        if len(digits) < PHONE_SEARCH_MIN_DIGITS:
            return contacts.none(), PHONE_SEARCH_TOO_SHORT
        return contacts.filter(phone_number__contains=digits), ""
    return contacts.filter(phone_number=phone), ""
