from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from contacts.phones import DEFAULT_REGION, is_supported_region


def validate_region(region: str) -> None:
    if not is_supported_region(region):
        raise ValidationError(f"{region!r} is not a known phone region.", code="invalid_region")


class Account(models.Model):
    """A tenant: it owns sending lists, contacts, labels, audiences, jobs and API keys."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True)
    default_region = models.CharField(
        max_length=2,
        default=DEFAULT_REGION,
        validators=[validate_region],
        help_text="Region used to read phone numbers written without a country code.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


# Each role may do everything the roles after it may do.
_ROLE_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.ADMIN: 2}


class MembershipQuerySet(models.QuerySet):
    def for_user(self, user) -> "MembershipQuerySet":
        return self.filter(user=user).select_related("account").order_by("account__name")


class Membership(models.Model):
    # Indexed by the (user, account) unique constraint.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "account"], name="membership_user_account_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"

    def has_role(self, role: Role) -> bool:
        return _ROLE_RANK[Role(self.role)] >= _ROLE_RANK[role]

    @property
    def can_edit(self) -> bool:
        return self.has_role(Role.EDITOR)

    @property
    def is_admin(self) -> bool:
        return self.has_role(Role.ADMIN)
