"""JSON API benchmark: requests a second and latency of the API served by gunicorn.

    python -m bench.api_bench [--contacts 100000] [--duration 15] [--concurrency 4]

On PostgreSQL (DATABASE_URL, by default postgres://postgres@127.0.0.1:5432/trackly_api_bench;
the database is created and migrated when missing) or SQLite (DATABASE_URL=sqlite:////abs/path,
the rate-limit counters in a file beside it), an account `api-bench` gets one sending
list with `--contacts` generated contacts (`manage.py generate_contacts`, about 8 labels each,
with the keys of the seed's example audiences); it is built once and reused. Then gunicorn
serves the app with its production configuration (gunicorn.conf.py, access log included) and 2
sync workers (WEB_CONCURRENCY=2; production settings, DEBUG off, the rate limit on but set
high enough never to refuse, so its cache writes are part of every request), and a load
generator of `--concurrency` threads, each with its own connection, runs each scenario for
`--duration` seconds after a short warm-up:

- `POST /api/v1/contacts`, a new number each time (201);
- `POST /api/v1/contacts`, an existing contact, changing one of its labels (200);
- `GET /api/v1/contacts?conditions=...` (the seed's VIP Winback), 50 a page with the total;
- the same by cursor (no total), walking on from page to page.

`--cache-url redis://127.0.0.1:6379/0` keeps the rate-limit counters in Redis instead of the
database cache.

It prints a Markdown table: requests, errors (non-2xx), requests a second, p50 and p99 latency
as the client measured it (queueing for a worker included). The load generator runs on the
same machine, so it takes CPU from the server: the numbers are a floor.
"""

import argparse
import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/trackly_api_bench"
ACCOUNT = "api-bench"
CONDITIONS = "ltv_tier=vip AND last_purchase_days=90"
# New contacts get numbers of an area code the generator does not use (Denver, 303).
NEW_AREA = "303"
EXCHANGES = [n for n in range(200, 1000) if n % 100 != 11 and n != 555]


