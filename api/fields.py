"""Field types the API's resources share: ids and text."""

from typing import Annotated

from ninja import Field

# The largest id the databases store (a signed 64-bit integer); larger ids exist nowhere.
MAX_ID = 2**63 - 1

# An id in a path, a query or a body: larger ones exist nowhere.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


# Text fields of names and descriptions: control characters and lone surrogates are refused
# (PostgreSQL cannot store NUL, and they would break the dashboard's pages).
def check_text(value: str, *, multiline: bool = False) -> str:
    allowed = "\n\r\t" if multiline else ""
    for char in value:
        if (ord(char) < 32 and char not in allowed) or ord(char) == 127:
            raise ValueError("must not contain control characters")
        if 0xD800 <= ord(char) <= 0xDFFF:
            raise ValueError("must be valid Unicode text")
    return value
