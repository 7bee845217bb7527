"""Imports of real files (docs/import.md, Columns and Regions): the column mapping, each row's
country, the region of an import, the warning about numbers of another region, short reports;
through the pipeline, import_csv and the dashboard's preview."""

import io
import json
from pathlib import Path

import phonenumbers
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import include, path, reverse
from hypothesis import given
from hypothesis import strategies as st

from contacts import importing
from contacts.importing import Mapping, import_file
from contacts.labels import clean_key
from contacts.models import Contact, Label
from trackly.models import Job
from trackly.phones import region_for_country

urlpatterns = [
    path("a/<slug:account_slug>/", include("contacts.import_urls")),
    path("", include("trackly.urls")),
]
pytestmark = pytest.mark.urls(__name__)


@pytest.fixture(autouse=True)
def import_dir(settings, tmp_path) -> Path:
    settings.IMPORT_DIR = tmp_path / "imports"
    return settings.IMPORT_DIR


@pytest.fixture
def write(tmp_path):
    def write(content: str, name: str = "contacts.csv") -> Path:
        file = tmp_path / name
        file.write_text(content, encoding="utf-8", newline="")
        return file

    return write


@pytest.fixture
def uk_list(account, sending_list):
    account.default_region = "GB"
    account.save()
    sending_list.refresh_from_db()
    return sending_list


@pytest.fixture
def run(write, sending_list):
    def run(content: str, **options) -> importing.ImportResult:
        return import_file(write(content), sending_list=sending_list, **options)

    return run


def phones() -> list[str]:
    return sorted(Contact.objects.values_list("phone_number", flat=True))


def labels_of(phone: str) -> dict[str, str]:
    return dict(Label.objects.filter(contact__phone_number=phone).values_list("key", "value"))


def rejected(result) -> list[tuple[int, str, str]]:
    return [(row["row"], row["code"], row["reason"]) for row in result.rejected_rows]


# Each row's country, the region of an import


# Modelled on Mautic's sample file, imported by a UK account.
MIXED_COUNTRIES = (
    "firstname,phone,country\n"
    "Ann,905-573-0032,Canada\n"
    "Bob,020 7946 0018,United Kingdom\n"
    "Cat,(07) 3187 6375,AU\n"
    "Dan,0412 555 012,Australia\n"
    "Eve,+1 415 555 1234,\n"
    "Fay,07911 123456,\n"
    "Gus,905-573-0033,Narnia\n"
    "Hal,555,CAN\n"
)


def test_a_country_column_reads_each_row_with_its_country(write, uk_list):
    result = import_file(write(MIXED_COUNTRIES), sending_list=uk_list)
    assert result.country_column == "country"
    assert phones() == [
        "+14155551234",
        "+19055730032",
        "+442079460018",
        "+447911123456",
        "+61412555012",
        "+61731876375",
    ]
    assert rejected(result) == [
        (
            8,
            "invalid_country",
            "country: 'Narnia' is not a country this import knows (an ISO code such as CA or "
            "CAN, an English name, or a calling code such as +1).",
        ),
        (9, "invalid_phone", "'555' is not a valid phone number (read with region CA)."),
    ]


@pytest.mark.parametrize(
    ("column", "value", "stored"),
    [
        ("country_code", "CA", "+19055730032"),
        ("Country Code", "can", "+19055730032"),
        ("country", "+1", "+19055730032"),
        ("country", "United States", "+19055730032"),
        ("COUNTRY", " usa ", "+19055730032"),
        ("country", "uk", "+449055730032"),
    ],
)
def test_the_country_column_takes_codes_names_and_calling_codes(
    write, uk_list, column, value, stored
):
    import_file(write(f"phone,{column}\n905-573-0032,{value}\n"), sending_list=uk_list)
    assert phones() == [stored]


def test_the_region_chosen_for_an_import_reads_the_rows_without_a_country(write, uk_list):
    file = write("phone,country\n(07) 3187 6375,\n905-573-0032,CA\n0412 555 012,\n")
    result = import_file(file, sending_list=uk_list, region="au")
    assert result.region == "AU"
    assert phones() == ["+19055730032", "+61412555012", "+61731876375"]


