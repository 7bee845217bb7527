"""The one CSV import pipeline: a file of phone numbers and labels into one sending list.

The dashboard, the command line and the API all import through `import_file`, directly or as a
job (`import_start`). What it accepts and what it does with each row is documented in
docs/import.md; how it does it:

1. `check_file` reads the whole file once and writes nothing: its size, that it is UTF-8 text
   and well-formed CSV, its header, and how many rows it has (the progress total). A problem
   here rejects the whole file with a `ValidationError` (code `payload_too_large`, `invalid_file`
   or `invalid_header`) before anything is written.
2. The file is then read again as a stream, `chunk_rows` records at a time, so memory stays
   bounded whatever its size; a thread reads one chunk ahead (`_read_ahead`), so that parsing
   overlaps the database's work. Each row is checked with the one phone normaliser and the one
   label validator; a bad row is rejected with its row number and reason, the others go on.
3. Each chunk is one transaction: the chunk's existing contacts are read with their labels,
   the rows are applied in order in Python (`_apply_rows`: every row's outcome, and the labels
   each contact ends with), the contacts whose labels change are locked on PostgreSQL
   (`FOR NO KEY UPDATE`, as `audiences.bulk` locks) and checked to be as they were read, so
   that the 50-label limit holds against concurrent edits, and only the difference is
   written with a few set-based statements (`_PostgresStore`: COPY into a staging table, then
   `INSERT ... SELECT ... ON CONFLICT`; `_SQLiteStore`: `executemany`). A killed import leaves
   whole chunks; importing the same file again completes it, as the rows already applied come
   out "unchanged".
4. A dry run does the same reads and the same `_apply_rows`, and writes nothing. What its
   earlier chunks would have changed is kept in a private temporary SQLite file
   (`_DryRunMemory`), so that a phone seen again in a later chunk is judged as the real import
   would judge it, still in bounded memory.

Uploads wait for their import in `settings.IMPORT_DIR` under a random name: `receive_upload`,
which every face that takes an upload calls, refuses a body declared over the limit before
reading it, receives the file into a temporary file while the request is read (`UploadHandler`),
and moves it there (`ReceivedUpload.keep`) only once the request and the file passed their
checks; an import job deletes its file once it succeeded.
"""

import codecs
import csv
import functools
import json
import queue
import re
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import (
    FileUploadHandler,
    SkipFile,
    StopFutureHandlers,
    StopUpload,
)
from django.db import connection, connections, transaction
from django.tasks import task
from django.utils import timezone

from contacts.cells import restore_cell
from contacts.labels import (
    KEY_MAX_LENGTH,
    VALUE_MAX_LENGTH,
    check_label_count,
    clean_key,
    clean_value,
)
from contacts.models import Contact, CreatedContact, Label, LabelRecord, SendingList
from contacts.services import check_list_open
from trackly import body_size
from trackly.db import ID_ARRAY, id_list, lookup_reads, plan_as_lookups
from trackly.jobs import Progress, run_job, start_job
from trackly.models import Account, Job
from trackly.phones import (
    is_doubtful,
    is_supported_region,
    normalize_phone,
    other_regions,
    region_for_country,
)

# Rows per transaction: large enough that per-statement costs vanish, small enough that a chunk
# of parsed rows stays a few megabytes and its locks are short.
CHUNK_ROWS = 10_000
# The result keeps this many rejected rows for the download; the counts are always complete.
REJECTED_ROWS_KEPT = 10_000
# Parsed rows shown in a preview.
SAMPLE_ROWS = 10
# Column names a result (and an error naming a header's columns) keeps; the count is complete.
# A header can have hundreds of thousands of columns.
COLUMNS_KEPT = 20
# Uploads not imported after this long (previews never confirmed, crashed jobs) are deleted.
UPLOAD_KEPT_SECONDS = 24 * 3600
# A multipart body is a little larger than the file it carries (boundaries, other fields).
MULTIPART_ALLOWANCE = 64 * 1024

# Row outcomes, also the names of the result's counts.
CREATED, UPDATED, UNCHANGED, SKIPPED, REJECTED = (
    "created",
    "updated",
    "unchanged",
    "skipped",
    "rejected",
)

_CONTACT = Contact._meta.db_table
_LABEL = Label._meta.db_table
_RECORD = LabelRecord._meta.db_table
_CREATED = CreatedContact._meta.db_table
# A phone met again in a later chunk: the label's first value before stays, its last after wins.
_RECORD_AGAIN = (
    "ON CONFLICT (job_id, contact_id, key, account_id) DO UPDATE SET after = excluded.after"
)
_SUBSCRIBED = Contact.Status.SUBSCRIBED.value
_UPLOAD_NAME_LENGTH = 32


def max_bytes() -> int:
    return getattr(settings, "IMPORT_MAX_BYTES", 100 * 1024 * 1024)


def _file_error(message: str, code: str = "invalid_file") -> ValidationError:
    return ValidationError(message, code=code)


def too_large_error(size: int | None = None) -> ValidationError:
    """The error for a file over `IMPORT_MAX_BYTES`, code `payload_too_large` (the API answers
    it with 413): every face, and every way of finding it out, gives this one."""
    return body_size.too_large_error(max_bytes(), size)


# Where uploads wait for their import.


def import_dir() -> Path:
    path = Path(getattr(settings, "IMPORT_DIR", settings.BASE_DIR / "var" / "imports"))
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def upload_path(name: str) -> Path:
    """The stored upload called `name`; names are ours (random hex), never a path from outside."""
    if len(name) != _UPLOAD_NAME_LENGTH or not all(c in "0123456789abcdef" for c in name):
        raise _file_error("This upload does not exist.", "upload_gone")
    return import_dir() / f"{name}.csv"


