"""Bulk label actions: add a label to, or remove a key from, a set of contacts in one job.

The set is a queryset of contacts (an audience's members, or contacts ticked or filtered in a
list's table), evaluated once when the job starts: contacts that match later are not changed
(a one-time change, not a rule). Its ids are then changed one chunk at a time, each chunk a
transaction of a few set-based statements, so locks stay short, progress can be reported, and
a job stopped half-way leaves whole chunks behind and can simply be run again. Evaluating the
set once, not per chunk, matters: an audience's conditions cost as much to evaluate for one
chunk as for all of them.

The 50-label limit: on PostgreSQL each chunk locks its contacts (`FOR NO KEY UPDATE`, the lock
`contacts.services` also takes) before counting their labels, so a concurrent edit cannot slip
a 50th label in between; SQLite's IMMEDIATE transactions serialise all writers anyway. Labels
are counted only in accounts that use at least 50 keys besides the one added: elsewhere no
contact can be full (`_state`).
"""

import json
from array import array
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet

from contacts.labels import MAX_LABELS_PER_CONTACT, clean_key, clean_value
from contacts.models import Contact, Label, LabelKeyCount, LabelRecord
from trackly.db import ID_ARRAY, id_list, plan_as_lookups

ADD = "add"
REMOVE = "remove"

_CONTACT = Contact._meta.db_table
_LABEL = Label._meta.db_table
_RECORD = LabelRecord._meta.db_table
_LIMIT = MAX_LABELS_PER_CONTACT


@dataclass
class AddCounts:
    """What adding a label does: matching = gained + replaced + already + skipped."""

    matching: int = 0
    gained: int = 0
    replaced: int = 0
    already: int = 0
    skipped: int = 0

    def __iadd__(self, other: "AddCounts") -> "AddCounts":
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self


@dataclass
class RemoveCounts:
    matching: int = 0
    removed: int = 0

    def __iadd__(self, other: "RemoveCounts") -> "RemoveCounts":
        self.matching += other.matching
        self.removed += other.removed
        return self


def clean_action(action: str, key: object, value: object) -> tuple[str, str]:
    """Validate a bulk action's key (and value, for add) with the one label validator."""
    cleaned_key = clean_key(key)
    return cleaned_key, clean_value(value) if action == ADD else ""


# Per contact of the set: its current value of the key (NULL without it), and whether it is
# at the limit (no such key and already 50 labels). `{at_limit}` is `_AT_LIMIT`, the count of
# the contact's labels, or `false` where no contact of the account can be at the limit. `%s` is
# the account and the key, given once per occurrence: every probe of a label names the account,
# the distribution column (trackly/sharding.py), as the label's unique key does. The account is
# named as `+l.account_id`, which no index serves: named plainly, a probe may be planned on
# (account_id, key, value, contact_id), reading every label of the key for each contact, which a
# key being added for the first time (no statistics yet) makes likely; this way each probe reads
# the (contact_id, key, account_id) unique index.
_STATE = {
    # SQLite answers the join with one probe of the (contact_id, key) index per contact.
    "sqlite": f"""
        SELECT c.id AS id, l.value AS current,
            CASE WHEN l.value IS NULL THEN {{at_limit}} ELSE false END AS at_limit
        FROM ({{contacts}}) c
        LEFT JOIN {_LABEL} l ON l.contact_id = c.id AND +l.account_id = %s AND l.key = %s
    """,  # noqa: S608 (table names are constants)
    # As a join, PostgreSQL may instead read every label of a key it thinks rare, which a key
    # being added for the first time always is: correlated subqueries make it probe too. The
    # current value is probed once (`OFFSET 0` keeps the inner query whole) and tells whether
    # the contact has the key: the value column is never NULL.
    "postgresql": f"""
        SELECT id, current, current IS NULL AND {{at_limit}} AS at_limit
        FROM (
            SELECT c.id AS id,
                (SELECT l.value FROM {_LABEL} l
                    WHERE l.contact_id = c.id AND +l.account_id = %s AND l.key = %s) AS current
            FROM ({{contacts}}) c
            OFFSET 0
        ) c
    """,  # noqa: S608
}
# The state where no contact of the account has the key: nothing to probe.
_STATE_OF_UNUSED_KEY = (
    "SELECT c.id AS id, NULL AS current, {at_limit} AS at_limit FROM ({contacts}) c"
)
_AT_LIMIT = (
    f"(SELECT count(*) FROM {_LABEL} x"  # noqa: S608
    " WHERE x.contact_id = c.id AND +x.account_id = {account_id})"
    f" >= {_LIMIT}"
)


