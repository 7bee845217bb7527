"""Bulk label benchmark: Add Label / Remove Label on an audience, against one hand-written
statement on the same data in the same run.

On the benchmark data set of bench.run (built first when it is missing), for an audience of
about 100k contacts (`label:store EXISTS`) and one of about 1M (no conditions: every subscribed
contact):

- ours: `audiences.bulk.apply`, exactly what the job runs: chunks of contact ids, each chunk a
  transaction that locks its contacts (PostgreSQL), counts what will change and writes;
- baseline, add: `INSERT INTO label ... SELECT id, key, value FROM (<audience>) ON CONFLICT
  (contact_id, key) DO UPDATE SET value = EXCLUDED.value WHERE label.value <> EXCLUDED.value`;
- baseline, remove: `DELETE FROM label WHERE key = ... AND contact_id IN (<audience>)`;
- re-applying a label every member already has (ours), against ours' first application;
- ours with its change records (what the job writes, to undo it) against ours without them,
  one right after the other: the records' cost.

Every run puts the data back as it found it (the benchmark key is removed again), so the data
set stays reusable. Targets (docs/performance.md): ours within 1.3x of the baseline; on
PostgreSQL 100k under 2 s and 1M under 15 s; re-applying costs at most half of the first run.

    python -m bench.bulk_bench [--repeat 3]

prints the results table and writes it to `bench/results/<vendor>-<date>-bulk.json`.
"""

import argparse
import os
import statistics
import time

from django.db import connection, transaction

KEY = "bench_flag"
VALUE = "on"
RATIO = 1.3
REAPPLY_SHARE = 0.5
# Recording what a change did (to undo it) may add at most this much.
RECORDING_COST = 1.25
AUDIENCES = {"100k": "label:store EXISTS", "1M": ""}
LIMIT_S = {"100k": 2.0, "1M": 15.0}


def _members_sql(account, conditions: str) -> tuple[str, list]:
    from audiences.compiler import members
    from audiences.conditions import parse

    return members(account, parse(conditions), None).values("id").query.sql_with_params()


def _checkpoint() -> None:
    """Write out every dirty page first (PostgreSQL), untimed: otherwise the checkpoint that
    `max_wal_size` forces every gigabyte or so of WAL lands inside whichever operation is
    running then, and that side pays for the other's writes."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")


def _timed(work) -> float:
    _checkpoint()
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _ours(account, conditions: str, action: str, *, recorded: bool = True):
    """What the job runs, recording every changed label (`recorded`) as the job does, or not:
    the two measured one right after the other give the cost of the records."""
    from audiences import bulk
    from audiences.compiler import members
    from audiences.conditions import parse
    from trackly.models import Job

    def work():
        job_id = None
        if recorded:
            job_id = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL).pk
        bulk.apply(
            members(account, parse(conditions), None),
            account_id=account.pk,
            action=action,
            key=KEY,
            value=VALUE,
            job_id=job_id,
        )

    return work


def _baseline_add(account, conditions: str):
    sql, params = _members_sql(account, conditions)
    statement = f"""
        INSERT INTO contacts_label (account_id, contact_id, key, value)
        SELECT %s, m.id, %s, %s FROM ({sql}) m WHERE true
        ON CONFLICT (contact_id, key, account_id) DO UPDATE SET value = excluded.value
        WHERE contacts_label.value <> excluded.value
    """  # noqa: S608 (the audience's SQL comes from the compiler, values are parameters)

    def work():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [account.pk, KEY, VALUE, *params])

    return work


def _baseline_remove(account, conditions: str):
    sql, params = _members_sql(account, conditions)
    statement = f"DELETE FROM contacts_label WHERE key = %s AND contact_id IN ({sql})"  # noqa: S608

    def work():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [KEY, *params])

    return work


def _tidy() -> None:
    """Reclaim the rows a round deleted, as autovacuum would between bulk changes, untimed;
    the round's change records go too."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM contacts_labelrecord")
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM (ANALYZE) contacts_label")
        else:
            cursor.execute("ANALYZE")