def new_upload_name() -> str:
    return secrets.token_hex(_UPLOAD_NAME_LENGTH // 2)


def remove_stale_uploads() -> None:
    """Delete uploads older than a day: previews never confirmed and imports that crashed."""
    deadline = time.time() - UPLOAD_KEPT_SECONDS
    for path in import_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < deadline:
            path.unlink(missing_ok=True)


def store_upload(upload: UploadedFile) -> str:
    """Put an uploaded file into the import directory, where it waits for its import; return
    the name the import refers to it by. Every face's upload ends here: the dashboard's and the
    API's through `receive_upload`, the admin's after its own form checked it.

    A file on disk (`TemporaryUploadedFile`) is moved: a rename where the temporary directory
    (FILE_UPLOAD_TEMP_DIR) is on the import directory's file system, a copy otherwise; one in
    memory is written out. Under its final name only once whole.
    """
    remove_stale_uploads()
    name = new_upload_name()
    stored = upload_path(name)
    partial = stored.with_suffix(".part")
    if isinstance(upload, TemporaryUploadedFile):
        shutil.move(upload.temporary_file_path(), partial)
    else:
        with partial.open("wb") as file:
            for chunk in upload.chunks():
                file.write(chunk)
    partial.rename(stored)
    return name


class ReceivedUpload(TemporaryUploadedFile):
    """An upload as received: a temporary file outside the import directory, deleted when the
    request ends (Django closes a request's files), unless `keep` moves it there."""

    @property
    def path(self) -> Path:
        return Path(self.temporary_file_path())

    def keep(self) -> str:
        """Move the file into the import directory; return the name a job refers to it by.

        Call it only once the request passed its CSRF and permission checks and the file its
        header check: a request refused on the way leaves nothing behind.
        """
        name = store_upload(self)
        self.close()
        return name


class UploadHandler(FileUploadHandler):
    """Receives the multipart field `file` into a `ReceivedUpload`, and stops the upload as soon
    as it passes `IMPORT_MAX_BYTES`, so no part of a large file is kept.

    `expect_upload` installs it before the request body is read; `too_large` tells afterwards
    why no file arrived. The body may well be read before the view runs (the CSRF check reads
    the form for its token): nothing reaches the import directory until `receive_upload` calls
    `ReceivedUpload.keep`.
    """

    def __init__(self, request=None):
        super().__init__(request)
        self.too_large = False
        self._started = False
        self._file: ReceivedUpload | None = None
        self._size = 0

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        if field_name != "file" or self._started:
            raise SkipFile
        self._started = True
        self._file = ReceivedUpload(
            self.file_name, self.content_type, 0, self.charset, self.content_type_extra
        )
        raise StopFutureHandlers

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._size += len(raw_data)
        if self._size > max_bytes():
            self.too_large = True
            self._discard()
            raise StopUpload(connection_reset=False)
        self._file.write(raw_data)

    def file_complete(self, file_size: int) -> ReceivedUpload | None:
        if self._file is None:
            return None
        received, self._file = self._file, None
        received.flush()
        received.seek(0)
        received.size = file_size
        return received

    def upload_interrupted(self) -> None:
        self._discard()

    def _discard(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True)
class StoredUpload:
    """An upload waiting in the import directory: the name a job refers to it by, and the
    file's name as its sender gave it."""

    name: str
    file_name: str


def expect_upload(request) -> UploadHandler:
    """Get `request` ready to receive an import's file: refuse a body declared larger than the
    limit allows before any of it is read, and install the `UploadHandler`.

    Call it before anything reads the body (the CSRF check does, for its token); calling it
    again does nothing more. Raise `payload_too_large`, or `invalid_content_length` for a
    Content-Length that is not a number.
    """
    for installed in request.upload_handlers:
        if isinstance(installed, UploadHandler):
            return installed
    if body_size.declared_length(request) > max_bytes() + MULTIPART_ALLOWANCE:
        raise too_large_error()
    handler = UploadHandler(request)
    request.upload_handlers = [handler]
    return handler


def _accept_all() -> None:
    return None


def receive_upload[T](
    request,
    *,
    accept: Callable[[], T] = _accept_all,
    mapping: Callable[[T], "Mapping | None"] = lambda accepted: None,
) -> tuple[StoredUpload, T]:
    """Receive the multipart field `file` of `request` and store it for its import; return it
    with what `accept` returned.

    In order: `expect_upload` (unless the view called it already), the file's size, that a
    file came, `accept()` (the face's own checks of the request's other fields, which refuse it
    by raising), the file's header with the mapping `mapping(accepted)` gives; only then is
    the file moved into the import directory, so a
    refused request leaves nothing there. Raise `ValidationError` (`payload_too_large`,
    `invalid_content_length`, `missing_file`, `invalid_file`, `invalid_header`,
    `invalid_mapping`).
    """
    handler = expect_upload(request)
    upload = request.FILES.get("file")
    if handler.too_large:
        raise too_large_error()
    if not isinstance(upload, ReceivedUpload):
        raise ValidationError("Choose a CSV file to import.", code="missing_file")
    accepted = accept()
    check_header(upload.path, mapping(accepted))
    return StoredUpload(name=upload.keep(), file_name=upload.name or "import.csv"), accepted


# The file and its header.

# The phone column when no mapping names it: the first of these names the file has, in this
# order of preference. Names are compared plain (`plain_name`: `Phone Number` is
# `phone_number`, `URN:Tel` is `urn:tel`).
PHONE_COLUMNS = (
    "phone_number",
    "phone",
    "msisdn",
    "mobile",
    "mobile_number",
    "mobile_phone",
    "cell",
    "cell_phone",
    "cellphone",
    "telephone",
    "telephone_number",
    "tel",
    "urn:tel",
    "whatsapp",
    "contact_number",
)
# Words of a plain name that say an ignored column holds a number (`Home Phone`, `mobile_2`,
# `Cell`): the rejection of a row whose phone is empty names the first of them with a value.
PHONE_WORDS = frozenset(
    {"phone", "mobile", "msisdn", "cell", "cellphone", "tel", "telephone", "whatsapp", "sms"}
)
# The country column when no mapping names it (plain names, in this order of preference).
COUNTRY_COLUMNS = ("country", "country_code", "countrycode", "country_iso", "country_name")
LABEL_PREFIX = "label_"

# What happens to a column.
PHONE, FALLBACK, COUNTRY, LABEL, IGNORED = "phone", "fallback", "country", "label", "ignored"
USES = (PHONE, FALLBACK, COUNTRY, LABEL, IGNORED)
# Columns a result describes one by one (the preview's mapping); the others are counted.
MAPPED_COLUMNS_KEPT = 50


def plain_name(name: str) -> str:
    """A column name as compared with the names above: lower case, runs of spaces, `_`, `-`
    and `.` as one `_`."""
    return re.sub(r"[\s_.-]+", "_", name.strip().lower()).strip("_")


def _is_phone_like(name: str) -> bool:
    plain = plain_name(name)
    return "phone" in plain or any(word in PHONE_WORDS for word in re.split(r"[_:]", plain))


def suggested_key(name: str) -> str:
    """The label key a column name becomes: every run of characters a key cannot hold is one
    `_` (`Company Type` -> `Company_Type`); "" when nothing is left."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_")[:KEY_MAX_LENGTH].strip("_")


# A column's number in `Mapping.unnamed_labels`: 1 for the first column.
_COLUMN_NUMBER = re.compile(r"[1-9][0-9]{0,8}")


def _mapping_error(message: str) -> ValidationError:
    return ValidationError(message, code="invalid_mapping")


@dataclass(frozen=True)
class Mapping:
    """What the user says about the file's columns, by their names; anything left out is
    decided by the header (`read_header`). `country` is a column name, "" for no country
    column, None to find one; `labels` maps columns to label keys; `unnamed_labels` maps
    columns without a name, by their number (1 for the first), to label keys; `ignore` lists
    columns not to read (a `label_` column, the country column)."""

    phone: str | None = None
    fallback: str | None = None
    country: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    ignore: tuple[str, ...] = ()
    unnamed_labels: tuple[tuple[int, str], ...] = ()

    def as_dict(self) -> dict:
        """The mapping as the API takes it and a job keeps it (only what is given)."""
        given = {
            "phone": self.phone,
            "fallback": self.fallback,
            "country": self.country,
            "labels": dict(self.labels) or None,
            "unnamed_labels": {str(number): key for number, key in self.unnamed_labels} or None,
            "ignore": list(self.ignore) or None,
        }
        return {name: value for name, value in given.items() if value is not None}

    def named(self) -> list[str]:
        columns = [self.phone, self.fallback, self.country, *dict(self.labels), *self.ignore]
        return [name for name in columns if name]


def clean_mapping(raw: object) -> Mapping:
    """A mapping from its JSON form (`Mapping.as_dict`), or raise `invalid_mapping`."""
    if raw is None:
        return Mapping()
    if not isinstance(raw, dict):
        raise _mapping_error("The mapping must be an object.")
    unknown = set(raw) - {"phone", "fallback", "country", "labels", "unnamed_labels", "ignore"}
    if unknown:
        raise _mapping_error(
            f"The mapping has no field {sorted(unknown)[0]!r}; its fields are phone, fallback, "
            "country, labels, unnamed_labels and ignore."
        )

    def column(field_name: str, *, empty: bool = False) -> str | None:
        value = raw.get(field_name)
        if value is None:
            return None
        if not isinstance(value, str) or not (value.strip() or empty):
            raise _mapping_error(f"mapping.{field_name}: expected a column name.")
        return value.strip()

    labels = raw.get("labels") or {}
    ignore = raw.get("ignore") or []
    if not isinstance(labels, dict) or not all(
        isinstance(name, str) and isinstance(key, str) for name, key in labels.items()
    ):
        raise _mapping_error("mapping.labels: expected an object of column names and keys.")
    if not isinstance(ignore, list) or not all(isinstance(name, str) for name in ignore):
        raise _mapping_error("mapping.ignore: expected a list of column names.")
    unnamed = raw.get("unnamed_labels") or {}
    if not isinstance(unnamed, dict) or not all(
        isinstance(number, str) and _COLUMN_NUMBER.fullmatch(number) and isinstance(key, str)
        for number, key in unnamed.items()
    ):
        raise _mapping_error(
            "mapping.unnamed_labels: expected an object of column numbers (1 for the first "
            'column) and keys, such as {"7": "notes"}.'
        )
    mapping = Mapping(
        phone=column("phone"),
        fallback=column("fallback"),
        country=column("country", empty=True),
        labels=tuple((name.strip(), key) for name, key in labels.items()),
        ignore=tuple(name.strip() for name in ignore),
        unnamed_labels=tuple(sorted((int(number), key) for number, key in unnamed.items())),
    )
    named = mapping.named()
    for name in named:
        if named.count(name) > 1:
            raise _mapping_error(f"The mapping gives the column {name!r} two uses.")
    return mapping


@dataclass(frozen=True)
class Column:
    """A named column and what happens to it: its use, its label key (for a label; for an
    ignored column, the key it would get), and why, when that is not plain."""

    index: int
    name: str
    use: str
    key: str = ""
    note: str = ""
    phone_like: bool = False

    def as_dict(self) -> dict:
        return {
            "column": self.name,
            "number": self.index + 1,
            "use": self.use,
            "key": self.key,
            "note": self.note,
        }


@dataclass(frozen=True)
class Header:
    """What the header row and the mapping say: where the phone is (and its fallback, and the
    country), which columns are labels, what is ignored (the first COLUMNS_KEPT names of the
    named columns ignored, and how many columns are ignored in all, named or not)."""

    width: int
    phone: int
    # (column index, label key, column name as written)
    labels: tuple[tuple[int, str, str], ...]
    ignored: tuple[str, ...]
    ignored_count: int = 0
    fallback: int | None = None
    country: int | None = None
    country_name: str = ""
    # The ignored columns whose name says they hold a number: (index, name).
    phone_like: tuple[tuple[int, str], ...] = ()
    # Every column with a name, and every column without one that is a label (`name` ""), in
    # file order.
    columns: tuple[Column, ...] = ()
    # The indexes of the ignored columns, and how many of them have no name.
    ignored_indexes: tuple[int, ...] = ()
    unnamed_count: int = 0


def _some_names(names: list[str]) -> str:
    """The first COLUMNS_KEPT column names, quoted, and how many others there are."""
    shown = ", ".join(repr(name) for name in names[:COLUMNS_KEPT])
    more = len(names) - COLUMNS_KEPT
    return f"{shown} and {more:,} more" if more > 0 else shown


def _same_column_error(names: list[str], first: int, index: int) -> ValidationError:
    name = names[index]
    if names[first] == name:
        message = f"The column {name!r} appears twice (columns {first + 1} and {index + 1})"
    else:
        message = (
            f"The columns {names[first]!r} (column {first + 1}) and {name!r} "
            f"(column {index + 1}) are the same column"
        )
    return _file_error(f"{message}; keep one.", "invalid_header")


def _label_column(name: str, mapping: Mapping, given_keys: dict[str, str]) -> tuple[str, str, str]:
    """(use, key, note) of a column that is neither the phone, its fallback nor the country."""
    if name in given_keys:
        try:
            return LABEL, clean_key(given_keys[name]), ""
        except ValidationError as error:
            raise _mapping_error(f"Column {name!r}: {error.messages[0]}") from None
    if name.lower().startswith(LABEL_PREFIX):
        written = name[len(LABEL_PREFIX) :]
        try:
            key = clean_key(written)
        except ValidationError:
            key = suggested_key(written)
            if not key:
                return IGNORED, "", "no usable label key in its name: give it one"
            note = f"key cleaned from {written.strip()!r}"
        else:
            note = ""
        if name in mapping.ignore:
            return IGNORED, key, note
        return LABEL, key, note
    return IGNORED, suggested_key(name), ""


def _column_title(names: list[str], index: int) -> str:
    """A column as messages name it: its name, or its number when it has none."""
    return repr(names[index]) if names[index] else f"column {index + 1} (no name)"


def _unnamed_keys(names: list[str], mapping: Mapping) -> dict[int, str]:
    """The label keys the mapping gives columns without a name, by column index, each
    checked by the label validator; raise `invalid_mapping` for a column that is not one."""
    keys = {}
    for number, key in mapping.unnamed_labels:
        if number > len(names):
            raise _mapping_error(
                f"The mapping names column {number}, which the file does not have (it has "
                f"{len(names):,} columns)."
            )
        if names[number - 1]:
            raise _mapping_error(
                f"Column {number} is named {names[number - 1]!r}: map it by its name in "
                "mapping.labels."
            )
        try:
            keys[number - 1] = clean_key(key)
        except ValidationError as error:
            raise _mapping_error(f"Column {number}: {error.messages[0]}") from None
    return keys


def read_header(cells: list[str], mapping: Mapping | None = None) -> Header:
    """Read a header row with the user's mapping, or raise `invalid_header` naming the column
    at fault (`invalid_mapping` for a mapping that does not fit the file).

    Names are matched without surrounding white space; the automatic phone and country
    columns by their plain names (`plain_name`), the `label_` prefix case-insensitively, the
    key after it kept as written when it is a valid key, and cleaned (`suggested_key`) when it
    is not. Columns named in the mapping are matched exactly.
    """
    mapping = mapping or Mapping()
    names = [cell.strip() for cell in cells]
    if not any(names):
        raise _file_error("The first row, the header, is empty.", "invalid_header")
    first_of: dict[str, int] = {}
    for index, name in enumerate(names):
        if name:
            first_of.setdefault(name, index)
    named = set(mapping.named())
    for name in named:
        if name not in first_of:
            raise _mapping_error(
                f"The mapping names the column {name!r}, which the file does not have."
            )

    unnamed_keys = _unnamed_keys(names, mapping)

    def mapped(name: str | None) -> int | None:
        return None if not name else first_of[name]

    phone = mapped(mapping.phone)
    if phone is None:
        ranked = [
            (PHONE_COLUMNS.index(plain), index)
            for index, name in enumerate(names)
            if (plain := plain_name(name)) in PHONE_COLUMNS and name not in named
        ]
        if ranked:
            rank, phone = min(ranked)
            for other_rank, index in ranked:
                if other_rank == rank and index != phone:
                    raise _same_column_error(names, phone, index)
    if phone is None:
        message = (
            "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the "
            f"column that holds the numbers. Its columns are: {_some_names(names)}."
        )
        if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            message += " The values seem to be separated by something else than commas."
        error = _file_error(message, "invalid_header")
        # The named columns, for a face that lets the user choose the phone column.
        error.phone_choices = [name for name in names if name][:MAPPED_COLUMNS_KEPT]
        raise error
    fallback = mapped(mapping.fallback)
    if mapping.country is None:
        countries = [
            (COUNTRY_COLUMNS.index(plain), index)
            for index, name in enumerate(names)
            if (plain := plain_name(name)) in COUNTRY_COLUMNS
            and name not in named
            and index not in (phone, fallback)
        ]
        country = min(countries)[1] if countries else None
    else:
        country = mapped(mapping.country)
    given_keys = dict(mapping.labels)
    # Each column's identity, for duplicates: a label key, or its name.
    seen: dict[tuple[str, str], int] = {}
    labels = []
    ignored = []
    ignored_indexes = []
    phone_like = []
    columns = []
    unnamed = 0
    for index, name in enumerate(names):
        if not name and index not in unnamed_keys:
            unnamed += 1
            ignored_indexes.append(index)
            # Listed only when it has a value (`describe_columns`), to be given a key.
            columns.append(Column(index, "", IGNORED))
            continue
        if not name:
            use, key, note = LABEL, unnamed_keys[index], ""
        elif index == phone:
            use, key, note = PHONE, "", ""
        elif index == fallback:
            use, key, note = FALLBACK, "", ""
        elif index == country:
            use, key, note = COUNTRY, "", ""
        else:
            use, key, note = _label_column(name, mapping, given_keys)
        identity = ("label", key) if use == LABEL else ("name", name.lower())
        if identity in seen:
            if not (name and names[seen[identity]]):
                raise _mapping_error(
                    f"{_column_title(names, seen[identity]).capitalize()} and "
                    f"{_column_title(names, index)} would both be the label {key!r}: give "
                    "one of them another key."
                )
            raise _same_column_error(names, seen[identity], index)
        seen[identity] = index
        if use == LABEL:
            labels.append((index, key, name or f"Column {index + 1}"))
        elif use == IGNORED:
            ignored_indexes.append(index)
            if len(ignored) < COLUMNS_KEPT:
                ignored.append(name)
        is_phone_like = use == IGNORED and _is_phone_like(name)
        if is_phone_like:
            phone_like.append((index, name))
        columns.append(Column(index, name, use, key, note, is_phone_like))
    return Header(
        width=len(names),
        phone=phone,
        labels=tuple(labels),
        ignored=tuple(ignored),
        ignored_count=len(ignored_indexes),
        fallback=fallback,
        country=country,
        country_name=names[country] if country is not None else "",
        phone_like=tuple(phone_like),
        columns=tuple(columns),
        ignored_indexes=tuple(ignored_indexes),
        unnamed_count=unnamed,
    )


def _refuse_binary(head: bytes) -> None:
    """Recognise the files people upload by mistake from their first bytes."""
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise _file_error(
            "This is an Excel workbook (or another archive), not a CSV file. In Excel, use "
            "Save As and choose CSV UTF-8 (Comma delimited), then upload that file."
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_error(
            "This file is UTF-16 text; save it as CSV UTF-8 (Comma delimited) and upload it again."
        )
    if b"\x00" in head:
        raise _file_error("This is not a text file, so it cannot be a CSV file.")


def _open_csv(path: Path):
    """The file as text: UTF-8 with or without a BOM, any line ending (csv reads them)."""
    return path.open(encoding="utf-8-sig", newline="", buffering=1024 * 1024)


def read_records(text) -> Iterator[tuple[int, list[str]]]:
    """The CSV records of an open file with their row numbers as a spreadsheet shows them:
    the header is row 1, and a quoted value spanning several lines is still one record."""
    reader = csv.reader(text, strict=True)
    # The line after the last whole record: where a record that cannot be read starts.
    line = 1
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            yield number, record
            line = reader.line_num + 1
    except UnicodeDecodeError:
        raise _file_error(
            f"Line {_first_line_not_utf8(Path(text.name))} of the file is not UTF-8 text. Save "
            "the file as CSV UTF-8 (Comma delimited) and upload it again."
        ) from None
    except csv.Error as error:
        reason = str(error)
        never_ends = "a quoted value never ends (look for an unpaired double quote)"
        if "field larger than field limit" in reason:
            # A value over the csv module's limit: a long one, or a quote never closed that
            # took in the rest of the file.
            limit = csv.field_size_limit()
            found = _long_value(text, line, limit)
            if found is not None and not found[1]:
                raise _file_error(
                    f"The file is not valid CSV: row {number + 1}, column {found[0]}: the value "
                    f"is too long (more than {limit:,} characters)."
                ) from None
            reason = never_ends
        elif "unexpected end of data" in reason:
            reason = never_ends
        raise _file_error(f"The file is not valid CSV: line {line}: {reason}.") from None


def _long_value(text, line: int, limit: int) -> tuple[int, bool] | None:
    """Find the value over `limit` characters in the record that starts at `line` of `text`:
    its column, and whether it is a quoted value that never ends. None when the text cannot be
    read again (or has no such value)."""
    if not text.seekable():
        return None
    text.seek(0)
    for _ in range(line - 1):
        text.readline()
    column, length = 1, 0
    # Where the reader is: at a value's start, in an unquoted value, in a quoted one, or just
    # after a quote inside a quoted one (a closing quote, or the first of a doubled one).
    start, plain, quoted, quote = range(4)
    state = start
    while block := text.read(1024 * 1024):
        for index, char in enumerate(block):
            if state == quoted:
                if char == '"':
                    state = quote
                    continue
            elif state == quote and char == '"':
                state = quoted
            elif char in ",\r\n":
                if char != ",":
                    return None
                column, length, state = column + 1, 0, start
                continue
            elif state == start and char == '"':
                state = quoted
                continue
            else:
                state = plain if state == start else state
            length += 1
            if length > limit:
                if state != quoted:
                    return column, False
                return column, not _quote_closes(block[index + 1 :], text)
    return None


def _quote_closes(rest: str, text) -> bool:
    """Whether a quoted value, inside which `rest` and then the rest of `text` start, ends: a
    quote not doubled (the file may end right after it)."""
    pending = False
    while True:
        at = 0
        if pending and rest:
            if rest[0] != '"':
                return True
            at, pending = 1, False
        while (found := rest.find('"', at)) != -1:
            if found + 1 == len(rest):
                pending = True
                break
            if rest[found + 1] != '"':
                return True
            at = found + 2
        rest = text.read(1024 * 1024)
        if not rest:
            return pending


def _first_line_not_utf8(path: Path) -> int:
    """The number of the first line holding bytes that are not UTF-8 (0 when there is none);
    the text reader decodes large blocks at a time, so it cannot tell."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    with path.open("rb") as raw:
        while block := raw.read(1024 * 1024):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block)
            except UnicodeDecodeError as error:
                return line + block[: max(0, error.start - pending)].count(b"\n")
            line += block.count(b"\n")
    return 0