def _state(contacts: str, contact_params: list, account_id: int, key: str) -> tuple[str, list]:
    """The state SQL for `contacts` (SQL selecting a column `id`) and its parameters.

    Two shortcuts, read from the account's key counts: labels are counted only if the account
    uses at least 50 keys besides `key` (a contact has at most one label per key, so none can be
    full otherwise), and the current values are probed only if some contact has `key`. Most
    accounts use far fewer than 50 keys, and a label is often added under a new key. The key
    counts are kept by triggers in the same transactions as the labels, so what they say of
    contacts a chunk has locked, whose labels no one else can change, holds until it commits.
    """
    keys = LabelKeyCount.objects.filter(account_id=account_id)
    may_be_full = keys.exclude(key=key)[:_LIMIT].count() >= _LIMIT
    at_limit = _AT_LIMIT.format(account_id=int(account_id)) if may_be_full else "false"
    if not keys.filter(key=key).exists():
        return _STATE_OF_UNUSED_KEY.format(contacts=contacts, at_limit=at_limit), contact_params
    sql = _STATE[connection.vendor].format(contacts=contacts, at_limit=at_limit)
    if connection.vendor == "postgresql":
        return sql, [account_id, key, *contact_params]
    return sql, [*contact_params, account_id, key]


_TALLY = """
    SELECT count(*),
        coalesce(sum(CASE WHEN current IS NULL AND NOT at_limit THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN current IS NOT NULL AND current <> %s THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN current = %s THEN 1 ELSE 0 END), 0),
        coalesce(sum(CASE WHEN at_limit THEN 1 ELSE 0 END), 0)
    FROM {state}
"""


def preview_add(contacts: QuerySet[Contact], *, account_id: int, key: str, value: str) -> AddCounts:
    """What adding `key=value` to `contacts` (of the account) would do now, changing nothing."""
    state, params = _state(*contacts.values("id").query.sql_with_params(), account_id, key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH state AS ({state}) {_TALLY.format(state='state')}", [*params, value, value]
        )
        return AddCounts(*cursor.fetchone())


def preview_remove(contacts: QuerySet[Contact], key: str) -> RemoveCounts:
    """How many of `contacts` have `key` now."""
    matching = contacts.count()
    having = Label.objects.filter(contact__in=contacts.values("pk"), key=key).count()
    return RemoveCounts(matching=matching, removed=having)


def ids_source(ids: list[int]) -> tuple[str, list]:
    """A subquery yielding `ids` as rows of one column `id`, passed as a single parameter."""
    if connection.vendor == "postgresql":
        return f"SELECT unnest({ID_ARRAY}) AS id", [id_list(ids)]
    return "SELECT value AS id FROM json_each(%s)", [json.dumps(ids)]


def _in_id_range(column: str, ids: list[int]) -> tuple[str, list]:
    """A condition keeping the rows whose `column` is one of `ids` (PostgreSQL): one scan of
    the ids' range of the column's index, the ids a filter, rather than a descent of the index
    per id, which costs up to twice as much for a chunk's ids (docs/performance.md, 7. Bulk
    label changes). `IS TRUE` keeps the ids out of the index condition (where PostgreSQL would
    descend once per id again) and leaves them a filter, tested against a hash."""
    condition = f"{column} BETWEEN %s AND %s AND ({column} = ANY({ID_ARRAY})) IS TRUE"
    return condition, [min(ids), max(ids), id_list(ids)]


def _add_chunk(
    account_id: int, ids: list[int], key: str, value: str, job_id: int | None
) -> AddCounts:
    """Add the label to those of the contacts `ids` that still exist (one may have been deleted
    since the job started), recording each changed label under `job_id` (unless None)."""
    if connection.vendor == "postgresql":
        source, source_params = ids_source(lock_contacts(account_id, ids))
    else:
        # No row locks: SQLite's IMMEDIATE transactions serialise writers.
        source, source_params = ids_source(ids)
        source = (
            f"SELECT chosen.id FROM {_CONTACT} chosen "  # noqa: S608
            f"WHERE chosen.account_id = %s AND chosen.id IN ({source})"
        )
        source_params = [account_id, *source_params]
    # After the lock, which settles the contacts' labels.
    state, state_params = _state(source, source_params, account_id, key)
    changing = "WHERE NOT at_limit AND (current IS NULL OR current <> %s)"
    insert = f"""
        INSERT INTO {_LABEL} (account_id, contact_id, key, value)
        SELECT %s, id, %s, %s FROM {{state}} {changing}
        ON CONFLICT (contact_id, key, account_id) DO UPDATE SET value = excluded.value
    """  # noqa: S608
    insert_params = [account_id, key, value, value]
    # The change's records: what each changed label was before.
    record = f"""
        INSERT INTO {_RECORD} (job_id, account_id, contact_id, key, before, after)
        SELECT %s, %s, id, %s, current, %s FROM {{state}} {changing}
    """  # noqa: S608
    record_params = [job_id, account_id, key, value, value]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: the tally, the records and the insert read the same snapshot.
            recorded, params = "", [*state_params, *insert_params]
            if job_id is not None:
                recorded = f", recorded AS ({record.format(state='state')} RETURNING 1)"
                params += record_params
            cursor.execute(
                f"WITH state AS ({state}), written AS ({insert.format(state='state')} RETURNING 1)"
                f"{recorded} {_TALLY.format(state='state')}",
                [*params, value, value],
            )
            return AddCounts(*cursor.fetchone())
        # SQLite has no INSERT inside WITH: the chunk's state goes to a temporary table once,
        # for the tally, the records and the insert to read, rather than being worked out
        # several times.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS trackly_bulk_state "
            "(id INTEGER PRIMARY KEY, current TEXT, at_limit INTEGER)"
        )
        cursor.execute("DELETE FROM trackly_bulk_state")
        cursor.execute(
            f"INSERT INTO trackly_bulk_state (id, current, at_limit) {state}", state_params
        )
        cursor.execute(_TALLY.format(state="trackly_bulk_state"), [value, value])
        counts = AddCounts(*cursor.fetchone())
        if job_id is not None:
            cursor.execute(record.format(state="trackly_bulk_state"), record_params)
        cursor.execute(insert.format(state="trackly_bulk_state"), insert_params)
        return counts