def test_a_mapping_can_leave_the_country_column_unread(write, uk_list):
    file = write("phone,country\n020 7946 0018,Narnia\n")
    result = import_file(file, sending_list=uk_list, mapping=Mapping(country=""))
    assert (result.rejected, phones()) == (0, ["+442079460018"])
    assert result.ignored_columns == ["country"]


def test_an_unknown_region_is_refused():
    with pytest.raises(ValidationError) as caught:
        importing.clean_region("XX")
    assert caught.value.code == "invalid_region"
    assert caught.value.messages == [
        "Region 'XX' is not one phone numbers can be read with: give a two-letter ISO code such "
        "as GB or US."
    ]


@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
def test_every_region_code_is_a_country_of_its_own(region):
    assert region_for_country(region) == region
    assert region_for_country(f" {region.lower()} ") == region


@given(st.text(max_size=40))
def test_a_country_is_a_supported_region_or_nothing(text):
    region = region_for_country(text)
    assert region is None or region in phonenumbers.SUPPORTED_REGIONS


def test_digits_that_are_not_ascii_are_not_a_calling_code():
    assert region_for_country("+4\N{SUPERSCRIPT FOUR}") is None
    assert region_for_country("\N{SUPERSCRIPT TWO}") is None


# Numbers of another region


def test_national_numbers_of_another_region_are_counted_with_examples(write, uk_list):
    file = write(
        "phone\n"
        "905-573-0032\n"  # valid in GB only without GB's leading 0: doubtful
        "(212) 555-0100\n"  # not valid in GB at all
        "020 7946 0018\n"  # a plain GB number
        "+1 905 573 0033\n"  # international form: read as written
        "555\n"  # valid nowhere: rejected, no region to suggest
    )
    result = import_file(file, sending_list=uk_list, dry_run=True).as_dict()
    assert result["other_regions"] == {
        "count": 2,
        "regions": {"US": 2, "CA": 2, "NZ": 2, "IN": 2, "NG": 1, "PH": 1, "DE": 1, "BR": 1},
        "examples": [
            {
                "row": 2,
                "phone": "905-573-0032",
                "read_as": "+449055730032",
                "region": "GB",
                "valid_in": ["US", "CA", "NZ", "NG", "IN", "PH"],
            },
            {
                "row": 3,
                "phone": "(212) 555-0100",
                "read_as": "",
                "region": "GB",
                "valid_in": ["US", "CA", "NZ", "IN", "DE", "BR"],
            },
        ],
    }
    # Read as US numbers, they are not doubtful; the UK one is.
    again = import_file(file, sending_list=uk_list, dry_run=True, region="US").as_dict()
    assert again["other_regions"]["count"] == 1
    assert again["other_regions"]["examples"][0]["phone"] == "020 7946 0018"
    assert again["other_regions"]["examples"][0]["valid_in"][0] == "GB"


def test_only_doubtful_numbers_count_towards_the_checks_limit(write, uk_list, monkeypatch):
    monkeypatch.setattr(importing, "OTHER_REGIONS_CHECKED", 1)
    file = write("phone\n020 7946 0018\n07911 123456\n905-573-0032\n(212) 555-0100\n")
    result = import_file(file, sending_list=uk_list, dry_run=True)
    assert result.other_regions == 1
    assert [example["row"] for example in result.other_regions_examples] == [4]


def test_the_regions_of_the_country_column_are_tried_first(write, uk_list):
    file = write("phone,country\n905-573-0032,Canada\n416-555-0199,\n")
    result = import_file(file, sending_list=uk_list, dry_run=True)
    assert [example["valid_in"][0] for example in result.other_regions_examples] == ["CA"]


# The phone column


@pytest.mark.parametrize(
    "column",
    [
        "Phone Number",
        "phone number",
        "Mobile",
        "Mobile Phone",
        "mobile_number",
        "tel",
        "URN:Tel",
        "Telephone",
        "WhatsApp",
    ],
)
def test_common_names_of_the_phone_column_are_found(run, column):
    result = run(f"name,{column}\nAnn,4155551234\n")
    assert (result.created, phones()) == (1, ["+14155551234"])
    assert result.columns[1] == {
        "column": column,
        "number": 2,
        "use": "phone",
        "key": "",
        "note": "",
    }


