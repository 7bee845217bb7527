"""Field types the API's resources share: ids and text."""

from collections.abc import Callable
from typing import Annotated

from django.core.exceptions import ValidationError
from ninja import Field
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

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