def _is_blank(record: list[str]) -> bool:
    return not any(cell.strip() for cell in record)


def check_header(path: Path, mapping: Mapping | None = None) -> Header:
    """The quick checks, for an answer while the user waits: size, a text file, its header
    with the mapping. Raise `ValidationError` for anything that rejects the file."""
    size = path.stat().st_size
    if size > max_bytes():
        raise too_large_error(size)
    with path.open("rb") as raw:
        _refuse_binary(raw.read(4096))
    with _open_csv(path) as text:
        first = next(read_records(text), None)
    if first is None:
        raise _file_error("The file is empty.")
    return read_header(first[1], mapping)


def check_file(path: Path, mapping: Mapping | None = None) -> tuple[Header, int, set[int]]:
    """Check the whole file without writing anything; return its header, its number of rows
    (blank rows are not rows) and which of its ignored columns have a value in some row.
    Raise `ValidationError` for anything that rejects the file."""
    header = check_header(path, mapping)
    with _open_csv(path) as text:
        records = read_records(text)
        next(records)
        if not header.ignored_indexes:
            return header, sum(1 for _, record in records if not _is_blank(record)), set()
        rows = 0
        filled: set[int] = set()
        empty = list(header.ignored_indexes)
        for _, record in records:
            if _is_blank(record):
                continue
            rows += 1
            # The columns not yet seen with a value, looked at all at once (a file can have
            # hundreds of empty columns), one by one only when one of them has one.
            if empty and "".join(record[i] for i in empty if i < len(record)).strip():
                filled.update(i for i in empty if i < len(record) and record[i].strip())
                empty = [i for i in empty if i not in filled]
    return header, rows, filled


