"""The CSV import (docs/import.md): the pipeline, its jobs, the import_csv command and the
dashboard."""

import csv
import io
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import include, path, reverse
from django.utils import timezone

from contacts import importing, services
from contacts.importing import import_file
from contacts.models import Contact, Label, LabelKeyCount, LabelValueCount
from tests.factories import AccountFactory, ContactFactory, SendingListFactory, label_contact
from trackly.db import plan_as_lookups
from trackly.models import Job

# The import URLs are included by trackly/urls.py; they are included here as well so that these
# tests stand on their own.
urlpatterns = [
    path("a/<slug:account_slug>/", include("contacts.import_urls")),
    path("", include("trackly.urls")),
]
pytestmark = pytest.mark.urls(__name__)

HTMX = {"HTTP_HX_REQUEST": "true"}
COUNTS = ("rows", "created", "updated", "unchanged", "skipped", "rejected")


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path) -> Path:
    settings.IMPORT_DIR = tmp_path / "imports"
    return settings.IMPORT_DIR


@pytest.fixture
def write(tmp_path):
    def write(content: str | bytes, name: str = "contacts.csv") -> Path:
        file = tmp_path / name
        if isinstance(content, str):
            file.write_text(content, encoding="utf-8", newline="")
        else:
            file.write_bytes(content)
        return file

    return write


@pytest.fixture
def run(write, sending_list):
    """Import CSV text into the Main list; return the result."""

    def run(content: str | bytes, **options) -> importing.ImportResult:
        return import_file(write(content), sending_list=sending_list, **options)

    return run


def counts(result) -> dict[str, int]:
    return {name: getattr(result, name) for name in COUNTS}


def rejected(result) -> list[tuple[int, str, str]]:
    return [(row["row"], row["phone"], row["reason"]) for row in result.rejected_rows]


def labels_of(phone: str) -> dict[str, str]:
    return dict(
        Label.objects.filter(contact__phone_number=phone)
        .order_by("key")
        .values_list("key", "value")
    )


def database_state() -> tuple:
    """Everything an import may change, to show that a dry run changed none of it."""
    return (
        sorted(Contact.objects.values_list("phone_number", "status", "updated_at")),
        sorted(Label.objects.values_list("contact__phone_number", "key", "value")),
        sorted(LabelKeyCount.objects.values_list("key", "contacts")),
        sorted(LabelValueCount.objects.values_list("key", "value", "contacts")),
    )


# Columns


@pytest.mark.parametrize("column", ["phone_number", "phone", "msisdn", "Phone_Number", " phone "])
def test_the_phone_column_and_its_aliases(run, column):
    result = run(f"{column},label_tier\n4155551234,gold\n")
    assert counts(result) == dict.fromkeys(COUNTS, 0) | {"rows": 1, "created": 1}
    assert labels_of("+14155551234") == {"tier": "gold"}


def test_label_columns_set_labels_and_other_columns_are_ignored(run):
    result = run("name,phone,label_tier,,label_Source,notes\nAnn,4155551234,gold,x,FB,hi\n")
    assert result.ignored_columns == ["name", "notes"]
    assert result.ignored_columns_count == 3
    assert (result.unnamed_columns, result.empty_columns) == (1, 0)
    assert importing.ignored_summary(result.as_dict()) == (
        "Ignored columns: name, notes. 1 unnamed column ignored."
    )
    assert labels_of("+14155551234") == {"Source": "FB", "tier": "gold"}


def test_a_header_of_many_columns_keeps_the_first_names_and_counts_them_all(run):
    # 100,000 columns: the phone, one label and 99,998 others, named or not.
    names = [f"extra{n}" if n % 3 else "" for n in range(99_998)]
    header = ",".join(["phone", *names[:10], "label_tier", *names[10:]])
    result = run(f"{header}\n4155551234" + ",v" * 10 + ",gold" + ",v" * 99_988 + "\n")
    assert result.ignored_columns_count == 99_998
    assert result.ignored_columns == [f"extra{n}" for n in range(1, 31) if n % 3][:20]
    assert (result.unnamed_columns, result.empty_columns) == (33_333, 0)
    assert importing.ignored_summary(result.as_dict()) == (
        "Ignored columns: "
        + ", ".join(f"extra{n}" for n in range(1, 31) if n % 3)
        + " and 66,645 more. 33,333 unnamed columns ignored."
    )
    assert labels_of("+14155551234") == {"tier": "gold"}
    # What the job keeps and the API answers stays small: the first 50 columns described.
    assert len(result.columns) == 50
    assert len(json.dumps(result.as_dict())) < 6_000


