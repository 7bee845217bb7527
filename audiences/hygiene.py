"""Label hygiene and undo: rename a key, merge values, delete a value or a key across an
account, and take back any recorded bulk change.

Every operation has a review (`edit_review`, `undo_review`) that counts exactly what it would
do now, changing nothing, and a run (`edit_apply`, `undo_apply`) that does it chunk by chunk
of contacts, each chunk a transaction of a few set-based statements that also writes the
change's records (`contacts.models.LabelRecord`: per contact and key, the value before and
after). The review and the run classify contacts with the same SQL, so their counts agree.
A run stopped half-way leaves whole chunks; running the operation again finds only what is
left to do (a rename finds only contacts still having the old key; an undo leaves out the
contacts an earlier run of the same undo restored), so nothing changes twice.

Undo works from the records alone: a contact is restored only if every label the change wrote
is still as the change left it (and, for a contact an import created, it has no other label
and is still subscribed, in which case it is erased); otherwise it changed since and is left
alone, counted. A contact that restoring would take past the 50-label limit is skipped,
counted. On PostgreSQL each chunk locks its contacts first (as `audiences.bulk` does), so the
classification holds until the chunk commits.
"""

import dataclasses
from array import array
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from audiences.bulk import lock_contacts, of_contacts
from audiences.conditions import Condition, Node, parse, to_text
from audiences.models import Audience, LabelChange
from contacts.labels import MAX_LABELS_PER_CONTACT, clean_key, clean_value
from contacts.models import Contact, CreatedContact, Label, LabelKeyCount, LabelRecord
from trackly.db import plan_as_lookups
from trackly.models import Account, Job

Action = LabelChange.Action
EDITS = (Action.RENAME_KEY, Action.MERGE_VALUES, Action.DELETE_VALUE, Action.DELETE_KEY)

_LABEL = Label._meta.db_table
_CONTACT = Contact._meta.db_table
_RECORD = LabelRecord._meta.db_table
_CREATED = CreatedContact._meta.db_table
_LIMIT = MAX_LABELS_PER_CONTACT

# The jobs whose changes are recorded, and so can be undone.
UNDOABLE_KINDS = (
    Job.Kind.ADD_LABEL,
    Job.Kind.REMOVE_LABEL,
    Job.Kind.IMPORT,
    Job.Kind.RENAME_KEY,
    Job.Kind.MERGE_VALUES,
    Job.Kind.DELETE_VALUE,
    Job.Kind.DELETE_KEY,
    Job.Kind.UNDO,
)


# ---------------------------------------------------------------------------------------------
# What an edit is
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelEdit:
    """One account-wide label edit. `key` is the key edited; a rename's `new_key`; a merge's
    `values` merged into `value`; a deleted value is `value`."""

    action: str
    key: str
    new_key: str = ""
    values: tuple[str, ...] = ()
    value: str = ""

    def labels(self, account_id: int):
        """The labels the edit changes (one per contact: a contact has each key once)."""
        labels = Label.objects.filter(account_id=account_id, key=self.key)
        if self.action == Action.MERGE_VALUES:
            return labels.filter(value__in=self.values)
        if self.action == Action.DELETE_VALUE:
            return labels.filter(value=self.value)
        return labels

    def describe(self) -> str:
        match self.action:
            case Action.RENAME_KEY:
                return f"Rename {self.key} to {self.new_key}"
            case Action.MERGE_VALUES:
                return f"Merge {', '.join(self.values)} into {self.value} ({self.key})"
            case Action.DELETE_VALUE:
                return f"Delete {self.key}={self.value}"
        return f"Delete the key {self.key}"


def clean_edit(
    *, action: str, key: object, new_key: object = "", values: object = (), value: object = ""
) -> LabelEdit:
    """Validate an edit with the one label validator; raise `ValidationError` naming the
    problem (codes `invalid_label_key`, `invalid_label_value`, `invalid_request`)."""
    if action not in EDITS:
        raise ValidationError(f"Unknown label edit {action!r}.", code="invalid_request")
    key = clean_key(key)
    if action == Action.RENAME_KEY:
        new_key = clean_key(new_key)
        if new_key == key:
            raise ValidationError(
                "The new key is the key itself: there is nothing to rename.",
                code="invalid_label_key",
            )
        return LabelEdit(action, key, new_key=new_key)
    if action == Action.MERGE_VALUES:
        if not isinstance(values, list | tuple) or not values:
            raise ValidationError("Choose at least one value to merge.", code="invalid_label_value")
        target = clean_value(value)
        merged = []
        for raw in values:
            cleaned = clean_value(raw)
            if cleaned != target and cleaned not in merged:
                merged.append(cleaned)
        if not merged:
            raise ValidationError(
                f"Every value chosen is {target!r} already: there is nothing to merge.",
                code="invalid_label_value",
            )
        return LabelEdit(action, key, values=tuple(merged), value=target)
    if action == Action.DELETE_VALUE:
        return LabelEdit(action, key, value=clean_value(value))
    return LabelEdit(action, key)


