"""The API keys page of the account settings, and `manage.py create_api_key`."""

import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.api.conftest import ApiClient
from trackly.api_keys import api_key_create, find_api_key
from trackly.models import ApiKey

PAGE = reverse("api_keys", args=["acme"])


def _revoke_url(api_key: ApiKey, slug: str = "acme") -> str:
    return reverse("api_key_revoke", args=[slug, api_key.pk])


def test_admin_sees_each_key_with_prefix_creator_and_times(admin_client, admin_user, account):
    used, _ = api_key_create(account=account, name="Shop", created_by=admin_user)
    ApiKey.objects.filter(pk=used.pk).update(last_used_at="2025-03-01T10:00:00Z")
    api_key_create(account=account, name="Nightly export", read_only=True)
    response = admin_client.get(PAGE)
    assert response.status_code == 200
    assert [key.name for key in response.context["keys"]] == ["Nightly export", "Shop"]
    page = response.content.decode()
    assert f"{used.prefix}…" in page
    assert "admin@acme.test" in page
    assert "command line" in page
    assert "2025-03-01 10:00" in page
    assert "never" in page
    assert "Read-only" in page


def test_a_new_key_is_shown_once_with_a_copy_button(admin_client, admin_user, account):
    response = admin_client.post(PAGE, {"name": "Shop"})
    assert response.status_code == 200
    key = response.context["new_key"]
    assert re.fullmatch(r"trk_[A-Za-z0-9]{32}", key)
    page = response.content.decode()
    assert f'<code id="new-key" data-testid="new-key">{key}</code>' in page
    assert '<button type="button" data-copy="new-key">Copy</button>' in page
    assert 'src="/static/js/copy.js"' in page
    api_key = find_api_key(key)
    assert (api_key.account, api_key.name, api_key.read_only) == (account, "Shop", False)
    assert api_key.created_by == admin_user
    # Never again: the page shows the prefix only.
    assert key not in admin_client.get(PAGE).content.decode()


def test_the_new_key_works_on_the_api(admin_client, sending_list):
    key = admin_client.post(PAGE, {"name": "Shop"}).context["new_key"]
    assert ApiClient(key).get("lists").status_code == 200


def test_an_admin_makes_a_read_only_key(admin_client, account):
    key = admin_client.post(PAGE, {"name": "Reports", "read_only": "on"}).context["new_key"]
    assert find_api_key(key).read_only


def test_a_key_needs_a_name(admin_client):
    response = admin_client.post(PAGE, {"name": "  "})
    assert response.context["form"].errors["name"] == ["This field is required."]
    assert response.context["new_key"] == ""
    assert not ApiKey.objects.exists()


def test_an_admin_revokes_a_key_and_it_stops_working(admin_client, account, sending_list):
    api_key, key = api_key_create(account=account, name="Shop")
    # The first POST only asks.
    asked = admin_client.post(_revoke_url(api_key))
    assert asked.status_code == 200
    assert asked.context["title"] == "Revoke the key “Shop”?"
    assert asked.context["carry"] == []
    html = asked.content.decode()
    assert '<input type="hidden" name="confirmed" value="1">' in html
    assert '<a class="button" href="/a/acme/settings/api-keys/">Cancel</a>' in html
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert ApiClient(key).get("lists").status_code == 200
    response = admin_client.post(_revoke_url(api_key), {"confirmed": "1"}, follow=True)
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert f"The key “Shop” ({api_key.prefix}…) is revoked." in response.content.decode()
    assert ApiClient(key).get("lists").status_code == 401


def test_only_admins_reach_the_page(editor_client, viewer_client, account):
    api_key, _ = api_key_create(account=account, name="Shop")
    for client in (editor_client, viewer_client):
        assert client.get(PAGE).status_code == 403
        assert client.post(PAGE, {"name": "Mine"}).status_code == 403
        assert client.post(_revoke_url(api_key)).status_code == 403
    assert ApiKey.objects.count() == 1
    assert ApiKey.objects.get().revoked_at is None


def test_an_outsider_gets_404_and_cannot_revoke_our_keys(outsider_client, account):
    api_key, _ = api_key_create(account=account, name="Shop")
    assert outsider_client.get(PAGE).status_code == 404
    assert outsider_client.post(_revoke_url(api_key, "globex")).status_code == 404
    assert outsider_client.post(_revoke_url(api_key)).status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_wrong_methods_are_refused(admin_client, account):
    api_key, _ = api_key_create(account=account, name="Shop")
    assert admin_client.put(PAGE).status_code == 405
    assert admin_client.get(_revoke_url(api_key)).status_code == 405


def test_the_settings_page_links_to_the_api_keys(admin_client):
    page = admin_client.get(reverse("settings", args=["acme"])).content.decode()
    assert f'href="{PAGE}" data-testid="api-keys-link"' in page


def test_the_copy_script_is_tiny_and_has_no_inline_code():
    script = Path(settings.BASE_DIR, "static", "js", "copy.js").read_text()
    assert "navigator.clipboard.writeText" in script
    assert len(script) < 1000


def test_create_api_key_prints_the_key_last(account, sending_list):
    out = StringIO()
    call_command("create_api_key", "--account", "acme", "--name", "CRM", stdout=out)
    key = out.getvalue().splitlines()[-1]
    api_key = find_api_key(key)
    assert (api_key.account, api_key.name, api_key.read_only) == (account, "CRM", False)
    assert api_key.created_by is None
    assert ApiClient(key).post("contacts", {"phone_number": "+14155551234"}).status_code == 201


def test_create_api_key_makes_read_only_keys(account):
    out = StringIO()
    call_command("create_api_key", "--account", "acme", "--name", "BI", "--read-only", stdout=out)
    assert "read-only" in out.getvalue()
    assert find_api_key(out.getvalue().splitlines()[-1]).read_only


def test_create_api_key_needs_a_known_account_and_a_name(account):
    with pytest.raises(CommandError, match=r"No account has the slug 'nope'\."):
        call_command("create_api_key", "--account", "nope", "--name", "CRM")
    with pytest.raises(CommandError, match=r"--name must be 1 to 100 characters\."):
        call_command("create_api_key", "--account", "acme", "--name", " ")
    assert not ApiKey.objects.exists()


def test_a_key_name_with_a_control_character_has_one_message_on_the_page_and_the_cli(
    admin_client, account
):
    response = admin_client.post(PAGE, {"name": "CRM\x07"})
    assert response.context["form"].errors == {
        "name": ["The text contains the control character U+0007."]
    }
    with pytest.raises(
        CommandError, match=r"^--name: The text contains the control character U\+0007\.$"
    ):
        call_command("create_api_key", "--account", "acme", "--name", "CRM\x07")
    assert not ApiKey.objects.exists()
