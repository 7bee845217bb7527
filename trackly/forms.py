from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from trackly.models import (
    Account,
    Membership,
    Role,
    time_zone_names,
    validate_region,
    validate_time_zone,
)
from trackly.phones import region_choices
from trackly.text import check_text


class RegionField(forms.ChoiceField):
    """A phone region picked from the supported regions, by name; a code is read in any case."""

    default_error_messages = {"invalid_choice": "%(value)r is not a known phone region."}

    def __init__(self, **kwargs):
        super().__init__(choices=region_choices, **kwargs)

    def to_python(self, value) -> str:
        return super().to_python(value).strip().upper()


class TimeZoneField(forms.ChoiceField):
    """A time zone picked from the IANA names, checked by the one time-zone validator (the
    API's too)."""

    def __init__(self, **kwargs):
        super().__init__(choices=lambda: [(name, name) for name in time_zone_names()], **kwargs)

    def validate(self, value) -> None:
        forms.Field.validate(self, value)
        if value:
            validate_time_zone(value)


class AccountSettingsForm(forms.ModelForm):
    # The one check of names, as the API's account endpoint and every other name apply it.
    name = forms.CharField(max_length=200, validators=[check_text])
    default_region = RegionField(label="Default phone region")
    time_zone = TimeZoneField()

    class Meta:
        model = Account
        fields = ["name", "default_region", "time_zone"]

    def clean_default_region(self) -> str:
        region = self.cleaned_data["default_region"]
        validate_region(region)
        return region


class MemberAddForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        user = get_user_model().objects.filter(username__iexact=email).first()
        if user and Membership.objects.filter(account=self.account, user=user).exists():
            raise ValidationError(f"{email} is already a member.", code="conflict")
        return email


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
