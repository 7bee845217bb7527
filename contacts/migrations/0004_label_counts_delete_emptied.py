from django.db import migrations

# After labels are deleted, the count rows they brought to zero are deleted by primary key.
# The first version looked for rows at zero among every count row of the deleted labels' keys
# and values, and PostgreSQL, which cannot know how few distinct values a statement's deleted
# labels have, read the whole value-count table for it: 60 ms per statement at 500,000 values,
# paid by every chunk of a bulk Remove Label.

FUNCTION = """
    CREATE OR REPLACE FUNCTION contacts_label_counts() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        emptied bigint[];
    BEGIN
        IF TG_OP IN ('DELETE', 'UPDATE') THEN
            WITH counted AS (
                UPDATE contacts_labelvaluecount c SET contacts = c.contacts - d.n
                FROM (SELECT account_id, key, value, count(*) AS n FROM old_labels GROUP BY 1, 2, 3) d
                WHERE c.account_id = d.account_id AND c.key = d.key AND c.value = d.value
                RETURNING c.id, c.contacts
            )
            SELECT array_agg(id) INTO emptied FROM counted WHERE contacts <= 0;
            IF emptied IS NOT NULL THEN
                DELETE FROM contacts_labelvaluecount WHERE id = ANY(emptied);
            END IF;
            WITH counted AS (
                UPDATE contacts_labelkeycount c SET contacts = c.contacts - d.n
                FROM (SELECT account_id, key, count(*) AS n FROM old_labels GROUP BY 1, 2) d
                WHERE c.account_id = d.account_id AND c.key = d.key
                RETURNING c.id, c.contacts
            )
            SELECT array_agg(id) INTO emptied FROM counted WHERE contacts <= 0;
            IF emptied IS NOT NULL THEN
                DELETE FROM contacts_labelkeycount WHERE id = ANY(emptied);
            END IF;
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            -- Sorted, so that concurrent writers lock count rows in the same order.
            INSERT INTO contacts_labelvaluecount (account_id, key, value, contacts)
            SELECT account_id, key, value, count(*) FROM new_labels GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
            ON CONFLICT (account_id, key, value)
            DO UPDATE SET contacts = contacts_labelvaluecount.contacts + EXCLUDED.contacts;
            INSERT INTO contacts_labelkeycount (account_id, key, contacts)
            SELECT account_id, key, count(*) FROM new_labels GROUP BY 1, 2 ORDER BY 1, 2
            ON CONFLICT (account_id, key)
            DO UPDATE SET contacts = contacts_labelkeycount.contacts + EXCLUDED.contacts;
        END IF;
        RETURN NULL;
    END
    $$
"""


def replace(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)


def restore(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        from importlib import import_module

        first = import_module("contacts.migrations.0002_label_counts")
        schema_editor.execute(
            first.POSTGRESQL[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
        )


class Migration(migrations.Migration):
    dependencies = [("contacts", "0003_label_statistics")]

    operations = [migrations.RunPython(replace, restore)]
