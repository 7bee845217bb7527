from django.conf import settings
from django.db import models
from django.urls import reverse

from audiences import compiler
from audiences.conditions import Node, parse
from contacts.models import Contact, SendingList
from trackly.models import Account


class AudienceQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> "AudienceQuerySet":
        return self.filter(account=account)

    def active(self) -> "AudienceQuerySet":
        return self.filter(status=Audience.Status.ACTIVE)


class AudienceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class Audience(models.Model):
    """A saved, dynamic segment: the subscribed contacts in scope whose labels match."""

    Status = AudienceStatus

    # Indexed by the (account, name) unique constraint.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="audiences", db_index=False
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    # Canonical text of the conditions (`conditions.to_text`); empty means every contact.
    conditions = models.TextField(blank=True)
    # No lists means every list of the account; several lists are a union.
    sending_lists = models.ManyToManyField(SendingList, blank=True, related_name="audiences")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AudienceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["account", "name"], name="audience_account_name_uniq"),
            models.CheckConstraint(
                condition=models.Q(status__in=AudienceStatus.values), name="audience_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("audiences:audience_detail", args=[self.account.slug, self.pk])

    @property
    def tree(self) -> Node | None:
        return parse(self.conditions)

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED

    def list_ids(self) -> list[int]:
        return [sending_list.pk for sending_list in self.sending_lists.all()]

    def members(self) -> models.QuerySet[Contact]:
        return compiler.members(self.account, self.tree, self.list_ids())

    def count_members(self) -> int:
        return compiler.count_members(self.account, self.tree, self.list_ids())