def test_a_header_of_many_columns_without_a_phone_is_named_in_short(run):
    header = ",".join(f"c{n}" for n in range(100_000))
    with pytest.raises(ValidationError) as caught:
        run(f"{header}\n1,2\n")
    names = ", ".join(f"'c{n}'" for n in range(20))
    assert caught.value.messages == [
        "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the "
        "column that holds the numbers. "
        f"Its columns are: {names} and 99,980 more."
    ]


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "name,label_tier",
            "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the "
            "column that holds the numbers. "
            "Its columns are: 'name', 'label_tier'.",
        ),
        (
            "phone;label_tier",
            "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the "
            "column that holds the numbers. "
            "Its columns are: 'phone;label_tier'. "
            "The values seem to be separated by something else than commas.",
        ),
        (
            "phone,label_tier,label_tier",
            "The column 'label_tier' appears twice (columns 2 and 3); keep one.",
        ),
        (
            "phone,label_tier,LABEL_tier",
            "The columns 'label_tier' (column 2) and 'LABEL_tier' (column 3) are the same "
            "column; keep one.",
        ),
        (
            "phone,Phone",
            "The columns 'phone' (column 1) and 'Phone' (column 2) are the same column; keep one.",
        ),
        (
            "phone,label_bad key,label_bad_key",
            "The columns 'label_bad key' (column 2) and 'label_bad_key' (column 3) are the same "
            "column; keep one.",
        ),
        ("notes,phone,notes", "The column 'notes' appears twice (columns 1 and 3); keep one."),
        (",,", "The first row, the header, is empty."),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_header_errors_reject_the_whole_file_before_anything_is_written(
    run, contact, header, message, dry_run
):
    before = database_state()
    with pytest.raises(ValidationError) as caught:
        run(f"{header}\n4155551234,gold,x\n4155550000,silver,y\n", dry_run=dry_run)
    assert caught.value.messages == [message]
    assert caught.value.code == "invalid_header"
    assert database_state() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (
            b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml",
            "This is an Excel workbook (or another archive), not a CSV file. In Excel, use Save "
            "As and choose CSV UTF-8 (Comma delimited), then upload that file.",
        ),
        (
            "phone\n4155551234\n".encode("utf-16"),
            "This file is UTF-16 text; save it as CSV UTF-8 (Comma delimited) and upload it again.",
        ),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "This is not a text file, so it cannot be a CSV file.",
        ),
        (
            "phone,label_city\n4155551234,Paris\n4155551235,Zürich\n".encode("latin-1"),
            "Line 3 of the file is not UTF-8 text. Save the file as CSV UTF-8 (Comma delimited) "
            "and upload it again.",
        ),
        (
            b'phone,label_note\n4155551234,"never closed\n4155551235,x\n',
            "The file is not valid CSV: line 2: a quoted value never ends (look for an unpaired "
            "double quote).",
        ),
        (
            b'phone,label_note\n4155551234,"quoted"then more\n',
            "The file is not valid CSV: line 2: ',' expected after '\"'.",
        ),
        # A quote never closed takes in the rest of the file, past the csv module's limit of
        # a value's length: still a quote that never ends.
        (
            b'phone,label_note\n4155551234,"never closed\n' + b"4155551235,x\n" * 20_000,
            "The file is not valid CSV: line 2: a quoted value never ends (look for an unpaired "
            "double quote).",
        ),
        # Values over that limit, plain or quoted (with doubled quotes and line breaks).
        (
            b"phone,label_note\n4155551234," + b"x" * 200_000 + b"\n",
            "The file is not valid CSV: row 2, column 2: the value is too long (more than "
            "131,072 characters).",
        ),
        (
            b"phone,label_tier,label_note\n4155551234,gold,short\n4155551235,gold,"
            + b'"'
            + b'a ""quoted"" word\r\n' * 10_000
            + b'"\n4155551236,gold,x\n',
            "The file is not valid CSV: row 3, column 3: the value is too long (more than "
            "131,072 characters).",
        ),
    ],
    ids=[
        "empty",
        "excel",
        "utf-16",
        "binary",
        "latin-1",
        "unterminated quote",
        "text after a quote",
        "unterminated quote over the limit",
        "long value",
        "long quoted value",
    ],
)
def test_files_that_are_not_csv_text_are_rejected_with_a_clear_error(run, content, message):
    with pytest.raises(ValidationError) as caught:
        run(content)
    assert caught.value.messages == [message]
    assert caught.value.code == "invalid_file"
    assert not Contact.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(
    write, sending_list, settings, monkeypatch
):
    settings.IMPORT_MAX_BYTES = 40
    file = write("phone,label_tier\n4155551234,gold\n4155551235,silver\n")
    monkeypatch.setattr(Path, "open", lambda *args, **kwargs: pytest.fail("The file was read."))
    with pytest.raises(ValidationError) as caught:
        import_file(file, sending_list=sending_list)
    assert caught.value.messages == ["The file is 51 bytes; the limit is 40 bytes."]
    assert caught.value.code == "payload_too_large"


# Real-world files


def test_bom_crlf_quoted_values_and_a_trailing_empty_line(run):
    content = (
        "\ufeffphone_number,label_note,label_city,comment\r\n"
        '+1 (415) 555-1234,"Hello, ""friend""",San Francisco,"a, b"\r\n'
        '(415) 555-1235,"line one\r\nline two",LA,\r\n'
        '415.555.1236,,New York,"said ""hi""\r\nthen left"\r\n'
        "not a phone,x,y,z\r\n"
        "\r\n"
    )
    result = run(content)
    assert counts(result) == {
        "rows": 4,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 2,
    }
    assert result.ignored_columns == ["comment"]
    # The multi-line record is row 3; the record after the other multi-line one is row 5.
    assert rejected(result) == [
        (3, "(415) 555-1235", "label_note: Label value contains the control character U+000D."),
        (5, "not a phone", "'not a phone' is not a valid phone number (read with region US)."),
    ]
    assert labels_of("+14155551234") == {"city": "San Francisco", "note": 'Hello, "friend"'}
    assert labels_of("+14155551236") == {"city": "New York"}


def test_phone_numbers_in_every_usual_format_are_one_contact(run):
    formats = ["4155551234", "(415) 555-1234", "415.555.1234", "+1 415 555 1234", "14155551234"]
    result = run("phone\n" + "\n".join(f'"{phone}"' for phone in formats) + "\n")
    assert counts(result) == {
        "rows": 5,
        "created": 1,
        "updated": 0,
        "unchanged": 4,
        "skipped": 0,
        "rejected": 0,
    }
    assert list(Contact.objects.values_list("phone_number", flat=True)) == ["+14155551234"]


def test_blank_rows_are_not_counted_but_keep_their_row_numbers(run):
    result = run("phone,label_tier\n\n,,\n4155551234,gold\n , \nbad,x\n")
    assert (result.rows, result.created) == (2, 1)
    assert rejected(result) == [
        (6, "bad", "'bad' is not a valid phone number (read with region US).")
    ]


# Rows


def test_an_empty_cell_leaves_its_label_untouched(run, contact):
    result = run("phone,label_source,label_tier,label_new\n4155551234,,silver,  \n")
    assert (result.updated, result.rejected) == (1, 0)
    assert labels_of("+14155551234") == {"source": "facebook", "tier": "silver"}


def test_values_quoted_against_formulas_are_read_as_they_were_exported(run):
    result = run(
        "phone_number,label_delta,label_note,label_quote,label_plain\n"
        "+14155550101,'-5,'=HYPERLINK(1),''+1,'hello\n"
    )

    assert counts(result)["created"] == 1
    assert labels_of("+14155550101") == {
        "delta": "-5",
        "note": "=HYPERLINK(1)",
        "plain": "'hello",
        "quote": "'+1",
    }


