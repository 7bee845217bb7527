"""CSV import benchmark: Trackly's import against a raw-SQL baseline on the same file, same run.

The file: `rows` contacts (deterministic: distinct valid US numbers in E.164, as the baseline
copies them as they are) with 8 `label_*` columns, so 1M rows make 8M labels.

Each measurement runs in a child process on a fresh, migrated, empty database (a copy of a
template database on PostgreSQL, of a template file on SQLite), so every scenario starts from
the same state and the child's peak resident memory is that of the import alone:

- ours: `contacts.importing.import_file` into an empty list, then the same file again;
- baseline, PostgreSQL (docs/performance.md, 7b. CSV import): COPY of the file into an
  unlogged staging table (B0), plus `INSERT ... SELECT ... ON CONFLICT` into the real tables
  (B1);
- baseline, SQLite (S1): `executemany` of rows parsed beforehand (not timed) into the real
  tables, in one transaction;
- new list: the account already has `rows` contacts on another list, the table statistics are
  taken then (as autovacuum would leave them), and the file is imported into a list created
  afterwards, statistics not refreshed: they say the list is empty all along. Each chunk's time
  is recorded; a plan that reads the list for every phone makes each chunk slower than the last.

Targets: first import <= 1.5 x B1 and <= 60 s on PostgreSQL; re-import <= 2 x B1; SQLite
<= 2 x S1 (no time is set for SQLite); new list: the last chunks take at most 1.5 x the first
ones (medians of five, as one chunk's time moves with checkpoints and the machine's load).

    python -m bench.import_bench --rows 1000000 [--repeat 1] [--scenarios new-list]
    python -m bench.import_bench --rows 4000000 --scenarios ours [--first-only]  # ours alone

uses the PostgreSQL server of DATABASE_URL (in databases `trackly_import_bench` and
`trackly_import_bench_run`, dropped and created again, or `<IMPORT_BENCH_DATABASE>` and
`<IMPORT_BENCH_DATABASE>_run` when that is set; the database the URL names is not touched), or
SQLite files in a temporary directory when it is not set. `run(repeat, rows)` returns the rows
of the results table; `main` prints them and writes them to
`bench/results/<vendor>-<date>-import.json`.
"""

import argparse
import csv
import functools
import itertools
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
SEED = 20_240_501
# On PostgreSQL: the template database, dropped and created again on DATABASE_URL's server, and
# its copies (`<name>_run`). The database DATABASE_URL names is left alone.
DATABASE = os.environ.get("IMPORT_BENCH_DATABASE") or "trackly_import_bench"
LABELS = ("tier", "source", "city", "plan", "lang", "segment", "cohort", "external_id")
# The targets: a ratio to the baseline, and for PostgreSQL's first import a time too.
TARGETS: dict[tuple[str, str], tuple[float, float | None]] = {
    ("postgresql", "first import"): (1.5, 60.0),
    ("postgresql", "re-import"): (2.0, None),
    ("sqlite", "first import"): (2.0, None),
    ("sqlite", "re-import"): (2.0, None),
}
# New list: the median of the last chunks' times over that of the first ones, at most.
CHUNKS_COMPARED = 5
NEW_LIST_TARGET = 1.5
SCENARIOS = ("import", "new-list")
# `ours`: the first import and the re-import alone, without the baselines (a size curve; not
# part of the default run).
EXTRA_SCENARIOS = ("ours",)
# Recording what an import did (to undo it) may add at most this much to it.
RECORDING_COST = 1.25


# The file


def _label_values(rng: random.Random) -> list[tuple[str, ...]]:
    """Each key's values, most frequent first; drawn Zipf-like (rank r with weight 1/r)."""
    cities = [f"city-{n:03d}" for n in range(300)]
    return [
        ("free", "basic", "pro", "enterprise"),
        ("facebook", "google", "organic", "email", "referral", "tiktok", "partner"),
        tuple(rng.sample(cities, len(cities))),
        ("monthly", "yearly", "trial"),
        ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "ja", "zh"),
        tuple(f"seg-{n:02d}" for n in range(60)),
        tuple(f"{year}-{month:02d}" for year in range(2019, 2025) for month in range(1, 13)),
    ]


