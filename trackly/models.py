import datetime
import functools
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from trackly.phones import DEFAULT_REGION, is_supported_region


def validate_region(region: str) -> None:
    if not is_supported_region(region):
        raise ValidationError(f"{region!r} is not a known phone region.", code="invalid_region")


@functools.cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA time zones this machine knows, in alphabetical order."""
    return tuple(sorted(zoneinfo.available_timezones()))


def validate_time_zone(name: str) -> None:
    if name not in time_zone_names():
        raise ValidationError(f"{name!r} is not a known time zone.", code="invalid_time_zone")


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
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Time zone whose date is 'today' in audience conditions (WITHIN LAST n DAYS).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def today(self, now: datetime.datetime | None = None) -> datetime.date:
        """The date in the account's time zone at `now` (by default, now)."""
        return (now or timezone.now()).astimezone(zoneinfo.ZoneInfo(self.time_zone)).date()


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


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


# What each count of a job's result is called on its page, in the order the page lists them
# (PostgreSQL's JSONB keeps a result's keys in an order of its own).
RESULT_NAMES = {
    "labels": "Labels restored",
    "matching": "Matching contacts",
    "contacts": "Contacts changed",
    "gained": "Gained the label",
    "replaced": "Had another value: replaced",
    "already": "Had it already",
    "added": "Added",
    "members": "Members now",
    "removed": "Removed",
    "kept_target": "Kept their own value of the new key",
    "erased": "Contacts erased",
    "changed_since": "Changed since: left alone",
    "skipped": "Skipped: at the label limit",
    "audiences_rewritten": "Saved audiences rewritten",
    "audiences_restored": "Saved audiences set back",
    "audiences_changed_since": "Saved audiences edited since: left alone",
}
_RESULT_ORDER = {name: position for position, name in enumerate(RESULT_NAMES)}


class JobQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> "JobQuerySet":
        return self.filter(account=account)


class Job(models.Model):
    """One piece of long work (a bulk label change, an import), run by a task worker.

    The record is what the dashboard shows: status, progress and, once finished, the result
    counts or the error. A running job belongs to the run holding `lease_token` until
    `lease_expires_at`; the run renews the lease while it works, so a job whose worker died is
    recognised once the lease expires and marked failed (see `trackly.jobs`).
    """

    Status = JobStatus

    class Kind(models.TextChoices):
        ADD_LABEL = "add_label", "Add label"
        REMOVE_LABEL = "remove_label", "Remove label"
        IMPORT_PREVIEW = "import_preview", "Import preview"
        IMPORT = "import", "Import"
        FILL_STATIC = "fill_static", "Freeze audience"
        RENAME_KEY = "rename_key", "Rename label key"
        MERGE_VALUES = "merge_values", "Merge label values"
        DELETE_VALUE = "delete_value", "Delete label value"
        DELETE_KEY = "delete_key", "Delete label key"
        UNDO = "undo", "Undo"

    # The kinds whose result is an import's (`contacts.importing`), shown on the import's page.
    IMPORT_KINDS = (Kind.IMPORT_PREVIEW, Kind.IMPORT)

    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="jobs", db_index=False
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    # What the job works on, as given when it was started (e.g. the audience, key and value).
    params = models.JSONField(default=dict)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # The run that holds the job while it is running, and until when (see `trackly.jobs.Lease`).
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=JobStatus.values), name="job_status_valid"
            ),
        ]
        indexes = [
            # The Jobs page: an account's jobs, newest first.
            models.Index(fields=["account", "-created_at"], name="job_account_created_idx"),
            # Finding running jobs whose lease expired.
            models.Index(fields=["status", "lease_expires_at"], name="job_status_lease_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)

    @property
    def is_ready_preview(self) -> bool:
        """A dry run that finished: it changed nothing, its result waits to be confirmed."""
        return self.kind == self.Kind.IMPORT_PREVIEW and self.status == JobStatus.SUCCEEDED

    @property
    def status_label(self) -> str:
        return "Preview ready" if self.is_ready_preview else self.get_status_display()

    @property
    def status_style(self) -> str:
        """The status badge's style: a ready preview is not shown as a success."""
        return "preview" if self.is_ready_preview else self.status

    @property
    def title(self) -> str:
        """What the job does and to what, e.g. `Add label tier=gold to the audience “VIP”` or
        `Import customers.csv`; its kind alone when that is not known."""
        if self.is_import:
            file_name = self.params.get("file_name", "")
            if not file_name:
                return self.get_kind_display()
            if self.kind == self.Kind.IMPORT_PREVIEW:
                return f"Preview of importing {file_name}"
            return f"Import {file_name}"
        # The audit log entry of a bulk label change (audiences.LabelChange) describes it.
        change = getattr(self, "label_change", None)
        return change.description if change is not None else self.get_kind_display()

    @property
    def is_import(self) -> bool:
        return self.kind in self.IMPORT_KINDS

    @property
    def result_facts(self) -> list[tuple[str, object]]:
        """The result's counts, each with what the job's page calls it."""
        last = len(RESULT_NAMES)
        names = sorted(self.result or {}, key=lambda name: _RESULT_ORDER.get(name, last))
        return [
            (RESULT_NAMES.get(name, name.replace("_", " ").capitalize()), self.result[name])
            for name in names
        ]

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, self.progress_done * 100 // self.progress_total)


class Worker(models.Model):
    """A task worker process as last seen: the dashboard warns when no worker is running.

    `db_worker` records itself when it starts and every few seconds while it runs, and removes
    its row when it stops.
    """

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Is any worker alive: the most recently seen one.
            models.Index(fields=["seen_at"], name="worker_seen_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.hostname}:{self.pid}"


class ApiKeyQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> "ApiKeyQuerySet":
        return self.filter(account=account)

    def active(self) -> "ApiKeyQuerySet":
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """A key to the JSON API, scoped to one account (see `trackly.api_keys`).

    Only a SHA-256 hash of the key is kept; `prefix`, the key's first characters, is not secret:
    it tells keys apart on the API keys page and finds the key's row when it is presented.
    """

    # Indexed by the (account, created_at) index.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="api_keys", db_index=False
    )
    name = models.CharField(
        max_length=100, help_text="What the key is for, e.g. the system using it."
    )
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64)
    read_only = models.BooleanField(
        default=False, help_text="A read-only key may read everything but change nothing."
    )
    # Null for keys made on the command line, or whose creator was deleted.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Updated at most once a minute (`trackly.api_keys.LAST_USED_PRECISION`).
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["key_hash"], name="apikey_key_hash_uniq"),
        ]
        indexes = [
            # Authenticating a request: the rows whose prefix is the presented key's.
            models.Index(fields=["prefix"], name="apikey_prefix_idx"),
            # The API keys page: an account's keys, newest first.
            models.Index(fields=["account", "-created_at"], name="apikey_account_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class PasswordChangeRequired(models.Model):
    """A user who logs in with a one-time password (a new member, or a password an admin reset)
    and must choose a password of their own before using the dashboard."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} must change their password"
