import datetime
import re

import phonenumbers
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.factories import UserFactory
from trackly.models import Membership
from trackly.phones import region_choices


def test_admin_sees_members_and_settings(admin_client, editor_user, viewer_user):
    response = admin_client.get(reverse("settings", args=["acme"]))
    assert response.status_code == 200
    assert [m.user.username for m in response.context["members"]] == [
        "admin@acme.test",
        "editor@acme.test",
        "viewer@acme.test",
    ]


def test_only_admins_reach_settings(editor_client, viewer_client, outsider_client, account):
    assert editor_client.get(reverse("settings", args=["acme"])).status_code == 403
    assert viewer_client.get(reverse("settings", args=["acme"])).status_code == 403
    assert outsider_client.get(reverse("settings", args=["acme"])).status_code == 404


def test_admin_changes_name_and_region(admin_client, account):
    admin_client.post(
        reverse("settings", args=["acme"]),
        {"name": "Acme Boots", "default_region": "gb", "time_zone": "Europe/London"},
    )
    account.refresh_from_db()
    assert (account.name, account.default_region, account.time_zone) == (
        "Acme Boots",
        "GB",
        "Europe/London",
    )


def test_an_account_name_with_a_control_character_is_refused_as_by_the_api(admin_client, account):
    response = admin_client.post(
        reverse("settings", args=["acme"]),
        {"name": "Acme\x07Boots", "default_region": "US", "time_zone": "UTC"},
    )
    assert response.status_code == 200
    assert response.context["settings_form"].errors == {
        "name": ["The text contains the control character U+0007."]
    }
    account.refresh_from_db()
    assert account.name != "Acme\x07Boots"


def test_the_time_zone_is_a_picker_that_defaults_to_utc(admin_client, account):
    assert account.time_zone == "UTC"
    page = admin_client.get(reverse("settings", args=["acme"])).content.decode()
    assert '<select id="id_time_zone" name="time_zone" required>' in page
    assert '<option value="UTC" selected>UTC</option>' in page
    assert '<option value="America/New_York">America/New_York</option>' in page


def test_an_unknown_time_zone_is_refused(admin_client, account):
    response = admin_client.post(
        reverse("settings", args=["acme"]),
        {"name": "Acme", "default_region": "US", "time_zone": "Mars/Olympus"},
    )
    assert response.context["settings_form"].errors["time_zone"] == [
        "'Mars/Olympus' is not a known time zone."
    ]
    account.refresh_from_db()
    assert account.time_zone == "UTC"


def test_the_model_refuses_an_unknown_time_zone(account):
    account.time_zone = "Nowhere/Town"
    with pytest.raises(ValidationError) as caught:
        account.full_clean()
    assert caught.value.message_dict["time_zone"] == ["'Nowhere/Town' is not a known time zone."]


@pytest.mark.parametrize(
    ("time_zone", "today"),
    [
        ("UTC", datetime.date(2024, 3, 1)),
        ("Pacific/Kiritimati", datetime.date(2024, 3, 1)),
        ("America/Los_Angeles", datetime.date(2024, 2, 29)),
    ],
)
def test_today_is_the_date_in_the_accounts_time_zone(account, time_zone, today):
    account.time_zone = time_zone
    # 2024-03-01 07:30 UTC: still 29 February in California, already 1 March in Kiribati.
    assert account.today(datetime.datetime(2024, 3, 1, 7, 30, tzinfo=datetime.UTC)) == today


def test_the_region_is_picked_by_name(admin_client, account):
    account.default_region = "GB"
    account.save()
    html = admin_client.get(reverse("settings", args=["acme"])).content.decode()
    assert '<select id="id_default_region" name="default_region" required' in html
    assert '<option value="GB" selected>United Kingdom (+44)</option>' in html
    assert '<option value="US">United States (+1)</option>' in html
    picker = html[html.index('<select id="id_default_region"') : html.index("</select>")]
    assert picker.count(" selected") == 1


def test_every_supported_region_has_a_name_and_its_calling_code():
    choices = region_choices()
    assert len(choices) == len(phonenumbers.SUPPORTED_REGIONS)
    assert {code for code, _ in choices} == phonenumbers.SUPPORTED_REGIONS
    assert all(re.fullmatch(r".+\S \(\+\d+\)", name) for _, name in choices)
    assert dict(choices)["XK"] == "Kosovo (+383)"
    assert [name for _, name in choices] == sorted(name for _, name in choices)


def test_an_unknown_region_is_refused(admin_client, account):
    response = admin_client.post(
        reverse("settings", args=["acme"]),
        {"name": "Acme", "default_region": "XX", "time_zone": "UTC"},
    )
    assert response.context["settings_form"].errors["default_region"] == [
        "'XX' is not a known phone region."
    ]
    account.refresh_from_db()
    assert account.default_region == "US"


