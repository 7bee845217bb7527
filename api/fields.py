"""Field types the API's resources share: ids, text and labels."""

from collections.abc import Callable
from typing import Annotated

from django.core.exceptions import ValidationError
from ninja import Field
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from contacts.labels import KEY_MAX_LENGTH, KEY_PATTERN, MAX_LABELS_PER_CONTACT, VALUE_MAX_LENGTH
from trackly.text import check_multiline_text, check_text

# The largest id the databases store (a signed 64-bit integer); larger ids exist nowhere.
MAX_ID = 2**63 - 1

# An id in a path, a query or a body: larger ones exist nowhere.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    # The core check's message, unprefixed, as the request error's message.
    def validate(text: str) -> str:
        try:
            return check(text)
        except ValidationError as error:
            raise PydanticCustomError(error.code or "invalid", error.messages[0]) from None

    return validate


# Names and descriptions: the one text check of the dashboard and the admin (`trackly.text`).
Text = AfterValidator(_checked(check_text))
MultilineText = AfterValidator(_checked(check_multiline_text))


# Label keys, values and sets in the OpenAPI document, with the one label validator's limits
# (`contacts.labels`). Documentation only: the validator checks them, with its own codes and
# messages, so the schemas do not validate.
LABEL_KEY_SCHEMA = {
    "type": "string",
    "pattern": f"^{KEY_PATTERN.pattern}$",
    "minLength": 1,
    "maxLength": KEY_MAX_LENGTH,
}
LABEL_VALUE_SCHEMA = {"type": "string", "minLength": 1, "maxLength": VALUE_MAX_LENGTH}


def labels_schema(*, removable: bool = False) -> dict:
    """The `json_schema_extra` of a field of labels (key to value): a whole label set, or, when
    `removable`, changes in which a null value removes the key (so not limited in number)."""
    if removable:
        values = {"anyOf": [LABEL_VALUE_SCHEMA, {"type": "null"}]}
        return {"propertyNames": LABEL_KEY_SCHEMA, "additionalProperties": values}
    return {
        "propertyNames": LABEL_KEY_SCHEMA,
        "additionalProperties": LABEL_VALUE_SCHEMA,
        "maxProperties": MAX_LABELS_PER_CONTACT,
    }