# Distinct valid US numbers: index -> (STRIDE * index) mod the number space is a bijection.
AREA_CODES = ("212", "305", "312", "404", "415", "512", "617", "646", "713", "818")
EXCHANGES = tuple(str(n) for n in range(200, 1000) if n % 100 != 11 and n != 555)
NUMBER_SPACE = len(AREA_CODES) * len(EXCHANGES) * 10_000
STRIDE = 48_271_117


def phone_number(index: int) -> str:
    rest, line = divmod(STRIDE * index % NUMBER_SPACE, 10_000)
    area, exchange = divmod(rest, len(EXCHANGES))
    return f"+1{AREA_CODES[area]}{EXCHANGES[exchange]}{line:04d}"


def make_file(rows: int) -> Path:
    """Write (once) and return the benchmark file of `rows` rows."""
    path = DATA / f"import-{rows}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    choices = []
    for values in _label_values(rng):
        weights = [1 / rank for rank in range(1, len(values) + 1)]
        choices.append((values, weights))
    partial = path.with_suffix(".part")
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["phone_number", *(f"label_{key}" for key in LABELS)])
        batch = 10_000
        for start in range(0, rows, batch):
            count = min(batch, rows - start)
            columns = [rng.choices(values, weights, k=count) for values, weights in choices]
            for offset in range(count):
                index = start + offset
                cells = [column[offset] for column in columns]
                writer.writerow([phone_number(index), *cells, f"x{index * 7919 % 10**9:09d}"])
    partial.rename(path)
    return path


# Databases: a migrated, empty template, copied for each measurement.


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class _Databases:
    def __init__(self, database_url: str):
        self.url = database_url
        self.vendor = "postgresql" if database_url.startswith("postgres") else "sqlite"
        self.tmp = Path(tempfile.mkdtemp(prefix="trackly-import-bench-"))
        if self.vendor == "postgresql":
            self.template = DATABASE
        else:
            self.template = str(self.tmp / "template.sqlite3")

    def env(self, target: str) -> dict:
        env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "import-bench-only"}
        env.pop("SQLITE_PATH", None)
        env.pop("DATABASE_URL", None)
        if self.vendor == "postgresql":
            env["DATABASE_URL"] = _with_database(self.url, target)
        else:
            env["SQLITE_PATH"] = target
        return env

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(_with_database(self.url, "postgres"), autocommit=True) as admin:
            admin.execute(sql)

    def prepare(self) -> None:
        """Create and migrate the empty template database."""
        if self.vendor == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{self.template}"')
        env = self.env(self.template) | {"DEBUG": "true"}
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "--verbosity", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )

    def fresh(self) -> str:
        """A new copy of the template; returns what `env` needs to reach it."""
        if self.vendor == "postgresql":
            target = f"{self.template}_run"
            self._admin(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
            self._admin(f'CREATE DATABASE "{target}" TEMPLATE "{self.template}"')
            return target
        target = str(self.tmp / "run.sqlite3")
        for suffix in ("", "-wal", "-shm"):
            Path(target + suffix).unlink(missing_ok=True)
        shutil.copyfile(self.template, target)
        return target

    def cleanup(self) -> None:
        if self.vendor == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.template}_run" WITH (FORCE)')
        shutil.rmtree(self.tmp, ignore_errors=True)


# Children: one measurement each, in its own process.


def _child(kind: str, file: Path) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackly.settings")
    django.setup()
    from django.conf import settings

    from contacts.models import SendingList
    from trackly.models import Account

    settings.IMPORT_MAX_BYTES = max(file.stat().st_size, 100 * 1024 * 1024)
    account = Account.objects.create(name="Bench", slug="bench")
    sending_list = SendingList.objects.create(
        account=account, name="Bench", phone_number="+14155550100"
    )
    rss_before = _rss_mb()
    run = {
        "ours": _ours,
        "unrecorded": functools.partial(_ours, recorded=False),
        "ours-first": functools.partial(_ours, again=False),
        "baseline": _baseline,
        "new-list": _new_list,
    }[kind]
    times = run(file, sending_list)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {**times, "rss_before_mb": round(rss_before), "peak_rss_mb": round(peak)}


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024 / 1024