def test_the_preferred_phone_column_wins_and_the_mapping_can_choose_another(run):
    content = "Mobile,phone_number\n4155550001,4155550002\n"
    run(content)
    assert phones() == ["+14155550002"]
    run(content, mapping=Mapping(phone="Mobile"))
    assert phones() == ["+14155550001", "+14155550002"]


def test_an_empty_phone_names_the_phone_like_column_that_has_a_value(run):
    result = run("phone,mobile,label_tier\n,0412 555 012,gold\n4155551234,,gold\n")
    assert rejected(result) == [
        (2, "invalid_phone", "Phone number is empty; column `mobile` has 0412 555 012.")
    ]
    assert phones() == ["+14155551234"]


def test_only_columns_named_for_a_number_are_named_for_an_empty_phone(run):
    result = run("phone,Cancellation,Home Phone,Cell\n,x,,0412 555 012\n,y,0412 555 013,\n")
    assert [reason for _, _, reason in rejected(result)] == [
        "Phone number is empty; column `Cell` has 0412 555 012.",
        "Phone number is empty; column `Home Phone` has 0412 555 013.",
    ]


def test_a_fallback_column_is_read_when_the_phone_is_empty(run):
    result = run(
        "phone,mobile,label_tier\n,0412 555 012,gold\n+1 415 555 1234,0412 555 013,silver\n",
        mapping=Mapping(fallback="mobile"),
        region="AU",
    )
    assert phones() == ["+14155551234", "+61412555012"]
    assert labels_of("+61412555012") == {"tier": "gold"}
    assert [column["use"] for column in result.columns] == ["phone", "fallback", "label"]


# Labels from any column


def test_a_header_with_spaces_suggests_keys_and_any_column_can_become_a_label(run):
    content = "Phone Number,Company Type,label_Company Size,Notes\n4155551234,Retail,10-50,hi\n"
    result = run(content, dry_run=True)
    assert result.columns == [
        {"column": "Phone Number", "number": 1, "use": "phone", "key": "", "note": ""},
        {
            "column": "Company Type",
            "number": 2,
            "use": "ignored",
            "key": "Company_Type",
            "note": "",
        },
        {
            "column": "label_Company Size",
            "number": 3,
            "use": "label",
            "key": "Company_Size",
            "note": "key cleaned from 'Company Size'",
        },
        {"column": "Notes", "number": 4, "use": "ignored", "key": "Notes", "note": ""},
    ]
    run(content, mapping=Mapping(labels=(("Company Type", "Company_Type"), ("Notes", "note"))))
    assert labels_of("+14155551234") == {
        "Company_Type": "Retail",
        "Company_Size": "10-50",
        "note": "hi",
    }


def test_label_columns_work_as_before_and_a_mapping_can_ignore_or_rename_them(run):
    content = "phone,label_tier,label_source\n4155551234,gold,fb\n"
    run(content, mapping=Mapping(ignore=("label_source",), labels=(("label_tier", "level"),)))
    assert labels_of("+14155551234") == {"level": "gold"}
    run(content)
    assert labels_of("+14155551234") == {"level": "gold", "tier": "gold", "source": "fb"}


