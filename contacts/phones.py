"""The one phone normaliser: every phone number entering Trackly passes through here."""

import functools

import phonenumbers
from django.core.exceptions import ValidationError
from phonenumbers.geocoder import _region_display_name

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


# Regions whose English name phonenumbers' data does not hold.
_REGION_NAMES = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}


@functools.cache
def region_choices() -> list[tuple[str, str]]:
    """Every supported phone region as (code, "Name (+calling code)"), in name order: the
    choices of a region picker."""
    choices = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        name = _REGION_NAMES.get(region) or _region_display_name(region, "en", None, None)
        code = phonenumbers.country_code_for_region(region)
        choices.append((region, f"{name} (+{code})"))
    return sorted(choices, key=lambda choice: choice[1])