# Rows.


@dataclass(slots=True)
class _Row:
    number: int
    phone_given: str
    phone: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    # Set when the row is rejected: the code of its first problem, and every problem's message.
    code: str = ""
    reason: str = ""
    # The region its number is read with, from its country column ("": the import's).
    region: str = ""
    # For an empty phone: another phone-like column's name and value.
    other_phone: tuple[str, str] | None = None
    # The other regions in which its number, written in national form, would be valid, when
    # the region it was read with makes it doubtful (`phones.other_regions`).
    doubt: tuple[str, ...] = ()

    def reject(self, code: str, message: str, *, first: bool = False) -> None:
        if first:
            self.code, self.reason = code, f"{message} {self.reason}".rstrip()
        else:
            self.code, self.reason = self.code or code, f"{self.reason} {message}".lstrip()


@functools.lru_cache(maxsize=20_000)
def _cleaned_value(raw: str) -> tuple[str, str]:
    """The label validator's answer for a cell, as (value, error message), remembered: files
    repeat the same values on many rows, and validating character by character is costly. A
    value quoted against formulas (as every export writes it) is read as it was."""
    try:
        return clean_value(restore_cell(raw)), ""
    except ValidationError as error:
        return "", error.messages[0]


def parse_row(number: int, record: list[str], header: Header) -> _Row | None:
    """Check a record's label cells (an empty cell leaves its label untouched), its country
    and its shape; the phone is checked per chunk by `_normalise_phones`. None for a blank
    row."""
    cells = len(record)
    phone_given = record[header.phone] if header.phone < cells else ""
    if phone_given.strip():
        row = _Row(number, phone_given)
    elif _is_blank(record):
        return None
    else:
        row = _Row(number, _phone_elsewhere(record, header) or phone_given)
        if not row.phone_given.strip():
            row.other_phone = _phone_like_value(record, header)
    for index, key, column in header.labels:
        if index >= cells:
            break
        raw = record[index]
        if not raw or raw.isspace():
            continue
        # Values this long are invalid anyway: not worth remembering.
        remember = len(raw) <= VALUE_MAX_LENGTH * 2
        value, error = _cleaned_value(raw) if remember else _cleaned_value.__wrapped__(raw)
        if error:
            row.reject("invalid_label_value", f"{column}: {error}")
        else:
            row.labels[key] = value
    if header.country is not None and header.country < cells:
        country = record[header.country]
        if country and not country.isspace():
            region = region_for_country(country)
            if region is None:
                row.reject(
                    "invalid_country",
                    f"{header.country_name}: {country.strip()!r} is not a country this import "
                    "knows (an ISO code such as CA or CAN, an English name, or a calling code "
                    "such as +1).",
                )
            else:
                row.region = region
    if cells > header.width and not _is_blank(record[header.width :]):
        row.reject(
            "invalid_row",
            f"The row has {cells} cells but the header has {header.width} columns "
            "(a value containing a comma must be quoted).",
        )
    return row