def edit_of(change: LabelChange) -> LabelEdit:
    return LabelEdit(
        change.action,
        change.key,
        new_key=change.new_key,
        values=tuple(change.old_values),
        value=change.value,
    )


# ---------------------------------------------------------------------------------------------
# Saved audiences that name what an edit changes
# ---------------------------------------------------------------------------------------------


def _nodes(node: object) -> Iterator[object]:
    """`node` and every node below it, whatever kinds of condition the language has."""
    if node is None:
        return
    yield node
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            if dataclasses.is_dataclass(item):
                yield from _nodes(item)


def _names(node: object, edit: LabelEdit) -> bool:
    if getattr(node, "key", None) != edit.key:
        return False
    if edit.action in (Action.RENAME_KEY, Action.DELETE_KEY):
        return True
    named = set(edit.values) if edit.action == Action.MERGE_VALUES else {edit.value}
    return isinstance(node, Condition) and bool(named & set(node.values))


def _rewritten_node(node, edit: LabelEdit):
    changes = {}
    for field in dataclasses.fields(node):
        value = getattr(node, field.name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            changes[field.name] = tuple(_rewritten_node(child, edit) for child in value)
        elif dataclasses.is_dataclass(value):
            changes[field.name] = _rewritten_node(value, edit)
    if getattr(node, "key", None) == edit.key:
        if edit.action == Action.RENAME_KEY:
            changes["key"] = edit.new_key
        elif edit.action == Action.MERGE_VALUES and isinstance(node, Condition):
            mapped = [edit.value if v in edit.values else v for v in node.values]
            # `IN [Facebook, facebook]` becomes `IN [facebook]`: a list names a value once.
            changes["values"] = tuple(dict.fromkeys(mapped))
    return dataclasses.replace(node, **changes) if changes else node


def rewritten_conditions(conditions: str, edit: LabelEdit) -> str | None:
    """The conditions with the edit applied (a rename's key, a merge's values), printed in
    canonical form; None for an edit that has no rewrite (deleting)."""
    if edit.action not in (Action.RENAME_KEY, Action.MERGE_VALUES):
        return None
    return to_text(_rewritten_node(parse(conditions), edit))


@dataclass
class NamingAudience:
    id: int
    name: str
    conditions: str
    rewritten: str | None


def naming_audiences(account: Account, edit: LabelEdit) -> list[NamingAudience]:
    """The account's saved audiences whose conditions name what the edit changes, with their
    conditions as the edit would rewrite them."""
    found = []
    candidates = Audience.objects.for_account(account).exclude(conditions="")
    for audience in candidates.filter(conditions__contains=edit.key).order_by("name"):
        tree: Node | None = parse(audience.conditions)
        if any(_names(node, edit) for node in _nodes(tree)):
            rewritten = rewritten_conditions(audience.conditions, edit)
            found.append(NamingAudience(audience.pk, audience.name, audience.conditions, rewritten))
    return found


def audiences_rewrite(account_id: int, audience_ids: list[int], edit: LabelEdit) -> list[list]:
    """Rewrite the conditions of these audiences (those that still name the edit's key or
    values); return what changed, `[audience id, before, after]` each. Running it twice changes
    nothing the second time."""
    rewrites = []
    for audience in Audience.objects.filter(account_id=account_id, pk__in=audience_ids):
        conditions = rewritten_conditions(audience.conditions, edit)
        if conditions is not None and conditions != audience.conditions:
            rewrites.append([audience.pk, audience.conditions, conditions])
            audience.conditions = conditions
            audience.save(update_fields=["conditions", "updated_at"])
    return rewrites


@dataclass
class RewriteUndo:
    """A saved audience a change rewrote, seen by the change's undo: `unchanged` when its
    conditions are still as the change left them (the undo sets them back), otherwise they
    changed since and are left alone."""

    audience: Audience
    before: str
    after: str

    @property
    def unchanged(self) -> bool:
        return self.audience.conditions == self.after


def rewrites_to_undo(job: Job) -> list[RewriteUndo]:
    """The saved audiences `job`'s change rewrote and that still exist, by name."""
    # The job's audit-log entry (none for an import), read once per job and kept on it.
    change = getattr(job, "label_change", None)
    rewrites = change.rewrites if change is not None else []
    audiences = Audience.objects.filter(account_id=job.account_id).in_bulk(
        [pk for pk, _, _ in rewrites]
    )
    found = [
        RewriteUndo(audiences[pk], before, after)
        for pk, before, after in rewrites
        if pk in audiences
    ]
    return sorted(found, key=lambda rewrite: rewrite.audience.name)


def rewrites_undo(job: Job) -> tuple[list[list], int]:
    """Set back the conditions `job`'s change rewrote, where unchanged since; return the undo's
    own rewrites (`[audience id, before, after]` each) and how many audiences changed since."""
    undone, changed_since = [], 0
    for rewrite in rewrites_to_undo(job):
        if not rewrite.unchanged:
            changed_since += 1
            continue
        rewrite.audience.conditions = rewrite.before
        rewrite.audience.save(update_fields=["conditions", "updated_at"])
        undone.append([rewrite.audience.pk, rewrite.after, rewrite.before])
    return undone, changed_since


# ---------------------------------------------------------------------------------------------
# Renaming, merging, deleting
# ---------------------------------------------------------------------------------------------


@dataclass
class EditCounts:
    """What an edit does: `contacts` change; for a rename, `kept_target` of them already had
    the new key (their value of it stays, the old key goes); `skipped` would pass the label limit
    (an edit never adds a label to a contact, so none is)."""

    contacts: int = 0
    kept_target: int = 0
    skipped: int = 0

    def __iadd__(self, other: "EditCounts") -> "EditCounts":
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self


def _edit_filter(edit: LabelEdit) -> tuple[str, list]:
    """The SQL condition (on a label `l`) of the labels an edit changes, and its parameters."""
    if edit.action == Action.MERGE_VALUES:
        marks = ", ".join(["%s"] * len(edit.values))
        return f"l.key = %s AND l.value IN ({marks})", [edit.key, *edit.values]
    if edit.action == Action.DELETE_VALUE:
        return "l.key = %s AND l.value = %s", [edit.key, edit.value]
    return "l.key = %s", [edit.key]


_HAS_TARGET = f"EXISTS (SELECT 1 FROM {_LABEL} t WHERE t.contact_id = l.contact_id AND t.key = %s)"  # noqa: S608


def edit_review(account: Account, edit: LabelEdit) -> EditCounts:
    """What the edit would do now, changing nothing."""
    chosen, params = _edit_filter(edit)
    kept, kept_params = "0", []
    if edit.action == Action.RENAME_KEY:
        kept = f"coalesce(sum(CASE WHEN {_HAS_TARGET} THEN 1 ELSE 0 END), 0)"
        kept_params = [edit.new_key]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), {kept} FROM {_LABEL} l WHERE l.account_id = %s AND {chosen}",  # noqa: S608
            [*kept_params, account.pk, *params],
        )
        contacts, kept_target = map(int, cursor.fetchone())
    return EditCounts(contacts=contacts, kept_target=kept_target)