def test_invalid_values_reject_their_row_and_the_other_rows_are_imported(run):
    long_value = "x" * 257
    result = run(
        "phone,label_tier,label_note\n"
        "4155551234,gold,fine\n"
        f"4155551235,silver,{long_value}\n"
        '4155551236,"tab\there",ok\n'
        ",bronze,\n"
        "4155551237,gold,x,surprise\n"
        "4155551238,gold,x,,\n"
    )
    assert counts(result) == {
        "rows": 6,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 4,
    }
    assert rejected(result) == [
        (3, "4155551235", "label_note: Label value is 257 characters long; the limit is 256."),
        (4, "4155551236", "label_tier: Label value contains the control character U+0009."),
        (5, "", "Phone number is empty."),
        (
            6,
            "4155551237",
            "The row has 4 cells but the header has 3 columns (a value containing a comma must "
            "be quoted).",
        ),
    ]
    assert [row["code"] for row in result.rejected_rows] == [
        "invalid_label_value",
        "invalid_label_value",
        "invalid_phone",
        "invalid_row",
    ]
    assert set(Contact.objects.values_list("phone_number", flat=True)) == {
        "+14155551234",
        "+14155551238",
    }


def test_all_problems_of_a_row_are_reported_together(run):
    result = run('phone,label_a,label_b\nbad,"a\nb",ok\n')
    assert rejected(result) == [
        (
            2,
            "bad",
            "'bad' is not a valid phone number (read with region US). "
            "label_a: Label value contains the control character U+000A.",
        )
    ]


def test_the_label_limit_counts_the_existing_labels_and_the_files(run, sending_list):
    full = {f"k{i}": "v" for i in range(49)}
    label_contact(ContactFactory(sending_list=sending_list, phone_number="+14155551234"), full)
    keys = [f"k{i}" for i in range(51)]
    result = run(
        f"phone,label_new1,label_new2,label_k0,{','.join(f'label_{k}x' for k in keys)}\n"
        "4155551234,a,b,,\n"  # 49 + 2 = 51: rejected
        "4155551234,a,,w,\n"  # 49 + 1 (and k0 replaced) = 50: updated
        "4155551234,,b,,\n"  # 51 again: rejected
        f"4155550000,,,,{','.join('v' for _ in keys)}\n"  # a new contact with 51: rejected
    )
    assert counts(result) == {
        "rows": 4,
        "created": 0,
        "updated": 1,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 3,
    }
    assert [(row["row"], row["code"], row["reason"]) for row in result.rejected_rows] == [
        (2, "too_many_labels", "A contact can have at most 50 labels; this would make 51."),
        (4, "too_many_labels", "A contact can have at most 50 labels; this would make 51."),
        (5, "too_many_labels", "A contact can have at most 50 labels; this would make 51."),
    ]
    stored = labels_of("+14155551234")
    assert (len(stored), stored["k0"], stored["new1"]) == (50, "w", "a")
    assert not Contact.objects.filter(phone_number="+14155550000").exists()


def test_unsubscribed_contacts_are_skipped_and_stay_unsubscribed(run, contact):
    contact.status = Contact.Status.UNSUBSCRIBED
    contact.unsubscribed_at = timezone.now()
    contact.save()
    result = run("phone,label_tier\n4155551234,silver\n")
    assert counts(result) == dict.fromkeys(COUNTS, 0) | {"rows": 1, "skipped": 1}
    contact.refresh_from_db()
    assert contact.status == Contact.Status.UNSUBSCRIBED
    assert labels_of("+14155551234") == {"source": "facebook", "tier": "gold"}


SAME_PHONE = (
    "phone,label_tier,label_city\n"
    "4155551234,gold,\n"
    "4155550000,gold,\n"
    "(415) 555-1234,silver,\n"
    "+14155551234,silver,\n"
    "4155551234,,Paris\n"
)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 10_000])
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_same_phone_twice_applies_in_order(run, chunk_rows, dry_run):
    result = run(SAME_PHONE, chunk_rows=chunk_rows, dry_run=dry_run)
    assert counts(result) == {
        "rows": 5,
        "created": 2,
        "updated": 2,
        "unchanged": 1,
        "skipped": 0,
        "rejected": 0,
    }
    assert [(row["row"], row["outcome"]) for row in result.sample] == [
        (2, "created"),
        (3, "created"),
        (4, "updated"),
        (5, "unchanged"),
        (6, "updated"),
    ]
    if not dry_run:
        assert labels_of("+14155551234") == {"city": "Paris", "tier": "silver"}


def test_importing_the_same_file_again_changes_nothing(run, contact):
    content = "phone,label_tier,label_city\n4155551234,silver,Paris\n4155550000,gold,\n"
    run(content)
    before = database_state()
    again = run(content)
    assert counts(again) == {
        "rows": 2,
        "created": 0,
        "updated": 0,
        "unchanged": 2,
        "skipped": 0,
        "rejected": 0,
    }
    assert database_state() == before


def test_updated_contacts_get_a_new_updated_at(run, contact):
    before = contact.updated_at
    run("phone,label_tier\n4155551234,silver\n")
    contact.refresh_from_db()
    assert contact.updated_at > before


def test_the_label_catalogue_counts_follow_the_import(run, contact):
    run("phone,label_tier\n4155551234,silver\n4155550000,silver\n4155550001,gold\n")
    assert dict(LabelKeyCount.objects.values_list("key", "contacts")) == {"source": 1, "tier": 3}
    assert dict(LabelValueCount.objects.filter(key="tier").values_list("value", "contacts")) == {
        "silver": 2,
        "gold": 1,
    }


def test_only_the_first_rejected_rows_are_kept(run, monkeypatch):
    monkeypatch.setattr(importing, "REJECTED_ROWS_KEPT", 2)
    result = run("phone\nbad1\nbad2\nbad3\n")
    assert result.rejected == 3
    assert [row["row"] for row in result.rejected_rows] == [2, 3]
    assert result.as_dict()["rejected_rows_truncated"] is True


def test_a_list_of_another_account_is_not_touched(run, sending_list, other_contact):
    run("phone,label_source\n4155559999,import\n")
    other_contact.refresh_from_db()
    assert dict(other_contact.labels.values_list("key", "value")) == {"source": "google"}
    mine = Contact.objects.get(sending_list=sending_list, phone_number="+14155559999")
    assert dict(mine.labels.values_list("key", "value")) == {"source": "import"}


