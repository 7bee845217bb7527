from importlib import import_module

from django.db import migrations, models

import contacts.models

# SQLite cannot add a stored generated column to a table: Django rebuilds contacts_label, and
# the rebuild drops the triggers that keep the label counts (0002), so they are made again.
_COUNTS = import_module("contacts.migrations.0002_label_counts")


def restore_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in _COUNTS.SQLITE:
            schema_editor.execute(
                statement.replace("CREATE TRIGGER", "CREATE TRIGGER IF NOT EXISTS", 1)
            )


class Migration(migrations.Migration):
    dependencies = [("contacts", "0004_label_counts_delete_emptied")]

    operations = [
        migrations.AddField(
            model_name="label",
            name="value_number",
            field=models.GeneratedField(
                db_persist=True,
                expression=contacts.models.NumberOf("value"),
                output_field=models.FloatField(),
            ),
        ),
        migrations.AddField(
            model_name="label",
            name="value_date",
            field=models.GeneratedField(
                db_persist=True,
                expression=contacts.models.DateOf("value"),
                output_field=models.DateField(),
            ),
        ),
        migrations.RunPython(restore_sqlite_triggers, restore_sqlite_triggers),
        migrations.AddIndex(
            model_name="label",
            index=models.Index(
                condition=models.Q(("value_number__isnull", False)),
                fields=["account", "key", "value_number", "contact"],
                name="label_account_key_number_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="label",
            index=models.Index(
                condition=models.Q(("value_date__isnull", False)),
                fields=["account", "key", "value_date", "contact"],
                name="label_account_key_date_idx",
            ),
        ),
    ]
