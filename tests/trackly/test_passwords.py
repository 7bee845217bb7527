"""Change-password for every user, the forced change after a one-time password, and the reset
an account admin (Settings) or staff (Django admin) can issue."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD
from trackly.models import Membership, PasswordChangeRequired
from trackly.services import member_add

CHANGE = "/password/"
NEW = "a brand new passphrase"


def log_in(username: str, password: str) -> Client:
    client = Client()
    response = client.post(reverse("login"), {"username": username, "password": password})
    assert response.status_code == 302
    return client


def test_every_user_changes_their_password_with_the_current_one(viewer_user):
    client = log_in(viewer_user.username, PASSWORD)
    page = client.get(CHANGE)
    assert page.status_code == 200
    assert b'name="old_password"' in page.content
    wrong = client.post(
        CHANGE, {"old_password": "nope", "new_password1": NEW, "new_password2": NEW}
    )
    assert wrong.context["form"].errors["old_password"] == [
        "Your old password was entered incorrectly. Please enter it again."
    ]
    done = client.post(
        CHANGE, {"old_password": PASSWORD, "new_password1": NEW, "new_password2": NEW}
    )
    assert done.status_code == 302
    viewer_user.refresh_from_db()
    assert viewer_user.check_password(NEW)
    # This session stays logged in.
    assert client.get(reverse("contacts:sending_lists", args=["acme"])).status_code == 200


def test_a_weak_new_password_is_refused(viewer_user):
    client = log_in(viewer_user.username, PASSWORD)
    response = client.post(
        CHANGE, {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"}
    )
    assert response.context["form"].errors["new_password2"] == [
        "This password is too common.",
        "This password is entirely numeric.",
    ]
    viewer_user.refresh_from_db()
    assert viewer_user.check_password(PASSWORD)


def test_a_new_member_must_change_the_one_time_password_at_first_login(account):
    membership, password = member_add(account=account, email="new@acme.test", role="editor")
    assert PasswordChangeRequired.objects.filter(user=membership.user).exists()
    client = log_in("new@acme.test", password)
    lists = reverse("contacts:sending_lists", args=["acme"])
    assert client.get(lists).url == CHANGE
    assert client.get(reverse("home")).url == CHANGE
    page = client.get(CHANGE)
    assert b"You logged in with a one-time password." in page.content
    assert b'name="old_password"' not in page.content
    # The API (keys) and logging out are not held up.
    assert client.get("/api/v1/lists").status_code == 401
    response = client.post(CHANGE, {"new_password1": NEW, "new_password2": NEW})
    assert response.url == reverse("home")
    assert not PasswordChangeRequired.objects.filter(user=membership.user).exists()
    assert client.get(lists).status_code == 200
    assert log_in("new@acme.test", NEW).get(lists).status_code == 200


def test_an_admin_resets_a_members_password_after_confirming(admin_client, editor_user):
    editor = Membership.objects.get(user=editor_user)
    url = reverse("member_password_reset", args=["acme", editor.pk])
    asked = admin_client.post(url)
    assert asked.context["title"] == "Reset the password of editor@acme.test?"
    editor_user.refresh_from_db()
    assert editor_user.check_password(PASSWORD)
    response = admin_client.post(url, {"confirmed": "1"})
    password = response.context["reset_password"]
    assert password in response.content.decode()
    editor_user.refresh_from_db()
    assert not editor_user.check_password(PASSWORD)
    assert editor_user.check_password(password)
    client = log_in("editor@acme.test", password)
    assert client.get(reverse("contacts:sending_lists", args=["acme"])).url == CHANGE


def test_an_admin_cannot_reset_a_user_of_another_account_too(
    admin_client, account, other_account, outsider_user
):
    membership = Membership.objects.create(account=account, user=outsider_user, role="viewer")
    response = admin_client.post(
        reverse("member_password_reset", args=["acme", membership.pk]),
        {"confirmed": "1"},
        follow=True,
    )
    assert [str(m) for m in response.context["messages"]] == [
        "outsider@globex.test also belongs to another account or is staff: only staff can reset "
        "their password (Django admin > Users)."
    ]
    outsider_user.refresh_from_db()
    assert outsider_user.check_password(PASSWORD)


@pytest.mark.parametrize("client_name", ["editor_client", "viewer_client"])
def test_only_admins_reset_passwords(request, client_name, admin_user):
    client = request.getfixturevalue(client_name)
    me = Membership.objects.get(user=admin_user)
    url = reverse("member_password_reset", args=["acme", me.pk])
    assert client.post(url, {"confirmed": "1"}).status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.check_password(PASSWORD)


def test_an_outsider_gets_404(outsider_client, editor_user):
    editor = Membership.objects.get(user=editor_user)
    url = reverse("member_password_reset", args=["acme", editor.pk])
    assert outsider_client.post(url, {"confirmed": "1"}).status_code == 404


def test_staff_issue_a_one_time_password_in_the_django_admin(superuser_client, viewer_user):
    response = superuser_client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "issue_one_time_passwords", "_selected_action": [viewer_user.pk]},
        follow=True,
    )
    [message] = [str(m) for m in response.context["messages"]]
    prefix = "viewer@acme.test can log in with the one-time password "
    assert message.startswith(prefix)
    password = message.removeprefix(prefix).split(" ")[0]
    viewer_user.refresh_from_db()
    assert viewer_user.check_password(password)
    assert PasswordChangeRequired.objects.filter(user=viewer_user).exists()


def test_the_one_time_password_is_stored_hashed_only(account):
    _, password = member_add(account=account, email="new@acme.test", role="viewer")
    user = get_user_model().objects.get(username="new@acme.test")
    assert password not in user.password
