"""The admin's accounts and memberships keep every account's last admin through the service
that writes the rule (`trackly.services.members_check_admin`)."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.factories import AccountFactory
from trackly import services
from trackly.models import Membership, Role

LAST_ADMIN = "An account needs at least one admin."


def account_form(account, memberships: list[dict]) -> dict:
    """The account's change form as posted: its fields and one inline row per membership."""
    data = {
        "name": account.name,
        "slug": account.slug,
        "default_region": account.default_region,
        "time_zone": account.time_zone,
        "memberships-TOTAL_FORMS": str(len(memberships)),
        "memberships-INITIAL_FORMS": str(sum(1 for row in memberships if "id" in row)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(memberships):
        for name, value in row.items():
            data[f"memberships-{index}-{name}"] = value
        data[f"memberships-{index}-account"] = account.pk
    return data


def row(membership: Membership, **changes) -> dict:
    return {"id": membership.pk, "user": membership.user_id, "role": membership.role} | changes


def roles(account) -> dict[str, str]:
    return dict(account.memberships.values_list("user__username", "role"))


def change_account(client, account, memberships: list[dict]):
    url = reverse("admin:trackly_account_change", args=[account.pk])
    return client.post(url, account_form(account, memberships))


@pytest.fixture
def members(account, admin_user, editor_user) -> tuple[Membership, Membership]:
    return (
        Membership.objects.get(account=account, user=admin_user),
        Membership.objects.get(account=account, user=editor_user),
    )


def test_the_account_page_refuses_to_demote_the_last_admin(superuser_client, account, members):
    admin, editor = members

    response = change_account(superuser_client, account, [row(admin, role="viewer"), row(editor)])

    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [LAST_ADMIN]
    assert roles(account) == {"admin@acme.test": "admin", "editor@acme.test": "editor"}


def test_the_account_page_refuses_to_remove_the_last_admin(superuser_client, account, members):
    admin, editor = members

    response = change_account(superuser_client, account, [row(admin, DELETE="on"), row(editor)])

    assert response.context["inline_admin_formsets"][0].formset.non_form_errors() == [LAST_ADMIN]
    assert roles(account) == {"admin@acme.test": "admin", "editor@acme.test": "editor"}


def test_the_account_page_swaps_admins_in_one_save(superuser_client, account, members):
    admin, editor = members

    response = change_account(
        superuser_client, account, [row(admin, role="viewer"), row(editor, role="admin")]
    )

    assert response.status_code == 302
    assert roles(account) == {"admin@acme.test": "viewer", "editor@acme.test": "admin"}


def test_the_account_page_removes_an_admin_when_a_new_one_is_added(
    superuser_client, account, members, outsider_user
):
    admin, editor = members

    response = change_account(
        superuser_client,
        account,
        [row(admin, DELETE="on"), row(editor), {"user": outsider_user.pk, "role": "admin"}],
    )

    assert response.status_code == 302
    assert roles(account) == {"editor@acme.test": "editor", "outsider@globex.test": "admin"}


def test_an_account_without_members_can_still_be_edited(superuser_client):
    account = AccountFactory(name="Empty", slug="empty")

    response = change_account(superuser_client, account, [])

    assert response.status_code == 302


def test_the_membership_page_refuses_to_demote_the_last_admin(superuser_client, members):
    admin, _ = members

    response = superuser_client.post(
        reverse("admin:trackly_membership_change", args=[admin.pk]), {"role": "viewer"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"role": [LAST_ADMIN]}
    admin.refresh_from_db()
    assert admin.role == "admin"


def test_a_membership_keeps_its_user_and_account(superuser_client, members, other_account):
    _, editor = members

    superuser_client.post(
        reverse("admin:trackly_membership_change", args=[editor.pk]),
        {"user": members[0].user_id, "account": other_account.pk, "role": "viewer"},
    )

    editor.refresh_from_db()
    assert (editor.user.username, editor.account.slug, editor.role) == (
        "editor@acme.test",
        "acme",
        "viewer",
    )


def test_the_admin_asks_the_service(superuser_client, account, members, monkeypatch):
    def refuse(**kwargs):
        raise ValidationError("The service says no.", code="last_admin")

    monkeypatch.setattr(services, "members_check_admin", refuse)
    admin, editor = members

    by_account = change_account(superuser_client, account, [row(admin), row(editor)])
    by_membership = superuser_client.post(
        reverse("admin:trackly_membership_change", args=[editor.pk]), {"role": "viewer"}
    )

    assert by_account.context["inline_admin_formsets"][0].formset.non_form_errors() == [
        "The service says no."
    ]
    assert by_membership.context["adminform"].form.errors == {"role": ["The service says no."]}


@pytest.mark.parametrize(
    ("changes", "added", "refused"),
    [
        ({"admin": "viewer"}, [], True),
        ({"admin": None}, [], True),
        ({"admin": None}, ["admin"], False),
        ({"admin": "viewer", "editor": "admin"}, [], False),
        ({"editor": None}, [], False),
    ],
)
def test_members_check_admin(account, members, changes, added, refused):
    by_name = {"admin": members[0].pk, "editor": members[1].pk}
    check = {by_name[name]: role and Role(role) for name, role in changes.items()}

    if refused:
        with pytest.raises(ValidationError) as error:
            services.members_check_admin(account=account, changes=check, added=added)
        assert (error.value.code, error.value.messages) == ("last_admin", [LAST_ADMIN])
    else:
        services.members_check_admin(account=account, changes=check, added=added)
