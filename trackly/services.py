"""Changes to accounts and their members."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from trackly.models import Account, Membership, Role


def _keeps_an_admin(membership: Membership) -> bool:
    other_admins = Membership.objects.filter(account=membership.account, role=Role.ADMIN)
    return other_admins.exclude(pk=membership.pk).exists()


@transaction.atomic
def member_add(*, account: Account, email: str, role: Role) -> tuple[Membership, str | None]:
    """Add the user with this e-mail (created when new) to the account.

    Returns the membership and, for a new user, the one-time password to hand over.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username__iexact=email).first()
    password = None
    if user is None:
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_user(username=email, email=email, password=password)
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
    Account.objects.select_for_update().get(pk=membership.account_id)
    if membership.role == Role.ADMIN and role != Role.ADMIN and not _keeps_an_admin(membership):
        raise ValidationError("An account needs at least one admin.", code="last_admin")
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    """Remove a member; the account's last admin cannot be removed."""
    Account.objects.select_for_update().get(pk=membership.account_id)
    if membership.role == Role.ADMIN and not _keeps_an_admin(membership):
        raise ValidationError("An account needs at least one admin.", code="last_admin")
    membership.delete()