def _edit_chunk(account_id: int, ids: list[int], edit: LabelEdit, job_id: int) -> EditCounts:
    """Apply the edit to the contacts `ids`, recording every changed label under `job_id`."""
    if connection.vendor == "postgresql":
        ids = lock_contacts(account_id, ids)
        if not ids:
            return EditCounts()
    chosen, chosen_params = _edit_filter(edit)
    by_value = edit.action in (Action.MERGE_VALUES, Action.DELETE_VALUE)
    if connection.vendor == "sqlite" and by_value:
        # The chunk is the contacts with a label the edit changes from its first id to its
        # last (`edit_apply` reads them in contact order; one that gained such a label since
        # is changed too): the range alone finds their labels, one range of
        # `label_account_key_value_idx` per value. Tested against the chunk's ids, SQLite read
        # each value's whole range instead (137 ms against 22 ms a chunk of 20,000 contacts).
        members, member_params = "l.contact_id BETWEEN %s AND %s", [ids[0], ids[-1]]
    else:
        members, member_params = of_contacts(ids, "l.contact_id")
    # No account test for a key: the chunk's contacts are the account's, and so are their
    # labels. With one, PostgreSQL may read the chunk's labels from the whole (account_id, key)
    # range of `label_account_key_value_idx` (contact_id being its last column), once per
    # statement and chunk: every entry of the key for a key it has no statistics for yet,
    # which made a rename far slower than a plain UPDATE (docs/performance.md, 7c). Without
    # it, the labels are read from the chunk's range of (contact_id, key). For given values,
    # the account test lets PostgreSQL read each value's range of contacts from that index.
    where = f"{chosen} AND {members}"
    where_params = [*chosen_params, *member_params]
    if by_value:
        where = f"l.account_id = %s AND {where}"
        where_params = [account_id, *where_params]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            return _edit_chunk_at_once(cursor, where, where_params, edit, job_id, account_id)
        return _edit_chunk_sqlite(cursor, where, where_params, edit, job_id, account_id)


_RECORD_EDIT = f"INSERT INTO {_RECORD} (job_id, account_id, contact_id, key, before, after)"
# A rename records one row per label: the old key going where the contact kept its own label of
# the new key; otherwise the new key coming, naming the key it came from (`renamed_from`).
_RECORD_RENAME = (
    f"INSERT INTO {_RECORD} (job_id, account_id, contact_id, key, before, after, renamed_from)"
)


