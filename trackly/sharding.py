"""The schema's rules for a distributed PostgreSQL (Citus) with the account as distribution column.

Every table that grows with an account's data is in `SHARDED_TABLES`: it carries `account_id`
(NOT NULL), and on PostgreSQL its primary key, every unique constraint and every foreign key to
another sharded table include it, so that each row, and each row it points to, lives on the
account's shard. The tables they point to that are not sharded are `REFERENCE_TABLES` (small,
copied to every node). `schema_violations` reads PostgreSQL's catalogue and names each broken
rule (tests/trackly/test_sharding.py); `make_keys_composite` is what the migration
`audiences.0005_sharding_keys` runs to make the keys so.

The ORM keeps its single-column fields (`Label.contact`, `Contact.sending_list`): Django cannot
declare a foreign key of two columns. It does not need to: `id` stays unique in practice (one
sequence per table) and every query reaches these tables from the account. On PostgreSQL the
migration then swaps the constraints behind the fields: primary keys `(id, account_id)`, foreign
keys `(x_id, account_id) REFERENCES t (id, account_id)`, deferred as Django's are and with no
action on delete (Django deletes the dependants itself). SQLite keeps Django's single-column
keys: it has no shards, and altering a key there means rebuilding the table.
"""

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created
from django.dispatch import receiver

DISTRIBUTION_COLUMN = "account_id"

# Distributed by account_id, co-located: joins between them on (account_id, id) stay on a node.
SHARDED_TABLES = (
    "contacts_sendinglist",
    "contacts_contact",
    "contacts_label",
    "contacts_labelkeycount",
    "contacts_labelvaluecount",
    "contacts_labelrecord",
    "contacts_createdcontact",
    "audiences_audience",
    "audiences_audience_sending_lists",
    "audiences_staticmember",
    "audiences_labelchange",
    "trackly_job",
)

# Copied whole to every node: sharded tables may point to them.
REFERENCE_TABLES = ("trackly_account", "auth_user")

_KEYS = """
    SELECT c.conname, c.contype, t.relname,
           ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
           r.relname,
           ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
           c.confdeltype
    FROM pg_constraint c
    JOIN pg_class t ON t.oid = c.conrelid
    LEFT JOIN pg_class r ON r.oid = c.confrelid
    WHERE c.contype IN ('p', 'u', 'f') AND c.connamespace = current_schema()::regnamespace
    ORDER BY t.relname, c.conname
"""
_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


def _keys(cursor) -> list[tuple]:
    cursor.execute(_KEYS)
    return cursor.fetchall()


def schema_violations(connection: BaseDatabaseWrapper) -> list[str]:
    """Each broken sharding rule in the PostgreSQL schema of `connection`, as a sentence."""
    sharded = set(SHARDED_TABLES)
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, is_nullable FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND column_name = %s",
            [DISTRIBUTION_COLUMN],
        )
        nullable = dict(cursor.fetchall())
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            " AND tablename = ANY(%s)",
            [list(sharded)],
        )
        existing = {name for (name,) in cursor.fetchall()}
        keys = _keys(cursor)
        # Unique indexes that are not constraints (partial or expression ones Django makes).
        cursor.execute(
            "SELECT t.relname, i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x"
            " JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indisunique AND t.relname = ANY(%s) AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
            [list(sharded)],
        )
        loose_unique = cursor.fetchall()
    for table in sorted(sharded - existing):
        problems.append(f"{table}: sharded table missing")
    for table in sorted(existing):
        if table not in nullable:
            problems.append(f"{table}: no {DISTRIBUTION_COLUMN} column")
        elif nullable[table] != "NO":
            problems.append(f"{table}: {DISTRIBUTION_COLUMN} may be NULL")
    has_primary_key = set()
    for name, kind, table, columns, parent, parent_columns, _ in keys:
        if kind == "p" and table in sharded:
            has_primary_key.add(table)
        if kind in ("p", "u") and table in sharded and DISTRIBUTION_COLUMN not in columns:
            what = "primary key" if kind == "p" else "unique constraint"
            problems.append(f"{table}: {what} {name} {tuple(columns)} lacks {DISTRIBUTION_COLUMN}")
        if kind != "f":
            continue
        if parent in sharded and table not in sharded:
            problems.append(f"{table}: foreign key {name} points into sharded table {parent}")
        elif parent in sharded:
            pairs = list(zip(columns, parent_columns, strict=True))
            if (DISTRIBUTION_COLUMN, DISTRIBUTION_COLUMN) not in pairs:
                problems.append(
                    f"{table}: foreign key {name} {tuple(columns)} -> {parent}"
                    f"{tuple(parent_columns)} lacks {DISTRIBUTION_COLUMN} on both sides"
                )
        elif table in sharded and parent not in REFERENCE_TABLES:
            problems.append(
                f"{table}: foreign key {name} points to {parent}, neither sharded nor reference"
            )
    for table in sorted(existing - has_primary_key):
        problems.append(f"{table}: no primary key")
    for table, index, definition in loose_unique:
        if DISTRIBUTION_COLUMN not in definition:
            problems.append(f"{table}: unique index {index} lacks {DISTRIBUTION_COLUMN}")
    return problems


