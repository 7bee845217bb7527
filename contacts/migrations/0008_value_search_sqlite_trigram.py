from django.db import migrations

# The value search's "contains" part (`audiences.catalogue.search_values`) on SQLite: an FTS5
# index of trigrams over the distinct values (`contacts_labelvaluecount`, one row per account,
# key and value), kept by triggers on that table. Its case folding is wider than SQLite's
# `LIKE` (which folds ASCII only), so it finds candidates that the search's `LIKE` then checks:
# the answer is the same as a scan's. PostgreSQL has its trigram GIN index (migration 0006).
SEARCH_TABLE = "labelvaluecount_search"

CREATE = [
    f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(value, content='contacts_labelvaluecount', "
    "content_rowid='id', tokenize='trigram')",
    f"INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}) VALUES ('rebuild')",
    f"""CREATE TRIGGER {SEARCH_TABLE}_insert AFTER INSERT ON contacts_labelvaluecount BEGIN
        INSERT INTO {SEARCH_TABLE} (rowid, value) VALUES (new.id, new.value);
    END""",
    f"""CREATE TRIGGER {SEARCH_TABLE}_delete AFTER DELETE ON contacts_labelvaluecount BEGIN
        INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, value)
        VALUES ('delete', old.id, old.value);
    END""",
    f"""CREATE TRIGGER {SEARCH_TABLE}_update AFTER UPDATE OF id, value
        ON contacts_labelvaluecount BEGIN
        INSERT INTO {SEARCH_TABLE} ({SEARCH_TABLE}, rowid, value)
        VALUES ('delete', old.id, old.value);
        INSERT INTO {SEARCH_TABLE} (rowid, value) VALUES (new.id, new.value);
    END""",
]
DROP = [
    f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_update",
    f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_delete",
    f"DROP TRIGGER IF EXISTS {SEARCH_TABLE}_insert",
    f"DROP TABLE IF EXISTS {SEARCH_TABLE}",
]


def create_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in CREATE:
        schema_editor.execute(statement)


def drop_search_index(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for statement in DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0007_label_records"),
    ]

    operations = [migrations.RunPython(create_search_index, drop_search_index)]
