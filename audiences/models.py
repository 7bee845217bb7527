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


class LabelChange(models.Model):
    """The audit log of bulk label actions: who changed which label on which contacts.

    The contacts are given as they were chosen (an audience's conditions and lists as they were
    when the action was confirmed, or contacts picked in a list's table); the job evaluates that
    selection when it runs and records its counts here when it finishes.
    """

    class Action(models.TextChoices):
        ADD = "add", "Add label"
        REMOVE = "remove", "Remove label"
        RENAME_KEY = "rename_key", "Rename key"
        MERGE_VALUES = "merge_values", "Merge values"
        DELETE_VALUE = "delete_value", "Delete value"
        DELETE_KEY = "delete_key", "Delete key"
        UNDO = "undo", "Undo"

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="label_changes", db_index=False
    )
    job = models.OneToOneField(
        "trackly.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="label_change"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    key = models.CharField(max_length=64)
    value = models.CharField(max_length=256, blank=True)
    audience = models.ForeignKey(
        Audience, on_delete=models.SET_NULL, null=True, blank=True, related_name="label_changes"
    )
    # A readable description of the contacts, e.g. the audience's name or the list and filter.
    target = models.CharField(max_length=500)
    conditions = models.TextField(blank=True)
    # How to find the contacts again: {"audience": {"conditions", "list_ids"}} or
    # {"contacts": {"ids"}} or {"contacts": {"list_id", "q", "key", "value"}}.
    selection = models.JSONField(default=dict)
    counts = models.JSONField(default=dict, blank=True)
    # A rename's new key.
    new_key = models.CharField(max_length=64, blank=True)
    # A merge's values merged into `value`.
    old_values = models.JSONField(default=list, blank=True)
    # The saved audiences whose conditions a rename or merge rewrites in the same job.
    audience_ids = models.JSONField(default=list, blank=True)
    # What an undo takes back: the job of the change (or import) undone.
    undoes = models.ForeignKey(
        "trackly.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="undone_by"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The audit log page: an account's changes, newest first.
            models.Index(fields=["account", "-created_at"], name="labelchange_account_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.summary} on {self.target}"

    @property
    def summary(self) -> str:
        """The change in a few words: `source=facebook`, `src → source`, `FB, Facebook →
        facebook`."""
        match self.action:
            case self.Action.ADD:
                return f"{self.key}={self.value}"
            case self.Action.RENAME_KEY:
                return f"{self.key} → {self.new_key}"
            case self.Action.MERGE_VALUES:
                return f"{self.key}: {', '.join(self.old_values)} → {self.value}"
            case self.Action.DELETE_VALUE:
                return f"{self.key}={self.value}"
            case self.Action.UNDO:
                return f"job #{self.undoes_id}"
        return self.key