def test_a_label_column_without_a_usable_key_is_ignored_and_named(run):
    result = run("phone,label_???,label_tier\n4155551234,x,gold\n")
    assert result.columns[1] == {
        "column": "label_???",
        "number": 2,
        "use": "ignored",
        "key": "",
        "note": "no usable label key in its name: give it one",
    }
    assert labels_of("+14155551234") == {"tier": "gold"}


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            Mapping(labels=(("Company Type", "bad key"),)),
            "Column 'Company Type': Label key 'bad key' may only contain letters, digits, '_' "
            "and '-'.",
        ),
        (
            Mapping(phone="Mobile"),
            "The mapping names the column 'Mobile', which the file does not have.",
        ),
        (
            Mapping(labels=(("Company Type", "tier"),)),
            "The columns 'label_tier' (column 2) and 'Company Type' (column 3) are the same "
            "column; keep one.",
        ),
    ],
)
def test_a_mapping_that_does_not_fit_the_file_rejects_it_before_anything_is_written(
    run, mapping, message
):
    with pytest.raises(ValidationError) as caught:
        run("phone,label_tier,Company Type\n4155551234,gold,Retail\n", mapping=mapping)
    assert caught.value.messages == [message]
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "The mapping must be an object."),
        (
            {"phones": "x"},
            "The mapping has no field 'phones'; its fields are phone, fallback, country, labels, "
            "unnamed_labels and ignore.",
        ),
        (
            {"unnamed_labels": {"x": "notes"}},
            "mapping.unnamed_labels: expected an object of column numbers (1 for the first "
            'column) and keys, such as {"7": "notes"}.',
        ),
        (
            {"unnamed_labels": {"0": "notes"}},
            "mapping.unnamed_labels: expected an object of column numbers (1 for the first "
            'column) and keys, such as {"7": "notes"}.',
        ),
        (
            {"unnamed_labels": ["notes"]},
            "mapping.unnamed_labels: expected an object of column numbers (1 for the first "
            'column) and keys, such as {"7": "notes"}.',
        ),
        ({"phone": 3}, "mapping.phone: expected a column name."),
        ({"labels": ["a"]}, "mapping.labels: expected an object of column names and keys."),
        ({"ignore": "a"}, "mapping.ignore: expected a list of column names."),
        ({"phone": "a", "ignore": ["a"]}, "The mapping gives the column 'a' two uses."),
    ],
)
def test_clean_mapping_refuses_what_is_not_a_mapping(raw, message):
    with pytest.raises(ValidationError) as caught:
        importing.clean_mapping(raw)
    assert (caught.value.code, caught.value.messages) == ("invalid_mapping", [message])


def test_a_mapping_keeps_its_json_form():
    raw = {
        "phone": "Mobile",
        "country": "",
        "labels": {"Company Type": "Company_Type"},
        "unnamed_labels": {"4": "extra", "12": "notes"},
    }
    assert importing.clean_mapping(raw).as_dict() == raw


@given(st.text(max_size=80))
def test_a_suggested_key_is_a_valid_key_or_nothing(name):
    key = importing.suggested_key(name)
    assert key == "" or clean_key(key) == key


# Short reports


def test_255_columns_most_unnamed_are_counted_not_listed(run):
    header = "phone,label_tier,Notes" + "," * 252
    rows = "4155551234,gold," + "," * 252 + "\n" + "4155551235,silver," + "," * 200 + "x\n"
    result = run(f"{header}\n{rows}")
    assert (result.unnamed_columns, result.unnamed_empty_columns, result.empty_columns) == (
        252,
        251,
        252,
    )
    assert importing.ignored_summary(result.as_dict()) == (
        "251 unnamed empty columns ignored. 1 unnamed column ignored. 1 empty column ignored."
    )
    assert result.ignored_columns == []
    # The unnamed column with a value is listed, to be given a key; the empty ones are counted.
    assert [(column["column"], column["number"]) for column in result.columns] == [
        ("phone", 1),
        ("label_tier", 2),
        ("", 203),
    ]
    assert len(json.dumps(result.as_dict())) < 1_500


def test_an_unnamed_column_with_a_key_becomes_a_label(run):
    header = "phone,label_tier,Notes" + "," * 252
    rows = "4155551234,gold," + "," * 252 + "\n" + "4155551235,silver," + "," * 200 + "x\n"
    result = run(f"{header}\n{rows}", mapping=Mapping(unnamed_labels=((203, "Extra"),)))
    assert labels_of("+14155551235") == {"tier": "silver", "Extra": "x"}
    assert labels_of("+14155551234") == {"tier": "gold"}
    assert (result.unnamed_columns, result.unnamed_empty_columns, result.empty_columns) == (
        251,
        251,
        252,
    )
    assert importing.ignored_summary(result.as_dict()) == (
        "251 unnamed empty columns ignored. 1 empty column ignored."
    )
    assert [(c["column"], c["number"], c["use"], c["key"]) for c in result.columns] == [
        ("phone", 1, "phone", ""),
        ("label_tier", 2, "label", "tier"),
        ("", 203, "label", "Extra"),
    ]
    assert result.mapping == {"unnamed_labels": {"203": "Extra"}}