def _timed(work) -> tuple[float, object]:
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def _ours(file: Path, sending_list, *, recorded: bool = True, again: bool = True) -> dict:
    """What the import job runs: with its change records (to undo it), or without them
    (`recorded` False), to measure what the records cost; then the same file again, unless not
    `again`."""
    from contacts.importing import import_file
    from trackly.models import Job

    def job_id() -> int | None:
        if not recorded:
            return None
        return Job.objects.create(account=sending_list.account, kind=Job.Kind.IMPORT).pk

    first, result = _timed(lambda: import_file(file, sending_list=sending_list, job_id=job_id()))
    if result.created != result.rows:
        raise RuntimeError(f"The first import did not create every row: {result}")
    if not again:
        return {"first": first}
    again, result = _timed(lambda: import_file(file, sending_list=sending_list, job_id=job_id()))
    if result.unchanged != result.rows:
        raise RuntimeError(f"The re-import changed something: {result}")
    return {"first": first, "again": again}


def _new_list(file: Path, sending_list) -> dict:
    """Fill `sending_list` with as many contacts as the file has rows (the same numbers: the
    same people on another list), take the statistics, then time the import of the file into a
    new list of the same account, chunk by chunk."""
    from django.db import connection, transaction
    from django.utils import timezone

    from contacts.importing import import_file
    from contacts.models import SendingList

    with file.open(encoding="utf-8") as data:
        rows = sum(1 for _ in data) - 1
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    account, list_id = sending_list.account_id, sending_list.pk
    existing = (
        (account, list_id, phone_number(index), "subscribed", now, now) for index in range(rows)
    )
    insert = (
        "INSERT INTO contacts_contact (account_id, sending_list_id, phone_number, status,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            columns = "account_id, sending_list_id, phone_number, status, created_at, updated_at"
            with cursor.copy(f"COPY contacts_contact ({columns}) FROM STDIN") as copy:
                for row in existing:
                    copy.write_row(row)
        else:
            cursor.executemany(insert, existing)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    new_list = SendingList.objects.create(
        account_id=account, name="Bench new", phone_number="+14155550101"
    )
    marks = []
    started = time.perf_counter()
    result = import_file(
        file, sending_list=new_list, progress=lambda done, total: marks.append(time.perf_counter())
    )
    total = time.perf_counter() - started
    if result.created != result.rows:
        raise RuntimeError(f"The import into a new list did not create every row: {result}")
    return {
        "total": total,
        "existing": rows,
        "chunks": [round(end - start, 3) for start, end in itertools.pairwise(marks)],
    }


def _baseline(file: Path, sending_list) -> dict:
    from django.db import connection

    if connection.vendor == "postgresql":
        return _baseline_postgresql(file, sending_list)
    return _baseline_sqlite(file, sending_list)


def _baseline_postgresql(file: Path, sending_list) -> dict:
    from django.db import connection, transaction

    columns = ", ".join(f"{key} text" for key in LABELS)
    values = ", ".join(f"('{key}', s.{key})" for key in LABELS)
    account, list_id = sending_list.account_id, sending_list.pk

    def load() -> float:
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute("DROP TABLE IF EXISTS bench_stage")
            cursor.execute(f"CREATE UNLOGGED TABLE bench_stage (phone text, {columns})")
            with (
                cursor.copy("COPY bench_stage FROM STDIN (FORMAT csv, HEADER true)") as copy,
                file.open("rb") as data,
            ):
                while block := data.read(1024 * 1024):
                    copy.write(block)
            copied = time.perf_counter() - started
            cursor.execute(
                """
                INSERT INTO contacts_contact
                    (account_id, sending_list_id, phone_number, status, created_at, updated_at)
                SELECT %s, %s, phone, 'subscribed', now(), now() FROM bench_stage
                ON CONFLICT (sending_list_id, phone_number, account_id) DO NOTHING
                """,
                [account, list_id],
            )
            cursor.execute(
                f"""
                INSERT INTO contacts_label (account_id, contact_id, key, value)
                SELECT %s, c.id, v.key, v.value
                FROM bench_stage s
                JOIN contacts_contact c ON c.sending_list_id = %s AND c.phone_number = s.phone
                CROSS JOIN LATERAL (VALUES {values}) AS v(key, value)
                WHERE v.value <> ''
                ON CONFLICT (contact_id, key, account_id) DO UPDATE SET value = excluded.value
                WHERE contacts_label.value IS DISTINCT FROM excluded.value
                """,  # noqa: S608
                [account, list_id],
            )
            cursor.execute("DROP TABLE bench_stage")
        return copied

    started = time.perf_counter()
    copy_first = load()
    first = time.perf_counter() - started
    started = time.perf_counter()
    load()
    again = time.perf_counter() - started
    return {"first": first, "again": again, "copy_only": copy_first}


def _baseline_sqlite(file: Path, sending_list) -> dict:
    from django.db import connection, transaction
    from django.utils import timezone

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    account, list_id = sending_list.account_id, sending_list.pk
    # Parsed beforehand, not timed: the baseline is the database's share of the work.
    with file.open(newline="", encoding="utf-8") as data:
        reader = csv.reader(data)
        next(reader)
        parsed = [(row[0], row[1:]) for row in reader]
    contacts = [(account, list_id, phone, "subscribed", now, now) for phone, _ in parsed]

    def load() -> None:
        with transaction.atomic():
            raw = connection.connection
            raw.executemany(
                "INSERT INTO contacts_contact (account_id, sending_list_id, phone_number, status,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (sending_list_id, phone_number, account_id) DO NOTHING",
                contacts,
            )
            ids = dict(
                raw.execute(
                    "SELECT phone_number, id FROM contacts_contact WHERE sending_list_id = ?",
                    [list_id],
                )
            )
            raw.executemany(
                "INSERT INTO contacts_label (account_id, contact_id, key, value)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (contact_id, key, account_id) DO UPDATE"
                " SET value = excluded.value WHERE value <> excluded.value",
                (
                    (account, ids[phone], key, value)
                    for phone, cells in parsed
                    for key, value in zip(LABELS, cells, strict=True)
                    if value
                ),
            )

    first, _ = _timed(load)
    again, _ = _timed(load)
    return {"first": first, "again": again}


def _measure(databases: _Databases, kind: str, file: Path) -> dict:
    target = databases.fresh()
    # This very module, as a child process: no outside input reaches the command line.
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "bench.import_bench", "--child", kind, "--file", str(file)],
        cwd=ROOT,
        env=databases.env(target),
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def new_list_row(vendor: str, rows: int, samples: list[dict]) -> dict:
    """The results row of the new-list scenario: per-chunk times of the median run."""
    sample = sorted(samples, key=lambda sample: sample["total"])[len(samples) // 2]
    chunks = sample["chunks"]
    first = statistics.median(chunks[:CHUNKS_COMPARED])
    last = statistics.median(chunks[-CHUNKS_COMPARED:])
    return {
        "benchmark": "csv import",
        "database": vendor,
        "scenario": "new list, stale statistics",
        "rows": rows,
        "labels": rows * len(LABELS),
        "existing_contacts": sample["existing"],
        "ours_s": round(sample["total"], 2),
        "first_chunk_s": chunks[0],
        "last_chunk_s": chunks[-1],
        f"first_{CHUNKS_COMPARED}_chunks_median_s": round(first, 3),
        f"last_{CHUNKS_COMPARED}_chunks_median_s": round(last, 3),
        "ratio": round(last / first, 2),
        "target": f"last chunks <= {NEW_LIST_TARGET} x first (medians of {CHUNKS_COMPARED})",
        "met": last <= NEW_LIST_TARGET * first,
        "rows_per_s": round(rows / sample["total"]),
        "peak_rss_mb": sample["peak_rss_mb"],
        "chunk_s": chunks,
        "repeat": len(samples),
    }


def run(
    repeat: int = 1,
    rows: int = 1_000_000,
    database_url: str | None = None,
    scenarios: tuple[str, ...] = SCENARIOS,
    first_only: bool = False,
) -> list[dict]:
    """Measure `repeat` times (medians reported); return one row per scenario."""
    database_url = database_url if database_url is not None else os.environ.get("DATABASE_URL", "")
    databases = _Databases(database_url)
    file = make_file(rows)
    databases.prepare()
    ours, baseline, new_list, unrecorded = [], [], [], []
    try:
        for _ in range(repeat):
            if "import" in scenarios:
                baseline.append(_measure(databases, "baseline", file))
                unrecorded.append(_measure(databases, "unrecorded", file))
                ours.append(_measure(databases, "ours", file))
            elif "ours" in scenarios:
                ours.append(_measure(databases, "ours-first" if first_only else "ours", file))
            if "new-list" in scenarios:
                new_list.append(_measure(databases, "new-list", file))
    finally:
        databases.cleanup()
    table = []
    if ours and not baseline:
        table += _ours_rows(databases.vendor, rows, repeat, ours)
    elif ours:
        table += _import_rows(databases.vendor, rows, repeat, ours, baseline)
        mine = statistics.median(sample["first"] for sample in ours)
        without = statistics.median(sample["first"] for sample in unrecorded)
        table.append(
            {
                "benchmark": "csv import",
                "database": databases.vendor,
                "scenario": "recording cost (first import)",
                "rows": rows,
                "ours_s": round(mine, 2),
                "baseline_s": round(without, 2),
                "ratio": round(mine / without, 2),
                "target": f"<= {RECORDING_COST} x the same import without records",
                "met": mine <= RECORDING_COST * without,
                "repeat": repeat,
            }
        )
    if new_list:
        table.append(new_list_row(databases.vendor, rows, new_list))
    return table


def _ours_rows(vendor: str, rows: int, repeat: int, ours: list[dict]) -> list[dict]:
    """The rows of the first import and the re-import, without a baseline: the time per row."""
    table = []
    for scenario, name in (("first import", "first"), ("re-import", "again")):
        if name not in ours[0]:
            continue
        seconds = statistics.median(sample[name] for sample in ours)
        table.append(
            {
                "benchmark": "csv import",
                "database": vendor,
                "scenario": scenario,
                "rows": rows,
                "labels": rows * len(LABELS),
                "ours_s": round(seconds, 2),
                "us_per_row": round(seconds / rows * 1e6, 1),
                "rows_per_s": round(rows / seconds),
                "peak_rss_mb": statistics.median(sample["peak_rss_mb"] for sample in ours),
                "repeat": repeat,
            }
        )
    return table


def _import_rows(
    vendor: str, rows: int, repeat: int, ours: list[dict], baseline: list[dict]
) -> list[dict]:
    """The rows of the first import and the re-import against their baseline."""

    def median(samples: list[dict], name: str) -> float:
        return statistics.median(sample[name] for sample in samples)

    table = []
    for scenario, name in (("first import", "first"), ("re-import", "again")):
        mine, theirs = median(ours, name), median(baseline, name)
        ratio_target, seconds_target = TARGETS[(vendor, scenario)]
        row = {
            "benchmark": "csv import",
            "database": vendor,
            "scenario": scenario,
            "rows": rows,
            "labels": rows * len(LABELS),
            "ours_s": round(mine, 2),
            "baseline_s": round(theirs, 2),
            "ratio": round(mine / theirs, 2),
            "target": f"<= {ratio_target} x baseline"
            + (f", <= {seconds_target:.0f} s" if seconds_target else ""),
            "met": mine <= ratio_target * theirs
            and (seconds_target is None or mine <= seconds_target),
            "rows_per_s": round(rows / mine),
            "peak_rss_mb": median(ours, "peak_rss_mb"),
            "rss_before_mb": median(ours, "rss_before_mb"),
            "repeat": repeat,
        }
        if name == "first" and vendor == "postgresql":
            row["copy_only_s"] = round(median(baseline, "copy_only"), 2)
        table.append(row)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=SCENARIOS + EXTRA_SCENARIOS,
        default=list(SCENARIOS),
        help="import: first import and re-import against the baseline; new-list: per-chunk "
        "times into a new list beside as many contacts, statistics stale (default: both); "
        "ours: the first import and the re-import alone, timed per row (for a size curve)",
    )
    parser.add_argument(
        "--child",
        choices=["ours", "ours-first", "unrecorded", "baseline", "new-list"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--first-only",
        action="store_true",
        help="with --scenarios ours: the first import alone, without the re-import",
    )
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if options.child:
        print(json.dumps(_child(options.child, options.file)))
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackly.settings")
    from bench import run as harness

    load = os.getloadavg()
    rows = run(
        options.repeat,
        options.rows,
        scenarios=tuple(options.scenarios),
        first_only=options.first_only,
    )
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    machine = {
        "cpus": os.cpu_count(),
        "cpu": harness.cpu_model(),
        "python": platform.python_version(),
    }
    # A run of some scenarios keeps to a file of its own, beside the whole suite's.
    suite = "-".join(["import", *options.scenarios]) if len(options.scenarios) == 1 else "import"
    harness.write_suite_results(suite, rows[0]["database"], machine, load, rows)


if __name__ == "__main__":
    main()
