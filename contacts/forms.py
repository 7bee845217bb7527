from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import QueryDict

from contacts import services
from contacts.filters import PHONE_SEARCH_MAX_LENGTH, clean_filter, filter_contacts
from contacts.labels import (
    KEY_MAX_LENGTH,
    MAX_LABELS_PER_CONTACT,
    VALUE_MAX_LENGTH,
    check_new_key,
    clean_key,
    clean_value,
)
from contacts.models import Contact, SendingList
from trackly.models import Account
from trackly.phones import normalize_phone
from trackly.text import check_text


@dataclass
class LabelRow:
    key: str = ""
    value: str = ""
    key_error: str = ""
    value_error: str = ""

    @property
    def is_blank(self) -> bool:
        return not self.key.strip() and not self.value.strip()


# Rows the Edit Labels form reads: the label limit, with room for blank rows, which are ignored.
MAX_LABEL_ROWS = MAX_LABELS_PER_CONTACT * 2


@dataclass
class LabelRowsForm:
    """The Edit Labels form: rows of key and value, validated together, saved all or nothing.

    Rows arrive as parallel `key` and `value` lists. Rows left entirely blank are ignored.
    """

    rows: list[LabelRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cleaned_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> "LabelRowsForm":
        return cls(rows=[LabelRow(key, value) for key, value in labels.items()])

    @classmethod
    def from_post(cls, data: QueryDict) -> "LabelRowsForm":
        keys, values = data.getlist("key"), data.getlist("value")
        if len(keys) != len(values):
            return cls(errors=["The form was incomplete; reload the page and try again."])
        rows = [LabelRow(key, value) for key, value in zip(keys, values, strict=True)]
        if len(rows) > MAX_LABEL_ROWS:
            # The rows stay on the form, so that the user can remove some and save.
            return cls(
                rows=rows,
                errors=[
                    f"The form has {len(rows)} label rows; it takes at most {MAX_LABEL_ROWS} "
                    f"(a contact can have at most {MAX_LABELS_PER_CONTACT} labels). "
                    "Remove rows and try again."
                ],
            )
        return cls(rows=rows)

    def add_row(self) -> None:
        self.rows.append(LabelRow())

    def remove_row(self, index: int) -> None:
        if 0 <= index < len(self.rows):
            del self.rows[index]

    @property
    def error_count(self) -> int:
        """How many problems the form shows: its own and each invalid key or value."""
        in_rows = sum(bool(row.key_error) + bool(row.value_error) for row in self.rows)
        return len(self.errors) + in_rows

    @property
    def first_invalid(self) -> tuple[int, str] | None:
        """The 1-based row and the part ("key" or "value") of the first invalid input, which
        gets the focus; None when no input is invalid."""
        for number, row in enumerate(self.rows, start=1):
            if row.key_error:
                return number, "key"
            if row.value_error:
                return number, "value"
        return None

    def is_valid(self) -> bool:
        if self.errors:
            return False
        cleaned: dict[str, str] = {}
        seen_keys: set[str] = set()
        for row in self.rows:
            if row.is_blank:
                continue
            try:
                key = clean_key(row.key)
            except ValidationError as error:
                row.key_error = error.messages[0]
                key = None
            try:
                value = clean_value(row.value)
            except ValidationError as error:
                row.value_error = error.messages[0]
                value = None
            if key is None:
                continue
            try:
                check_new_key(key, seen_keys)
            except ValidationError as error:
                row.key_error = error.messages[0]
                continue
            seen_keys.add(key)
            if value is not None:
                cleaned[key] = value
        # The labels are counted once, by the service that saves them (under the contact's
        # lock); its error joins the form's.
        if any(row.key_error or row.value_error for row in self.rows):
            return False
        self.cleaned_labels = cleaned
        return True


class AccountPhoneField(forms.CharField):
    """A phone number read with the account's default region, cleaned to E.164."""

    def __init__(self, *, account: Account, **kwargs) -> None:
        super().__init__(max_length=64, **kwargs)
        self.account = account

    def clean(self, value: str) -> str:
        return normalize_phone(super().clean(value), self.account.default_region)


class SendingListForm(forms.Form):
    name = forms.CharField(max_length=200, validators=[check_text])

    def __init__(self, *args, account: Account, instance: SendingList | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.instance = instance
        if instance is None:
            self.fields["phone_number"] = AccountPhoneField(
                account=account, help_text="The number messages are sent from."
            )

    def clean(self) -> dict:
        cleaned = super().clean()
        name, phone = cleaned.get("name"), cleaned.get("phone_number")
        if name is None and phone is None:
            return cleaned
        try:
            services.sending_list_check_unique(
                account=self.account, name=name, phone_number=phone, sending_list=self.instance
            )
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned


# Ids are signed 64-bit integers; SQLite cannot even compare a larger number with one.
MAX_ID = 2**63 - 1


def id_of(text: str) -> int | None:
    """The id (or other count) written in `text`, or None for anything but a whole number that
    an id can be."""
    text = text.strip()
    # `isascii`: "²" is a digit to `isdigit` but not to `int`; the length keeps `int` cheap.
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    return int(text) if int(text) <= MAX_ID else None


class ContactSearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=PHONE_SEARCH_MAX_LENGTH, label="Phone")
    key = forms.CharField(required=False, max_length=KEY_MAX_LENGTH, label="Label key")
    value = forms.CharField(required=False, max_length=VALUE_MAX_LENGTH, label="Label value")

    def clean(self) -> dict:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned.update(
                clean_filter(phone=cleaned["q"], key=cleaned["key"], value=cleaned["value"])
            )
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                for message in messages:
                    self.add_error(field, message)
        return cleaned

    def filter(self, contacts: QuerySet[Contact], region: str) -> tuple[QuerySet[Contact], str]:
        """Apply the valid form's phone and label filters; return them with a search hint."""
        data = self.cleaned_data
        return filter_contacts(
            contacts, phone=data["q"], key=data["key"], value=data["value"], region=region
        )
