from collections.abc import Sequence

from django.conf import settings
from django.db import models
from django.urls import reverse

from audiences import compiler
from audiences.conditions import (
    And,
    ConditionError,
    InAudience,
    Node,
    audience_refs,
    audience_text,
    parse,
    replace_audiences,
    to_text,
)
from contacts.models import Contact, SendingList
from trackly.models import Account


class AudienceQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> "AudienceQuerySet":
        return self.filter(account=account)


class AudienceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class AudienceKind(models.TextChoices):
    DYNAMIC = "dynamic", "Dynamic"
    STATIC = "static", "Static"


class Audience(models.Model):
    """A saved segment. A dynamic one is the subscribed contacts in scope whose labels match its
    conditions now; a static one is a fixed set of contacts (`StaticMember`), of which the
    subscribed ones are members. A static audience frozen from conditions keeps them and its list
    scope, to be frozen again ("Refresh")."""

    Status = AudienceStatus
    Kind = AudienceKind

    # Indexed by the (account, name) unique constraint.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="audiences", db_index=False
    )
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    # Canonical text of the conditions (`conditions.to_text`); empty means every contact.
    conditions = models.TextField(blank=True)
    # No lists means every list of the account; several lists are a union.
    sending_lists = models.ManyToManyField(
        SendingList, blank=True, related_name="audiences", through="AudienceSendingList"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    # Static: when the members were last frozen from the conditions (None if never: made from
    # picked contacts or a file), and how many they were after the last freeze or change of
    # members; those of them not members now unsubscribed or were erased since.
    frozen_at = models.DateTimeField(null=True, blank=True)
    static_size = models.PositiveIntegerField(default=0)
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
            models.CheckConstraint(
                condition=models.Q(kind__in=AudienceKind.values), name="audience_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("audiences:audience_detail", args=[self.account.slug, self.pk])

    @property
    def tree(self) -> Node | None:
        """The conditions in their stored form: audiences referred to by id."""
        return parse(self.conditions)

    @property
    def conditions_text(self) -> str:
        """The conditions as a person reads them: audiences referred to by their names now."""
        return to_text(named_audiences(self.account, self.tree))

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED

    @property
    def is_static(self) -> bool:
        return self.kind == self.Kind.STATIC

    def list_ids(self) -> list[int]:
        return [sending_list.pk for sending_list in self.sending_lists.all()]

    def members(self) -> models.QuerySet[Contact]:
        """The members now, of either kind: the one place that knows the kinds."""
        if self.is_static:
            return compiler.scope(self.account, None).filter(
                pk__in=StaticMember.objects.filter(audience=self).values("contact_id")
            )
        return matching(self.account, self.tree, self.list_ids())

    def count_members(self) -> int:
        if self.is_static:
            return self._count_static()
        return count_matching(self.account, self.tree, self.list_ids())

    def _count_static(self) -> int:
        """A static audience's members: its rows (one index range of (audience, contact), no
        contact visited), less the unsubscribed contacts among them. Its rows are contacts of
        its account only (`services._insert_members`). With many rows the unsubscribed are
        found from their side, each probing that index: far fewer than the rows, usually."""
        rows = StaticMember.objects.filter(audience_id=self.pk)
        total = rows.count()
        if total <= FEW_STATIC_ROWS:
            gone = rows.filter(contact__status=Contact.Status.UNSUBSCRIBED)
        else:
            gone = Contact.objects.filter(
                account_id=self.account_id, status=Contact.Status.UNSUBSCRIBED
            ).filter(models.Exists(rows.filter(contact_id=models.OuterRef("pk"))))
        return total - gone.count() if total else 0

    def dropped_out(self, count: int) -> int:
        """Of a static audience's contacts as last frozen or changed, how many are not members
        now that `count` are (they unsubscribed or were erased since)."""
        return max(self.static_size - count, 0) if self.is_static else 0

    def used_by(self) -> list["Audience"]:
        """The other audiences of the account whose conditions refer to this one."""
        others = Audience.objects.for_account(self.account_id).exclude(pk=self.pk)
        return [
            other
            for other in others.only("pk", "name", "conditions", "account_id")
            if self.pk in audience_refs(other.tree)
        ]


# Up to this many rows, a static audience's unsubscribed contacts are found by looking each row's
# contact up (`Audience._count_static`).
FEW_STATIC_ROWS = 5_000


class StaticMember(models.Model):
    """A contact of a static audience. Contacts that unsubscribed since stay here but are not
    members (`Audience.members`); erasing a contact deletes its rows."""

    # Indexed by the (audience, contact) unique constraint, which serves counts and probes.
    audience = models.ForeignKey(
        Audience, on_delete=models.CASCADE, related_name="static_members", db_index=False
    )
    # Erasing a contact finds its rows here.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    # The distribution column (trackly/sharding.py). No constraint of its own: on PostgreSQL
    # the keys to the audience and to the contact include it.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["audience", "contact", "account"],
                name="staticmember_audience_contact_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.audience_id}"


# ---------------------------------------------------------------------------------------------
# IN AUDIENCE: references between audiences
# ---------------------------------------------------------------------------------------------

NO_AUDIENCE_NAMED = "no audience is named {name}"


def resolve_audiences(
    account: Account, node: Node | None, *, audience: Audience | None = None
) -> Node | None:
    """`node` with every audience it names (or gives by id) as the id of an active audience of
    the account: the stored form. Raise `invalid_conditions` naming an audience that is not
    one, and for a reference back to `audience` itself, directly or through others (a loop)."""
    refs = audience_refs(node)
    if not refs:
        return node
    names = [ref for ref in refs if isinstance(ref, str)]
    ids = [ref for ref in refs if isinstance(ref, int)]
    found = Audience.objects.for_account(account).filter(
        models.Q(name__in=names) | models.Q(pk__in=ids)
    )
    by_name = {other.name: other for other in found}
    by_id = {other.pk: other for other in found}
    for ref in refs:
        other = by_name.get(ref) if isinstance(ref, str) else by_id.get(ref)
        shown = audience_text(ref)
        if other is None:
            what = (
                f"no audience is named {shown}"
                if isinstance(ref, str)
                else f"no audience has the id {ref}"
            )
            raise ConditionError(f"IN AUDIENCE: {what}")
        if other.is_archived:
            raise ConditionError(
                f"IN AUDIENCE: the audience {audience_text(other.name)} is archived"
            )
        if audience is not None and audience.pk is not None:
            path = _path_to(account, other, audience.pk)
            if path is not None:
                chain = " → ".join(audience_text(name) for name in [audience.name, *path])
                raise ConditionError(
                    f"IN AUDIENCE {audience_text(other.name)} would make a loop: {chain}"
                )

    def replace(ref: InAudience) -> InAudience:
        key = ref.audience
        return InAudience((by_name[key] if isinstance(key, str) else by_id[key]).pk)

    return replace_audiences(node, replace)


def _path_to(account: Account, start: Audience, target_id: int) -> list[str] | None:
    """The names of the audiences from `start` along IN AUDIENCE references to the audience
    `target_id` (the last name being its), or None when it cannot be reached."""
    audiences = {
        other.pk: other
        for other in Audience.objects.for_account(account).only("pk", "name", "conditions")
    }
    target_name = audiences[target_id].name if target_id in audiences else ""
    stack = [(start.pk, [start.name])]
    seen: set[int] = set()
    while stack:
        pk, path = stack.pop()
        if pk == target_id:
            return path
        if pk in seen or pk not in audiences:
            continue
        seen.add(pk)
        for ref in audience_refs(_stored_tree(audiences[pk])):
            if isinstance(ref, int):
                name = audiences[ref].name if ref in audiences else ""
                stack.append((ref, [*path, name if ref != target_id else target_name]))
    return None


def _stored_tree(audience: Audience) -> Node | None:
    try:
        return audience.tree
    except ConditionError:
        return None


def named_audiences(account: Account, node: Node | None) -> Node | None:
    """`node` with every audience id replaced by the audience's name now, to be shown; an id
    that is no audience of the account stays an id."""
    ids = [ref for ref in audience_refs(node) if isinstance(ref, int)]
    if not ids:
        return node
    names = dict(Audience.objects.for_account(account).filter(pk__in=ids).values_list("pk", "name"))
    return replace_audiences(node, lambda ref: InAudience(names.get(ref.audience, ref.audience)))


def _expanded(account: Account, node: Node | None, seen: frozenset[int]) -> Node | None:
    """`node` with every IN AUDIENCE replaced by what membership of that audience means, for
    the compiler: a dynamic audience's conditions and list scope, a static one's rows."""
    ids = [ref for ref in audience_refs(node) if isinstance(ref, int)]
    if not ids:
        return node
    found = {
        other.pk: other
        for other in Audience.objects.for_account(account)
        .filter(pk__in=ids)
        .prefetch_related("sending_lists")
    }

    def replace(ref: InAudience) -> Node:
        other = found.get(ref.audience)
        if other is None:
            return compiler.InStatic(StaticMember.objects.none())
        if other.is_static:
            return compiler.InStatic(StaticMember.objects.filter(audience_id=other.pk))
        if other.pk in seen:
            raise ConditionError(f"IN AUDIENCE {audience_text(other.name)} makes a loop")
        parts = [
            part
            for part in (
                _expanded(account, other.tree, seen | {other.pk}),
                compiler.InLists(tuple(other.list_ids())) if other.list_ids() else None,
            )
            if part is not None
        ]
        if not parts:
            return compiler.InLists(())
        if len(parts) == 1:
            return parts[0]
        conditions, lists = parts
        children = conditions.children if isinstance(conditions, And) else (conditions,)
        return And((*children, lists))

    return replace_audiences(node, replace)


def conditions_q(account: Account, node: Node | None) -> models.Q:
    """`compiler.compile_conditions` for conditions in the stored form, IN AUDIENCE included."""
    return compiler.compile_conditions(
        _expanded(account, node, frozenset()), account_id=account.pk, today=account.today()
    )


def matching(
    account: Account, node: Node | None, list_ids: Sequence[int] | None
) -> models.QuerySet[Contact]:
    """The subscribed contacts in scope matching `node` now (stored form), IN AUDIENCE included."""
    return compiler.members(account, _expanded(account, node, frozenset()), list_ids)


def count_matching(account: Account, node: Node | None, list_ids: Sequence[int] | None) -> int:
    return compiler.count_members(account, _expanded(account, node, frozenset()), list_ids)


class AudienceSendingList(models.Model):
    """A sending list in an audience's scope (the table of `Audience.sending_lists`)."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, db_index=False)
    sendinglist = models.ForeignKey(SendingList, on_delete=models.CASCADE)
    # The distribution column (trackly/sharding.py); as on StaticMember.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )

    class Meta:
        db_table = "audiences_audience_sending_lists"
        constraints = [
            # An audience's lists; the account last, as the audience decides it.
            models.UniqueConstraint(
                fields=["audience", "sendinglist", "account"],
                name="audiencesendinglist_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sendinglist_id} in {self.audience_id}"


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
    # The conditions the job rewrote, `[audience id, before, after]` each: its undo sets back
    # those still as the job left them (and records its own, so that it can be undone too).
    rewrites = models.JSONField(default=list, blank=True)
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

    @property
    def description(self) -> str:
        """What the change does and to which contacts, e.g. `Add label tier=gold to the
        audience “VIP Winback”`."""
        contacts = f"the audience “{self.target}”" if "audience" in self.selection else self.target
        if self.action == self.Action.ADD:
            return f"Add label {self.key}={self.value} to {contacts}"
        if self.action == self.Action.REMOVE:
            return f"Remove label {self.key} from {contacts}"
        if self.action == self.Action.UNDO:
            return f"Undo {self.summary}"
        return f"{self.get_action_display()} {self.summary}"