def _phone_elsewhere(record: list[str], header: Header) -> str:
    """The fallback column's value, for a row whose phone column is empty."""
    if header.fallback is not None and header.fallback < len(record):
        return record[header.fallback]
    return ""


def _phone_like_value(record: list[str], header: Header) -> tuple[str, str] | None:
    """The first ignored phone-like column with a value: (its name, the value)."""
    for index, name in header.phone_like:
        if index < len(record) and record[index].strip():
            return name, record[index].strip()
    return None


# Already in E.164 form, as stored.
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Doubtful numbers (`phones.is_doubtful`) checked against other regions in one import: each
# check parses the number a few dozen times; the count of numbers of another region covers
# these.
OTHER_REGIONS_CHECKED = 5_000


@dataclass
class _Regions:
    """The import's region, the regions its country column named so far (tried first for a
    doubtful number), and how many numbers were checked against other regions."""

    region: str
    named: dict[str, None] = field(default_factory=dict)
    checked: int = 0

    def doubt(self, text: str, region: str, *, valid: bool) -> tuple[str, ...]:
        if self.checked >= OTHER_REGIONS_CHECKED or not is_doubtful(text, region, valid=valid):
            return ()
        self.checked += 1
        return tuple(other_regions(text, region, valid=valid, likely=tuple(self.named)))


def _normalise_phones(
    rows: list[_Row], regions: _Regions, stored: Callable[[list[str]], set]
) -> None:
    """Give each row its phone in E.164 form, read with its country's region or the import's,
    or reject the row; note the numbers that region makes doubtful.

    A number given exactly as a contact of the list has it stored is already normalised (every
    stored number went through the normaliser), so it is not parsed again: re-importing an
    export then costs no phone parsing, which is most of the work of reading a row.
    """
    given = {row.phone_given.strip() for row in rows}
    known = stored([phone for phone in given if _E164.fullmatch(phone)])
    for row in rows:
        phone = row.phone_given.strip()
        if phone in known:
            row.phone = phone
            continue
        if row.region:
            regions.named[row.region] = None
        region = row.region or regions.region
        try:
            row.phone = normalize_phone(row.phone_given, region, name_region=True)
        except ValidationError as error:
            message = error.messages[0]
            if not phone and row.other_phone is not None:
                name, value = row.other_phone
                message = f"Phone number is empty; column `{name}` has {value}."
            elif phone:
                row.doubt = regions.doubt(phone, region, valid=False)
            row.reject(error.code, message, first=True)
        else:
            if phone[0] != "+":
                row.doubt = regions.doubt(phone, region, valid=True)


def _read_chunks(
    path: Path, header: Header, regions: _Regions, size: int, stored: Callable[[list[str]], set]
) -> Iterator[list[_Row]]:
    with _open_csv(path) as text:
        records = read_records(text)
        next(records)
        chunk: list[_Row] = []
        for number, record in records:
            row = parse_row(number, record, header)
            if row is None:
                continue
            chunk.append(row)
            if len(chunk) == size:
                _normalise_phones(chunk, regions, stored)
                yield chunk
                chunk = []
        if chunk:
            _normalise_phones(chunk, regions, stored)
            yield chunk


def _read_ahead(chunks: Iterator[list[_Row]]) -> Iterator[list[_Row]]:
    """Yield the chunks of `chunks`, parsed one chunk ahead in a thread of their own.

    Parsing (the phone normaliser above all) is CPU work in Python, writing mostly waits for the
    database, which releases the interpreter lock: overlapped, they take the time of the longer
    rather than the sum. At most one parsed chunk waits, so memory stays bounded.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    finished = object()

    def hand_over(item) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def read() -> None:
        try:
            for chunk in chunks:
                if not hand_over(chunk):
                    return
            hand_over(finished)
        except BaseException as error:  # handed to the importing thread, which raises it
            hand_over(error)
        finally:
            chunks.close()
            # This thread's own database connection, if reading used one.
            connections.close_all()

    reader = threading.Thread(target=read, name="csv-import-reader", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not finished:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


# Applying rows to contacts.


@dataclass(slots=True)
class _Contact:
    """A contact of the chunk as the rows leave it, beside what is stored."""

    id: int | None
    # In the database (or created by an earlier chunk of a dry run).
    known: bool
    subscribed: bool
    labels: dict[str, str]
    stored: dict[str, str]
    created: bool = False

    def changed_labels(self) -> dict[str, str]:
        return {k: v for k, v in self.labels.items() if self.stored.get(k) != v}


def _apply_rows(rows: list[_Row], contacts: dict[str, _Contact]) -> list[tuple[_Row, str]]:
    """Apply the rows in file order to `contacts` (phone -> contact; phones not in it are new)
    and return each row's outcome; a row rejected here comes back as a copy with its reason."""
    outcomes = []
    for row in rows:
        if row.code:
            outcomes.append((row, REJECTED))
            continue
        contact = contacts.get(row.phone)
        if contact is None:
            contact = _Contact(id=None, known=False, subscribed=True, labels={}, stored={})
            contacts[row.phone] = contact
        if not contact.subscribed:
            outcomes.append((row, SKIPPED))
            continue
        current = contact.labels
        added = sum(1 for key in row.labels if key not in current)
        try:
            check_label_count(len(current) + added)
        except ValidationError as error:
            outcomes.append((replace(row, code=error.code, reason=error.messages[0]), REJECTED))
            continue
        if not contact.known:
            contact.known = contact.created = True
            outcome = CREATED
        elif all(current.get(key) == value for key, value in row.labels.items()):
            outcome = UNCHANGED
        else:
            outcome = UPDATED
        current.update(row.labels)
        outcomes.append((row, outcome))
    return outcomes


# Reading and writing per database. Each store reads a chunk's contacts and writes what
# `_apply_rows` changed with a fixed number of statements, whatever the chunk's size.


class _ConcurrentInsertError(Exception):
    """Another writer created one of the chunk's new contacts meanwhile: apply it again."""


class _StaleReadError(Exception):
    """A contact the chunk changes was edited between the read and its lock: apply it again."""