def run(account, repeat: int = 3) -> list[dict]:
    """Time each operation `repeat` times, alternating ours and the baseline; return rows."""
    from contacts.models import Label

    Label.objects.filter(account=account, key=KEY).delete()
    _tidy()
    rows = []
    for size, conditions in AUDIENCES.items():
        samples: dict[str, list[float]] = {
            name: []
            for name in ("ours add", "base add", "ours again", "ours rm", "base rm", "unrecorded")
        }
        for round_ in range(repeat):
            order = [("base", "ours"), ("ours", "base")][round_ % 2]
            for who in order:
                if who == "base":
                    samples["base add"].append(_timed(_baseline_add(account, conditions)))
                    samples["base rm"].append(_timed(_baseline_remove(account, conditions)))
                else:
                    unrecorded = _ours(account, conditions, "add", recorded=False)
                    samples["unrecorded"].append(_timed(unrecorded))
                    _timed(_baseline_remove(account, conditions))
                    _tidy()
                    samples["ours add"].append(_timed(_ours(account, conditions, "add")))
                    samples["ours again"].append(_timed(_ours(account, conditions, "add")))
                    samples["ours rm"].append(_timed(_ours(account, conditions, "remove")))
                _tidy()
        median = {name: statistics.median(values) for name, values in samples.items()}
        vendor = connection.vendor
        for operation, ours, base in (
            (f"add label to {size}", "ours add", "base add"),
            (f"remove label from {size}", "ours rm", "base rm"),
        ):
            ratio = median[ours] / median[base]
            limit = LIMIT_S[size] * (1 if vendor == "postgresql" else 2)
            rows.append(
                {
                    "operation": operation,
                    "ours_s": round(median[ours], 3),
                    "baseline_s": round(median[base], 3),
                    "ratio": round(ratio, 3),
                    "status": "PASS" if ratio <= RATIO and median[ours] <= limit else "MISS",
                    "target": f"<= {RATIO}x baseline, <= {limit:g} s",
                }
            )
        recording = median["ours add"] / median["unrecorded"]
        rows.append(
            {
                "operation": f"recording cost: add label to {size}",
                "ours_s": round(median["ours add"], 3),
                "baseline_s": round(median["unrecorded"], 3),
                "ratio": round(recording, 3),
                "status": "PASS" if recording <= RECORDING_COST else "MISS",
                "target": f"<= {RECORDING_COST}x the same without records",
            }
        )
        again = median["ours again"] / median["ours add"]
        rows.append(
            {
                "operation": f"re-apply label to {size}",
                "ours_s": round(median["ours again"], 3),
                "baseline_s": round(median["ours add"], 3),
                "ratio": round(again, 3),
                "status": "PASS" if again <= REAPPLY_SHARE else "MISS",
                "target": f"<= {REAPPLY_SHARE}x the first application",
            }
        )
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| operation | ours (s) | baseline (s) | ratio | target | status |",
        "|---|---:|---:|---:|---|---|",
    ]
    lines += [
        f"| {r['operation']} | {r['ours_s']:.3f} | {r['baseline_s']:.3f} | {r['ratio']:.2f} "
        f"| {r['target']} | {r['status']} |"
        for r in rows
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--contacts", type=int, help="the data set's size (default: bench.run's, 1,000,000)"
    )
    args = parser.parse_args()
    from bench import run as harness

    target = harness.configure_environment()
    import django

    django.setup()
    from trackly.models import Account

    # The data set of `bench.run`, built first if it is missing (with bench.run's defaults).
    defaults = harness.parse_args([])
    target.create(drop=False)
    harness.ensure_data_set(target, args.contacts or defaults.contacts, defaults.seed)
    account = Account.objects.get(slug=harness.SLUG)
    load = os.getloadavg()
    rows = run(account, args.repeat)
    print(table(rows))
    vendor = connection.vendor
    harness.write_suite_results("bulk", vendor, harness.machine_facts(vendor), load, rows)


if __name__ == "__main__":
    main()
