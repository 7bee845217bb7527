"""Where the time of one API upsert goes: `POST /api/v1/contacts` profiled in-process.

    python -m bench.api_profile [--requests 300] [--contacts 100000]

On the data set of `bench.api_bench` (same DATABASE_URL, PostgreSQL or SQLite), Django's test
client sends upserts through the whole middleware stack and django-ninja, as gunicorn's worker
would, with DEBUG off and the rate limit on (set high enough never to refuse). It prints, per
scenario (a new contact, an existing one):

- the SQL statements of one request, in order, and their count;
- a cProfile of `--requests` requests: milliseconds a request in the stages that matter (the
  key lookup, the rate limit, the last-used stamp, phone and label validation, the upsert,
  reading the contact back, ninja's parsing and serialization), and the time spent in the
  database driver (all SQL, as the client waits for it);
- the slowest functions by own time;
- without the profiler (after the calibration of `bench.run`, which says how busy the machine
  is): wall time, this process's CPU time and, on PostgreSQL, the CPU time of
  its server process (from /proc, when readable) per request: what a request costs the cores.

No HTTP, no second process: the numbers are a request's own cost, without gunicorn's parsing or
the network; `bench.api_bench` measures those from outside.
"""

import argparse
import cProfile
import io
import itertools
import json
import os
import pstats
import time
from pathlib import Path

from bench.api_bench import DEFAULT_URL, _new_phone, prepare

# (label, file name suffix, function name): the stages whose cumulative time is reported.
STAGES = [
    ("middleware + view (WSGIHandler)", "django/core/handlers/base.py", "get_response"),
    ("API key lookup (find_api_key)", "trackly/api_keys.py", "find_api_key"),
    ("rate limit (check_rate)", "api/ratelimit.py", "check_rate"),
    ("last-used stamp (api_key_touch)", "trackly/api_keys.py", "api_key_touch"),
    ("auth in all (ApiKeyAuth.authenticate)", "api/auth.py", "authenticate"),
    ("target list (target_list)", "api/contacts.py", "target_list"),
    ("phone validation (normalize_phone)", "trackly/phones.py", "normalize_phone"),
    ("label validation (clean_labels)", "contacts/labels.py", "clean_labels"),
    ("upsert (_upsert)", "api/contacts.py", "_upsert"),
    ("read back (_fresh)", "api/contacts.py", "_fresh"),
    ("view (contact_upsert)", "api/contacts.py", "contact_upsert"),
    ("ninja: body and params (_get_values)", "ninja/operation.py", "_get_values"),
    ("ninja: response (_result_to_response)", "ninja/operation.py", "_result_to_response"),
    ("sessions/auth middleware (user lookup)", "django/contrib/auth/middleware.py", "get_user"),
]


def stage_times(stats: pstats.Stats, requests: int) -> list[tuple[str, float, int]]:
    """(label, ms a request, calls a request) of each stage, from the profile's cumulative
    times."""
    rows = []
    for label, suffix, name in STAGES:
        total, calls = 0.0, 0
        for (filename, _line, function), (_cc, nc, _tt, ct, _callers) in stats.stats.items():
            if function == name and filename.endswith(suffix):
                total += ct
                calls += nc
        rows.append((label, total * 1000 / requests, calls // max(requests, 1)))
    return rows


def driver_time(stats: pstats.Stats, requests: int) -> tuple[float, float]:
    """ms a request in the database driver's execute calls, and the calls a request."""
    total, calls = 0.0, 0
    for (filename, _line, function), (_cc, nc, _tt, ct, _callers) in stats.stats.items():
        if function == "execute" and (
            filename.endswith("psycopg/cursor.py") or filename.endswith("backends/sqlite3/base.py")
        ):
            total += ct
            calls += nc
    return total * 1000 / requests, calls / requests


def backend_cpu_seconds(connection) -> float | None:
    """CPU seconds used so far by the PostgreSQL server process of `connection`; None on SQLite
    or where /proc does not show it."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # utime and stime, the 14th and 15th fields of stat(5), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    os.environ["API_RATE_LIMIT"] = "1000000"
    key, sample = prepare(url, args.contacts)

    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # Production behaviour where it changes the cost: no query log kept by DEBUG.
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client(headers={"X-Api-Key": key})
    existing = itertools.cycle(sample)
    new_numbers = itertools.count(500_000)
    values = itertools.count()

    def new_contact() -> dict:
        return {"phone_number": _new_phone(next(new_numbers)), "labels": {"source": "api"}}

    def existing_contact() -> dict:
        return {"phone_number": next(existing), "labels": {"bench_run": str(next(values) % 7)}}

    from bench.run import calibrate

    print(
        f"{connection.vendor}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"1-minute load average {os.getloadavg()[0]:.1f}; "
        f"calibration (ms): {calibrate(connection.vendor)}"
    )
    for name, body, status in (
        ("POST /contacts, new contact", new_contact, 201),
        ("POST /contacts, existing contact", existing_contact, 200),
    ):

        def post(body=body, status=status):
            response = client.post("/api/v1/contacts", json.dumps(body()), "application/json")
            assert response.status_code == status, (response.status_code, response.content)

        for _ in range(20):
            post()
        with CaptureQueriesContext(connection) as queries:
            post()
        print(f"\n## {name}: {len(queries.captured_queries)} SQL statements\n")
        for number, query in enumerate(queries.captured_queries, start=1):
            print(f"{number:2}. {query['sql'][:160]}")

        backend_before = backend_cpu_seconds(connection)
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        for _ in range(args.requests):
            post()
        cpu = (time.process_time() - cpu_before) * 1000 / args.requests
        plain_wall = (time.perf_counter() - wall_before) * 1000 / args.requests
        backend_after = backend_cpu_seconds(connection)
        backend = (
            "n/a"
            if backend_before is None or backend_after is None
            else f"{(backend_after - backend_before) * 1000 / args.requests:.2f} ms"
        )
        print(
            f"\nWithout the profiler, {args.requests} requests: {plain_wall:.2f} ms wall, "
            f"{cpu:.2f} ms CPU in Django, {backend} CPU in the database server, a request"
        )

        profile = cProfile.Profile()
        started = time.perf_counter()
        profile.enable()
        for _ in range(args.requests):
            post()
        profile.disable()
        wall = (time.perf_counter() - started) * 1000 / args.requests
        stats = pstats.Stats(profile)
        print(f"\n{args.requests} requests, {wall:.2f} ms a request under the profiler\n")
        print("| Stage | ms a request | calls a request |")
        print("|---|---:|---:|")
        for label, ms, calls in stage_times(stats, args.requests):
            print(f"| {label} | {ms:.2f} | {calls} |")
        sql_ms, sql_calls = driver_time(stats, args.requests)
        print(f"| SQL in the driver (execute) | {sql_ms:.2f} | {sql_calls:.1f} |")
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(15)
        print("\nTop functions by own time:\n")
        print("\n".join(out.getvalue().splitlines()[6:26]))


if __name__ == "__main__":
    main()