class _Store:
    def __init__(self, sending_list: SendingList, job_id: int | None = None):
        self.list_id = sending_list.pk
        self.account_id = sending_list.account_id
        # The import's records (`LabelRecord`, `CreatedContact`), so that it can be undone.
        self.job_id = job_id

    def fetch(self, phones: list[str], *, lock: bool) -> dict[str, _Contact]:
        """The list's contacts with these phones, with their labels (subscribed ones only:
        an unsubscribed contact is skipped whatever its labels)."""
        if not phones:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(*self.contacts_query(phones, lock=lock))
            contacts = {
                phone: _Contact(
                    id=pk, known=True, subscribed=status == _SUBSCRIBED, labels={}, stored={}
                )
                for pk, phone, status in cursor.fetchall()
            }
            by_id = {contact.id: contact for contact in contacts.values() if contact.subscribed}
            if by_id:
                cursor.execute(self.labels_sql, [self.many(list(by_id)), self.account_id])
                for contact_id, key, value in cursor.fetchall():
                    by_id[contact_id].labels[key] = value
        for contact in contacts.values():
            contact.stored = dict(contact.labels)
        return contacts

    def check_unchanged(self, contacts: dict[str, _Contact]) -> None:
        """Lock the stored contacts whose labels the chunk changes, and raise `_StaleReadError`
        unless they still are as `fetch(lock=False)` read them.

        Only these need the lock (the 50-label limit is counted on their labels); contacts the
        chunk leaves as they are stay unlocked, so re-importing a file costs no row locks.
        """
        changing = {
            phone: contact
            for phone, contact in contacts.items()
            if contact.known and not contact.created and contact.changed_labels()
        }
        if not self.row_locks or not changing:
            return
        current = self.fetch(list(changing), lock=True)
        for phone, contact in changing.items():
            now = current.get(phone)
            if now is None or not now.subscribed or now.stored != contact.stored:
                raise _StaleReadError

    def stored_phones(self, phones: list[str]) -> set[str]:
        """Which of these numbers contacts of the list have, as committed: this runs in the
        reading thread, on that thread's own connection.

        Through `lookup_reads`, so that its planner settings end with its own transaction
        (docs/scaling.md, a connection pooler)."""
        if not phones:
            return set()
        with lookup_reads(), connection.cursor() as cursor:
            cursor.execute(*self.contacts_query(phones, lock=False))
            return {phone for _, phone, _ in cursor.fetchall()}

    def write(self, contacts: dict[str, _Contact]) -> None:
        """Create the new contacts, then write every label that differs from what is stored."""
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        new = [phone for phone, contact in contacts.items() if contact.created]
        if new:
            ids = self.insert_contacts(new, now)
            if len(ids) != len(new):
                raise _ConcurrentInsertError
            for phone, pk in ids:
                contacts[phone].id = pk
        rows = []
        touched = []
        for contact in contacts.values():
            changed = contact.changed_labels()
            if changed:
                stored = contact.stored
                rows.extend(
                    (contact.id, key, value, stored.get(key)) for key, value in changed.items()
                )
                if not contact.created:
                    touched.append(contact.id)
        if rows:
            self.upsert_labels(rows)
        if self.job_id is not None and new:
            self.record_created([contacts[phone].id for phone in new])
        if touched:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {_CONTACT} SET updated_at = %s "  # noqa: S608
                    f"WHERE account_id = %s AND id IN ({self.ids_source})",
                    [now, self.account_id, self.many(touched)],
                )

    # Per vendor:
    # Whether rows must be locked to count labels safely (SQLite serialises writers instead).
    row_locks = False
    ids_source = ""
    labels_sql = ""

    def many(self, values: list) -> object:
        raise NotImplementedError

    def contacts_query(self, phones: list[str], *, lock: bool) -> tuple[str, list]:
        """The statement and parameters reading (id, phone_number, status) of the list's
        contacts with these phones, locked (in id order) with `lock` where rows are locked."""
        raise NotImplementedError

    def insert_contacts(self, phones: list[str], now) -> list[tuple[str, int]]:
        raise NotImplementedError

    def upsert_labels(self, rows: list[tuple[int, str, str, str | None]]) -> None:
        """Write (contact id, key, value) of each row, and record its value before (the row's
        last item) under the job."""
        raise NotImplementedError

    def record_created(self, ids: list[int]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {_CREATED} (job_id, account_id, contact_id) "  # noqa: S608
                f"SELECT %s, %s, created.* FROM ({self.ids_source}) AS created",
                [self.job_id, self.account_id, self.many(ids)],
            )