@pytest.mark.django_db(transaction=True)
def test_numbers_given_exactly_as_stored_are_not_parsed_again(write, monkeypatch):
    sending_list = SendingListFactory(account=AccountFactory(slug="acme"))
    file = write("phone,label_tier\n+14155551234,gold\n(415) 555-1235,gold\n+1 415 555 1236,x\n")
    import_file(file, sending_list=sending_list)
    parsed = []
    real = importing.normalize_phone
    monkeypatch.setattr(
        importing,
        "normalize_phone",
        lambda raw, region, **kwargs: parsed.append(raw) or real(raw, region, **kwargs),
    )
    again = import_file(file, sending_list=sending_list)
    assert (again.unchanged, again.rows) == (3, 3)
    assert parsed == ["(415) 555-1235", "+1 415 555 1236"]


# Dry run


MIXED = (
    "phone,label_tier,label_city\n"
    "4155551234,silver,\n"  # the contact: updated
    "4155550000,gold,Paris\n"  # new
    "4155550001,,\n"  # unsubscribed: skipped
    "4155551234,silver,\n"  # unchanged
    "bad,gold,\n"  # rejected
    "4155550000,gold,Rome\n"  # updated, though created by the same file
)


@pytest.mark.parametrize("chunk_rows", [1, 2, 10_000])
def test_a_dry_run_writes_nothing_and_tells_what_the_import_will_do(
    run, contact, sending_list, chunk_rows
):
    ContactFactory(
        sending_list=sending_list,
        phone_number="+14155550001",
        status=Contact.Status.UNSUBSCRIBED,
        unsubscribed_at=timezone.now(),
    )
    before = database_state()
    preview = run(MIXED, dry_run=True, chunk_rows=chunk_rows)
    assert database_state() == before
    assert counts(preview) == {
        "rows": 6,
        "created": 1,
        "updated": 2,
        "unchanged": 1,
        "skipped": 1,
        "rejected": 1,
    }
    done = run(MIXED, chunk_rows=chunk_rows)
    assert done.as_dict() == preview.as_dict() | {"dry_run": False}
    assert labels_of("+14155550000") == {"city": "Rome", "tier": "gold"}


def test_progress_is_reported_after_each_chunk(run):
    calls = []
    run(SAME_PHONE, chunk_rows=2, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 5), (2, 5), (4, 5), (5, 5)]


# Set-based writes


def test_a_chunk_takes_a_fixed_number_of_queries(run, contact, django_assert_max_num_queries):
    header = "phone,label_a,label_b,label_c\n"
    rows = "".join(f"+1415555{n:04d},a{n % 7},b{n % 3},c\n" for n in range(200))
    # Per chunk: a savepoint, the contacts, their labels, (PostgreSQL) the contacts it changes
    # locked and their labels read again, new contacts, the staging table (PostgreSQL), the
    # labels, updated_at, the savepoint's release.
    per_chunk = 12
    with django_assert_max_num_queries(per_chunk):
        result = run(header + rows)
    assert result.created == 200
    with django_assert_max_num_queries(per_chunk):
        run(header + rows.replace(",c\n", ",d\n"))
    with django_assert_max_num_queries(4 * per_chunk):
        run(header + rows.replace(",d\n", ",e\n"), chunk_rows=50)


def test_a_killed_import_leaves_whole_chunks_and_running_it_again_completes_it(run, monkeypatch):
    content = "phone,label_tier\n" + "".join(f"+1415555{n:04d},gold\n" for n in range(5))
    real = importing._Store.write
    chunks = []

    def killed_in_the_second_chunk(store, contacts):
        chunks.append(contacts)
        real(store, contacts)
        if len(chunks) == 2:
            raise RuntimeError("worker killed")

    monkeypatch.setattr(importing._Store, "write", killed_in_the_second_chunk)
    with pytest.raises(RuntimeError):
        run(content, chunk_rows=2)
    # The first chunk is there whole, nothing of the second.
    assert sorted(Contact.objects.values_list("phone_number", flat=True)) == [
        "+14155550000",
        "+14155550001",
    ]
    assert Label.objects.count() == 2
    monkeypatch.undo()
    again = run(content, chunk_rows=2)
    assert (again.created, again.unchanged) == (3, 2)
    assert Label.objects.filter(key="tier", value="gold").count() == 5


def test_a_contact_created_meanwhile_by_another_writer_is_updated_not_lost(
    run, sending_list, monkeypatch
):
    # Another writer creates the contact after the chunk was read: the first read misses it,
    # the insert finds it, and the chunk is judged again against what is stored now.
    label_contact(
        ContactFactory(sending_list=sending_list, phone_number="+14155551234"), {"source": "api"}
    )
    real = importing._Store.fetch
    reads = []

    def fetch(store, phones, *, lock):
        contacts = real(store, phones, lock=lock)
        if not lock:
            reads.append(phones)
            if len(reads) == 1:
                del contacts["+14155551234"]
        return contacts

    monkeypatch.setattr(importing._Store, "fetch", fetch)
    result = run("phone,label_tier\n4155551234,gold\n")
    assert len(reads) == 2
    assert (result.created, result.updated) == (0, 1)
    assert labels_of("+14155551234") == {"source": "api", "tier": "gold"}


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite serialises writers: no edit can come between a chunk's read and its write",
)
@pytest.mark.django_db(transaction=True)
def test_a_contact_edited_between_the_read_and_the_lock_is_judged_again(
    run, sending_list, monkeypatch
):
    # The chunk is read without locks; another writer gives the contact its 50th label before
    # the chunk locks it. The chunk must see that label and reject the row, not make 51.
    contact = label_contact(
        ContactFactory(sending_list=sending_list, phone_number="+14155551234"),
        {f"k{i}": "v" for i in range(49)},
    )
    real = importing._Store.fetch
    reads = []

    def another_writer():
        try:
            services.contact_labels_update(contact=contact, labels={"k49": "v"})
        finally:
            connections.close_all()

    def fetch(store, phones, *, lock):
        found = real(store, phones, lock=lock)
        reads.append(lock)
        if reads == [False]:
            writer = threading.Thread(target=another_writer)
            writer.start()
            writer.join()
        return found

    monkeypatch.setattr(importing._Store, "fetch", fetch)
    result = run("phone,label_new\n4155551234,x\n")
    # The unlocked read, the lock that found the change, the chunk again with every lock.
    assert reads == [False, True, True]
    assert [(row["row"], row["code"]) for row in result.rejected_rows] == [(2, "too_many_labels")]
    stored = labels_of("+14155551234")
    assert (len(stored), "new" in stored) == (50, False)