def test_an_unnamed_label_value_is_checked_and_named_by_its_column(run):
    result = run(
        "phone,,notes\n4155551234,\x07bell,x\n",
        mapping=Mapping(unnamed_labels=((2, "sound"),)),
    )
    assert rejected(result) == [
        (2, "invalid_label_value", "Column 2: Label value contains the control character U+0007.")
    ]


@pytest.mark.parametrize(
    ("unnamed_labels", "message"),
    [
        (((9, "x"),), "The mapping names column 9, which the file does not have (it has 5 "
         "columns)."),
        (((3, "x"),), "Column 3 is named 'notes': map it by its name in mapping.labels."),
        (((2, "a b"),), "Column 2: Label key 'a b' may only contain letters, digits, '_' and "
         "'-'."),
        (((2, ""),), "Column 2: Label key is empty."),
        (((2, "tier"),), "'label_tier' and column 2 (no name) would both be the label 'tier': "
         "give one of them another key."),
        (((2, "k"), (4, "k")), "Column 2 (no name) and column 4 (no name) would both be the "
         "label 'k': give one of them another key."),
    ],
)  # fmt: skip
def test_an_unnamed_column_mapping_that_does_not_fit_rejects_the_file(run, unnamed_labels, message):
    mapping = Mapping(unnamed_labels=unnamed_labels)
    with pytest.raises(ValidationError) as caught:
        run("label_tier,,notes,,phone\ngold,a,b,c,4155551234\n", mapping=mapping)
    assert (caught.value.code, caught.value.messages) == ("invalid_mapping", [message])
    assert not Contact.objects.exists()


# import_csv


def test_the_command_takes_a_mapping_and_a_region(write, uk_list):
    file = write("Mobile Phone,Company Type,country\n(07) 3187 6375,Retail,\n905-573-0032,B2B,CA\n")
    out = io.StringIO()
    call_command(
        "import_csv",
        str(file),
        "--account=acme",
        f"--list={uk_list.pk}",
        '--mapping={"labels": {"Company Type": "Company_Type"}}',
        "--region=AU",
        stdout=out,
    )
    assert out.getvalue().splitlines()[:5] == [
        "Imported. Main (acme)",
        "region: AU",
        "column 'Mobile Phone': phone",
        "column 'Company Type': label Company_Type",
        "column 'country': country",
    ]
    assert labels_of("+61731876375") == {"Company_Type": "Retail"}
    assert labels_of("+19055730032") == {"Company_Type": "B2B"}


def test_the_command_reads_an_unnamed_column_given_a_key(write, sending_list):
    file = write("phone,,notes,\n4155551234,vip,hi,\n4155551235,,,\n")
    out = io.StringIO()
    call_command(
        "import_csv",
        str(file),
        "--account=acme",
        f"--list={sending_list.pk}",
        '--mapping={"unnamed_labels": {"2": "tier"}}',
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    assert lines[:4] == [
        "Imported. Main (acme)",
        "region: US",
        "column 'phone': phone",
        "column 2 (no name): label tier",
    ]
    assert "Ignored columns: notes. 1 unnamed empty column ignored." in lines
    assert labels_of("+14155551234") == {"tier": "vip"}
    assert labels_of("+14155551235") == {}


def test_without_a_key_the_command_ignores_an_unnamed_column(write, sending_list):
    file = write("phone,\n4155551234,vip\n")
    out = io.StringIO()
    call_command("import_csv", str(file), "--account=acme", f"--list={sending_list.pk}", stdout=out)
    assert "1 unnamed column ignored." in out.getvalue().splitlines()
    assert labels_of("+14155551234") == {}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (['--mapping={"unnamed_labels": {"1": "x"}}'], "Column 1 is named 'phone': map it by "
         "its name in mapping.labels."),
        (["--mapping={"], "--mapping is not JSON: Expecting property name enclosed in double "
         "quotes: line 1 column 2 (char 1)"),
        (['--mapping={"phone": "cell"}'], "The mapping names the column 'cell', which the file "
         "does not have."),
        (["--region=XX"], "Region 'XX' is not one phone numbers can be read with: give a "
         "two-letter ISO code such as GB or US."),
    ],
)  # fmt: skip
def test_the_command_refuses_a_bad_mapping_or_region(write, sending_list, options, message):
    file = write("phone\n4155551234\n")
    with pytest.raises(CommandError) as caught:
        call_command(
            "import_csv", str(file), "--account=acme", f"--list={sending_list.pk}", *options
        )
    assert str(caught.value) == message
    assert not Contact.objects.exists()