class _PostgresStore(_Store):
    row_locks = True
    ids_source = f"SELECT unnest({ID_ARRAY})"
    # Every read looks each phone and each id up on its own (the subqueries' OFFSET 0 keeps
    # them so): ten thousand probes of a unique index, whatever the table statistics say.
    # Without statistics (a table just filled, before autovacuum's ANALYZE) a plain join or
    # `= ANY` was planned as a read of the whole list or label index, several times slower
    # (docs/performance.md, 7b. CSV import).
    labels_sql = f"""
        SELECT chunk.id, label.key, label.value FROM unnest({ID_ARRAY}) AS chunk (id)
        CROSS JOIN LATERAL (
            SELECT key, value FROM {_LABEL}
            WHERE contact_id = chunk.id AND account_id = %s OFFSET 0
        ) AS label
    """  # noqa: S608
    # The chunk's contacts by phone, as probes of the (sending_list_id, phone_number) unique
    # index. The list id is an InitPlan's value, which the planner does not see: given the
    # value, statistics taken before the list was filled (a new list, autovacuum's ANALYZE not
    # yet run) say the list has no contact, and a probe through `contact_list_status_idx`,
    # filtering phones, looks as cheap as the unique index's; each probe then read every
    # contact imported so far, so chunks grew slower as the list filled. Not knowing the value,
    # the planner counts a list's share of the table, and only the unique index finds one row
    # (docs/performance.md, 7b. CSV import, "A new list, statistics stale").
    _found_sql = f"""
        SELECT found.id, found.phone_number, found.status
        FROM unnest(%s::text[]) AS given (phone)
        CROSS JOIN LATERAL (
            SELECT c.id, c.phone_number, c.status FROM {_CONTACT} c
            WHERE c.sending_list_id = (SELECT %s::bigint) AND c.phone_number = given.phone
                AND c.account_id = (SELECT %s::bigint)
            OFFSET 0
        ) AS found
    """  # noqa: S608

    def many(self, values: list) -> str:
        return id_list(values)

    def contacts_query(self, phones: list[str], *, lock: bool) -> tuple[str, list]:
        if lock:
            # Found by the same probes, then locked in id order (the primary key's), as
            # `audiences.bulk` locks, so that two writers cannot deadlock.
            sql = f"""
                SELECT id, phone_number, status FROM {_CONTACT} locked
                WHERE locked.account_id = %s
                    AND id = ANY(ARRAY(SELECT found.id FROM ({self._found_sql}) AS found))
                ORDER BY id FOR NO KEY UPDATE
            """  # noqa: S608
            return sql, [self.account_id, phones, self.list_id, self.account_id]
        return self._found_sql, [phones, self.list_id, self.account_id]

    def insert_contacts(self, phones: list[str], now) -> list[tuple[str, int]]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {_CONTACT}
                    (account_id, sending_list_id, phone_number, status, created_at, updated_at)
                SELECT %s, %s, phone, %s, %s, %s FROM unnest(%s::text[]) AS phone
                ON CONFLICT (sending_list_id, phone_number, account_id) DO NOTHING
                RETURNING phone_number, id
                """,  # noqa: S608
                [self.account_id, self.list_id, _SUBSCRIBED, now, now, phones],
            )
            return cursor.fetchall()

    def upsert_labels(self, rows: list[tuple[int, str, str, str | None]]) -> None:
        with connection.cursor() as cursor:
            # A session-private staging table, emptied for each chunk; COPY is the fastest way
            # to hand PostgreSQL many rows.
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS trackly_import_labels "
                "(contact_id bigint, key text, value text, before text)"
            )
            cursor.execute("TRUNCATE trackly_import_labels")
            with cursor.copy(
                "COPY trackly_import_labels (contact_id, key, value, before) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            if self.job_id is not None:
                cursor.execute(
                    f"INSERT INTO {_RECORD} (job_id, account_id, contact_id, key, before, after) "  # noqa: S608
                    "SELECT %s, %s, contact_id, key, before, value FROM trackly_import_labels "
                    f"{_RECORD_AGAIN}",
                    [self.job_id, self.account_id],
                )
            cursor.execute(
                f"""
                INSERT INTO {_LABEL} (account_id, contact_id, key, value)
                SELECT %s, contact_id, key, value FROM trackly_import_labels
                ON CONFLICT (contact_id, key, account_id) DO UPDATE SET value = excluded.value
                """,  # noqa: S608
                [self.account_id],
            )


class _SQLiteStore(_Store):
    ids_source = "SELECT value FROM json_each(%s)"
    labels_sql = (
        f"SELECT contact_id, key, value FROM {_LABEL} "  # noqa: S608
        "WHERE contact_id IN (SELECT value FROM json_each(%s)) AND account_id = %s"
    )

    def many(self, values: list) -> str:
        return json.dumps(values)

    def contacts_query(self, phones: list[str], *, lock: bool) -> tuple[str, list]:
        # No row locks in SQLite: its IMMEDIATE transactions already serialise writers.
        sql = (
            f"SELECT id, phone_number, status FROM {_CONTACT} "  # noqa: S608
            "WHERE sending_list_id = %s AND phone_number IN (SELECT value FROM json_each(%s))"
            " AND account_id = %s"
        )
        return sql, [self.list_id, json.dumps(phones), self.account_id]

    def insert_contacts(self, phones: list[str], now) -> list[tuple[str, int]]:
        with connection.cursor() as cursor:
            # `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
            cursor.execute(
                f"""
                INSERT INTO {_CONTACT}
                    (account_id, sending_list_id, phone_number, status, created_at, updated_at)
                SELECT %s, %s, value, %s, %s, %s FROM json_each(%s) WHERE true
                ON CONFLICT (sending_list_id, phone_number, account_id) DO NOTHING
                RETURNING phone_number, id
                """,  # noqa: S608
                [self.account_id, self.list_id, _SUBSCRIBED, now, now, json.dumps(phones)],
            )
            return cursor.fetchall()

    def upsert_labels(self, rows: list[tuple[int, str, str, str | None]]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(
                f"""
                INSERT INTO {_LABEL} (account_id, contact_id, key, value) VALUES (%s, %s, %s, %s)
                ON CONFLICT (contact_id, key, account_id) DO UPDATE SET value = excluded.value
                """,  # noqa: S608
                [(self.account_id, *row[:3]) for row in rows],
            )
            if self.job_id is not None:
                cursor.execute(
                    f"""
                    INSERT INTO {_RECORD} (job_id, account_id, contact_id, key, before, after)
                    SELECT %s, %s, value ->> 0, value ->> 1, value ->> 3, value ->> 2
                    FROM json_each(%s) WHERE true {_RECORD_AGAIN}
                    """,  # noqa: S608
                    [self.job_id, self.account_id, json.dumps(rows)],
                )


def _store_for(sending_list: SendingList, job_id: int | None = None) -> _Store:
    if connection.vendor == "postgresql":
        return _PostgresStore(sending_list, job_id)
    return _SQLiteStore(sending_list, job_id)


class _DryRunMemory:
    """The labels a dry run's earlier chunks would have given, by phone, in a private temporary
    SQLite file (deleted on close): memory stays bounded however many contacts the file has."""

    def __init__(self):
        # An empty name is SQLite's private, temporary on-disk database.
        self._db = sqlite3.connect("")
        self._db.execute("CREATE TABLE contact (phone TEXT PRIMARY KEY, labels TEXT) WITHOUT ROWID")

    def recall(self, phones: list[str]) -> dict[str, _Contact]:
        rows = self._db.execute(
            "SELECT phone, labels FROM contact WHERE phone IN (SELECT value FROM json_each(?))",
            [json.dumps(phones)],
        )
        contacts = {}
        for phone, labels in rows:
            stored = json.loads(labels)
            contacts[phone] = _Contact(
                id=None, known=True, subscribed=True, labels=dict(stored), stored=stored
            )
        return contacts

    def remember(self, contacts: dict[str, _Contact]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO contact (phone, labels) VALUES (?, ?)",
            [
                (phone, json.dumps(contact.labels))
                for phone, contact in contacts.items()
                if contact.created or contact.labels != contact.stored
            ],
        )

    def close(self) -> None:
        self._db.close()


# The import.


@dataclass
class ImportResult:
    """What an import did (or, for a dry run, would do). rows = created + updated + unchanged +
    skipped + rejected; `rejected_rows` keeps the first REJECTED_ROWS_KEPT of them.

    The columns: `columns` describes the first MAPPED_COLUMNS_KEPT columns with a value (or a
    use) and what happens to each (`column` "" for one without a name, which a key makes a
    label); `ignored_columns` names the first COLUMNS_KEPT of the named ignored columns that
    have a value, `ignored_columns_count` counts every ignored column, named or not;
    `unnamed_columns` and `empty_columns` count the ignored columns without a name and those
    without a value in any row (either may be both).

    `other_regions` counts the numbers written in national form that the import's region
    makes doubtful (`phones.other_regions`), with the regions where they would be valid and a
    few examples."""

    dry_run: bool
    region: str = ""
    mapping: dict = field(default_factory=dict)
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0
    columns: list[dict] = field(default_factory=list)
    columns_count: int = 0
    country_column: str = ""
    ignored_columns: list[str] = field(default_factory=list)
    ignored_columns_count: int = 0
    unnamed_columns: int = 0
    empty_columns: int = 0
    unnamed_empty_columns: int = 0
    other_regions: int = 0
    other_regions_found: dict[str, int] = field(default_factory=dict)
    other_regions_examples: list[dict] = field(default_factory=list)
    rejected_rows: list[dict] = field(default_factory=list)
    sample: list[dict] = field(default_factory=list)

    def describe_columns(self, header: Header, filled: set[int]) -> None:
        """Describe the header's columns, `filled` being the ignored ones with a value."""
        ignored = set(header.ignored_indexes)
        shown = [
            column
            for column in header.columns
            if column.index not in ignored or column.index in filled
        ]
        self.columns = [column.as_dict() for column in shown[:MAPPED_COLUMNS_KEPT]]
        self.columns_count = len(shown)
        self.country_column = header.country_name
        self.ignored_columns = [
            column.name for column in shown if column.index in ignored and column.name
        ][:COLUMNS_KEPT]
        self.ignored_columns_count = header.ignored_count
        self.unnamed_columns = header.unnamed_count
        named = {column.index for column in header.columns if column.name}
        self.empty_columns = sum(1 for index in ignored if index not in filled)
        self.unnamed_empty_columns = sum(
            1 for index in ignored if index not in filled and index not in named
        )

    def record(self, outcomes: list[tuple[_Row, str]]) -> None:
        for row, outcome in outcomes:
            self.rows += 1
            setattr(self, outcome, getattr(self, outcome) + 1)
            if row.doubt:
                self._note_doubt(row)
            if outcome == REJECTED:
                if len(self.rejected_rows) < REJECTED_ROWS_KEPT:
                    self.rejected_rows.append(
                        {
                            "row": row.number,
                            "phone": row.phone_given,
                            "code": row.code,
                            "reason": row.reason,
                        }
                    )
            elif len(self.sample) < SAMPLE_ROWS:
                self.sample.append(
                    {
                        "row": row.number,
                        "phone": row.phone,
                        "labels": row.labels,
                        "outcome": outcome,
                    }
                )

    def _note_doubt(self, row: _Row) -> None:
        self.other_regions += 1
        for region in row.doubt:
            self.other_regions_found[region] = self.other_regions_found.get(region, 0) + 1
        if len(self.other_regions_examples) < OTHER_REGIONS_EXAMPLES:
            self.other_regions_examples.append(
                {
                    "row": row.number,
                    "phone": row.phone_given.strip(),
                    "read_as": row.phone,
                    "region": row.region or self.region,
                    "valid_in": list(row.doubt),
                }
            )

    def as_dict(self) -> dict:
        # The most frequent first; among equals, the first found (country column, then the
        # most common regions).
        found = sorted(self.other_regions_found.items(), key=lambda item: -item[1])
        return {
            "dry_run": self.dry_run,
            "region": self.region,
            "mapping": self.mapping,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "columns": self.columns,
            "columns_count": self.columns_count,
            "country_column": self.country_column,
            "ignored_columns": self.ignored_columns,
            "ignored_columns_count": self.ignored_columns_count,
            "unnamed_columns": self.unnamed_columns,
            "empty_columns": self.empty_columns,
            "unnamed_empty_columns": self.unnamed_empty_columns,
            "other_regions": {
                "count": self.other_regions,
                "regions": dict(found),
                "examples": self.other_regions_examples,
            },
            "rejected_rows": self.rejected_rows,
            "rejected_rows_truncated": self.rejected > len(self.rejected_rows),
            "sample": self.sample,
        }


