"""Admin import and export of contacts with label columns: one sending list at a time. The
import runs the dashboard's import pipeline (`contacts.importing.import_file`), so it gives the
same outcomes and messages (docs/import.md); the export is django-import-export's."""

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from contacts.importing import import_file
from contacts.models import Contact, Label
from tests.factories import ContactFactory, SendingListFactory, UserFactory, label_contact

IMPORT_URL = reverse("admin:contacts_contact_import")
CONFIRM_URL = reverse("admin:contacts_contact_process_import")
EXPORT_URL = reverse("admin:contacts_contact_export")


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path):
    settings.IMPORT_DIR = tmp_path / "imports"
    return settings.IMPORT_DIR


@pytest.fixture
def unsubscribed(sending_list):
    contact = ContactFactory(
        sending_list=sending_list,
        phone_number="+14155550002",
        status=Contact.Status.UNSUBSCRIBED,
        unsubscribed_at="2024-01-01T00:00:00Z",
    )
    return label_contact(contact, {"tier": "bronze"})


def upload(text: str | bytes, name: str = "contacts.csv") -> SimpleUploadedFile:
    content = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, content, content_type="text/csv")


def preview(client, sending_list, text: str | bytes):
    """The import's first step: upload the file, get the dry run's preview."""
    data = {"sending_list": sending_list.pk, "format": "0", "import_file": upload(text)}
    return client.post(IMPORT_URL, data)


def confirm(client, previewed):
    """The import's second step: post the confirmation form the preview offered."""
    return client.post(CONFIRM_URL, previewed.context["confirm_form"].initial)


def outcomes(response) -> list[tuple[str, str]]:
    """The outcome of each of the first rows, as the preview lists them."""
    return [(row["outcome"], row["phone"]) for row in response.context["result"]["sample"]]


def totals(response) -> dict[str, int]:
    counted = response.context["result"]
    kinds = ("rows", "created", "updated", "unchanged", "skipped", "rejected")
    return {kind: counted[kind] for kind in kinds}


def rejected(response) -> list[tuple[int, str]]:
    return [(row["row"], row["reason"]) for row in response.context["result"]["rejected_rows"]]


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


def list_labels(sending_list) -> dict[str, dict[str, str]]:
    """Every contact of the list, by phone, with its labels."""
    return {
        contact.phone_number: labels_of(contact)
        for contact in Contact.objects.filter(sending_list=sending_list)
    }


LIMIT_MESSAGE = "A contact can have at most 50 labels; this would make 51."
FILE = (
    "phone,label_tier,label_city,notes\r\n"
    "(415) 555-1234,platinum,,called twice\r\n"
    "4155550001,,Paris,\r\n"
    "+14155550002,gold,,\r\n"
)
FILE_TOTALS = {"rows": 3, "created": 1, "updated": 1, "unchanged": 0, "skipped": 1, "rejected": 0}


# Import.


def test_the_preview_reports_every_row_and_writes_nothing(
    superuser_client, sending_list, contact, unsubscribed
):
    before = list_labels(sending_list)

    response = preview(superuser_client, sending_list, FILE)

    assert response.status_code == 200
    assert totals(response) == FILE_TOTALS
    assert outcomes(response) == [
        ("updated", "+14155551234"),
        ("created", "+14155550001"),
        ("skipped", "+14155550002"),
    ]
    assert response.context["result"]["ignored_columns"] == ["notes"]
    assert response.context["confirm_form"].initial["sending_list"] == sending_list.pk
    assert list_labels(sending_list) == before
    # The dashboard's words for the counts and for each row's effect.
    html = response.content.decode()
    assert '<dt>Will create a contact</dt><dd data-testid="count-created">1</dd>' in html
    assert '<dt>Skipped: unsubscribed</dt><dd data-testid="count-skipped">1</dd>' in html
    assert "<td>Labels merged</td>" in html
    assert "Ignored columns: notes." in html


