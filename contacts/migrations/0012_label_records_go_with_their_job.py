import django.db.models.deletion
from django.db import migrations, models

# Deleting a job (with its account) now deletes its change records. Records left behind by
# accounts deleted before go here, once.


def delete_records_of_deleted_jobs(apps, schema_editor):
    jobs = apps.get_model("trackly", "Job").objects.values("pk")
    for name in ("LabelRecord", "CreatedContact"):
        apps.get_model("contacts", name).objects.exclude(job__in=jobs).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0011_label_records_renamed_from_and_no_job_index"),
        ("trackly", "0009_label_records"),
    ]

    operations = [
        migrations.AlterField(
            model_name="createdcontact",
            name="job",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="trackly.job",
            ),
        ),
        migrations.AlterField(
            model_name="labelrecord",
            name="job",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="trackly.job",
            ),
        ),
        migrations.RunPython(delete_records_of_deleted_jobs, migrations.RunPython.noop),
    ]