def ignored_summary(result: dict, *, named: bool = True) -> str:
    """The ignored columns in a sentence that stays short however many there are: the first
    names of those with a value (unless not `named`: where the columns are shown one by one),
    then counts (`253 unnamed empty columns ignored.`)."""
    parts = []
    names = result.get("ignored_columns", [])
    if names and named:
        empty = result.get("empty_columns", 0)
        unnamed_filled = result.get("unnamed_columns", 0) - result.get("unnamed_empty_columns", 0)
        more = result.get("ignored_columns_count", 0) - empty - unnamed_filled - len(names)
        shown = ", ".join(names) + (f" and {more:,} more" if more > 0 else "")
        parts.append(f"Ignored columns: {shown}.")
    unnamed_empty = result.get("unnamed_empty_columns", 0)
    unnamed_filled = result.get("unnamed_columns", 0) - unnamed_empty
    named_empty = result.get("empty_columns", 0) - unnamed_empty
    for count, what in (
        (unnamed_empty, "unnamed empty"),
        (unnamed_filled, "unnamed"),
        (named_empty, "empty"),
    ):
        if count:
            plural = "column" if count == 1 else "columns"
            parts.append(f"{count:,} {what} {plural} ignored.")
    return " ".join(parts)


# Attempts at a chunk whose new contacts another writer created meanwhile.
_ATTEMPTS = 3
# Doubtful numbers a result shows as examples.
OTHER_REGIONS_EXAMPLES = 5


def import_file(
    path: Path | str,
    *,
    sending_list: SendingList,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    chunk_rows: int = CHUNK_ROWS,
    mapping: Mapping | None = None,
    region: str | None = None,
    job_id: int | None = None,
) -> ImportResult:
    """Import a CSV file into `sending_list` (or, with `dry_run`, only tell what it would do),
    its columns read as `mapping` says (the header decides what it leaves out), its numbers
    with each row's country, else `region` (default: the account's).

    Raises `ValidationError` before writing anything when the file is rejected as a whole;
    otherwise every row gets an outcome. `progress(done, total)` is called after each chunk (a
    dry run's) or inside its transaction, after its writes: what it raises rolls the chunk back.
    With `job_id`, every changed label and every created contact is recorded under that job
    (`LabelRecord`, `CreatedContact`), in the chunk's transaction, so that it can be undone.
    """
    path = Path(path)
    progress = progress or _no_progress
    mapping = mapping or Mapping()
    region = clean_region(region) if region else sending_list.account.default_region
    header, total, filled = check_file(path, mapping)
    result = ImportResult(dry_run=dry_run, region=region, mapping=mapping.as_dict())
    result.describe_columns(header, filled)
    progress(0, total)
    store = _store_for(sending_list, None if dry_run else job_id)
    memory = _DryRunMemory() if dry_run else None
    try:
        chunks = _read_chunks(path, header, _Regions(region), chunk_rows, store.stored_phones)
        for rows in _read_ahead(chunks):
            phones = list({row.phone for row in rows if not row.code})
            if memory is not None:
                contacts = memory.recall(phones)
                with lookup_reads():
                    contacts |= store.fetch([p for p in phones if p not in contacts], lock=False)
                outcomes = _apply_rows(rows, contacts)
                memory.remember(contacts)
                result.record(outcomes)
                progress(result.rows, total)
            else:
                confirm = functools.partial(progress, result.rows + len(rows), total)
                result.record(_write_chunk(store, rows, phones, confirm=confirm))
    finally:
        if memory is not None:
            memory.close()
    return result


def clean_region(region: object) -> str:
    """A region chosen for an import (`GB`, any case), or raise `invalid_region`."""
    code = region.strip().upper() if isinstance(region, str) else ""
    if not is_supported_region(code):
        raise ValidationError(
            f"Region {region!r} is not one phone numbers can be read with: give a two-letter "
            "ISO code such as GB or US.",
            code="invalid_region",
        )
    return code


def _no_progress(done: int, total: int) -> None:
    pass


def _write_chunk(
    store: _Store, rows: list[_Row], phones: list[str], *, confirm: Callable[[], object]
) -> list[tuple[_Row, str]]:
    """Apply a chunk in one transaction: all of it is written, or none of it.

    The chunk's contacts are read without locks and only those it changes are locked; when one
    of them changed in between, the chunk is applied again with every contact locked.
    `confirm()` runs last inside the transaction (the job's progress and lease check): what it
    raises rolls the chunk back.
    """
    lock_all = False
    inserts_lost = 0
    while True:
        try:
            with transaction.atomic():
                plan_as_lookups()
                contacts = store.fetch(phones, lock=lock_all)
                outcomes = _apply_rows(rows, contacts)
                if not lock_all:
                    store.check_unchanged(contacts)
                store.write(contacts)
                confirm()
                return outcomes
        except _StaleReadError:
            # With every contact locked first, the next attempt cannot find a stale one.
            lock_all = True
        except _ConcurrentInsertError:
            # The rows were judged against contacts that changed since: judge them again.
            inserts_lost += 1
            if inserts_lost == _ATTEMPTS:
                raise


# Import jobs.


def import_start(
    *,
    account: Account,
    user,
    sending_list: SendingList,
    upload: str,
    file_name: str,
    dry_run: bool,
    source: Job | None = None,
    mapping: Mapping | None = None,
    region: str | None = None,
) -> Job:
    """Start a job importing (or previewing) a stored upload into `sending_list`, its columns
    read as `mapping` says and its numbers with `region` (default: the account's).

    `source` is the preview (or failed import) this import was confirmed from; an archived list
    is refused (`list_archived`).
    """
    check_list_open(sending_list)
    upload_path(upload)
    params = {
        "list_id": sending_list.pk,
        "upload": upload,
        "file_name": file_name,
        "dry_run": dry_run,
        "mapping": (mapping or Mapping()).as_dict(),
        "region": clean_region(region) if region else account.default_region,
    }
    if source is not None:
        params["source_job"] = source.pk
    return start_job(
        account=account,
        kind=Job.Kind.IMPORT_PREVIEW if dry_run else Job.Kind.IMPORT,
        user=user,
        params=params,
        task=import_task,
    )


def import_run(job: Job, progress: Progress) -> dict:
    """The job's work: import (or preview) its upload. A finished import deletes the upload, and
    so does a rejected file; a failed import keeps it, to be run again."""
    params = job.params
    sending_list = (
        SendingList.objects.select_related("account")
        .filter(account_id=job.account_id, pk=params["list_id"])
        .first()
    )
    if sending_list is None:
        raise ValidationError("The sending list no longer exists.", code="missing_list")
    path = upload_path(params["upload"])
    if not path.exists():
        raise _file_error("The uploaded file is no longer kept; upload it again.", "upload_gone")
    try:
        result = import_file(
            path,
            sending_list=sending_list,
            dry_run=params["dry_run"],
            progress=progress,
            mapping=clean_mapping(params.get("mapping")),
            region=params.get("region"),
            job_id=job.pk,
        )
    except ValidationError:
        path.unlink(missing_ok=True)
        raise
    if not params["dry_run"]:
        path.unlink(missing_ok=True)
    return {**result.as_dict(), "list_id": sending_list.pk, "file_name": params["file_name"]}


@task
def import_task(job_id: int) -> None:
    run_job(job_id, import_run)


def rejected_rows_csv(result: dict) -> Iterable[list[str]]:
    """The rejected rows of a job result as CSV rows: row number, phone as given, reason."""
    yield ["row", "phone_number", "reason"]
    for rejected in result.get("rejected_rows", []):
        yield [str(rejected["row"]), rejected["phone"], rejected["reason"]]
