from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.urls import reverse

from contacts.labels import KEY_MAX_LENGTH, VALUE_MAX_LENGTH
from trackly.models import Account


class ListStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    ARCHIVED = "archived", "Archived"


class ContactStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class SendingListQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> "SendingListQuerySet":
        return self.filter(account=account)

    def active(self) -> "SendingListQuerySet":
        return self.filter(status=SendingList.Status.ACTIVE)

    def with_contact_count(self) -> "SendingListQuerySet":
        """Annotate `contact_count`: the list's subscribed contacts, in one grouped query."""
        return self.annotate(
            contact_count=models.Count(
                "contacts", filter=models.Q(contacts__status=Contact.Status.SUBSCRIBED)
            )
        )


class SendingList(models.Model):
    """One "from" number that contacts subscribe to."""

    Status = ListStatus

    # Indexed by the (account, name) unique constraint.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="sending_lists", db_index=False
    )
    name = models.CharField(max_length=200)
    phone_number = models.CharField(max_length=20, help_text="The sending number, in E.164 form.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SendingListQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name"], name="sendinglist_account_name_uniq"
            ),
            models.UniqueConstraint(
                fields=["account", "phone_number"], name="sendinglist_account_phone_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ListStatus.values), name="sendinglist_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("contacts:list_contacts", args=[self.account.slug, self.pk])

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED


class ContactQuerySet(models.QuerySet):
    def for_account(self, account: Account) -> "ContactQuerySet":
        return self.filter(account=account)

    def subscribed(self) -> "ContactQuerySet":
        return self.filter(status=Contact.Status.SUBSCRIBED)

    def with_labels(self) -> "ContactQuerySet":
        """Prefetch labels in key order: one extra query for the whole page."""
        return self.prefetch_related(
            models.Prefetch("labels", queryset=Label.objects.order_by("key"))
        )

    def having_label(self, key: str, value: str | None = None) -> "ContactQuerySet":
        labels = Label.objects.filter(contact=models.OuterRef("pk"), key=key)
        if value is not None:
            labels = labels.filter(value=value)
        return self.filter(models.Exists(labels))


class Contact(models.Model):
    """One phone number on one sending list, with its labels and subscription."""

    Status = ContactStatus

    # Denormalised from the sending list so that account-wide audience queries need no join.
    # Both foreign keys are indexed by the composite indexes below, not by indexes of their own.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    sending_list = models.ForeignKey(
        SendingList, on_delete=models.CASCADE, related_name="contacts", db_index=False
    )
    phone_number = models.CharField(max_length=20, help_text="In E.164 form.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SUBSCRIBED)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        constraints = [
            # Also serves: a list's contacts in phone order (keyset paging) and phone lookups.
            # The account comes last: it is the distribution column (trackly/sharding.py), and
            # the list already decides it.
            models.UniqueConstraint(
                fields=["sending_list", "phone_number", "account"],
                name="contact_list_phone_uniq",
                violation_error_message=(
                    "Contact with this Sending list and Phone number already exists."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ContactStatus.values), name="contact_status_valid"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(status="subscribed", unsubscribed_at__isnull=True)
                    | models.Q(status="unsubscribed", unsubscribed_at__isnull=False)
                ),
                name="contact_unsubscribed_at_matches_status",
            ),
        ]
        indexes = [
            # Subscribed-contact counts per list, and audience scope on chosen lists, in id order.
            models.Index(fields=["sending_list", "status", "id"], name="contact_list_status_idx"),
            # Audience scope on all of an account's lists, in id order.
            models.Index(fields=["account", "status", "id"], name="contact_account_status_idx"),
            # A list's contacts table sorted by date added (keyset paging, either way).
            models.Index(
                fields=["sending_list", "created_at", "id"], name="contact_list_added_idx"
            ),
            # The all-contacts table, sorted by phone number or by date added.
            models.Index(
                fields=["account", "phone_number", "id"], name="contact_account_phone_idx"
            ),
            models.Index(fields=["account", "created_at", "id"], name="contact_account_added_idx"),
        ]

    def __str__(self) -> str:
        return self.phone_number

    def get_absolute_url(self) -> str:
        return reverse("contacts:contact_detail", args=[self.account.slug, self.pk])

    @property
    def is_subscribed(self) -> bool:
        return self.status == self.Status.SUBSCRIBED