def test_reimporting_an_unchanged_file_locks_no_contact(run, sending_list, monkeypatch):
    content = "phone,label_tier\n" + "".join(f"+1415555{n:04d},gold\n" for n in range(3))
    run(content)
    real = importing._Store.fetch
    locked = []

    def fetch(store, phones, *, lock):
        locked.extend(phones if lock else [])
        return real(store, phones, lock=lock)

    monkeypatch.setattr(importing._Store, "fetch", fetch)
    again = run(content.replace("+14155550002,gold", "+14155550002,silver"))
    assert (again.unchanged, again.updated) == (2, 1)
    expected = ["+14155550002"] if connection.vendor == "postgresql" else []
    assert locked == expected


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner settings")
@pytest.mark.django_db(transaction=True)
def test_chunks_are_read_and_written_with_lookup_plans(run, monkeypatch):
    # Both threads: the chunk's transaction, and the reading thread's lookup of stored numbers,
    # in a transaction of its own (so a pooler's next client does not get the settings).
    seen = []

    def settings_now(label):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('jit')")
            seen.append((label, *cursor.fetchone()))

    real_apply = importing._apply_rows
    real_stored = importing._Store.stored_phones
    real_query = importing._PostgresStore.contacts_query

    def apply_rows(rows, contacts):
        settings_now("chunk")
        return real_apply(rows, contacts)

    reading = threading.local()

    def contacts_query(store, phones, *, lock):
        if getattr(reading, "stored", False):
            settings_now("reader")
        return real_query(store, phones, lock=lock)

    def stored_phones(store, phones):
        reading.stored = True
        try:
            found = real_stored(store, phones)
        finally:
            reading.stored = False
        settings_now("reader, after")
        return found

    settings_now("before")
    monkeypatch.setattr(importing, "_apply_rows", apply_rows)
    monkeypatch.setattr(importing._PostgresStore, "contacts_query", contacts_query)
    monkeypatch.setattr(importing._Store, "stored_phones", stored_phones)
    run("phone,label_tier\n+14155550001,gold\n", chunk_rows=1)
    settings_now("after")
    before = seen[0][1:]
    assert before[0] == "on"
    # Each connection is as it was: the settings ended with each transaction.
    assert seen == [
        ("before", *before),
        ("reader", "off", "off"),
        ("reader, after", *before),
        ("chunk", "off", "off"),
        ("after", *before),
    ]


def _fill_list(sending_list, start: int, count: int) -> None:
    """`count` contacts (+1415 200-0000 on, from `start`) with a label each, set-based."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO contacts_contact
                (account_id, sending_list_id, phone_number, status, created_at, updated_at)
            SELECT %s, %s, '+1415' || (2000000 + n), 'subscribed', now(), now()
            FROM generate_series(%s, %s) AS n
            """,
            [sending_list.account_id, sending_list.pk, start, start + count - 1],
        )
        cursor.execute(
            """
            INSERT INTO contacts_label (account_id, contact_id, key, value)
            SELECT account_id, id, 'tier', 'gold' FROM contacts_contact
            WHERE sending_list_id = %s
            """,
            [sending_list.pk],
        )


