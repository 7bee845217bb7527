"""The account (the distribution column, trackly/sharding.py) in every key of the tables that
grow with contacts: the unique constraints of contacts and labels end with it, change records
and created contacts carry it in their primary keys, and the label's own key to its account
goes (the key to its contact includes the account on PostgreSQL: audiences.0005)."""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

# SQLite rebuilds contacts_label for its new unique constraint, and the rebuild drops the
# triggers that keep the label counts (0002): they are made again, as 0005 does.
_TYPED_VALUES = import_module("contacts.migrations.0005_label_typed_values")

# Records of a job that is gone have nothing left to undo; the others take its account.
_FILL = """
    DELETE FROM {table} WHERE NOT EXISTS (SELECT 1 FROM trackly_job j WHERE j.id = job_id);
    UPDATE {table} SET account_id = (SELECT j.account_id FROM trackly_job j WHERE j.id = job_id);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0008_value_search_sqlite_trigram"),
        ("trackly", "0009_label_records"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="contact", name="contact_list_phone_uniq"),
        migrations.AddConstraint(
            model_name="contact",
            constraint=models.UniqueConstraint(
                fields=("sending_list", "phone_number", "account"),
                name="contact_list_phone_uniq",
                violation_error_message=(
                    "Contact with this Sending list and Phone number already exists."
                ),
            ),
        ),
        migrations.RemoveConstraint(model_name="label", name="label_contact_key_uniq"),
        migrations.AddConstraint(
            model_name="label",
            constraint=models.UniqueConstraint(
                fields=("contact", "key", "account"), name="label_contact_key_uniq"
            ),
        ),
        migrations.AlterField(
            model_name="label",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="trackly.account",
            ),
        ),
        migrations.AddField(
            model_name="createdcontact",
            name="account_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.AddField(
            model_name="labelrecord",
            name="account_id",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunSQL(
            _FILL.format(table="contacts_createdcontact"), migrations.RunSQL.noop
        ),
        migrations.RunSQL(_FILL.format(table="contacts_labelrecord"), migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="createdcontact",
            name="pk",
            field=models.CompositePrimaryKey(
                "job_id",
                "contact_id",
                "account_id",
                blank=True,
                editable=False,
                primary_key=True,
                serialize=False,
            ),
        ),
        migrations.AlterField(
            model_name="labelrecord",
            name="pk",
            field=models.CompositePrimaryKey(
                "job_id",
                "contact_id",
                "key",
                "account_id",
                blank=True,
                editable=False,
                primary_key=True,
                serialize=False,
            ),
        ),
        # NOT NULL: SQLite rebuilds the tables here, with the primary keys above; PostgreSQL's
        # primary keys take the account in audiences.0005.
        migrations.AlterField(
            model_name="createdcontact",
            name="account_id",
            field=models.BigIntegerField(),
        ),
        migrations.AlterField(
            model_name="labelrecord",
            name="account_id",
            field=models.BigIntegerField(),
        ),
        migrations.RunPython(
            _TYPED_VALUES.restore_sqlite_triggers, _TYPED_VALUES.restore_sqlite_triggers
        ),
    ]