def make_keys_composite(connection: BaseDatabaseWrapper) -> None:
    """On PostgreSQL, add the distribution column to every primary key, unique constraint and
    foreign key between sharded tables that lacks it; a no-op on a schema that follows the
    rules, and on other databases."""
    if connection.vendor != "postgresql":
        return
    sharded = set(SHARDED_TABLES)
    with connection.cursor() as cursor:
        keys = _keys(cursor)
        foreign = [
            key
            for key in keys
            if key[1] == "f" and key[4] in sharded and DISTRIBUTION_COLUMN not in key[3]
        ]
        # Foreign keys first: they depend on the unique index of the key they point to.
        for name, _, table, *_ in foreign:
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        for name, kind, table, columns, *_ in keys:
            if kind not in ("p", "u") or table not in sharded or DISTRIBUTION_COLUMN in columns:
                continue
            what = "PRIMARY KEY" if kind == "p" else "UNIQUE"
            listed = ", ".join(f'"{column}"' for column in [*columns, DISTRIBUTION_COLUMN])
            cursor.execute(
                f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}",'
                f' ADD CONSTRAINT "{name}" {what} ({listed})'
            )
        for name, _, table, columns, parent, parent_columns, on_delete in foreign:
            if table not in sharded:
                raise ValueError(f"{table} points into sharded table {parent} but is not sharded")
            listed = ", ".join(f'"{column}"' for column in [*columns, DISTRIBUTION_COLUMN])
            parent_listed = ", ".join(
                f'"{column}"' for column in [*parent_columns, DISTRIBUTION_COLUMN]
            )
            cursor.execute(
                f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" FOREIGN KEY ({listed})'
                f' REFERENCES "{parent}" ({parent_listed}) ON DELETE {_ON_DELETE[on_delete]}'
                " DEFERRABLE INITIALLY DEFERRED"
            )


@receiver(connection_created)
def _group_sharded_rows_by_their_columns(sender, connection, **kwargs) -> None:
    """Django groups an aggregate over a model by its primary key alone on PostgreSQL (the
    other columns depend on it), taking the key to be `id`; the key of a sharded table is
    `(id, account_id)` in the database, so PostgreSQL refuses that. Such a query groups by
    every selected column of a sharded table instead: the same rows."""
    if connection.vendor != "postgresql":
        return
    features = connection.features
    if getattr(features, "groups_sharded_rows_by_columns", False):
        return
    by_key = features.allows_group_by_selected_pks_on_model
    features.allows_group_by_selected_pks_on_model = lambda model: (
        model._meta.db_table not in SHARDED_TABLES and by_key(model)
    )
    features.groups_sharded_rows_by_columns = True
