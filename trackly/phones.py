"""The one phone normaliser: every phone number entering Trackly passes through here."""

import functools
import re

import phonenumbers
import pycountry
from django.core.exceptions import ValidationError

DEFAULT_REGION = "US"
# phonenumbers refuses longer input itself; checking first keeps the message ours.
MAX_INPUT_LENGTH = 64

# Names people write for a country that ISO 3166 (pycountry) does not know by that name.
COUNTRY_ALIASES = {
    "uk": "GB",
    "u.k.": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "usa": "US",
    "u.s.": "US",
    "u.s.a.": "US",
    "america": "US",
    "united states of america": "US",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "north korea": "KP",
    "vietnam": "VN",
    "laos": "LA",
    "syria": "SY",
    "bolivia": "BO",
    "venezuela": "VE",
    "tanzania": "TZ",
    "moldova": "MD",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "turkey": "TR",
    "holland": "NL",
    "the netherlands": "NL",
    "uae": "AE",
    "taiwan": "TW",
}
# Regions tried for a number that the region it was read with makes doubtful
# (`other_regions`): the most common ones in SMS marketing, and the regions the file names.
LIKELY_REGIONS = (
    "US", "CA", "GB", "IE", "AU", "NZ", "ZA", "NG", "KE", "IN", "PH", "SG", "AE",
    "DE", "FR", "ES", "IT", "NL", "BE", "PT", "BR", "MX",
)  # fmt: skip
_NON_DIGITS = re.compile(r"\D")


def normalize_phone(raw: object, region: str = DEFAULT_REGION, *, name_region: bool = False) -> str:
    """Return `raw` in E.164 form (national numbers read in `region`), or raise `invalid_phone`;
    with `name_region`, the message for an invalid number names the region it was read with."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationError("Phone number is empty.", code="invalid_phone")
    text = raw.strip()
    if len(text) > MAX_INPUT_LENGTH:
        raise ValidationError("Phone number is too long.", code="invalid_phone")
    number = _parse(text, region)
    if number is None or not phonenumbers.is_valid_number(number):
        where = f" (read with region {region})" if name_region else ""
        raise ValidationError(f"{text!r} is not a valid phone number{where}.", code="invalid_phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def is_supported_region(region: str) -> bool:
    return region in phonenumbers.SUPPORTED_REGIONS


# Regions phone numbers know that ISO 3166 (pycountry) does not name.
_REGION_NAMES = {"AC": "Ascension Island", "TA": "Tristan da Cunha", "XK": "Kosovo"}


def region_name(region: str) -> str:
    """The English name of a region (`GB` -> `United Kingdom`), or the code itself."""
    country = pycountry.countries.get(alpha_2=region)
    if country is None:
        return _REGION_NAMES.get(region, region)
    return getattr(country, "common_name", None) or country.name


@functools.cache
def region_choices() -> list[tuple[str, str]]:
    """Every supported phone region as (code, "Name (+calling code)"), in name order: the
    choices of every region picker."""
    return sorted(
        (
            (code, f"{region_name(code)} (+{phonenumbers.country_code_for_region(code)})")
            for code in phonenumbers.SUPPORTED_REGIONS
        ),
        key=lambda choice: choice[1],
    )


@functools.lru_cache(maxsize=1024)
def region_for_country(value: str) -> str | None:
    """The region of a country as a file names it: an ISO 3166 code (`CA`, `CAN`), an English
    name (`Canada`, `United Kingdom`, or a common alias such as `UK`), or a calling code
    (`+44`, `44`; `1` is `US`). None for anything else, or a country phonenumbers does not
    know. Case and surrounding white space do not matter."""
    text = value.strip()
    if not text:
        return None
    if text.upper() in phonenumbers.SUPPORTED_REGIONS:
        return text.upper()
    digits = text.removeprefix("+")
    if digits.isascii() and digits.isdigit() and len(digits) <= 3:
        region = phonenumbers.region_code_for_country_code(int(digits))
    else:
        region = COUNTRY_ALIASES.get(text.lower())
        if region is None:
            try:
                region = pycountry.countries.lookup(text).alpha_2
            except LookupError:
                region = None
    return region if region and is_supported_region(region) else None


@functools.lru_cache(maxsize=256)
def _trunk_prefix(region: str) -> str:
    """The national (trunk) prefix that numbers of `region` are written with in national form
    (`0` in GB and AU), or "" where it is optional by custom (the +1 countries) or absent."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if metadata is None or metadata.country_code == 1:
        return ""
    return metadata.national_prefix or ""


def is_doubtful(text: str, region: str, *, valid: bool) -> bool:
    """Whether `region` makes a number doubtful: written in national form, and not valid there
    (`valid` False) or valid only without the trunk prefix that `region`'s national numbers
    begin with (`905-573-0032` in GB). Cheap: no parsing."""
    text = text.strip()
    if not text or text.startswith("+"):
        return False
    digits = _NON_DIGITS.sub("", text)
    if not digits or digits.startswith("00"):
        return False
    if valid:
        prefix = _trunk_prefix(region)
        return bool(prefix) and not digits.startswith(prefix)
    return True


def other_regions(
    text: str, region: str, *, valid: bool, likely: tuple[str, ...] = ()
) -> list[str]:
    """The regions other than `region` in which a number that `region` makes doubtful
    (`is_doubtful`) would be valid, tried in the order of `likely` then `LIKELY_REGIONS`;
    empty for a number that is not doubtful."""
    if not is_doubtful(text, region, valid=valid):
        return []
    found = []
    for candidate in dict.fromkeys((*likely, *LIKELY_REGIONS)):
        if candidate == region:
            continue
        number = _parse(text.strip(), candidate)
        if number is not None and phonenumbers.is_valid_number(number):
            found.append(candidate)
    return found


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
