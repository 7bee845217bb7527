from importlib import import_module

from django.db import migrations

# The count trigger takes the counts of changed labels away from their count rows with one
# UPDATE joined to the statement's labels grouped by key (and value). PL/pgSQL plans that
# UPDATE once per connection and keeps the plan: planned for a statement of a million labels
# (a set-up, a first import), it hashes the groups and reads the whole value-count table
# (510,000 rows at 1M contacts, 200-330 ms) for every later statement of the connection,
# however few its labels, which each chunk of a rename, merge or Remove Label then paid.
# Planned without hash and merge joins, the UPDATE finds each group's count row through the
# unique index, whatever plan is kept: a statement's labels fall into few groups.

PREVIOUS = import_module("contacts.migrations.0004_label_counts_delete_emptied").FUNCTION
SETTINGS = "SET enable_hashjoin = off SET enable_mergejoin = off AS $$"
FUNCTION = PREVIOUS.replace("AS $$", SETTINGS, 1)


def replace(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS)
        schema_editor.execute("ALTER FUNCTION contacts_label_counts() RESET enable_hashjoin")
        schema_editor.execute("ALTER FUNCTION contacts_label_counts() RESET enable_mergejoin")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0009_sharding_keys")]

    operations = [migrations.RunPython(replace, restore)]
