"""The contacts table's filters (a phone search and a label), applied alike by the table, by
bulk label actions on the contacts a filter matches, and by the jobs that run those actions."""

import re
from collections.abc import Mapping

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from contacts.labels import VALUE_MAX_LENGTH, clean_key
from contacts.models import Contact
from contacts.phones import normalize_phone

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


def saved_filter_contacts(
    contacts: QuerySet[Contact], saved: Mapping[str, object], *, region: str
) -> QuerySet[Contact]:
    """The `contacts` a recorded filter (`q`, `key`, `value` as the table sent them, and
    `list_id`) matches now; none when the filter is not one the table accepts."""
    phone, key, value = (str(saved.get(name) or "").strip() for name in ("q", "key", "value"))
    if len(phone) > PHONE_SEARCH_MAX_LENGTH or len(value) > VALUE_MAX_LENGTH:
        return contacts.none()
    if key:
        try:
            key = clean_key(key)
        except ValidationError:
            return contacts.none()
    if value and not key:
        return contacts.none()
    if saved.get("list_id"):
        contacts = contacts.filter(sending_list_id=saved["list_id"])
    return filter_contacts(contacts, phone=phone, key=key, value=value, region=region)[0]


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
