"""The CSV import into an account that already holds many contacts: a size curve.

`bench.import_bench` imports into an empty database. This imports the same generated file
(`--rows` rows, 8 `label_*` columns) into a new list of the account `bench` of the counts data
set that `bench.run` built (`--contacts N` of them, in `BENCH_DATABASE` on DATABASE_URL's
server), as the import job runs it (recording its changes), and prints the time and the time per
row. Run at several data set sizes, it shows what the account's size does to an import. The new
list and its contacts are deleted afterwards, so the data set stays as `bench.run` left it.

    BENCH_DATABASE=trackly_bench_4m python -m bench.grow_bench --rows 250000

PostgreSQL only; DATABASE_URL names the server (the database `bench.run` uses is taken from
BENCH_DATABASE, as there).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST_NAME = "Grow bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=250_000)
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench import import_bench
    from bench import run as harness

    target = harness.configure_environment()
    if target.server is None:
        raise SystemExit("bench.grow_bench runs on PostgreSQL: set DATABASE_URL=postgres://...")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import override_settings

    from contacts.importing import import_file
    from contacts.models import Contact, SendingList
    from trackly.models import Account, Job

    account = Account.objects.get(slug=harness.SLUG)
    file = import_bench.make_file(options.rows)
    settings.IMPORT_MAX_BYTES = max(file.stat().st_size, 100 * 1024 * 1024)
    # What an earlier run stopped half-way left behind.
    for leftover in SendingList.objects.filter(account=account, name=LIST_NAME):
        _remove(account.pk, leftover.pk)
    existing = Contact.objects.filter(account=account).count()
    sending_list = SendingList.objects.create(
        account=account, name=LIST_NAME, phone_number="+14155550199"
    )
    load = os.getloadavg()
    try:
        job = Job.objects.create(account=account, kind=Job.Kind.IMPORT)
        # Production cursors, as with DEBUG off (bench.run sets DEBUG for its settings).
        with override_settings(DEBUG=False):
            started = time.perf_counter()
            result = import_file(file, sending_list=sending_list, job_id=job.pk)
            seconds = time.perf_counter() - started
        if result.created != result.rows:
            raise RuntimeError(f"The import did not create every row: {result}")
    finally:
        _remove(account.pk, sending_list.pk)
    print(
        json.dumps(
            {
                "benchmark": "csv import into a grown account",
                "database": target.description,
                "existing_contacts": existing,
                "rows": options.rows,
                "labels": options.rows * len(import_bench.LABELS),
                "seconds": round(seconds, 2),
                "us_per_row": round(seconds / options.rows * 1e6, 1),
                "load_average_at_start": [round(x, 2) for x in load],
                "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            }
        )
    )


# Removing the imported list, set-based (the ORM's cascade would load every row). The
# statements are constants of this file.
CLEANUP = (
    "DELETE FROM contacts_labelrecord WHERE job_id IN (SELECT id FROM trackly_job j {jobs})",
    "DELETE FROM contacts_createdcontact WHERE job_id IN (SELECT id FROM trackly_job j {jobs})",
    "DELETE FROM trackly_job j {jobs}",
    "DELETE FROM contacts_label WHERE contact_id IN"
    " (SELECT id FROM contacts_contact WHERE sending_list_id = %(list)s)",
    "DELETE FROM contacts_contact WHERE sending_list_id = %(list)s",
    "DELETE FROM contacts_sendinglist WHERE id = %(list)s",
)
JOBS = "WHERE j.account_id = %(account)s AND j.kind = 'import'"


def _remove(account_id: int, list_id: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for statement in CLEANUP:
            cursor.execute(statement.format(jobs=JOBS), {"account": account_id, "list": list_id})


if __name__ == "__main__":
    main()