def of_contacts(ids: list[int], column: str = "contact_id") -> tuple[str, list]:
    """A condition keeping the rows whose `column` is one of the contact ids `ids`, the fastest
    way per database."""
    if connection.vendor == "postgresql":
        return _in_id_range(column, ids)
    source, source_params = ids_source(ids)
    return f"{column} IN ({source})", source_params


def _remove_chunk(account_id: int, ids: list[int], key: str, job_id: int | None) -> RemoveCounts:
    """Remove `key` from the contacts `ids` of the account, recording each removed label under
    `job_id` (unless None)."""
    record = f"INSERT INTO {_RECORD} (job_id, account_id, contact_id, key, before, after) "
    with connection.cursor() as cursor:
        if job_id is None:
            members, params = of_contacts(ids)
            cursor.execute(
                f"DELETE FROM {_LABEL} WHERE +account_id = %s AND key = %s AND {members}",  # noqa: S608
                [account_id, key, *params],
            )
        elif connection.vendor == "postgresql":
            members, params = of_contacts(ids)
            cursor.execute(
                f"WITH removed AS (DELETE FROM {_LABEL} "  # noqa: S608
                f"WHERE +account_id = %s AND key = %s AND {members} "
                f"RETURNING contact_id, value) {record} "
                "SELECT %s, %s, contact_id, %s, value, NULL FROM removed",
                [account_id, key, *params, job_id, account_id, key],
            )
        else:
            members, params = of_contacts(ids)
            chosen = f"FROM {_LABEL} WHERE +account_id = %s AND key = %s AND {members}"
            cursor.execute(
                f"{record} SELECT %s, account_id, contact_id, key, value, NULL {chosen}",
                [job_id, account_id, key, *params],
            )
            cursor.execute(f"DELETE {chosen}", [account_id, key, *params])
        return RemoveCounts(matching=len(ids), removed=cursor.rowcount)


def _member_ids(contacts: QuerySet[Contact]) -> array:
    """The ids of `contacts` now, in order: 8 bytes per contact, streamed from the database."""
    ids = array("q")
    ids.extend(contacts.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=20_000))
    return ids


def lock_contacts(account_id: int, ids: list[int]) -> list[int]:
    """Lock the contacts `ids` of the account and return those that still exist (PostgreSQL).

    Locked in id order (the order `contacts.services` and the import lock in, so that writers
    cannot deadlock), so that no concurrent edit can slip a 50th label in between the count and
    the insert.
    """
    chunk, params = _in_id_range("id", ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {_CONTACT} WHERE account_id = %s AND {chunk} "  # noqa: S608
            "ORDER BY id FOR NO KEY UPDATE",
            [account_id, *params],
        )
        return [pk for (pk,) in cursor.fetchall()]


def apply(
    contacts: QuerySet[Contact],
    *,
    account_id: int,
    action: str,
    key: str,
    value: str = "",
    job_id: int | None = None,
    progress=None,
    chunk_size: int | None = None,
) -> AddCounts | RemoveCounts:
    """Add `key=value` to, or remove `key` from, the contacts matching now; chunk by chunk,
    recording every changed label under `job_id` (`LabelRecord`), so that it can be undone
    (None records nothing: tests and benchmarks of the change alone).

    `progress(done, total)` is called once the contacts are found, then inside each chunk's
    transaction, after its writes, with the contacts done so far and the number that matched at
    the start: an exception it raises (a job that lost its lease) rolls the chunk back.
    """
    chunk_size = chunk_size or settings.BULK_CHUNK_SIZE
    ids = _member_ids(contacts)
    total = len(ids)
    if progress is not None:
        progress(0, total)
    counts = AddCounts() if action == ADD else RemoveCounts()
    for start in range(0, total, chunk_size):
        chunk = ids[start : start + chunk_size].tolist()
        with transaction.atomic():
            plan_as_lookups()
            if action == ADD:
                chunk_counts = _add_chunk(account_id, chunk, key, value, job_id)
            else:
                chunk_counts = _remove_chunk(account_id, chunk, key, job_id)
            if progress is not None:
                progress(min(start + chunk_size, total), total)
        counts += chunk_counts
    return counts
