"""The one phone normaliser: every phone number entering Trackly passes through here."""

import phonenumbers
from django.core.exceptions import ValidationError

DEFAULT_REGION = "US"
# phonenumbers refuses longer input itself; checking first keeps the message ours.
MAX_INPUT_LENGTH = 64


def normalize_phone(raw: object, region: str = DEFAULT_REGION) -> str:
    """Return `raw` in E.164 form (national numbers read in `region`), or raise `invalid_phone`."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("Phone number is empty.", code="invalid_phone")
    text = raw.strip()
    if len(text) > MAX_INPUT_LENGTH:
        raise ValidationError("Phone number is too long.", code="invalid_phone")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{text!r} is not a valid phone number.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_supported_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS


def display_phone(e164: str, region: str = DEFAULT_REGION) -> str:
    """`e164` as people of `region` write it: the national form for a number of that region,
    the international form for any other; `e164` itself when it cannot be read."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == region:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