def _index_scans(plan: dict) -> Iterator[dict]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _index_scans(child)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans")
def test_chunks_probe_the_phone_index_whatever_the_statistics_say(
    write, account, sending_list, monkeypatch
):
    # A list created empty and analysed as such (autovacuum runs its ANALYZE some time after
    # a large import), then filled: the statistics say the list has no contact. Every statement
    # of a chunk must still find contacts through the (list, phone) unique index or the primary
    # key, and labels through the (contact, key) one, not read the list (as
    # `contact_list_status_idx` or the unique index by list alone would) nor a whole table.
    other = SendingListFactory(account=account, name="Other", phone_number="+14155550101")
    _fill_list(other, 0, 20_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE contacts_contact")
        cursor.execute("ANALYZE contacts_label")
    _fill_list(sending_list, 100_000, 5_000)
    statements = []

    def capture(execute, sql, params, many, context):
        if sql.lstrip().startswith(("SELECT", "INSERT", "UPDATE")) and not many:
            statements.append((sql, params))
        return execute(sql, params, many, context)

    # Rows changing stored contacts (which locks them) and rows creating contacts; a chunk
    # applied again with every contact locked reads through the locked statement too.
    rows = [f"+1415{2_000_000 + n},silver" for n in range(100_000, 100_050)]
    rows += [f"+1415{2_000_000 + n},gold" for n in range(200_000, 200_050)]
    file = write("phone,label_tier\n" + "\n".join(rows) + "\n")
    with connection.execute_wrapper(capture):
        result = import_file(file, sending_list=sending_list)
    assert (result.updated, result.created) == (50, 50)
    assert any("FOR NO KEY UPDATE" in sql for sql, _ in statements)

    used = set()
    with transaction.atomic(), connection.cursor() as cursor:
        plan_as_lookups()
        for sql, params in statements:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            for node in _index_scans(cursor.fetchone()[0][0]["Plan"]):
                relation = node.get("Relation Name")
                if node["Node Type"] != "ModifyTable" and relation in (
                    "contacts_contact",
                    "contacts_label",
                ):
                    assert node["Node Type"] in ("Index Scan", "Index Only Scan"), (sql, node)
                index, condition = node.get("Index Name"), node.get("Index Cond", "")
                if index is None:
                    continue
                used.add(index)
                assert index in (
                    "contact_list_phone_uniq",
                    "contacts_contact_pkey",
                    "label_contact_key_uniq",
                ), (sql, node)
                if index == "contact_list_phone_uniq":
                    assert "phone_number" in condition, (sql, node)
        transaction.set_rollback(True)
    assert used == {"contact_list_phone_uniq", "contacts_contact_pkey", "label_contact_key_uniq"}


# Jobs


def stored_upload(content: str) -> str:
    name = importing.new_upload_name()
    importing.upload_path(name).write_text(content, encoding="utf-8")
    return name


def test_an_import_job_keeps_the_result_and_deletes_its_upload(account, editor_user, sending_list):
    upload = stored_upload("phone,label_tier,notes\n4155551234,gold,x\nbad,x,y\n")
    common = {
        "account": account,
        "user": editor_user,
        "sending_list": sending_list,
        "upload": upload,
        "file_name": "people.csv",
    }
    preview = importing.import_start(**common, dry_run=True)
    preview.refresh_from_db()
    assert (preview.kind, preview.status) == ("import_preview", Job.Status.SUCCEEDED)
    assert importing.upload_path(upload).exists()
    job = importing.import_start(**common, dry_run=False, source=preview)
    job.refresh_from_db()
    assert (job.kind, job.status, job.progress_done, job.progress_total) == (
        "import",
        Job.Status.SUCCEEDED,
        2,
        2,
    )
    assert job.result == {
        "dry_run": False,
        "region": "US",
        "mapping": {},
        "columns": [
            {"column": "phone", "number": 1, "use": "phone", "key": "", "note": ""},
            {"column": "label_tier", "number": 2, "use": "label", "key": "tier", "note": ""},
            {"column": "notes", "number": 3, "use": "ignored", "key": "notes", "note": ""},
        ],
        "columns_count": 3,
        "country_column": "",
        "unnamed_columns": 0,
        "empty_columns": 0,
        "unnamed_empty_columns": 0,
        "other_regions": {"count": 0, "regions": {}, "examples": []},
        "rows": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 1,
        "ignored_columns": ["notes"],
        "ignored_columns_count": 1,
        "rejected_rows": [
            {
                "row": 3,
                "phone": "bad",
                "code": "invalid_phone",
                "reason": "'bad' is not a valid phone number (read with region US).",
            }
        ],
        "rejected_rows_truncated": False,
        "sample": [
            {"row": 2, "phone": "+14155551234", "labels": {"tier": "gold"}, "outcome": "created"}
        ],
        "list_id": sending_list.pk,
        "file_name": "people.csv",
    }
    assert preview.result == job.result | {"dry_run": True}
    assert not importing.upload_path(upload).exists()


def test_a_rejected_file_fails_its_job_with_the_reason(account, editor_user, sending_list):
    upload = stored_upload("name\nAnn\n")
    job = importing.import_start(
        account=account,
        user=editor_user,
        sending_list=sending_list,
        upload=upload,
        file_name="people.csv",
        dry_run=True,
    )
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == (
        "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the "
        "column that holds the numbers. "
        "Its columns are: 'name'."
    )
    assert not importing.upload_path(upload).exists()


def test_an_import_into_a_deleted_list_fails_with_the_reason(account, editor_user, sending_list):
    job = Job.objects.create(
        account=account,
        kind="import",
        params={"list_id": sending_list.pk + 1, "upload": stored_upload(HAPPY), "dry_run": False},
    )
    importing.import_task.enqueue(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.FAILED, "The sending list no longer exists.")


def test_upload_names_cannot_reach_outside_the_import_directory():
    with pytest.raises(ValidationError):
        importing.upload_path("../../etc/passwd")


# The import_csv command


def test_the_command_imports_and_prints_the_counts(write, sending_list, contact, tmp_path):
    file = write("phone,label_tier,notes\n4155551234,silver,x\n4155550000,gold,\n=1+2,x,\n")
    out = io.StringIO()
    rejected_file = tmp_path / "rejected.csv"
    call_command(
        "import_csv",
        str(file),
        "--account=acme",
        f"--list={sending_list.pk}",
        f"--rejected={rejected_file}",
        stdout=out,
    )
    assert out.getvalue().splitlines() == [
        "Imported. Main (acme)",
        "region: US",
        "column 'phone': phone",
        "column 'label_tier': label tier",
        "rows: 3",
        "created: 1",
        "updated: 1",
        "unchanged: 0",
        "skipped: 0",
        "rejected: 1",
        "Ignored columns: notes.",
        "row 4: '=1+2' is not a valid phone number (read with region US).",
    ]
    assert list(csv.reader(rejected_file.open())) == [
        ["row", "phone_number", "reason"],
        ["4", "'=1+2", "'=1+2' is not a valid phone number (read with region US)."],
    ]
    assert labels_of("+14155551234")["tier"] == "silver"


def test_the_command_names_the_first_ignored_columns_and_counts_the_others(write, sending_list):
    header = ",".join(["phone", *(f"extra{n}" for n in range(1_025))])
    out = io.StringIO()
    call_command(
        "import_csv",
        str(write(f"{header}\n4155551234" + ",x" * 1_000 + "\n")),
        "--account=acme",
        f"--list={sending_list.pk}",
        stdout=out,
    )
    names = ", ".join(f"extra{n}" for n in range(20))
    assert (
        f"Ignored columns: {names} and 980 more. 25 empty columns ignored."
        in out.getvalue().splitlines()
    )


def test_the_command_dry_run_changes_nothing(write, sending_list, contact):
    before = database_state()
    out = io.StringIO()
    file = write("phone,label_tier\n4155551234,silver\n")
    call_command(
        "import_csv",
        str(file),
        "--account=acme",
        f"--list={sending_list.pk}",
        "--dry-run",
        stdout=out,
    )
    assert out.getvalue().splitlines()[:6] == [
        "Dry run: nothing was changed. Main (acme)",
        "region: US",
        "column 'phone': phone",
        "column 'label_tier': label tier",
        "rows: 1",
        "created: 0",
    ]
    assert "updated: 1" in out.getvalue()
    assert database_state() == before


def test_the_command_refuses_a_bad_file_or_an_unknown_list(write, sending_list, other_account):
    file = write("name\nAnn\n")
    with pytest.raises(CommandError, match="The file has no phone column"):
        call_command("import_csv", str(file), "--account=acme", f"--list={sending_list.pk}")
    with pytest.raises(
        CommandError, match=f"Account 'globex' has no sending list {sending_list.pk}."
    ):
        call_command("import_csv", str(file), "--account=globex", f"--list={sending_list.pk}")


# Dashboard


def import_url(list_id: int, slug: str = "acme") -> str:
    return reverse("imports:import_new", args=[slug, list_id])


def job_url(name: str, job_id: int, slug: str = "acme") -> str:
    return reverse(f"imports:{name}", args=[slug, job_id])


def upload(client: Client, list_id: int, content: str | bytes, slug: str = "acme"):
    data = content.encode() if isinstance(content, str) else content
    file = SimpleUploadedFile("people.csv", data, content_type="text/csv")
    return client.post(import_url(list_id, slug), {"file": file})


def stored_uploads(import_dir: Path) -> list[str]:
    return sorted(path.name for path in import_dir.iterdir()) if import_dir.exists() else []


HAPPY = "phone,label_tier\n4155551234,silver\n4155550000,gold\n@SUM(1),x\n"


def test_editor_previews_confirms_and_downloads_the_rejected_rows(
    editor_client, sending_list, contact, import_dir
):
    assert editor_client.get(import_url(sending_list.pk)).status_code == 200
    before = database_state()
    response = upload(editor_client, sending_list.pk, HAPPY)
    preview = Job.objects.get(kind="import_preview")
    assert response["Location"] == job_url("import_detail", preview.pk)
    assert database_state() == before

    page = editor_client.get(response["Location"])
    html = page.content.decode()
    assert page.context["can_confirm"] is True
    assert 'data-testid="count-created">1<' in html
    assert 'data-testid="count-updated">1<' in html
    assert 'data-testid="count-rejected">1<' in html
    assert "&#x27;@SUM(1)&#x27; is not a valid phone number (read with region US)." in html
    assert [row["effect"] for row in page.context["sample"]] == ["Labels merged", "New contact"]

    response = editor_client.post(job_url("import_confirm", preview.pk))
    job = Job.objects.get(kind="import")
    assert response["Location"] == job_url("import_detail", job.pk)
    assert labels_of("+14155551234")["tier"] == "silver"
    assert stored_uploads(import_dir) == []
    page = editor_client.get(response["Location"])
    assert 'data-status="succeeded"' in page.content.decode()
    assert 'data-testid="rejected-download"' in page.content.decode()
    # Confirming again shows the import already started, and starts no other.
    again = editor_client.post(job_url("import_confirm", preview.pk))
    assert again["Location"] == job_url("import_detail", job.pk)
    assert Job.objects.filter(kind="import").count() == 1

    download = editor_client.get(job_url("import_rejected", job.pk))
    assert download["Content-Type"] == "text/csv"
    assert download["Content-Disposition"] == 'attachment; filename="people-rejected-rows.csv"'
    body = b"".join(download.streaming_content).decode()
    assert list(csv.reader(io.StringIO(body))) == [
        ["row", "phone_number", "reason"],
        ["4", "'@SUM(1)", "'@SUM(1)' is not a valid phone number (read with region US)."],
    ]


def test_an_import_is_undone_from_its_page_which_then_says_so(editor_client, sending_list, contact):
    response = upload(editor_client, sending_list.pk, HAPPY)
    response = editor_client.post(job_url("import_confirm", Job.objects.get().pk))
    job = Job.objects.get(kind="import")
    assert labels_of("+14155551234")["tier"] == "silver"
    # The contact the import created is unsubscribed since: the undo keeps it.
    services.contact_unsubscribe(contact=Contact.objects.get(phone_number="+14155550000"))
    html = editor_client.get(response["Location"]).content.decode()
    undo_url = reverse("audiences:undo", args=["acme", job.pk])
    assert f'data-testid="undo-import" href="{undo_url}"' in html
    until = timezone.localtime(job.created_at + timedelta(days=30)).strftime("%Y-%m-%d %H:%M")
    assert f"It can be undone until {until}." in html

    review = editor_client.get(undo_url).content.decode()
    assert '<dd data-testid="undo-labels">1</dd>' in review
    assert '<dd data-testid="undo-erased">0</dd>' in review
    assert '<dd data-testid="undo-changed">1</dd>' in review
    editor_client.post(undo_url)
    assert labels_of("+14155551234")["tier"] == "gold"
    assert Contact.objects.filter(phone_number="+14155550000").exists()

    html = editor_client.get(response["Location"]).content.decode()
    undo_job = Job.objects.get(kind="undo")
    assert 'data-testid="undo-import"' not in html
    assert (
        f'<p class="muted" data-testid="undo-refused">This change was undone already '
        f"(job {undo_job.pk}); undo that undo instead.</p>"
    ) in html


def test_the_preview_shows_the_first_columns_and_counts_the_others(editor_client, sending_list):
    header = ",".join(["phone", *(f"extra{n}" for n in range(60))])
    response = upload(editor_client, sending_list.pk, f"{header}\n4155551234" + ",x" * 60 + "\n")
    page = editor_client.get(response["Location"]).content.decode()
    assert page.count("<tr data-column=") == 50
    assert '<tr data-column="extra48">' in page
    assert '<tr data-column="extra49">' not in page
    assert "The first 50 of 61 columns; the others are read as the header says." in page


def test_upload_errors_are_shown_on_the_form(editor_client, sending_list, import_dir):
    response = upload(editor_client, sending_list.pk, "name\nAnn\n")
    assert response.status_code == 200
    assert response.context["error"] == (
        "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the "
        "column that holds the numbers. "
        "Its columns are: 'name'."
    )
    response = upload(editor_client, sending_list.pk, b"PK\x03\x04\x00\x00")
    assert response.context["error"].startswith("This is an Excel workbook")
    response = editor_client.post(import_url(sending_list.pk), {})
    assert response.context["error"] == "Choose a CSV file to import."
    assert not Job.objects.exists()
    assert stored_uploads(import_dir) == []


def test_a_file_over_the_limit_is_refused_and_not_kept(
    editor_client, sending_list, settings, import_dir
):
    settings.IMPORT_MAX_BYTES = 100
    big = "phone,label_tier\n" + "4155551234,gold\n" * 20
    # Declared by the request's length: refused before the body is read.
    response = upload(editor_client, sending_list.pk, big * 5000)
    assert response.context["error"] == "The file is too large; the limit is 100 bytes."
    # Found while receiving it (the body's declared length is within the allowance).
    response = upload(editor_client, sending_list.pk, big)
    assert response.context["error"] == "The file is too large; the limit is 100 bytes."
    assert not Job.objects.exists()
    assert stored_uploads(import_dir) == []


def test_the_upload_is_protected_against_csrf(editor_user, sending_list, import_dir):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor_user)
    assert upload(client, sending_list.pk, HAPPY).status_code == 403
    # With the CSRF cookie, the check reads the body for the token, which is not there.
    client.get(import_url(sending_list.pk))
    assert "csrftoken" in client.cookies
    assert upload(client, sending_list.pk, HAPPY).status_code == 403
    assert not Job.objects.exists()
    # Nothing of a request refused by the CSRF check is kept.
    assert stored_uploads(import_dir) == []


