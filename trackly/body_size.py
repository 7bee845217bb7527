"""How large a request's body is: its declared length, read in one place, and the one error
for a body or a file over its limit (code `payload_too_large`; the API answers it with 413,
the dashboard shows its message)."""

import re

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

_DIGITS = re.compile(r"[0-9]+")


def size_text(n: int) -> str:
    """A number of bytes as people read it: `100 bytes`, `1.0 MB`."""
    return filesizeformat(n).replace("\xa0", " ")


def declared_length(request: HttpRequest) -> int:
    """The body's length as its Content-Length header declares it (0 without one), or raise
    `invalid_content_length` when the header is not a number of bytes."""
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw.strip():
        return 0
    if not _DIGITS.fullmatch(raw.strip()):
        raise ValidationError(
            "The Content-Length header is not a number of bytes.", code="invalid_content_length"
        )
    return int(raw)


def too_large_error(limit: int, size: int | None = None, *, what: str = "file") -> ValidationError:
    """The error for `what` (the file, the request body) over `limit` bytes, with its size when
    known."""
    given = f"The {what} is {size_text(size)}" if size else f"The {what} is too large"
    return ValidationError(f"{given}; the limit is {size_text(limit)}.", code="payload_too_large")