def test_adding_a_new_address_creates_a_user_with_a_one_time_password(admin_client, account):
    response = admin_client.post(
        reverse("member_add", args=["acme"]), {"email": "New@Acme.test", "role": "viewer"}
    )
    password = response.context["new_password"]
    user = get_user_model().objects.get(username="new@acme.test")
    assert user.check_password(password)
    assert Membership.objects.get(account=account, user=user).role == "viewer"
    assert password in response.content.decode()


def test_adding_an_existing_user_needs_no_password(admin_client, account, outsider_user):
    response = admin_client.post(
        reverse("member_add", args=["acme"]), {"email": "outsider@globex.test", "role": "editor"}
    )
    assert response.status_code == 302
    assert Membership.objects.get(account=account, user=outsider_user).role == "editor"


def test_adding_a_member_twice_is_refused(admin_client, editor_user):
    response = admin_client.post(
        reverse("member_add", args=["acme"]), {"email": "editor@acme.test", "role": "admin"}
    )
    assert response.context["add_form"].errors["email"] == ["editor@acme.test is already a member."]
    assert Membership.objects.get(user=editor_user).role == "editor"


def test_roles_change_but_the_last_admin_stays(admin_client, admin_user, editor_user, account):
    editor = Membership.objects.get(user=editor_user)
    admin_client.post(reverse("member_role", args=["acme", editor.pk]), {"role": "viewer"})
    editor.refresh_from_db()
    assert editor.role == "viewer"
    me = Membership.objects.get(user=admin_user)
    response = admin_client.post(
        reverse("member_role", args=["acme", me.pk]), {"role": "editor"}, follow=True
    )
    assert "An account needs at least one admin." in response.content.decode()
    me.refresh_from_db()
    assert me.role == "admin"


def test_members_are_removed_but_not_the_last_admin(admin_client, admin_user, editor_user):
    editor = Membership.objects.get(user=editor_user)
    asked = admin_client.post(reverse("member_remove", args=["acme", editor.pk]))
    assert asked.context["title"] == "Remove editor@acme.test from Acme Shoes?"
    assert Membership.objects.filter(pk=editor.pk).exists()
    admin_client.post(reverse("member_remove", args=["acme", editor.pk]), {"confirmed": "1"})
    assert not Membership.objects.filter(pk=editor.pk).exists()
    me = Membership.objects.get(user=admin_user)
    asked = admin_client.post(reverse("member_remove", args=["acme", me.pk]))
    assert asked.context["title"] == "Remove yourself from Acme Shoes?"
    admin_client.post(reverse("member_remove", args=["acme", me.pk]), {"confirmed": "1"})
    assert Membership.objects.filter(pk=me.pk).exists()


def test_another_accounts_member_is_404(admin_client, outsider_user):
    theirs = Membership.objects.get(user=outsider_user)
    for name in ("member_role", "member_remove"):
        response = admin_client.post(reverse(name, args=["acme", theirs.pk]), {"role": "viewer"})
        assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.role == "admin"


@pytest.mark.parametrize("name", ["member_add", "member_role", "member_remove"])
def test_member_writes_are_post_only_and_admin_only(name, admin_client, editor_client, admin_user):
    args = (
        ["acme"] if name == "member_add" else ["acme", Membership.objects.get(user=admin_user).pk]
    )
    assert admin_client.get(reverse(name, args=args)).status_code == 405
    assert editor_client.post(reverse(name, args=args), {"role": "viewer"}).status_code == 403


def test_the_switcher_lists_every_account_of_the_user(admin_client, admin_user, other_account):
    Membership.objects.create(user=admin_user, account=other_account, role="viewer")
    html = admin_client.get(reverse("contacts:sending_lists", args=["acme"])).content.decode()
    assert 'href="/a/acme/lists/" aria-current="true">Acme Shoes' in html
    assert 'href="/a/globex/lists/">Globex' in html
    other = admin_client.get(reverse("contacts:sending_lists", args=["globex"])).content.decode()
    assert 'data-testid="current-account">Globex<' in other


def test_home_opens_the_first_account(admin_client):
    response = admin_client.get("/")
    assert response["Location"] == "/a/acme/"


def test_home_without_an_account_says_so(client, db):
    client.force_login(UserFactory())
    assert "No account yet" in client.get("/").content.decode()


def test_the_admin_shows_the_time_zone_as_a_picker_and_in_the_list(superuser_client, account):
    change = superuser_client.get(reverse("admin:trackly_account_change", args=[account.pk]))
    page = change.content.decode()
    assert '<select name="time_zone" id="id_time_zone">' in page
    assert '<option value="UTC" selected>UTC</option>' in page
    listing = superuser_client.get(reverse("admin:trackly_account_changelist")).content.decode()
    assert '<td class="field-time_zone">UTC</td>' in listing