def test_an_upload_with_its_csrf_token_is_kept_for_its_import(
    editor_user, sending_list, import_dir
):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor_user)
    token = client.get(import_url(sending_list.pk)).context["csrf_token"]
    file = SimpleUploadedFile("people.csv", HAPPY.encode(), content_type="text/csv")
    response = client.post(
        import_url(sending_list.pk), {"csrfmiddlewaretoken": str(token), "file": file}
    )
    preview = Job.objects.get(kind="import_preview")
    assert response["Location"] == job_url("import_detail", preview.pk)
    assert stored_uploads(import_dir) == [f"{preview.params['upload']}.csv"]


@pytest.mark.parametrize("persona", ["viewer_client", "outsider_client", "anonymous"])
def test_an_upload_refused_to_its_sender_is_not_kept(persona, request, sending_list, import_dir):
    client = Client() if persona == "anonymous" else request.getfixturevalue(persona)
    response = upload(client, sending_list.pk, HAPPY)
    assert response.status_code in (302, 403, 404)
    assert not Job.objects.exists()
    assert stored_uploads(import_dir) == []


def test_a_rejected_header_is_not_kept(editor_client, sending_list, import_dir):
    response = upload(editor_client, sending_list.pk, "name\nAnn\n")
    assert response.context["error"].startswith("The file has no phone column")
    assert stored_uploads(import_dir) == []