def _edit_chunk_at_once(
    cursor, where: str, where_params: list, edit: LabelEdit, job_id: int, account_id: int
) -> EditCounts:
    """A chunk of an edit on PostgreSQL as one statement: the labels are changed where they
    are found and the records written from what the change returns, instead of a statement
    that finds the labels again for each kind of record and for the change itself
    (docs/performance.md, 7c)."""
    job = int(job_id)
    if edit.action == Action.RENAME_KEY:
        # The chunk's labels of the old key, found once with their row addresses and whether
        # the contact has the new key already (it keeps that label and loses the old one),
        # then deleted or renamed by address.
        cursor.execute(
            f"""WITH chosen AS MATERIALIZED (
                    SELECT l.ctid AS tid, l.account_id, l.contact_id, l.value,
                        {_HAS_TARGET} AS kept
                    FROM {_LABEL} l WHERE {where}
                ),
                dropped AS (
                    DELETE FROM {_LABEL} WHERE ctid = ANY(ARRAY(SELECT tid FROM chosen WHERE kept))
                ),
                moved AS (
                    UPDATE {_LABEL} SET key = %s
                    WHERE ctid = ANY(ARRAY(SELECT tid FROM chosen WHERE NOT kept))
                ),
                recorded AS (
                    {_RECORD_RENAME}
                    SELECT {job}, account_id, contact_id, %s, value, NULL, NULL
                    FROM chosen WHERE kept
                    UNION ALL
                    SELECT {job}, account_id, contact_id, %s, NULL, value, %s
                    FROM chosen WHERE NOT kept
                )
            SELECT count(*), count(*) FILTER (WHERE kept) FROM chosen""",  # noqa: S608
            [edit.new_key, *where_params, edit.new_key, edit.key, edit.new_key, edit.key],
        )
        contacts, kept = cursor.fetchone()
        return EditCounts(contacts=contacts, kept_target=kept)
    if edit.action == Action.MERGE_VALUES:
        # An UPDATE returns the new values only: the labels are found first (their row
        # addresses and values), then changed by address.
        cursor.execute(
            f"""WITH found AS MATERIALIZED (
                    SELECT l.ctid AS tid, l.account_id, l.contact_id, l.key, l.value
                    FROM {_LABEL} l WHERE {where}
                ),
                recorded AS (
                    {_RECORD_EDIT}
                    SELECT {job}, account_id, contact_id, key, value, %s FROM found
                ),
                changed AS (
                    UPDATE {_LABEL} SET value = %s
                    WHERE ctid = ANY(ARRAY(SELECT tid FROM found)) RETURNING 1
                )
            SELECT count(*) FROM changed""",  # noqa: S608
            [*where_params, edit.value, edit.value],
        )
        return EditCounts(contacts=cursor.fetchone()[0])
    cursor.execute(
        f"""WITH gone AS (
                DELETE FROM {_LABEL} l WHERE {where}
                RETURNING l.account_id, l.contact_id, l.key, l.value
            ),
            recorded AS (
                {_RECORD_EDIT} SELECT {job}, account_id, contact_id, key, value, NULL FROM gone
            )
        SELECT count(*) FROM gone""",  # noqa: S608
        where_params,
    )
    return EditCounts(contacts=cursor.fetchone()[0])


def _edit_chunk_sqlite(
    cursor, where: str, where_params: list, edit: LabelEdit, job_id: int, account_id: int
) -> EditCounts:
    """A chunk of an edit on SQLite: the chunk's labels the edit changes are looked up once into
    a temporary table (with, for a rename, whether the contact has the new key already), which
    the records and the change then read by row id. Looked up again by each statement, through
    the (contact_id, key) index, a rename fell well behind a plain `UPDATE`
    (docs/performance.md, 7c)."""
    counts = EditCounts()
    kept, kept_params = "0", []
    if edit.action == Action.RENAME_KEY:
        kept, kept_params = _HAS_TARGET, [edit.new_key]
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS trackly_edit_state "
        "(id INTEGER PRIMARY KEY, contact_id INTEGER, value TEXT, kept INTEGER)"
    )
    cursor.execute("DELETE FROM trackly_edit_state")
    cursor.execute(
        "INSERT INTO trackly_edit_state (id, contact_id, value, kept) "  # noqa: S608
        f"SELECT l.id, l.contact_id, l.value, {kept} FROM {_LABEL} l WHERE {where}",
        [*kept_params, *where_params],
    )
    counts.contacts = cursor.rowcount
    state = "FROM trackly_edit_state"
    if edit.action == Action.RENAME_KEY:
        cursor.execute(
            f"{_RECORD_RENAME} SELECT %s, %s, contact_id, "
            "CASE WHEN kept THEN %s ELSE %s END, CASE WHEN kept THEN value END, "
            "CASE WHEN kept THEN NULL ELSE value END, CASE WHEN kept THEN NULL ELSE %s END "
            f"{state}",
            [job_id, account_id, edit.key, edit.new_key, edit.key],
        )
        cursor.execute(
            f"UPDATE {_LABEL} SET key = %s WHERE id IN (SELECT id {state} WHERE NOT kept)",  # noqa: S608
            [edit.new_key],
        )
        counts.kept_target = counts.contacts - cursor.rowcount
        if counts.kept_target:
            cursor.execute(f"DELETE FROM {_LABEL} WHERE id IN (SELECT id {state} WHERE kept)")  # noqa: S608
        return counts
    after = edit.value if edit.action == Action.MERGE_VALUES else None
    cursor.execute(
        f"{_RECORD_EDIT} SELECT %s, %s, contact_id, %s, value, %s {state}",
        [job_id, account_id, edit.key, after],
    )
    if edit.action == Action.MERGE_VALUES:
        cursor.execute(
            f"UPDATE {_LABEL} SET value = %s WHERE id IN (SELECT id {state})",  # noqa: S608
            [edit.value],
        )
    else:
        cursor.execute(f"DELETE FROM {_LABEL} WHERE id IN (SELECT id {state})")  # noqa: S608
    return counts


