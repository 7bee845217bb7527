from django.db import migrations

# PostgreSQL estimates `key = k AND value = v` as if key and value were independent, which
# underestimates common pairs several-fold and picks plans for far fewer rows than it gets.
# Multivariate statistics teach it which pairs occur together. SQLite has no such thing.


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE STATISTICS contacts_label_key_value_stats (mcv, dependencies) "
            "ON account_id, key, value FROM contacts_label"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP STATISTICS contacts_label_key_value_stats")


class Migration(migrations.Migration):
    dependencies = [("contacts", "0002_label_counts")]

    operations = [migrations.RunPython(create, drop)]