def _new_phone(index: int) -> str:
    exchange = EXCHANGES[(index // 10_000) % len(EXCHANGES)]
    return f"+1{NEW_AREA}{exchange}{index % 10_000:04d}"


def _ensure_database(url: str) -> None:
    if url.startswith("sqlite://"):
        return
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _manage(env: dict, *args: str) -> None:
    # The arguments are this script's own.
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def prepare(url: str, contacts: int) -> tuple[str, list[str]]:
    """Make the account, its list, its contacts and a fresh key; return the key and a sample of
    existing numbers."""
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "true"}
    _ensure_database(url)
    _manage(env, "migrate", "--noinput")
    _manage(env, "createcachetable")
    os.environ.update(DATABASE_URL=url, DEBUG="true", DJANGO_SETTINGS_MODULE="trackly.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from contacts.models import Contact, Label, SendingList
    from trackly.api_keys import api_key_create
    from trackly.models import Account
    from trackly.phones import normalize_phone

    account, _ = Account.objects.get_or_create(slug=ACCOUNT, defaults={"name": "API bench"})
    sending_list, _ = SendingList.objects.get_or_create(
        account=account, name="Bench", defaults={"phone_number": "+14155550100"}
    )
    # New contacts of earlier runs go, so that every run starts from the same data.
    earlier = Contact.objects.filter(
        sending_list=sending_list, phone_number__startswith=f"+1{NEW_AREA}"
    )
    Label.objects.filter(contact__in=earlier).delete()
    earlier.delete()
    existing = Contact.objects.filter(sending_list=sending_list).count()
    if existing < contacts:
        print(f"Generating {contacts - existing:,} contacts (once)...", flush=True)
        call_command(
            "generate_contacts",
            account=ACCOUNT,
            list=sending_list.pk,
            contacts=contacts - existing,
            verbosity=0,
        )
    for index in (0, 1, 10_000, 2_000_000):
        assert normalize_phone(_new_phone(index)) == _new_phone(index)
    _, key = api_key_create(account=account, name=f"bench {time.strftime('%Y-%m-%d %H:%M')}")
    sample = list(
        Contact.objects.filter(sending_list=sending_list)
        .order_by("?")
        .values_list("phone_number", flat=True)[:5000]
    )
    return key, sample


def _sqlite_cache_path(url: str) -> str:
    """On SQLite, the rate-limit counters' file beside the database; unused on PostgreSQL."""
    if not url.startswith("sqlite://"):
        return ""
    return str(Path(urlsplit(url).path).with_suffix(".cache.sqlite3"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, port: int, cache_url: str = "") -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DEBUG": "false",
        "SECRET_KEY": "api-bench-secret-key-long-enough-for-the-deploy-checks-0123456789",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "API_RATE_LIMIT": "1000000",
        "LOG_LEVEL": "ERROR",
        "CACHE_URL": cache_url,
        "SQLITE_CACHE_PATH": _sqlite_cache_path(url),
        "WEB_CONCURRENCY": "2",
        "BIND": f"127.0.0.1:{port}",
        "GUNICORN_LOG_LEVEL": "error",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py"],
        cwd=ROOT,
        env=env,
        # The access log is written as in production, and thrown away.
        stdout=subprocess.DEVNULL,
    )
    # Generous: on a busy machine the first OpenAPI document takes seconds to build.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = HTTPConnection("127.0.0.1", port, timeout=20)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("gunicorn did not start")


class Scenario:
    def __init__(self, name: str, make_request):
        self.name = name
        # make_request(thread_state) -> (method, path, body or None)
        self.make_request = make_request


def run_scenario(
    scenario: Scenario, port: int, key: str, concurrency: int, duration: float, warmup: float
) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop_at = time.monotonic() + warmup + duration
    measure_from = time.monotonic() + warmup
    headers = {"X-Api-Key": key, "Content-Type": "application/json"}

    def worker() -> None:
        nonlocal errors
        conn = HTTPConnection("127.0.0.1", port, timeout=30)
        state: dict = {}
        mine: list[float] = []
        failed = 0
        while (now := time.monotonic()) < stop_at:
            method, path, body = scenario.make_request(state)
            started = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                ok = 200 <= response.status < 300
            except OSError:
                conn.close()
                ok, payload = False, b""
            elapsed = time.perf_counter() - started
            if ok and "cursor" in state and payload:
                state["cursor"] = json.loads(payload)["next_cursor"] or ""
            if now >= measure_from:
                mine.append(elapsed)
                failed += not ok
        conn.close()
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    count = len(latencies)
    return {
        "scenario": scenario.name,
        "requests": count,
        "errors": errors,
        "rps": count / duration,
        "p50_ms": statistics.median(latencies) * 1000 if count else 0.0,
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else 0.0,
    }


def scenarios(sample: list[str]) -> list[Scenario]:
    new_numbers = itertools.count()
    existing = itertools.cycle(sample)
    values = itertools.count()

    def new_contact(state):
        body = {"phone_number": _new_phone(next(new_numbers)), "labels": {"source": "api"}}
        return "POST", "/api/v1/contacts", json.dumps(body)

    def existing_contact(state):
        body = {"phone_number": next(existing), "labels": {"bench_run": str(next(values) % 7)}}
        return "POST", "/api/v1/contacts", json.dumps(body)

    def by_page(state):
        query = urlencode({"conditions": CONDITIONS, "per_page": 50})
        return "GET", f"/api/v1/contacts?{query}", None

    def by_cursor(state):
        cursor = state.setdefault("cursor", "")
        query = urlencode({"conditions": CONDITIONS, "per_page": 50, "cursor": cursor})
        return "GET", f"/api/v1/contacts?{query}", None

    return [
        Scenario("POST /contacts (new contact, 201)", new_contact),
        Scenario("POST /contacts (existing contact, 200)", existing_contact),
        Scenario("GET /contacts?conditions=… (page, with total)", by_page),
        Scenario("GET /contacts?conditions=… (cursor)", by_cursor),
    ]


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per scenario.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Seconds before measuring.")
    parser.add_argument("--concurrency", type=int, default=4, help="Client threads.")
    parser.add_argument(
        "--cache-url",
        default="",
        help="CACHE_URL for the server (e.g. redis://127.0.0.1:6379/0); the database by default.",
    )
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not url.startswith(("postgres://", "postgresql://", "sqlite:///")):
        raise SystemExit("DATABASE_URL must be postgres://... or sqlite:////absolute/path.")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    key, sample = prepare(url, args.contacts)
    port = _free_port()
    server = start_server(url, port, args.cache_url)
    load_start = os.getloadavg()
    try:
        results = [
            run_scenario(s, port, key, args.concurrency, args.duration, args.warmup)
            for s in scenarios(sample)
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    load = os.getloadavg()
    vendor = "SQLite" if url.startswith("sqlite://") else "PostgreSQL"
    print(
        f"\n{vendor}, {started}, {args.contacts:,} contacts, gunicorn with 2 sync workers, "
        f"{args.concurrency} client "
        f"threads, {args.duration:.0f} s per scenario, rate-limit cache "
        f"{args.cache_url or ('a SQLite file' if vendor == 'SQLite' else 'the database')}, "
        f"{os.cpu_count()} CPUs "
        f"(1-minute load average {load_start[0]:.1f} at the start, {load[0]:.1f} at the end)\n"
    )
    print("| Scenario | Requests | Errors | Requests/s | p50 (ms) | p99 (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['scenario']} | {r['requests']:,} | {r['errors']} | {r['rps']:,.0f} "
            f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |"
        )
    return results


if __name__ == "__main__":
    main()
