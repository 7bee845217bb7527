"""Changes to accounts, their members and members' passwords.

A one-time password (a new member's, or one an admin issued to reset a forgotten password) is
shown once to the admin who hands it over, and the user must replace it at the next log-in
(`PasswordChangeRequired`, checked by `trackly.passwords`).
"""

import secrets
from collections.abc import Iterable, Mapping

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from trackly.models import Account, Membership, PasswordChangeRequired, Role


def members_check_admin(
    *,
    account: Account,
    changes: Mapping[int, Role | None],
    added: Iterable[Role] = (),
) -> None:
    """Raise `last_admin` when changing members' roles (`changes`, by membership id; None
    removes the member) and adding members (`added`, their roles) would leave the account
    without an admin while it has one: the one place the rule is written."""
    roles = dict(Membership.objects.filter(account=account).values_list("pk", "role"))
    after = [*(role for role in (roles | dict(changes)).values() if role is not None), *added]
    if Role.ADMIN in roles.values() and Role.ADMIN not in after:
        raise ValidationError("An account needs at least one admin.", code="last_admin")


RESET_NOT_ALLOWED = (
    "{user} also belongs to another account or is staff: only staff can reset their password "
    "(Django admin > Users)."
)


@transaction.atomic
def issue_one_time_password(user) -> str:
    """Give `user` a new random password that must be changed at the next log-in, and return
    it to hand over; the old password stops working, and so do the user's sessions."""
    password = secrets.token_urlsafe(12)
    user.set_password(password)
    user.save(update_fields=["password"])
    PasswordChangeRequired.objects.get_or_create(user=user)
    return password


def password_changed(user) -> None:
    """The user chose a password of their own: no change is required any more."""
    PasswordChangeRequired.objects.filter(user=user).delete()


def member_reset_password(*, membership: Membership) -> str:
    """An account admin's reset of a member's forgotten password: a one-time password.

    Refused (`not_allowed`) for staff and for users who belong to other accounts too, whose
    access this account's admin does not govern.
    """
    user = membership.user
    others = Membership.objects.filter(user=user).exclude(account_id=membership.account_id)
    if user.is_staff or user.is_superuser or others.exists():
        raise ValidationError(RESET_NOT_ALLOWED.format(user=user.username), code="not_allowed")
    return issue_one_time_password(user)


@transaction.atomic
def member_add(*, account: Account, email: str, role: Role) -> tuple[Membership, str | None]:
    """Add the user with this e-mail (created when new) to the account.

    Returns the membership and, for a new user, the one-time password to hand over.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=email).first()
    password = None
    if user is None:
        user = user_model.objects.create_user(username=email, email=email)
        password = issue_one_time_password(user)
    membership, created = Membership.objects.get_or_create(
        account=account, user=user, defaults={"role": role}
    )
    if not created:
        raise ValidationError(f"{email} is already a member.", code="conflict")
    return membership, password


@transaction.atomic
def member_set_role(*, membership: Membership, role: Role) -> None:
    """Change a member's role; the account's last admin stays an admin."""
    # Locking the account serialises role changes, so two demotions cannot both pass the check.
    account = Account.objects.select_for_update().get(pk=membership.account_id)
    members_check_admin(account=account, changes={membership.pk: role})
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    """Remove a member; the account's last admin cannot be removed."""
    account = Account.objects.select_for_update().get(pk=membership.account_id)
    members_check_admin(account=account, changes={membership.pk: None})
    membership.delete()