def test_a_confirmed_upload_that_is_gone_cannot_be_imported(
    editor_client, sending_list, import_dir
):
    upload(editor_client, sending_list.pk, HAPPY)
    preview = Job.objects.get()
    for file in import_dir.iterdir():
        file.unlink()
    response = editor_client.post(job_url("import_confirm", preview.pk), follow=True)
    assert "This import cannot be started: upload the file again." in response.content.decode()
    assert not Job.objects.filter(kind="import").exists()


def test_a_failed_import_can_be_run_again_while_its_file_is_kept(
    editor_client, account, editor_user, sending_list
):
    failed = Job.objects.create(
        account=account,
        kind="import",
        status=Job.Status.FAILED,
        error="The worker running this job stopped before it finished.",
        params={
            "list_id": sending_list.pk,
            "upload": stored_upload(HAPPY),
            "file_name": "people.csv",
            "dry_run": False,
        },
    )
    page = editor_client.get(job_url("import_detail", failed.pk))
    assert "Run the import again" in page.content.decode()
    response = editor_client.post(job_url("import_confirm", failed.pk))
    rerun = Job.objects.get(kind="import", status=Job.Status.SUCCEEDED)
    assert response["Location"] == job_url("import_detail", rerun.pk)
    assert rerun.params["source_job"] == failed.pk


def test_the_progress_fragment_polls_until_the_job_ends(viewer_client, account, sending_list):
    running = Job.objects.create(
        account=account,
        kind="import",
        status=Job.Status.RUNNING,
        progress_done=10_000,
        progress_total=40_000,
        params={"list_id": sending_list.pk, "upload": "0" * 32, "file_name": "big.csv"},
    )
    fragment = viewer_client.get(job_url("import_detail", running.pk), **HTMX).content.decode()
    opening = fragment.lstrip().split(">")[0]
    assert opening.startswith('<div class="job-progress job-running" id="import-status"')
    assert 'hx-trigger="every 1s"' in opening
    assert "10,000 of 40,000 rows" in fragment
    assert '<progress max="100" value="25"' in fragment
    running.status = Job.Status.SUCCEEDED
    running.result = {"rows": 40_000, "created": 40_000}
    running.save()
    fragment = viewer_client.get(job_url("import_detail", running.pk), **HTMX).content.decode()
    assert "hx-trigger" not in fragment.lstrip().split(">")[0]
    assert "<html" not in fragment


def test_viewers_see_imports_but_cannot_import(
    viewer_client, account, editor_user, sending_list, import_dir
):
    job = importing.import_start(
        account=account,
        user=editor_user,
        sending_list=sending_list,
        upload=stored_upload(HAPPY),
        file_name="people.csv",
        dry_run=True,
    )
    assert viewer_client.get(import_url(sending_list.pk)).status_code == 403
    assert upload(viewer_client, sending_list.pk, HAPPY).status_code == 403
    assert viewer_client.post(job_url("import_confirm", job.pk)).status_code == 403
    assert viewer_client.get(job_url("import_rejected", job.pk)).status_code == 403
    page = viewer_client.get(job_url("import_detail", job.pk))
    assert page.status_code == 200
    assert page.context["can_confirm"] is False
    assert Job.objects.count() == 1
    assert len(list(import_dir.iterdir())) == 1


def test_outsiders_get_404(outsider_client, account, editor_user, sending_list):
    job = importing.import_start(
        account=account,
        user=editor_user,
        sending_list=sending_list,
        upload=stored_upload(HAPPY),
        file_name="people.csv",
        dry_run=True,
    )
    for slug in ("acme", "globex"):
        assert outsider_client.get(import_url(sending_list.pk, slug)).status_code == 404
        assert upload(outsider_client, sending_list.pk, HAPPY, slug).status_code == 404
        assert outsider_client.get(job_url("import_detail", job.pk, slug)).status_code == 404
        assert outsider_client.post(job_url("import_confirm", job.pk, slug)).status_code == 404
        assert outsider_client.get(job_url("import_rejected", job.pk, slug)).status_code == 404
    assert Job.objects.count() == 1


def test_other_jobs_are_not_imports(editor_client, account):
    other = Job.objects.create(account=account, kind="add_label", params={})
    assert editor_client.get(job_url("import_detail", other.pk)).status_code == 404


def test_wrong_methods_get_405(editor_client, sending_list):
    assert editor_client.put(import_url(sending_list.pk)).status_code == 405
    assert editor_client.get(job_url("import_confirm", 1)).status_code == 405
    assert editor_client.post(job_url("import_detail", 1)).status_code == 405
    assert editor_client.post(job_url("import_rejected", 1)).status_code == 405


def test_lists_of_another_account_cannot_be_imported_into(editor_client, other_account):
    theirs = SendingListFactory(account=other_account, name="Theirs")
    assert editor_client.get(import_url(theirs.pk)).status_code == 404
    assert upload(editor_client, theirs.pk, HAPPY).status_code == 404
