"""The API keys page of the account settings: admins create and revoke the account's keys."""

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from trackly.api_keys import api_key_create
from trackly.api_keys import api_key_revoke as revoke
from trackly.confirm import confirmation
from trackly.models import ApiKey, Role
from trackly.tenancy import AccountRequest, account_view
from trackly.text import check_text


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the key is for, e.g. the shop's CRM.",
        validators=[check_text],
    )
    read_only = forms.BooleanField(required=False, label="Read-only")


def _page(request: AccountRequest, form: ApiKeyForm | None = None, new_key: str = "", status=200):
    keys = ApiKey.objects.for_account(request.account).select_related("created_by")
    context = {"nav": "settings", "form": form or ApiKeyForm(), "keys": keys, "new_key": new_key}
    return render(request, "trackly/api_keys.html", context, status=status)


@require_http_methods(["GET", "POST"])
@account_view(Role.ADMIN)
def api_keys(request: AccountRequest):
    """The account's API keys; a POST creates one and shows it, this once."""
    if request.method == "GET":
        return _page(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form)
    _, key = api_key_create(
        account=request.account,
        name=form.cleaned_data["name"],
        read_only=form.cleaned_data["read_only"],
        created_by=request.user,
    )
    # The key is on this response only; only its hash is stored.
    return _page(request, new_key=key)


@require_POST
@account_view(Role.ADMIN)
def api_key_revoke(request: AccountRequest, key_id: int):
    api_key = get_object_or_404(ApiKey.objects.for_account(request.account), pk=key_id)
    if not api_key.is_revoked:
        confirm = confirmation(
            request,
            title=f"Revoke the key “{api_key.name}”?",
            question=(
                f"Requests with the key {api_key.prefix}… are refused from now on; whatever uses "
                "it stops working until it is given a new key. A revoked key cannot be restored."
            ),
            button="Revoke key",
            cancel_url=reverse("api_keys", args=[request.account.slug]),
            nav="settings",
        )
        if confirm is not None:
            return confirm
    revoke(api_key=api_key)
    messages.success(request, f"The key “{api_key.name}” ({api_key.prefix}…) is revoked.")
    return redirect("api_keys", request.account.slug)