# The dashboard's preview


def _preview(client, sending_list, content: str) -> Job:
    url = reverse("imports:import_new", args=["acme", sending_list.pk])
    file = io.BytesIO(content.encode())
    file.name = "people.csv"
    response = client.post(url, {"file": file})
    assert response.status_code == 302
    return Job.objects.filter(kind=Job.Kind.IMPORT_PREVIEW).latest("pk")


def test_a_file_without_a_known_phone_column_asks_for_it_and_is_previewed_with_it(
    editor_client, sending_list
):
    url = reverse("imports:import_new", args=["acme", sending_list.pk])
    content = b"Name,Numero\nAnn,4155551234\n"
    response = editor_client.post(url, {"file": io.BytesIO(content)})
    assert response.status_code == 200
    assert response.context["phone_choices"] == ["Name", "Numero"]
    assert '<option value="Numero">Numero</option>' in response.content.decode()
    assert not Job.objects.exists()
    file = io.BytesIO(content)
    file.name = "people.csv"
    response = editor_client.post(url, {"phone_column": "Numero", "file": file})
    job = Job.objects.get()
    assert (job.params["mapping"], job.result["created"]) == ({"phone": "Numero"}, 1)


def _remap_url(job: Job) -> str:
    return reverse("imports:import_remap", args=["acme", job.pk])


FILE = "Phone Number,Company Type,country,Notes\n905-573-0032,Retail,,hi\n020 7946 0018,B2B,UK,\n"


def test_the_preview_shows_every_column_and_the_region(editor_client, uk_list):
    job = _preview(editor_client, uk_list, FILE)
    page = editor_client.get(reverse("imports:import_detail", args=["acme", job.pk]))
    html = page.content.decode()
    assert page.context["result"]["region"] == "GB"
    assert [(c["column"], c["use"], c["key"]) for c in page.context["result"]["columns"]] == [
        ("Phone Number", "phone", ""),
        ("Company Type", "ignored", "Company_Type"),
        ("country", "country", ""),
        ("Notes", "ignored", "Notes"),
    ]
    assert 'name="key_2" value="Company_Type"' in html
    assert '<option value="GB" selected>United Kingdom (+44)</option>' in html
    assert 'data-testid="other-regions"' in html


def test_the_preview_is_run_again_with_the_columns_and_region_chosen_and_imported_so(
    editor_client, uk_list
):
    job = _preview(editor_client, uk_list, FILE)
    form = {
        "use_1": "phone",
        "use_2": "label",
        "key_2": "Company_Type",
        "use_3": "ignored",
        # An empty key: the key cleaned from the column's name.
        "use_4": "label",
        "key_4": " ",
        "region": "CA",
    }
    response = editor_client.post(_remap_url(job), form)
    again = Job.objects.filter(kind=Job.Kind.IMPORT_PREVIEW).latest("pk")
    assert response["Location"] == reverse("imports:import_detail", args=["acme", again.pk])
    assert again.params["mapping"] == {
        "phone": "Phone Number",
        "country": "",
        "labels": {"Company Type": "Company_Type", "Notes": "Notes"},
        "ignore": ["country"],
    }
    assert again.params["region"] == "CA"
    assert again.result["rejected"] == 1
    editor_client.post(reverse("imports:import_confirm", args=["acme", again.pk]))
    assert phones() == ["+19055730032"]
    assert labels_of("+19055730032") == {"Company_Type": "Retail", "Notes": "hi"}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"use_1": "ignored", "region": "GB"}, "Choose the column that holds the phone number."),
        (
            {"use_4": "phone", "region": "GB"},
            "Only one column can be the phone number: 'Phone Number' and 'Notes' are.",
        ),
        ({"use_2": "label", "key_2": "a b", "region": "GB"}, "Column 'Company Type': Label key "
         "'a b' may only contain letters, digits, '_' and '-'."),
        ({"region": "XX"}, "Region 'XX' is not one phone numbers can be read with: give a "
         "two-letter ISO code such as GB or US."),
    ],
)  # fmt: skip
def test_a_bad_mapping_in_the_preview_says_why_and_starts_nothing(
    editor_client, uk_list, form, message
):
    job = _preview(editor_client, uk_list, FILE)
    response = editor_client.post(_remap_url(job), form, follow=True)
    assert [str(m) for m in response.context["messages"]] == [message]
    assert Job.objects.count() == 1


