from django import forms
from django.core.exceptions import ValidationError

from audiences import bulk
from audiences.conditions import ConditionError, Node, parse, to_text
from audiences.models import Audience, resolve_audiences
from audiences.services import audience_check_name
from contacts.forms import id_of
from contacts.labels import clean_key, clean_value
from contacts.models import SendingList
from trackly.models import Account
from trackly.text import check_multiline_text, check_text


class SendingListsField(forms.ModelMultipleChoiceField):
    """Sending lists by id; a value that no id can be is refused before it reaches a query."""

    def clean(self, value):
        for pk in value if isinstance(value, list | tuple) else []:
            if id_of(str(pk)) is None:
                raise ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                )
        return super().clean(value)


class AudienceNameForm(forms.Form):
    """Name and description of an audience: all that a static audience's Edit page changes."""

    name = forms.CharField(max_length=255, validators=[check_text])
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        validators=[check_multiline_text],
    )

    def __init__(self, *args, account: Account, instance: Audience | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.instance = instance

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        audience_check_name(account=self.account, name=name, audience=self.instance)
        return name


class AudienceForm(AudienceNameForm):
    """Name, description, list scope and conditions (as text) of an audience."""

    conditions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    sending_lists = SendingListsField(queryset=SendingList.objects.none(), required=False)

    def __init__(self, *args, account: Account, instance: Audience | None = None, **kwargs):
        super().__init__(*args, account=account, instance=instance, **kwargs)
        self.tree: Node | None = None
        self.fields["sending_lists"].queryset = SendingList.objects.for_account(account)

    def clean_conditions(self) -> str:
        try:
            self.tree = resolve_audiences(
                self.account, parse(self.cleaned_data["conditions"]), audience=self.instance
            )
        except ConditionError as error:
            raise ValidationError(error.messages[0], code=error.code) from None
        return to_text(self.tree)


class LabelActionForm(forms.Form):
    """Key (and value, to add) of a bulk label action, checked by the one label validator."""

    key = forms.CharField(max_length=200)
    value = forms.CharField(max_length=1000, required=False)

    def __init__(self, *args, action: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.action = action
        if action == bulk.ADD:
            self.fields["value"].required = True

    def clean_key(self) -> str:
        return clean_key(self.cleaned_data["key"])

    def clean_value(self) -> str:
        if self.action != bulk.ADD:
            return ""
        return clean_value(self.cleaned_data["value"])