# A label value's typed readings in SQL, as `contacts.labels.number_value` and `date_value` read
# it in Python (tests/contacts/test_typed_values.py holds them to each other). Only functions
# both databases have, and none PostgreSQL considers mutable, so that a stored generated column
# can use them; `$v` stands for the value. Stored values are trimmed already (`clean_value`).
_YEAR = "CAST(substr($v, 1, 4) AS INTEGER)"
_MONTH = "CAST(substr($v, 6, 2) AS INTEGER)"
_DAY = "CAST(substr($v, 9, 2) AS INTEGER)"
_LEAP = (
    f"(({_YEAR} - {_YEAR} / 4 * 4 = 0 AND {_YEAR} - {_YEAR} / 100 * 100 <> 0)"
    f" OR {_YEAR} - {_YEAR} / 400 * 400 = 0)"
)
_REAL_DAY = (
    f"{_YEAR} >= 1 AND {_MONTH} BETWEEN 1 AND 12 AND {_DAY} BETWEEN 1 AND CASE"
    f" WHEN {_MONTH} = 2 THEN CASE WHEN {_LEAP} THEN 29 ELSE 28 END"
    f" WHEN {_MONTH} IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
)
# SQLite has no regular expressions without an extension: the same form from GLOBs, on the
# value without its leading minus sign.
_SQLITE_UNSIGNED = "substr($v, 1 + ($v GLOB '-*'))"
_TYPED_SQL = {
    ("number", "sqlite"): (
        f"CASE WHEN {_SQLITE_UNSIGNED} <> '' AND {_SQLITE_UNSIGNED} NOT GLOB '*[^0-9.]*'"
        f" AND {_SQLITE_UNSIGNED} NOT GLOB '*.*.*' AND {_SQLITE_UNSIGNED} NOT GLOB '.*'"
        f" AND {_SQLITE_UNSIGNED} NOT GLOB '*.' THEN CAST($v AS REAL) END"
    ),
    ("number", "postgresql"): (
        "CASE WHEN $v ~ '^-?[0-9]+([.][0-9]+)?$' THEN CAST($v AS double precision) END"
    ),
    ("date", "sqlite"): (
        "CASE WHEN $v GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
        f" THEN CASE WHEN {_REAL_DAY} THEN $v END END"
    ),
    # Nested CASEs: PostgreSQL does not promise to evaluate AND from left to right, and the
    # casts must not see a value that failed the pattern.
    ("date", "postgresql"): (
        "CASE WHEN $v ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'"
        f" THEN CASE WHEN {_REAL_DAY} THEN make_date({_YEAR}, {_MONTH}, {_DAY}) END END"
    ),
}


class _TypedValue(models.Func):
    arity = 1
    reading = ""

    def as_sql(self, compiler, connection, **extra_context):
        value, params = compiler.compile(self.source_expressions[0])
        template = _TYPED_SQL[self.reading, connection.vendor]
        return template.replace("$v", value), tuple(params) * template.count("$v")


class NumberOf(_TypedValue):
    """A label value as a number (a double) when it is one, else NULL."""

    reading = "number"
    output_field = models.FloatField()


class DateOf(_TypedValue):
    """A label value as a date when it is one, else NULL."""

    reading = "date"
    output_field = models.DateField()