def test_a_confirmed_import_creates_contacts_and_merges_labels(
    superuser_client, superuser, sending_list, contact, unsubscribed
):
    response = confirm(superuser_client, preview(superuser_client, sending_list, FILE))

    assert response.status_code == 200
    assert totals(response) == FILE_TOTALS
    html = response.content.decode()
    assert '<dt>Created a contact</dt><dd data-testid="count-created">1</dd>' in html
    # The file's values win, an empty cell leaves its label, other columns are ignored; the
    # unsubscribed contact keeps its labels.
    assert list_labels(sending_list) == {
        "+14155551234": {"source": "facebook", "tier": "platinum"},
        "+14155550001": {"city": "Paris"},
        "+14155550002": {"tier": "bronze"},
    }
    new = Contact.objects.get(sending_list=sending_list, phone_number="+14155550001")
    assert (new.account_id, new.status) == (sending_list.account_id, "subscribed")
    # The import is in the sending list's history.
    entry = LogEntry.objects.get(user=superuser)
    assert (entry.object_id, entry.action_flag, entry.change_message) == (
        str(sending_list.pk),
        CHANGE,
        "Imported contacts.csv: 3 rows: 1 created, 1 updated, 0 unchanged, 1 skipped "
        "(unsubscribed), 0 rejected.",
    )


def test_the_pages_offer_every_list_with_its_account_and_name_the_columns(
    superuser_client, sending_list, other_account
):
    SendingListFactory(account=other_account, name="Main", phone_number="+14155550199")

    changelist = superuser_client.get(
        reverse("admin:contacts_contact_changelist"), {"status__exact": "subscribed"}
    )
    assert f"href='{IMPORT_URL}'" in changelist.content.decode()
    # The export keeps the contact list's filters.
    assert f'href="{EXPORT_URL}?status__exact=subscribed"' in changelist.content.decode()
    for url in (IMPORT_URL, EXPORT_URL):
        response = superuser_client.get(url)
        assert response.status_code == 200
        choices = [label for _, label in response.context["form"].fields["sending_list"].choices]
        assert choices[1:] == [
            "Acme Shoes: Main (+14155550100)",
            "Globex: Main (+14155550199)",
        ]
        assert response.context["fields_list"] == [
            ("ContactResource", ["phone_number", "label_<key> (one column per label)"])
        ]


def test_the_import_form_requires_a_sending_list(superuser_client, sending_list):
    response = superuser_client.post(IMPORT_URL, {"format": "0", "import_file": upload(FILE)})

    assert response.status_code == 200
    assert response.context["form"].errors == {"sending_list": ["This field is required."]}
    assert "result" not in response.context
    assert not Contact.objects.exists()


def test_the_confirmed_import_goes_to_the_previewed_list(superuser_client, sending_list):
    second = SendingListFactory(account=sending_list.account, name="Second")
    previewed = preview(superuser_client, second, "phone_number,label_tier\n4155550001,gold\n")

    confirm(superuser_client, previewed)

    assert list_labels(second) == {"+14155550001": {"tier": "gold"}}
    assert list_labels(sending_list) == {}


def test_another_accounts_contact_with_the_same_phone_is_untouched(
    superuser_client, sending_list, other_account
):
    theirs = ContactFactory(
        sending_list=SendingListFactory(account=other_account, name="Theirs"),
        phone_number="+14155551234",
    )
    label_contact(theirs, {"tier": "silver"})

    previewed = preview(superuser_client, sending_list, "phone,label_tier\n4155551234,gold\n")
    confirm(superuser_client, previewed)

    assert outcomes(previewed) == [("created", "+14155551234")]
    assert labels_of(theirs) == {"tier": "silver"}
    assert list_labels(sending_list) == {"+14155551234": {"tier": "gold"}}


def test_another_list_of_the_same_account_is_untouched(superuser_client, sending_list, contact):
    other_list = SendingListFactory(account=sending_list.account, name="Other")

    confirm(
        superuser_client, preview(superuser_client, other_list, "msisdn,label_tier\n4155551234,x\n")
    )

    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}
    assert list_labels(other_list) == {"+14155551234": {"tier": "x"}}


def test_an_unsubscribed_contact_is_skipped_and_left_unchanged(
    superuser_client, sending_list, unsubscribed
):
    previewed = preview(superuser_client, sending_list, "phone,label_tier\n+14155550002,gold\n")
    confirm(superuser_client, previewed)

    assert outcomes(previewed) == [("skipped", "+14155550002")]
    unsubscribed.refresh_from_db()
    assert unsubscribed.status == "unsubscribed"
    assert labels_of(unsubscribed) == {"tier": "bronze"}


def test_a_row_that_changes_nothing_is_unchanged(superuser_client, sending_list, contact):
    previewed = preview(
        superuser_client, sending_list, "phone_number,label_tier,label_source\n4155551234,gold,\n"
    )

    assert outcomes(previewed) == [("unchanged", "+14155551234")]


