"""The account (the distribution column, trackly/sharding.py) in every key of the sharded
tables: static members and an audience's lists carry it, and on PostgreSQL every primary key,
unique constraint and foreign key between sharded tables takes it (`make_keys_composite`).
SQLite keeps Django's single-column keys."""

import django.db.models.deletion
from django.db import migrations, models

from trackly.sharding import make_keys_composite

_FILL = """
    UPDATE {table} SET account_id =
        (SELECT a.account_id FROM audiences_audience a WHERE a.id = audience_id)
"""


def keys_composite(apps, schema_editor):
    make_keys_composite(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("audiences", "0004_label_hygiene"),
        ("contacts", "0009_sharding_keys"),
        ("trackly", "0009_label_records"),
    ]

    operations = [
        # The table Django made for `Audience.sending_lists`, declared as a model of its own.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AudienceSendingList",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "audience",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                to="audiences.audience",
                            ),
                        ),
                        (
                            "sendinglist",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="contacts.sendinglist",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "audiences_audience_sending_lists",
                        "unique_together": {("audience", "sendinglist")},
                    },
                ),
                migrations.AlterField(
                    model_name="audience",
                    name="sending_lists",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="audiences",
                        through="audiences.AudienceSendingList",
                        to="contacts.sendinglist",
                    ),
                ),
            ]
        ),
        migrations.AddField(
            model_name="audiencesendinglist",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="trackly.account",
            ),
        ),
        migrations.AddField(
            model_name="staticmember",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="trackly.account",
            ),
        ),
        migrations.RunSQL(
            _FILL.format(table="audiences_audience_sending_lists"), migrations.RunSQL.noop
        ),
        migrations.RunSQL(_FILL.format(table="audiences_staticmember"), migrations.RunSQL.noop),
        migrations.AlterField(
            model_name="audiencesendinglist",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="trackly.account",
            ),
        ),
        migrations.AlterField(
            model_name="staticmember",
            name="account",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="trackly.account",
            ),
        ),
        migrations.AlterUniqueTogether(name="audiencesendinglist", unique_together=set()),
        migrations.AddConstraint(
            model_name="audiencesendinglist",
            constraint=models.UniqueConstraint(
                fields=("audience", "sendinglist", "account"), name="audiencesendinglist_uniq"
            ),
        ),
        migrations.RemoveConstraint(
            model_name="staticmember", name="staticmember_audience_contact_uniq"
        ),
        migrations.AddConstraint(
            model_name="staticmember",
            constraint=models.UniqueConstraint(
                fields=("audience", "contact", "account"),
                name="staticmember_audience_contact_uniq",
            ),
        ),
        migrations.RunPython(keys_composite, migrations.RunPython.noop, elidable=False),
    ]