class Label(models.Model):
    """One key and its value on one contact (at most one value per key)."""

    # Denormalised from the contact so that label conditions and the catalogue read one index.
    # Both foreign keys are indexed by the composite indexes below, not by indexes of their own.
    # No constraint of its own: on PostgreSQL the label's key to its contact is
    # (contact_id, account_id), which holds the account too (trackly/sharding.py), and one
    # check per written label costs less than two.
    account = models.ForeignKey(
        Account, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="labels", db_index=False
    )
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.CharField(max_length=VALUE_MAX_LENGTH)
    # Computed by the database from `value` on every write, whichever path makes it: the value
    # as a number or a date when it is one, for comparisons through the indexes below.
    value_number = models.GeneratedField(
        expression=NumberOf("value"), output_field=models.FloatField(), db_persist=True
    )
    value_date = models.GeneratedField(
        expression=DateOf("value"), output_field=models.DateField(), db_persist=True
    )

    class Meta:
        constraints = [
            # One value per key; also serves a contact's labels and per-contact key probes
            # (the anti-join of `key NOT EXISTS`). The account, the distribution column, comes
            # last so that probes by contact alone still read it.
            models.UniqueConstraint(
                fields=["contact", "key", "account"], name="label_contact_key_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    GreaterThanOrEqual(Length("key"), 1),
                    LessThanOrEqual(Length("key"), KEY_MAX_LENGTH),
                ),
                name="label_key_length",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    GreaterThanOrEqual(Length("value"), 1),
                    LessThanOrEqual(Length("value"), VALUE_MAX_LENGTH),
                ),
                name="label_value_length",
            ),
        ]
        indexes = [
            # `key = value`, `key IN [...]`, `key EXISTS` as index-only range scans giving
            # contact ids; distinct keys and distinct values of a key by skipping through it.
            models.Index(
                fields=["account", "key", "value", "contact"], name="label_account_key_value_idx"
            ),
            # `key < n`, `key BETWEEN a AND b` on numbers and dates, and WITHIN LAST / MORE
            # THAN ... DAYS AGO, as index-only range scans giving contact ids; only the labels
            # that are numbers (dates) are in them.
            models.Index(
                fields=["account", "key", "value_number", "contact"],
                condition=models.Q(value_number__isnull=False),
                name="label_account_key_number_idx",
            ),
            models.Index(
                fields=["account", "key", "value_date", "contact"],
                condition=models.Q(value_date__isnull=False),
                name="label_account_key_date_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class LabelKeyCount(models.Model):
    """How many contacts of an account have a label key.

    Kept exact by database triggers on the label table (migration 0002), so that every write
    path, the ORM and set-based SQL alike, keeps it current; rows at zero are deleted.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    contacts = models.BigIntegerField()

    class Meta:
        constraints = [
            # The key dropdown: an account's keys in order, with their counts.
            models.UniqueConstraint(
                fields=["account", "key"], name="labelkeycount_account_key_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.contacts}"


class LabelValueCount(models.Model):
    """How many contacts of an account have a label key with a value; kept like LabelKeyCount."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    value = models.CharField(max_length=VALUE_MAX_LENGTH)
    contacts = models.BigIntegerField()

    class Meta:
        constraints = [
            # The triggers' upserts, and a key's values in value order.
            models.UniqueConstraint(
                fields=["account", "key", "value"], name="labelvaluecount_account_key_value_uniq"
            )
        ]
        indexes = [
            # The value dropdown: a key's most used values first.
            models.Index(
                "account",
                "key",
                models.F("contacts").desc(),
                "value",
                name="labelvaluecount_top_idx",
            )
            # The value search's "contains" part has a trigram index on PostgreSQL (a GIN index,
            # migration 0006) and on SQLite (an FTS5 table kept by triggers, migration 0008):
            # indexes Django's model state does not describe.
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}: {self.contacts}"


class LabelRecord(models.Model):
    """One label a bulk change changed on one contact: its value before and after.

    Written by the change's own chunk transactions, set-based, for every bulk change (Add and
    Remove Label, rename, merge, delete, import, undo), so that the change can be undone. NULL
    stands for "absent". Kept `LABEL_RECORD_DAYS` days (`label_records_prune`). No foreign key
    constraints: checking them would cost every recorded row a lookup, and a contact erased
    since simply has nothing to restore. Deleting a job (with its account) deletes its records:
    Django does it, by the primary key's first column.
    """

    # Also serves reading a job's records in contact order, chunk by chunk, and pruning. The
    # account is the distribution column (trackly/sharding.py); last, as the job decides it.
    pk = models.CompositePrimaryKey("job_id", "contact_id", "key", "account_id")
    # No index of its own: the primary key starts with it.
    job = models.ForeignKey(
        "trackly.Job",
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    account_id = models.BigIntegerField()
    contact_id = models.BigIntegerField()
    key = models.CharField(max_length=KEY_MAX_LENGTH)
    # NULL, not "", for absent: a label value is never empty, and SQL compares NULLs apart.
    before = models.CharField(max_length=VALUE_MAX_LENGTH, null=True)  # noqa: DJ001
    after = models.CharField(max_length=VALUE_MAX_LENGTH, null=True)  # noqa: DJ001
    # A renamed label is one record: its new key, absent before, the value after, and the key
    # it had (which went). Undo reads it as the two records it stands for
    # (`audiences.hygiene`); other records leave it NULL.
    renamed_from = models.CharField(max_length=KEY_MAX_LENGTH, null=True)  # noqa: DJ001

    def __str__(self) -> str:
        if self.renamed_from:
            return f"{self.renamed_from} → {self.key}: {self.after}"
        return f"{self.key}: {self.before} → {self.after}"


class CreatedContact(models.Model):
    """A contact an import created: the import's undo erases it unless it changed since."""

    # Also serves reading an import's new contacts in id order, and pruning; the account (the
    # distribution column) last, as for LabelRecord.
    pk = models.CompositePrimaryKey("job_id", "contact_id", "account_id")
    # No index of its own: the primary key starts with it.
    job = models.ForeignKey(
        "trackly.Job",
        on_delete=models.CASCADE,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    account_id = models.BigIntegerField()
    contact_id = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.contact_id} (job {self.job_id})"