def test_a_label_only_change_is_an_update(superuser_client, sending_list, contact):
    previewed = preview(superuser_client, sending_list, "phone_number,label_tier\n4155551234,x\n")

    assert outcomes(previewed) == [("updated", "+14155551234")]


def test_the_same_phone_twice_applies_in_order(superuser_client, sending_list):
    text = (
        "phone_number,label_tier,label_city\n"
        "4155550001,gold,\n"
        "(415) 555-0001,silver,Paris\n"
        "+14155550001,silver,\n"
    )

    previewed = preview(superuser_client, sending_list, text)
    assert outcomes(previewed) == [
        ("created", "+14155550001"),
        ("updated", "+14155550001"),
        ("unchanged", "+14155550001"),
    ]
    assert list_labels(sending_list) == {}

    confirm(superuser_client, previewed)
    assert list_labels(sending_list) == {"+14155550001": {"tier": "silver", "city": "Paris"}}


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "number,label_tier",
            "The file has no phone column (phone_number, phone, mobile, tel, ...): choose the "
            "column that holds the numbers. "
            "Its columns are: 'number', 'label_tier'.",
        ),
        (
            "phone,Phone",
            "The columns 'phone' (column 1) and 'Phone' (column 2) are the same column; keep one.",
        ),
        (
            "phone,label_tier,label_tier",
            "The column 'label_tier' appears twice (columns 2 and 3); keep one.",
        ),
    ],
)
def test_a_bad_header_rejects_the_file_naming_the_column(
    superuser_client, sending_list, import_dir, header, message
):
    response = preview(superuser_client, sending_list, f"{header}\n4155550001,gold\n")

    assert response.status_code == 200
    assert response.context["form"].errors == {"import_file": [message]}
    assert "result" not in response.context
    assert "confirm_form" not in response.context
    assert not Contact.objects.exists()
    # A rejected file is not kept.
    assert list(import_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xef\xbb\xbf", "The file is empty."),
        (b"\n\nphone\n", "The first row, the header, is empty."),
        (
            b'phone,label_note\n4155550001,"never closed\n',
            "The file is not valid CSV: line 2: a quoted value never ends (look for an unpaired "
            "double quote).",
        ),
        (
            "phone,label_city\n4155550001,Montréal\n".encode("latin-1"),
            "Line 2 of the file is not UTF-8 text. Save the file as CSV UTF-8 (Comma delimited) "
            "and upload it again.",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_rejected_with_its_reason(
    superuser_client, sending_list, content, message
):
    response = preview(superuser_client, sending_list, content)

    assert response.context["form"].errors == {"import_file": [message]}
    assert not Contact.objects.exists()


def test_a_file_over_the_size_limit_is_refused(superuser_client, sending_list, settings):
    settings.IMPORT_MAX_BYTES = 10

    response = preview(superuser_client, sending_list, "phone\n4155550001\n")

    assert response.context["form"].errors == {
        "import_file": ["The file is 17 bytes; the limit is 10 bytes."]
    }


def test_rejected_rows_are_listed_with_spreadsheet_numbers_and_the_others_imported(
    superuser_client, sending_list, contact
):
    long_value = "x" * 257
    text = (
        "phone_number,label_tier\n"
        "4155550001,gold\n"
        "\n"
        "12345,silver\n"
        f"nope,{long_value}\n"
        '4155550003,"two\nlines"\n'
        "4155550004,gold,extra\n"
        "4155551234,platinum\n"
    )

    response = preview(superuser_client, sending_list, text)

    assert response.status_code == 200
    assert rejected(response) == [
        (4, "'12345' is not a valid phone number (read with region US)."),
        (
            5,
            "'nope' is not a valid phone number (read with region US). label_tier: Label value "
            "is 257 characters long; the limit is 256.",
        ),
        (6, "label_tier: Label value contains the control character U+000A."),
        (
            7,
            "The row has 3 cells but the header has 2 columns (a value containing a comma "
            "must be quoted).",
        ),
    ]
    assert totals(response) == {
        "rows": 6,
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "skipped": 0,
        "rejected": 4,
    }
    html = response.content.decode().replace("&#x27;", "'")
    assert "<td>'12345' is not a valid phone number (read with region US).</td>" in html
    assert "Traceback" not in html
    assert list_labels(sending_list) == {"+14155551234": {"source": "facebook", "tier": "gold"}}

    # As on the dashboard, the rejected rows are left out and the others imported.
    confirm(superuser_client, response)
    assert list_labels(sending_list) == {
        "+14155550001": {"tier": "gold"},
        "+14155551234": {"source": "facebook", "tier": "platinum"},
    }


def test_the_fifty_label_limit_rejects_the_row(superuser_client, sending_list, contact):
    label_contact(contact, {f"key{n}": "v" for n in range(47)})

    response = preview(
        superuser_client, sending_list, "phone_number,label_a,label_b\n4155551234,1,2\n"
    )

    assert rejected(response) == [(2, LIMIT_MESSAGE)]
    assert len(labels_of(contact)) == 49


def test_fifty_one_label_columns_reject_a_new_contact(superuser_client, sending_list):
    keys = [f"k{n}" for n in range(51)]
    text = ",".join(["phone", *(f"label_{key}" for key in keys)]) + "\n"
    text += ",".join(["4155550001", *("v" for _ in keys)]) + "\n"

    response = preview(superuser_client, sending_list, text)

    assert rejected(response) == [(2, LIMIT_MESSAGE)]
    assert not Contact.objects.exists()


def test_a_row_over_the_limit_at_confirmation_is_rejected_and_the_others_imported(
    superuser_client, sending_list, contact
):
    label_contact(contact, {f"key{n}": "v" for n in range(47)})
    previewed = preview(
        superuser_client, sending_list, "phone_number,label_a\n4155550001,1\n4155551234,1\n"
    )
    assert totals(previewed)["rejected"] == 0
    # An edit between the preview and the confirmation takes the contact to the limit.
    label_contact(contact, {"late": "v"})

    response = confirm(superuser_client, previewed)

    assert response.status_code == 200
    assert rejected(response) == [(3, LIMIT_MESSAGE)]
    assert Contact.objects.filter(phone_number="+14155550001").exists()
    assert len(labels_of(contact)) == 50


def test_a_bom_and_crlf_file_is_read(superuser_client, sending_list):
    text = "\ufeffPhone_Number,Label_tier\r\n4155550001,gold\r\n"

    confirm(superuser_client, preview(superuser_client, sending_list, text))

    assert list_labels(sending_list) == {"+14155550001": {"tier": "gold"}}


def test_staff_without_contact_permissions_can_neither_import_nor_export(sending_list):
    client = Client()
    client.force_login(UserFactory(email="staff@trackly.test", is_staff=True))

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(CONFIRM_URL).status_code == 403
    assert client.get(EXPORT_URL).status_code == 403


def test_view_permission_allows_export_but_not_import(sending_list, contact):
    user = UserFactory(email="viewer@trackly.test", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_contact"))
    client = Client()
    client.force_login(user)

    assert client.get(IMPORT_URL).status_code == 403
    assert client.post(IMPORT_URL, {"sending_list": sending_list.pk}).status_code == 403
    response = client.post(EXPORT_URL, {"sending_list": sending_list.pk, "format": "0"})
    assert response.status_code == 200
    assert response.content.decode().startswith("phone_number,")


def test_confirming_needs_a_post(superuser_client):
    assert superuser_client.get(CONFIRM_URL).status_code == 405


def test_the_file_waits_in_the_import_directory_until_it_is_confirmed(
    superuser_client, sending_list, import_dir
):
    previewed = preview(superuser_client, sending_list, "phone,label_tier\n4155551234,gold\n")
    name = previewed.context["confirm_form"].initial["import_file_name"]
    assert [path.name for path in import_dir.iterdir()] == [f"{name}.csv"]
    confirm(superuser_client, previewed)
    assert list(import_dir.iterdir()) == []
    assert Label.objects.get(contact__phone_number="+14155551234").value == "gold"


def test_a_confirmed_file_is_not_imported_again(superuser_client, sending_list):
    previewed = preview(superuser_client, sending_list, "phone,label_tier\n4155551234,gold\n")
    confirm(superuser_client, previewed)

    again = confirm(superuser_client, previewed)

    assert again.status_code == 200
    assert again.context["confirm_form"].errors["import_file_name"] == [
        "This upload is no longer here; upload the file again."
    ]
    assert "result" not in again.context


@pytest.mark.parametrize("name", ["../../etc/passwd", "0" * 32, "tmpabc"])
def test_a_confirmation_naming_no_waiting_file_changes_nothing(
    superuser_client, sending_list, name
):
    previewed = preview(superuser_client, sending_list, "phone,label_tier\n4155551234,gold\n")
    data = previewed.context["confirm_form"].initial | {"import_file_name": name}
    response = superuser_client.post(CONFIRM_URL, data)
    assert response.status_code == 200
    assert response.context["confirm_form"].errors["import_file_name"] == [
        "This upload is no longer here; upload the file again."
        if name == "0" * 32
        else "This upload does not exist."
    ]
    assert not Contact.objects.filter(phone_number="+14155551234").exists()


# The admin and the dashboard's pipeline: the same results from the same files.

LABELS_49 = ",".join(f"label_k{n}" for n in range(49))
DIFFERENTIAL_FILES = {
    "new contacts": "phone_number,label_tier,label_city\n4155550001,gold,Paris\n4155550003,,Lyon\n",
    "updates and unchanged rows": (
        "phone,label_tier,label_source\n"
        "4155551234,platinum,\n"
        "+14155551234,platinum,facebook\n"
        "4155550010,,\n"
    ),
    "unsubscribed": "phone,label_tier\n+14155550002,gold\n4155550004,x\n",
    "invalid phone": "phone,label_tier\n12345,gold\nnope,silver\n4155550005,bronze\n",
    "bad label key": "phone,label_bad key\n4155550001,gold\n",
    "over 50 labels": (
        f"phone,{LABELS_49}\n4155551234,{','.join('v' * 49)}\n4155550006,{','.join('w' * 49)}\n"
    ),
    "formula-quoted values": (
        "phone_number,label_note,label_delta,label_quoted,label_plain\n"
        "4155550001,'=HYPERLINK(1),'-5,''+1,'hello\n"
        "4155550007,'@sum,'+3,'''-1,=2+2\n"
    ),
    "bad values and shapes": (
        "phone_number,label_tier,notes\n"
        '4155550001,"two\nlines",x\n'
        "4155550008,ok,x,extra\n"
        f"4155550009,{'y' * 257},\n"
    ),
}


def _fill(sending_list) -> None:
    """The same contacts on each fresh list: two subscribed, one of them with labels, and one
    unsubscribed."""
    label_contact(
        ContactFactory(sending_list=sending_list, phone_number="+14155551234"),
        {"source": "facebook", "tier": "gold"},
    )
    label_contact(
        ContactFactory(
            sending_list=sending_list,
            phone_number="+14155550002",
            status=Contact.Status.UNSUBSCRIBED,
            unsubscribed_at="2024-01-01T00:00:00Z",
        ),
        {"tier": "bronze"},
    )
    ContactFactory(sending_list=sending_list, phone_number="+14155550010")


def _contacts(sending_list) -> dict[str, tuple[str, dict[str, str]]]:
    return {
        contact.phone_number: (contact.status, labels_of(contact))
        for contact in Contact.objects.filter(sending_list=sending_list)
    }


@pytest.mark.parametrize("text", DIFFERENTIAL_FILES.values(), ids=DIFFERENTIAL_FILES.keys())
def test_the_admin_imports_as_the_pipeline_does(superuser_client, account, tmp_path, text):
    through_admin = SendingListFactory(account=account, name="Admin")
    through_pipeline = SendingListFactory(account=account, name="Pipeline")
    _fill(through_admin)
    _fill(through_pipeline)
    path = tmp_path / "contacts.csv"
    path.write_text(text, encoding="utf-8")

    previewed = preview(superuser_client, through_admin, text)

    if "result" not in previewed.context:
        # A file rejected whole: the same reason, and nothing written.
        with pytest.raises(ValidationError) as rejected_file:
            import_file(path, sending_list=through_pipeline, dry_run=True)
        assert previewed.context["form"].errors == {"import_file": rejected_file.value.messages}
        assert _contacts(through_admin) == _contacts(through_pipeline)
        return
    assert (
        previewed.context["result"]
        == import_file(path, sending_list=through_pipeline, dry_run=True).as_dict()
    )
    assert _contacts(through_admin) == _contacts(through_pipeline)

    imported = confirm(superuser_client, previewed)

    assert imported.context["result"] == import_file(path, sending_list=through_pipeline).as_dict()
    assert _contacts(through_admin) == _contacts(through_pipeline)
    # The files did change something: the comparison is not of two untouched lists.
    assert imported.context["result"]["rows"] > 0


# Export.


@pytest.fixture
def exported_list(sending_list, other_account):
    """A list with labelled contacts, beside another list and another account's contact."""
    first = ContactFactory(sending_list=sending_list, phone_number="+14155550001")
    label_contact(first, {"tier": "gold", "source": "facebook"})
    second = ContactFactory(sending_list=sending_list, phone_number="+14155550002")
    label_contact(second, {"note": "=HYPERLINK(1)", "city": "Paris, France"})
    ContactFactory(sending_list=sending_list, phone_number="+14155550003")
    elsewhere = ContactFactory(
        sending_list=SendingListFactory(account=sending_list.account, name="Elsewhere")
    )
    label_contact(elsewhere, {"other_list": "yes"})
    theirs = ContactFactory(sending_list=SendingListFactory(account=other_account, name="Theirs"))
    label_contact(theirs, {"other_account": "yes"})
    return sending_list


def test_the_export_form_requires_a_sending_list(superuser_client, exported_list):
    response = superuser_client.post(EXPORT_URL, {"format": "0"})

    assert response.status_code == 200
    assert response.context["form"].errors == {"sending_list": ["This field is required."]}


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_export_link_with_filters_that_do_not_exist_starts_again_without_them(
    superuser_client, exported_list, method
):
    send = getattr(superuser_client, method)
    response = send(f"{EXPORT_URL}?tier=gold", {"sending_list": exported_list.pk, "format": "0"})
    assert response.status_code == 302
    assert response["Location"] == EXPORT_URL
    shown = [str(message) for message in get_messages(response.wsgi_request)]
    assert shown == ["The filters in this link do not exist; export without them."]


def test_export_has_the_lists_contacts_with_sorted_neutralised_label_columns(
    superuser_client, exported_list
):
    response = superuser_client.post(EXPORT_URL, {"sending_list": exported_list.pk, "format": "0"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert response.content.decode() == (
        "phone_number,label_city,label_note,label_source,label_tier\r\n"
        "+14155550001,,,facebook,gold\r\n"
        '+14155550002,"Paris, France",\'=HYPERLINK(1),,\r\n'
        "+14155550003,,,,\r\n"
    )


def test_export_keeps_the_contact_lists_filters(superuser_client, exported_list):
    Contact.objects.filter(phone_number="+14155550002").update(
        status=Contact.Status.UNSUBSCRIBED, unsubscribed_at="2024-01-01T00:00:00Z"
    )

    response = superuser_client.post(
        f"{EXPORT_URL}?status__exact=subscribed", {"sending_list": exported_list.pk, "format": "0"}
    )

    assert response.content.decode() == (
        "phone_number,label_source,label_tier\r\n+14155550001,facebook,gold\r\n+14155550003,,\r\n"
    )


def test_an_export_imports_back_into_its_list_unchanged(superuser_client, sending_list):
    for n in range(5):
        contact = ContactFactory(sending_list=sending_list, phone_number=f"+1415555000{n}")
        label_contact(contact, {"tier": f"t{n}", "city": "Paris, France", f"only{n}": "x"})
    # Values an export quotes against formulas come back as they were.
    formulas = {"delta": "-5", "note": "=HYPERLINK(1)", "quoted": "'+1", "plain": "'hello"}
    label_contact(sending_list.contacts.get(phone_number="+14155550000"), formulas)
    label_contact(ContactFactory(sending_list=sending_list, phone_number="+14155550009"), {})
    before = list_labels(sending_list)
    exported = superuser_client.post(EXPORT_URL, {"sending_list": sending_list.pk, "format": "0"})

    previewed = preview(superuser_client, sending_list, exported.content)

    assert totals(previewed) == {
        "rows": 6,
        "created": 0,
        "updated": 0,
        "unchanged": 6,
        "skipped": 0,
        "rejected": 0,
    }
    confirm(superuser_client, previewed)
    assert list_labels(sending_list) == before


@pytest.mark.parametrize("contacts", [3, 60])
def test_export_queries_do_not_grow_with_contacts(
    superuser_client, sending_list, django_assert_max_num_queries, contacts
):
    for n in range(contacts):
        contact = ContactFactory(sending_list=sending_list)
        label_contact(contact, {"tier": "gold", "city": "Paris", f"key{n}": "v"})

    with django_assert_max_num_queries(8):
        response = superuser_client.post(
            EXPORT_URL, {"sending_list": sending_list.pk, "format": "0"}
        )

    assert response.content.decode().count("\r\n") == contacts + 1