UNNAMED_FILE = "Phone Number,,Notes,\n905-573-0032,vip,hi,\n415 555 0100,,,\n"


def test_the_preview_lists_an_unnamed_column_with_a_value_and_a_key_makes_it_a_label(
    editor_client, sending_list
):
    job = _preview(editor_client, sending_list, UNNAMED_FILE)
    page = editor_client.get(reverse("imports:import_detail", args=["acme", job.pk]))
    html = page.content.decode()
    assert [(c["column"], c["number"], c["use"]) for c in page.context["result"]["columns"]] == [
        ("Phone Number", 1, "phone"),
        ("", 2, "ignored"),
        ("Notes", 3, "ignored"),
    ]
    assert "Column 2, no name" in html
    assert 'name="key_2" value="" maxlength="64" aria-label="Label key for column 2"' in html
    assert 'name="use_2"' not in html
    assert (
        page.context["ignored_counts"]
        == "1 unnamed empty column ignored. 1 unnamed column ignored."
    )

    form = {"use_1": "phone", "key_2": " tier ", "use_3": "ignored", "region": "US"}
    editor_client.post(_remap_url(job), form)
    again = Job.objects.filter(kind=Job.Kind.IMPORT_PREVIEW).latest("pk")
    assert again.params["mapping"] == {
        "phone": "Phone Number",
        "country": "",
        "unnamed_labels": {"2": "tier"},
        "ignore": ["Notes"],
    }
    page = editor_client.get(reverse("imports:import_detail", args=["acme", again.pk]))
    assert 'name="key_2" value="tier"' in page.content.decode()
    assert page.context["ignored_counts"] == "1 unnamed empty column ignored."
    editor_client.post(reverse("imports:import_confirm", args=["acme", again.pk]))
    assert labels_of("+19055730032") == {"tier": "vip"}
    assert labels_of("+14155550100") == {}


def test_an_unnamed_column_without_a_key_stays_ignored(editor_client, sending_list):
    job = _preview(editor_client, sending_list, UNNAMED_FILE)
    editor_client.post(_remap_url(job), {"use_1": "phone", "key_2": "  ", "region": "US"})
    again = Job.objects.filter(kind=Job.Kind.IMPORT_PREVIEW).latest("pk")
    assert "unnamed_labels" not in again.params["mapping"]
    assert again.result["unnamed_columns"] == 2
    assert importing.ignored_summary(again.result, named=False) == (
        "1 unnamed empty column ignored. 1 unnamed column ignored."
    )


def test_an_unnamed_column_key_goes_through_the_label_validator(editor_client, sending_list):
    job = _preview(editor_client, sending_list, UNNAMED_FILE)
    response = editor_client.post(
        _remap_url(job), {"use_1": "phone", "key_2": "a b", "region": "US"}, follow=True
    )
    assert [str(m) for m in response.context["messages"]] == [
        "Column 2: Label key 'a b' may only contain letters, digits, '_' and '-'."
    ]
    assert Job.objects.count() == 1


def test_viewers_and_outsiders_cannot_change_a_preview(
    editor_client, viewer_client, outsider_client, uk_list
):
    job = _preview(editor_client, uk_list, FILE)
    assert viewer_client.post(_remap_url(job), {"region": "US"}).status_code == 403
    assert outsider_client.post(_remap_url(job), {"region": "US"}).status_code == 404
    assert editor_client.get(_remap_url(job)).status_code == 405
    page = viewer_client.get(reverse("imports:import_detail", args=["acme", job.pk]))
    assert 'data-testid="mapping-form"' not in page.content.decode()
    assert Job.objects.count() == 1