def _chunks(ids: array, chunk_size: int | None) -> Iterator[list[int]]:
    chunk_size = chunk_size or settings.BULK_CHUNK_SIZE
    for start in range(0, len(ids), chunk_size):
        yield ids[start : start + chunk_size].tolist()


def edit_apply(
    account_id: int, edit: LabelEdit, *, job_id: int, progress=None, chunk_size: int | None = None
) -> EditCounts:
    """Apply the edit to every contact it concerns now, chunk by chunk (see the module's
    docstring); `progress` as in `audiences.bulk.apply`."""
    # 8 bytes per contact, streamed from the database.
    ids = array("q")
    ids.extend(
        edit.labels(account_id)
        .order_by("contact_id")
        .values_list("contact_id", flat=True)
        .iterator(chunk_size=20_000)
    )
    return _in_chunks(
        ids,
        chunk_size,
        progress,
        EditCounts(),
        lambda chunk: _edit_chunk(account_id, chunk, edit, job_id),
    )


def _in_chunks[C](ids, chunk_size: int, progress, counts: C, work: Callable[[list[int]], C]) -> C:
    """Run `work` on `ids` chunk by chunk, each chunk in its own transaction (progress reported
    inside it, so a lease check there is atomic with the chunk's writes); the sum of its
    counts."""
    total = len(ids)
    if progress is not None:
        progress(0, total)
    done = 0
    for chunk in _chunks(ids, chunk_size):
        with transaction.atomic():
            plan_as_lookups()
            chunk_counts = work(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
        counts += chunk_counts
    return counts


# ---------------------------------------------------------------------------------------------
# Undo
# ---------------------------------------------------------------------------------------------

RESTORE, ERASE, CHANGED, SKIPPED, DONE = "restore", "erase", "changed", "skipped", "done"


@dataclass
class UndoCounts:
    """What an undo does: `labels` restored on `contacts`; `erased` contacts an import created;
    `changed_since` contacts left alone because they changed after the change (or were
    erased); `skipped` contacts that restoring would take past the label limit."""

    labels: int = 0
    contacts: int = 0
    erased: int = 0
    changed_since: int = 0
    skipped: int = 0

    def __iadd__(self, other: "UndoCounts") -> "UndoCounts":
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self


def records_kept_until(job: Job) -> datetime:
    """Until when a job's records are kept, and so until when it can be undone."""
    return job.created_at + timedelta(days=settings.LABEL_RECORD_DAYS)


def _earlier_undos(job: Job) -> list[int]:
    """The jobs of earlier undos of `job`: the contacts they restored are not undone again."""
    return list(
        LabelChange.objects.filter(undoes=job, job__isnull=False).values_list("job_id", flat=True)
    )


def check_undoable(job: Job) -> None:
    """Raise `ValidationError` (code `conflict`) when the job cannot be undone now."""
    if job.kind not in UNDOABLE_KINDS:
        raise ValidationError(
            f"Job {job.pk} ({job.get_kind_display().lower()}) changed no labels: there is "
            "nothing to undo.",
            code="conflict",
        )
    if not job.is_finished:
        raise ValidationError("The job has not finished: undo it once it has.", code="conflict")
    if records_kept_until(job) < timezone.now():
        raise ValidationError(
            f"What the job changed was kept for {settings.LABEL_RECORD_DAYS} days only: "
            "it can no longer be undone.",
            code="conflict",
        )
    undos = LabelChange.objects.filter(undoes=job).select_related("job")
    for undo in undos:
        if undo.job is not None and undo.job.status == Job.Status.SUCCEEDED:
            raise ValidationError(
                f"This change was undone already (job {undo.job_id}); undo that undo instead.",
                code="conflict",
            )
        if undo.job is not None and not undo.job.is_finished:
            raise ValidationError(
                f"An undo of this change is running (job {undo.job_id}).", code="conflict"
            )


def _distinct(left: str, right: str) -> str:
    op = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    return f"{left} {op} {right}"


# The jobs that change one key, and so write at most one record per contact.
_ONE_KEY_KINDS = (
    Job.Kind.ADD_LABEL,
    Job.Kind.REMOVE_LABEL,
    Job.Kind.MERGE_VALUES,
    Job.Kind.DELETE_VALUE,
    Job.Kind.DELETE_KEY,
)


@dataclass(frozen=True)
class _UndoPlan:
    """What the classification of an undo's contacts must look at: the earlier undos of the
    same job, whether the job created contacts (an import), whether any contact of the account
    can reach the label limit (only if the account uses at least 50 keys; most use far fewer,
    as `audiences.bulk` also counts on), whether the job has at most one record per contact
    (it changed one key), and whether it renamed (its records name the key a label came from)."""

    job_id: int
    earlier: tuple[int, ...]
    created: bool
    may_be_full: bool
    one_key: bool = False
    renamed: bool = False


def _undo_plan(job: Job, earlier: list[int]) -> _UndoPlan:
    keys = LabelKeyCount.objects.filter(account_id=job.account_id)
    return _UndoPlan(
        job_id=job.pk,
        earlier=tuple(earlier),
        created=CreatedContact.objects.filter(job=job).exists(),
        may_be_full=keys[:_LIMIT].count() >= _LIMIT,
        one_key=job.kind in _ONE_KEY_KINDS,
        renamed=job.kind == Job.Kind.RENAME_KEY,
    )


def _records(plan: _UndoPlan) -> str:
    """The table of the job's records for the undo to read: a rename's record of a label that
    came from another key also stands for that key's going (absent after, the value before)."""
    if not plan.renamed:
        return _RECORD
    columns = "job_id, account_id, contact_id"
    return (
        f"(SELECT {columns}, key, before, after FROM {_RECORD} "  # noqa: S608
        f"UNION ALL SELECT {columns}, renamed_from AS key, after AS before, NULL AS after "
        f"FROM {_RECORD} WHERE renamed_from IS NOT NULL)"
    )


def _verdict(contact: str, moved: str, plan: _UndoPlan, present: str = "1 = 0") -> str:
    """SQL of the verdict on the contact whose id is the SQL `contact`, `moved` (SQL) of the
    labels the plan's job wrote for it being no longer as it left them, `present` (SQL) true
    where a label of the contact was found (so the contact exists: no need to look)."""
    job = int(plan.job_id)
    done = "1 = 0"
    if plan.earlier:
        ids = ", ".join(str(int(pk)) for pk in plan.earlier)
        done = (
            f"EXISTS (SELECT 1 FROM {_RECORD} d "  # noqa: S608
            f"WHERE d.job_id IN ({ids}) AND d.contact_id = {contact})"
        )
    records_of = f"{_records(plan)} r WHERE r.job_id = {job} AND r.contact_id = {contact}"
    labels_now = f"(SELECT count(*) FROM {_LABEL} n WHERE n.contact_id = {contact})"  # noqa: S608
    created = ""
    if plan.created:
        created = f"""
            WHEN EXISTS (
                SELECT 1 FROM {_CREATED} cc WHERE cc.job_id = {job} AND cc.contact_id = {contact}
            ) THEN CASE
                WHEN (SELECT k.status FROM {_CONTACT} k WHERE k.id = {contact}) <> 'subscribed'
                    OR {labels_now} <> (SELECT count(*) FROM {records_of} AND r.after IS NOT NULL)
                THEN '{CHANGED}' ELSE '{ERASE}' END"""  # noqa: S608
    full = ""
    if plan.may_be_full:
        full = f"""
            WHEN {labels_now}
                + (SELECT count(*) FROM {records_of} AND r.after IS NULL)
                - (SELECT count(*) FROM {records_of} AND r.before IS NULL) > {_LIMIT}
            THEN '{SKIPPED}'"""  # noqa: S608
    # A contact erased since has changed: looked for only where none of its labels was found.
    return f"""CASE
        WHEN {done} THEN '{DONE}'
        WHEN {moved} THEN '{CHANGED}'
        WHEN NOT ({present}) AND NOT EXISTS (SELECT 1 FROM {_CONTACT} k WHERE k.id = {contact})
        THEN '{CHANGED}'{created}{full}
        ELSE '{RESTORE}'
    END"""  # noqa: S608


def _undo_verdicts(within: Callable[[str], tuple[str, list]], plan: _UndoPlan) -> tuple[str, list]:
    """CTEs for a `WITH` clause classifying, for undoing the plan's job, each contact whose id
    passes `within` (a function of an id column giving an SQL condition and its parameters),
    and their parameters:

    - `rows`: the job's records of those contacts, read as one range of the records' primary
      key, each with the label now under its key (`label_id` and on PostgreSQL its row address
      `label_tid`, none if absent) and its contact's `verdict`. Whether any label of the
      contact is no longer as the job left it is a window over the contact's records, and its
      verdict is worked out on its first record and spread to the others by another window:
      no join of one set of records with another, which PostgreSQL, estimating the records
      of a job too new for its statistics at one row, made a loop over both
      (docs/performance.md, 7c).
    - `created_only` (for an import): (id, verdict) of the contacts the job created that have
      no record;
    - `verdicts`: (id, verdict) per contact, those of `rows` and `created_only`.

    A job of one key has one record per contact: its verdict is worked out on it, no window.

    Job ids are integers from the database, written into the SQL."""
    job = int(plan.job_id)
    records, params = within("r.contact_id")
    distinct = _distinct("l.value", "r.after")
    # The label's row address on PostgreSQL, for deleting it without a look-up by id.
    tid = "l.ctid" if connection.vendor == "postgresql" else "l.id"
    found = f"""
            FROM {_records(plan)} r
            LEFT JOIN {_LABEL} l ON l.contact_id = r.contact_id AND l.key = r.key
            WHERE r.job_id = {job} AND {records}"""
    if plan.one_key:
        own = _verdict("r.contact_id", distinct, plan, "l.id IS NOT NULL")
        sql = f"""
        rows AS MATERIALIZED (
            SELECT r.account_id, r.contact_id, r.key, r.before, r.after, l.id AS label_id,
                {tid} AS label_tid, 1 AS nth, {own} AS verdict
            {found}
        ),"""
    else:
        own = _verdict("x.contact_id", "x.moved > 0", plan, "x.label_id IS NOT NULL")
        sql = f"""
        marked AS (
            SELECT r.account_id, r.contact_id, r.key, r.before, r.after, l.id AS label_id,
                {tid} AS label_tid, sum(CASE WHEN {distinct} THEN 1 ELSE 0 END)
                    OVER (PARTITION BY r.contact_id) AS moved,
                row_number() OVER (PARTITION BY r.contact_id ORDER BY r.key) AS nth
            {found}
        ),
        judged AS (
            SELECT x.*, CASE WHEN x.nth = 1 THEN {own} END AS own FROM marked x
        ),
        rows AS MATERIALIZED (
            SELECT j.account_id, j.contact_id, j.key, j.before, j.after, j.label_id,
                j.label_tid, j.nth,
                max(j.own) OVER (PARTITION BY j.contact_id) AS verdict
            FROM judged j
        ),"""  # noqa: S608
    verdicts = "SELECT contact_id AS id, verdict FROM rows WHERE nth = 1"
    if plan.created:
        created, created_params = within("c.contact_id")
        sql += f"""
        created_only AS MATERIALIZED (
            SELECT c.contact_id AS id, {_verdict("c.contact_id", "1 = 0", plan)} AS verdict
            FROM {_CREATED} c
            WHERE c.job_id = {job} AND {created} AND NOT EXISTS (
                SELECT 1 FROM {_RECORD} r WHERE r.job_id = {job} AND r.contact_id = c.contact_id
            )
        ),"""  # noqa: S608
        params = [*params, *created_params]
        verdicts += " UNION ALL SELECT id, verdict FROM created_only"
    return f"{sql}\n        verdicts AS MATERIALIZED ({verdicts})", params


def _undo_contacts(plan: _UndoPlan) -> str:
    """SQL of the ids of the contacts the plan's job changed, in order: read off its records'
    primary key (with one record per contact, no need to take out repeats), and for an import
    the contacts it created."""
    job = int(plan.job_id)
    distinct = "" if plan.one_key else "DISTINCT "
    records = f"SELECT {distinct}contact_id AS id FROM {_RECORD} WHERE job_id = {job}"  # noqa: S608
    if not plan.created:
        return f"{records} ORDER BY id"
    created = f"SELECT contact_id AS id FROM {_CREATED} WHERE job_id = {job}"  # noqa: S608
    return f"SELECT id FROM ({records} UNION {created}) c ORDER BY id"  # noqa: S608


_RESTORED = f"restored AS MATERIALIZED (SELECT * FROM rows WHERE verdict = '{RESTORE}')"  # noqa: S608
_UNDO_TALLY = f"""
    SELECT
        {{labels}},
        coalesce(sum(CASE WHEN s.verdict = '{RESTORE}' THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN s.verdict = '{ERASE}' THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN s.verdict = '{CHANGED}' THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN s.verdict = '{SKIPPED}' THEN 1 ELSE 0 END), 0)
    FROM {{verdicts}} s
"""  # noqa: S608


def undo_review(job: Job) -> UndoCounts:
    """What undoing `job` would do now, changing nothing."""
    verdicts, params = _undo_verdicts(
        lambda column: ("1 = 1", []), _undo_plan(job, _earlier_undos(job))
    )
    tally = _UNDO_TALLY.format(verdicts="verdicts", labels="(SELECT count(*) FROM restored)")
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {verdicts}, {_RESTORED} {tally}", params)
        return UndoCounts(*map(int, cursor.fetchone()))


def _undo_chunk(job: Job, ids: list[int], earlier: list[int], undo_job_id: int) -> UndoCounts:
    if connection.vendor == "postgresql":
        # Contacts erased since are classified too (as changed since), not only those locked.
        lock_contacts(job.account_id, ids)
    # After the lock: the key counts are kept in the same transactions as the labels.
    plan = _undo_plan(job, earlier)
    # The chunk is every contact of the job's records (and, for an import, of the contacts it
    # created) from its first id to its last, and a finished job's records do not change: the
    # range alone finds them, with no list of ids to test each against.
    first, last = ids[0], ids[-1]
    verdicts, params = _undo_verdicts(
        lambda column: (f"{column} BETWEEN %s AND %s", [first, last]), plan
    )
    if connection.vendor == "postgresql":
        counts, erased = _undo_chunk_at_once(verdicts, params, job.account_id, undo_job_id)
    else:
        counts, erased = _undo_chunk_in_steps(verdicts, params, plan, undo_job_id, job.account_id)
    if erased:
        # Through the ORM, so that whatever refers to a contact goes with it.
        Contact.objects.filter(pk__in=erased).delete()
    return counts


# The undo's own records: the reverse of the change's, so that it can be undone too.
_RECORD_UNDO = (
    f"INSERT INTO {_RECORD} (job_id, account_id, contact_id, key, before, after) "  # noqa: S608
    "SELECT %s, account_id, contact_id, key, after, before FROM {restored}"
)
# Labels the change left in place with another value, or took away, get their value back.
_PUT_BACK = (
    f"INSERT INTO {_LABEL} (account_id, contact_id, key, value) "  # noqa: S608
    "SELECT %s, contact_id, key, before FROM {restored} WHERE before IS NOT NULL "
    "ON CONFLICT (contact_id, key, account_id) DO UPDATE SET value = excluded.value"
)


def _undo_chunk_at_once(
    verdicts: str, params: list, account_id: int, undo_job_id: int
) -> tuple[UndoCounts, list[int]]:
    """A chunk's undo on PostgreSQL as one statement: the classification reads the chunk's
    records as one range with the label now under each, and the labels to take away are
    deleted by row address. Six statements through a temporary state table, each finding the records
    and labels again, took several times the plain `DELETE` (docs/performance.md, 7c). The
    chunk's contacts are locked, so the row addresses read stay those of their labels."""
    tally = _UNDO_TALLY.format(verdicts="verdicts", labels="(SELECT count(*) FROM restored)")
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH {verdicts}, {_RESTORED},
                recorded AS ({_RECORD_UNDO.format(restored="restored")}),
                deleted AS (
                    DELETE FROM {_LABEL} WHERE ctid = ANY(ARRAY(
                        SELECT label_tid FROM restored
                        WHERE before IS NULL AND label_tid IS NOT NULL
                    ))
                ),
                put_back AS ({_PUT_BACK.format(restored="restored")})
            SELECT tally.*, (SELECT array_agg(id) FROM verdicts WHERE verdict = '{ERASE}')
            FROM ({tally}) tally""",  # noqa: S608
            [*params, undo_job_id, account_id],
        )
        *counts, erased = cursor.fetchone()
    return UndoCounts(*map(int, counts)), erased or []


def _undo_chunk_in_steps(
    verdicts: str, params: list, plan: _UndoPlan, undo_job_id: int, account_id: int
) -> tuple[UndoCounts, list[int]]:
    """A chunk's undo on SQLite, which has no writing CTEs: the classified records (`rows`,
    with the contacts an import created that have none) are kept in a temporary table, which
    the statements then read instead of finding the records and their labels again."""
    columns = "contact_id, account_id, key, before, after, label_id, nth, verdict"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS trackly_undo_state (contact_id INTEGER, "
            "account_id INTEGER, key TEXT, before TEXT, after TEXT, label_id INTEGER, "
            "nth INTEGER, verdict TEXT)"
        )
        cursor.execute("DELETE FROM trackly_undo_state")
        created = ""
        if plan.created:
            created = (
                "UNION ALL SELECT id, NULL, NULL, NULL, NULL, NULL, 1, verdict FROM created_only"
            )
        cursor.execute(
            f"WITH {verdicts} INSERT INTO trackly_undo_state ({columns}) "  # noqa: S608
            f"SELECT {columns} FROM rows {created}",
            params,
        )
        state = "trackly_undo_state"
        restored = f"(SELECT * FROM {state} WHERE verdict = '{RESTORE}' AND key IS NOT NULL) r"  # noqa: S608
        cursor.execute(
            _UNDO_TALLY.format(
                verdicts=f"(SELECT contact_id AS id, verdict FROM {state} WHERE nth = 1)",  # noqa: S608
                labels=f"(SELECT count(*) FROM {restored})",  # noqa: S608
            )
        )
        counts = UndoCounts(*map(int, cursor.fetchone()))
        cursor.execute(_RECORD_UNDO.format(restored=restored), [undo_job_id])
        cursor.execute(
            f"DELETE FROM {_LABEL} WHERE id IN (SELECT label_id FROM {restored} "  # noqa: S608
            "WHERE before IS NULL AND label_id IS NOT NULL)"
        )
        cursor.execute(_PUT_BACK.format(restored=restored), [account_id])
        cursor.execute(
            f"SELECT contact_id FROM {state} WHERE nth = 1 AND verdict = '{ERASE}'"  # noqa: S608
        )
        erased = [pk for (pk,) in cursor.fetchall()]
    return counts, erased


def undo_apply(
    job: Job, *, undo_job_id: int, progress=None, chunk_size: int | None = None
) -> UndoCounts:
    """Undo `job`'s recorded change, chunk by chunk (see the module's docstring)."""
    earlier = [pk for pk in _earlier_undos(job) if pk != undo_job_id]
    with connection.cursor() as cursor:
        cursor.execute(_undo_contacts(_undo_plan(job, earlier)))
        ids = array("q", (pk for (pk,) in cursor.fetchall()))
    return _in_chunks(
        ids,
        chunk_size,
        progress,
        UndoCounts(),
        lambda chunk: _undo_chunk(job, chunk, earlier, undo_job_id),
    )
