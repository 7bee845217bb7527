"""Trackly's benchmark: audience counts, the label dropdowns and the member preview on a large
generated data set, each timed against the best hand-written SQL for the same result, on the
same data, in the same run.

    python -m bench.run [--contacts N] [--repeat R] [--seed S] [--reuse | --rebuild] [--only RE]

SQLite by default (bench/data/bench.sqlite3); with DATABASE_URL=postgres://... the database
`trackly_bench` on that server, created and migrated here. The data set is built once and reused
while its marker (the name of the account `bench`) matches. Prints a table and writes it as JSON
to bench/results/. Targets and design: docs/performance.md.
"""

# The baselines are SQL composed from this file's own constants, never from input.
# ruff: noqa: S608

import argparse
import io
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# BENCH_SQLITE_FILE names another file, so that a second run (the hygiene benchmark's writes,
# say) does not lock the counts out of theirs.
SQLITE_FILE = Path(os.environ.get("BENCH_SQLITE_FILE", ROOT / "bench" / "data" / "bench.sqlite3"))
RESULTS_DIR = ROOT / "bench" / "results"
# BENCH_DATABASE names another database, so that two people sharing a server do not rebuild
# each other's data set.
PG_DATABASE = os.environ.get("BENCH_DATABASE", "trackly_bench")
SLUG = "bench"

# Targets (docs/performance.md): p95 in ms on PostgreSQL with 2 cores and 1M contacts; SQLite
# may take SQLITE_FACTOR times as long. Counts must also stay within RATIO x their baseline +
# SLACK_MS, and the dropdowns must be DROPDOWN_SPEEDUP times faster than the naive query (both
# on medians).
TARGET_MS = {
    "rare": 20,
    "broad": 150,
    "not exists": 250,
    "tree": 400,
    "keys": 10,
    "values": 20,
    # Typing in the builder's value search: an answer per keystroke (after a short pause).
    "search": 50,
    "preview": 50,
    # A static audience's count, at 500k members, on either database.
    "static": 20,
}
SQLITE_FACTOR = 2
RATIO = 1.25
SLACK_MS = 5
DROPDOWN_SPEEDUP = 50


# ---------------------------------------------------------------------------------------------
# The database, chosen before Django is set up
# ---------------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where the data set lives: a PostgreSQL database on DATABASE_URL's server, or a file."""

    server: dict[str, Any] | None  # psycopg connection arguments; None for SQLite
    maintenance_db: str = "postgres"

    @property
    def description(self) -> str:
        if self.server is None:
            return f"SQLite file {SQLITE_FILE}"
        return f"PostgreSQL database {PG_DATABASE} on {self.server.get('host') or 'localhost'}"

    def create(self, *, drop: bool) -> None:
        """Create the empty database (dropping it first when `drop`); keep an existing one."""
        if self.server is None:
            SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
            if drop:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
            return
        import psycopg

        with psycopg.connect(dbname=self.maintenance_db, autocommit=True, **self.server) as db:
            if drop:
                db.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}"')
            found = db.execute("SELECT 1 FROM pg_database WHERE datname = %s", [PG_DATABASE])
            if found.fetchone() is None:
                db.execute(f'CREATE DATABASE "{PG_DATABASE}"')


def configure_environment() -> Target:
    """Point Django's settings (read from the environment) at the benchmark database."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "trackly.settings")
    # Settings refuse to start without a secret key unless DEBUG is on; queries are timed with
    # DEBUG off all the same (see `run`).
    os.environ.setdefault("DEBUG", "true")
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        os.environ["DATABASE_URL"] = ""
        os.environ["SQLITE_PATH"] = str(SQLITE_FILE)
        return Target(server=None)
    import dj_database_url

    parsed = dj_database_url.parse(url)
    server = {
        name: parsed[setting]
        for name, setting in (("host", "HOST"), ("port", "PORT"), ("user", "USER"))
        if parsed.get(setting)
    }
    if parsed.get("PASSWORD"):
        server["password"] = parsed["PASSWORD"]
    scheme, rest = url.split("://", 1)
    authority, _, query = rest.partition("/")
    query = query.partition("?")[2]
    os.environ["DATABASE_URL"] = f"{scheme}://{authority}/{PG_DATABASE}" + (
        f"?{query}" if query else ""
    )
    return Target(server=server, maintenance_db=parsed.get("NAME") or "postgres")


# ---------------------------------------------------------------------------------------------
# Hand-written SQL
# ---------------------------------------------------------------------------------------------
# Baselines are built from these pieces, each written for one shape (docs/performance.md,
# section 2); every candidate is timed and the fastest one is the baseline. `%(a)s` is the
# account id; keys and values are constants of this file. "l" is a label, "c" a contact.

LABELS = "contacts_label"
SCOPE = "c.account_id = %(a)s AND c.status = 'subscribed'"
UNSUBSCRIBED = "c.account_id = %(a)s AND c.status = 'unsubscribed'"


@dataclass(frozen=True)
class Leaf:
    """A positive label test: `key` with one of `values` (any value when empty)."""

    key: str
    values: tuple[str, ...] = ()

    def test(self, alias: str, *, account: bool = True) -> str:
        """The label test on `alias`. Without `account` when the label is reached through its
        contact, whose account it always shares."""
        sql = f"{alias}.key = {quote(self.key)}"
        if account:
            sql = f"{alias}.account_id = %(a)s AND {sql}"
        if len(self.values) == 1:
            return f"{sql} AND {alias}.value = {quote(self.values[0])}"
        if self.values:
            return f"{sql} AND {alias}.value IN ({', '.join(map(quote, self.values))})"
        return sql

    def split(self) -> list["Leaf"]:
        """One leaf per value: each reads contact ids in id order from its index range."""
        return [Leaf(self.key, (value,)) for value in self.values] or [self]

    def ids(self) -> str:
        """The contact ids having the label, read from one index range."""
        return f"SELECT l.contact_id AS id FROM {LABELS} l WHERE {self.test('l')}"


@dataclass(frozen=True)
class Where(Leaf):
    """A positive label test on `key` with an SQL predicate on the label (`{l}` is its alias):
    a range of a typed column, or a LIKE."""

    predicate: str = ""

    def test(self, alias: str, *, account: bool = True) -> str:
        return f"{super().test(alias, account=account)} AND {self.predicate.format(l=alias)}"

    def split(self) -> list["Leaf"]:
        return [self]


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def union(*leaves: Leaf) -> str:
    """Contact ids having any of `leaves`' labels, as a FROM item (aliased)."""
    return "(" + " UNION ".join(leaf.ids() for leaf in leaves) + ") AS u"


def and_candidates(*leaves: Leaf) -> dict[str, str]:
    """Counting the subscribed contacts having every one of `leaves`' labels."""
    aliases = [f"l{index}" for index in range(len(leaves))]
    joined = f"{LABELS} l0" + "".join(
        f" JOIN {LABELS} {alias} ON {alias}.contact_id = l0.contact_id" for alias in aliases[1:]
    )
    tests = " AND ".join(leaf.test(alias) for leaf, alias in zip(leaves, aliases, strict=True))
    semi = " AND ".join(f"c.id IN ({leaf.ids()})" for leaf in leaves)
    exists = " AND ".join(
        f"EXISTS (SELECT 1 FROM {LABELS} l WHERE l.contact_id = c.id AND {leaf.test('l')})"
        for leaf in leaves
    )
    intersect = " INTERSECT ".join(leaf.ids() for leaf in leaves)
    return {
        "join": f"SELECT count(*) FROM {joined} JOIN contacts_contact c ON c.id = l0.contact_id "
        f"WHERE {tests} AND {SCOPE}",
        "semi-join (IN)": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE} AND {semi}",
        "EXISTS": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE} AND {exists}",
        "INTERSECT": f"SELECT count(*) FROM ({intersect} INTERSECT "
        f"SELECT c.id FROM contacts_contact c WHERE {SCOPE}) AS matched",
        # Nearly every contact is subscribed: count the labels alone, then take away the few
        # unsubscribed contacts among them.
        "all minus unsubscribed": f"SELECT (SELECT count(*) FROM {joined} WHERE {tests}) - "
        f"(SELECT count(*) FROM {joined} JOIN contacts_contact c ON c.id = l0.contact_id "
        f"WHERE {tests} AND {UNSUBSCRIBED})",
    }


def not_exists_candidates(leaf: Leaf) -> dict[str, str]:
    """Counting the subscribed contacts without `leaf`'s label."""
    return {
        "anti-join (NOT EXISTS)": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE} AND "
        f"NOT EXISTS (SELECT 1 FROM {LABELS} l WHERE l.contact_id = c.id AND {leaf.test('l')})",
        # The same probe answered from the (contact_id, key) index alone: a contact's labels
        # are in its account, so the account test is left out.
        "anti-join on (contact_id, key)": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE} "
        f"AND NOT EXISTS (SELECT 1 FROM {LABELS} l WHERE l.contact_id = c.id AND "
        f"{leaf.test('l', account=False)})",
        "LEFT JOIN ... IS NULL": f"SELECT count(*) FROM contacts_contact c LEFT JOIN {LABELS} l "
        f"ON l.contact_id = c.id AND {leaf.test('l')} WHERE {SCOPE} AND l.id IS NULL",
        "EXCEPT": f"SELECT count(*) FROM (SELECT c.id FROM contacts_contact c WHERE {SCOPE} "
        f"EXCEPT {leaf.ids()}) AS matched",
        # Subscribed contacts, minus those with the label: all labelled contacts less the
        # unsubscribed ones among them.
        "scope minus labelled": f"SELECT (SELECT count(*) FROM contacts_contact c WHERE {SCOPE})"
        f" - (SELECT count(*) FROM {LABELS} l WHERE {leaf.test('l')})"
        f" + (SELECT count(*) FROM {LABELS} l JOIN contacts_contact c ON c.id = l.contact_id "
        f"WHERE {leaf.test('l')} AND {UNSUBSCRIBED})",
    }


def tree_candidates(
    any_of: tuple[Leaf, ...], also_any_of: tuple[Leaf, ...], none: Leaf
) -> dict[str, str]:
    """Counting subscribed contacts with (any of `any_of`) AND (any of `also_any_of`) AND NOT
    `none`'s key: the 5-condition AND/OR tree."""

    def exists(leaf: Leaf) -> str:
        # Reached through the contact: no account test, so that a probe of the (contact_id,
        # key) index answers it.
        test = leaf.test("l", account=False)
        return f"EXISTS (SELECT 1 FROM {LABELS} l WHERE l.contact_id = c.id AND {test})"

    def either(leaves: tuple[Leaf, ...]) -> str:
        return "(" + " OR ".join(map(exists, leaves)) + ")"

    def ids_of_any(leaves: tuple[Leaf, ...]) -> str:
        return " UNION ALL ".join(leaf.ids() for leaf in leaves)

    sets = f"SELECT id FROM {union(*any_of)} INTERSECT SELECT id FROM {union(*also_any_of)}"
    # One pass over the labels of all five conditions (one index range per value), grouped by
    # contact: which of the three parts each contact satisfies.
    flagged = " UNION ALL ".join(
        f"SELECT l.contact_id AS id, {flags} FROM {LABELS} l WHERE {single.test('l')}"
        for leaves, flags in (
            (any_of, "1 AS a, 0 AS b, 0 AS n"),
            (also_any_of, "0, 1, 0"),
            ((none,), "0, 0, 1"),
        )
        for leaf in leaves
        for single in leaf.split()
    )
    grouped = (
        f"SELECT f.id FROM ({flagged}) AS f GROUP BY f.id "
        "HAVING max(f.a) = 1 AND max(f.b) = 1 AND max(f.n) = 0"
    )
    return {
        "semi-joins (IN ... UNION ALL)": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE}"
        f" AND c.id IN ({ids_of_any(any_of)}) AND c.id IN ({ids_of_any(also_any_of)})"
        f" AND NOT {exists(none)}",
        "EXISTS per condition": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE} AND "
        f"{either(any_of)} AND {either(also_any_of)} AND NOT {exists(none)}",
        "joins of unions": f"SELECT count(*) FROM contacts_contact c "
        f"JOIN {union(*any_of)} ON u.id = c.id "
        f"JOIN {union(*also_any_of).replace('AS u', 'AS v')} ON v.id = c.id "
        f"WHERE {SCOPE} AND NOT {exists(none)}",
        "INTERSECT / EXCEPT": f"SELECT count(*) FROM ({sets} INTERSECT "
        f"SELECT c.id FROM contacts_contact c WHERE {SCOPE} EXCEPT {none.ids()}) AS matched",
        "labels grouped by contact": f"SELECT count(*) FROM ({grouped}) AS m "
        f"JOIN contacts_contact c ON c.id = m.id WHERE {SCOPE}",
        "sets minus unsubscribed": f"SELECT (SELECT count(*) FROM ({sets} EXCEPT {none.ids()}) "
        f"AS matched) - (SELECT count(*) FROM ({sets} INTERSECT SELECT c.id FROM "
        f"contacts_contact c WHERE {UNSUBSCRIBED} EXCEPT {none.ids()}) AS matched)",
    }


# ---------------------------------------------------------------------------------------------
# Operations
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """An audience count: `conditions` through the compiler against hand-written SQL."""

    name: str
    conditions: str
    target: str
    candidates: dict[str, str]


RARE = Leaf("city", ("city-040",))
VIP = Leaf("ltv_tier", ("vip",))
LAPSED_90 = Leaf("last_purchase_days", ("90",))

COUNTS = [
    Count("count: rare key = value", "city = city-040", "rare", and_candidates(RARE)),
    Count(
        "count: common key = value",
        "buyer_status = never",
        "broad",
        and_candidates(Leaf("buyer_status", ("never",))),
    ),
    Count(
        "count: rare IN",
        "city IN [city-040, city-041, city-042]",
        "rare",
        and_candidates(Leaf("city", ("city-040", "city-041", "city-042"))),
    ),
    Count(
        "count: broad IN",
        "cohort IN [2024-Q1, 2024-Q2, 2024-Q3]",
        "broad",
        and_candidates(Leaf("cohort", ("2024-Q1", "2024-Q2", "2024-Q3"))),
    ),
    Count("count: EXISTS", "ltv_tier EXISTS", "broad", and_candidates(Leaf("ltv_tier"))),
    Count(
        "count: NOT EXISTS",
        "ltv_tier NOT EXISTS",
        "not exists",
        not_exists_candidates(Leaf("ltv_tier")),
    ),
    # The seed's example audiences.
    Count(
        "count: VIP Winback",
        "ltv_tier=vip AND last_purchase_days=90",
        "tree",
        and_candidates(VIP, LAPSED_90),
    ),
    Count(
        "count: New High Engagers",
        "cohort=2024-Q1 AND engagement_level=high AND buyer_status=never",
        "tree",
        and_candidates(
            Leaf("cohort", ("2024-Q1",)),
            Leaf("engagement_level", ("high",)),
            Leaf("buyer_status", ("never",)),
        ),
    ),
    Count(
        "count: Promo Candidates",
        "promo_responsive=true AND buyer_status=once",
        "tree",
        and_candidates(Leaf("promo_responsive", ("true",)), Leaf("buyer_status", ("once",))),
    ),
    Count(
        "count: 5-condition AND/OR tree",
        "(ltv_tier = vip OR tier IN [pro, enterprise]) AND "
        "(engagement_level = high OR last_purchase_days IN [7, 30]) AND churned NOT EXISTS",
        "tree",
        tree_candidates(
            (VIP, Leaf("tier", ("pro", "enterprise"))),
            (Leaf("engagement_level", ("high",)), Leaf("last_purchase_days", ("7", "30"))),
            Leaf("churned"),
        ),
    ),
]

# Numbers, dates and text. The baselines read the same typed columns and indexes the
# compiler reads, written by hand; the text ones are the plain LIKEs a person would write
# (which fold case as the compiler does here, the generated values being lower case).
# Today's date in the account's time zone and 30 days before it are parameters (`run_counts`).
WITHIN_30 = "{l}.value_date BETWEEN %(first)s AND %(today)s"
TYPED_COUNTS = [
    Count(
        "count: selective number range",
        "zip < 10020",
        "rare",
        and_candidates(Where("zip", predicate="{l}.value_number < 10020")),
    ),
    Count(
        "count: broad number range",
        "last_purchase_days >= 30",
        "broad",
        and_candidates(Where("last_purchase_days", predicate="{l}.value_number >= 30")),
    ),
    Count(
        "count: WITHIN LAST 30 DAYS",
        "last_purchase WITHIN LAST 30 DAYS",
        "rare",
        and_candidates(Where("last_purchase", predicate=WITHIN_30)),
    ),
    Count(
        "count: date BETWEEN",
        "last_purchase BETWEEN 2026-01-01 AND 2026-03-31",
        "broad",
        and_candidates(
            Where(
                "last_purchase",
                predicate="{l}.value_date BETWEEN '2026-01-01' AND '2026-03-31'",
            )
        ),
    ),
    Count(
        "count: CONTAINS",
        "campaign CONTAINS n-01",
        "broad",
        and_candidates(Where("campaign", predicate="lower({l}.value) LIKE '%%n-01%%'"))
        | {
            f"plain LIKE, {name}": sql
            for name, sql in and_candidates(
                Where("campaign", predicate="{l}.value LIKE '%%n-01%%'")
            ).items()
        },
    ),
    Count(
        "count: STARTS WITH",
        "city STARTS WITH city-04",
        "rare",
        and_candidates(Where("city", predicate="{l}.value LIKE 'city-04%%'")),
    ),
]

# Saved audiences, made by `prepare_audiences` before the statistics are taken: IN AUDIENCE of a
# dynamic audience beside a label condition, and a static audience of every second contact.
SAVED_VIP_WINBACK = "Bench VIP Winback"
SAVED_STATIC = "Bench static half"
STATIC_TABLE = "audiences_staticmember"
ENGAGED = Leaf("engagement_level", ("high",))

# The value dropdown is timed for a key with hundreds of values and for a near-unique one.
VALUE_KEYS = ["city", "customer_id"]
# The member preview is timed for a rare audience and for a seed audience.
PREVIEWS = [
    ("preview: rare audience", "city = city-040", [RARE]),
    ("preview: VIP Winback", "ltv_tier=vip AND last_purchase_days=90", [VIP, LAPSED_90]),
]
PAGE = 51  # MEMBERS_PER_PAGE + 1, as the view asks for
COMPILED_RAW = "the compiler's queries through a raw cursor"


@dataclass
class Result:
    """One row of the table: ours against the fastest baseline candidate."""

    name: str
    detail: str
    target: str
    ours: list[float]
    baselines: dict[str, list[float]]
    rows: int | None = None
    checks: list[tuple[str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ours_sql: list[str] = field(default_factory=list)
    pruned: dict[str, float] = field(default_factory=dict)
    extras: dict[str, list[float]] = field(default_factory=dict)

    @classmethod
    def of(cls, name: str, detail: str, target: str, timing: "Timing") -> "Result":
        return cls(
            name,
            detail,
            target,
            timing.ours,
            timing.baselines,
            ours_sql=timing.sql,
            pruned=timing.pruned,
            extras=timing.extras,
        )

    @property
    def baseline_name(self) -> str:
        return min(self.baselines, key=lambda name: statistics.median(self.baselines[name]))

    @property
    def baseline(self) -> list[float]:
        return self.baselines[self.baseline_name]

    @property
    def ours_median(self) -> float:
        return statistics.median(self.ours)

    @property
    def ours_p95(self) -> float:
        return p95(self.ours)

    @property
    def baseline_median(self) -> float:
        return statistics.median(self.baseline)

    @property
    def ratio(self) -> float:
        return self.ours_median / self.baseline_median

    @property
    def status(self) -> str:
        if not self.checks:
            return "info"
        return "PASS" if all(ok for _, ok in self.checks) else "MISS"

    def check(self, name: str, ok: bool) -> None:
        self.checks.append((name, ok))


def p95(samples: list[float]) -> float:
    """The nearest-rank 95th percentile (the largest sample when there are fewer than 20)."""
    ordered = sorted(samples)
    return ordered[-(-95 * len(ordered) // 100) - 1]


# Runs per function: at least --repeat; more for fast queries, up to MAX_RUNS within about
# RUN_BUDGET_MS each, so that medians and p95 of millisecond queries are not one noisy sample.
MAX_RUNS = 21
RUN_BUDGET_MS = 400
# A candidate this much slower than the fastest one in warm-up cannot be the baseline: it is
# not timed further, which keeps the run short and the CPU free.
PRUNE_FACTOR, PRUNE_SLACK_MS = 4, 20


@dataclass
class Timing:
    ours: list[float]
    baselines: dict[str, list[float]]
    ours_result: Any
    results: dict[str, Any]  # every candidate's warm-up result, pruned ones included
    sql: list[str]  # what `ours` ran
    pruned: dict[str, float]  # candidates left out after warm-up, with their warm-up ms
    extras: dict[str, list[float]]


def time_all(
    ours: Callable[[], Any],
    baselines: dict[str, Callable[[], Any]],
    repeat: int,
    extras: dict[str, Callable[[], Any]] | None = None,
) -> Timing:
    """Two warm-up runs of each function, then timed runs of each, rotating the order so that
    drifting machine load falls on all alike. Times in ms. `extras` are timed alongside for
    information, never pruned and never a baseline."""
    extras = extras or {}
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def clocked(function: Callable[[], Any]) -> tuple[Any, float]:
        started = time.perf_counter()
        result = function()
        return result, (time.perf_counter() - started) * 1000

    with CaptureQueriesContext(connection) as queries:
        ours_result = ours()
    _, ours_warm = clocked(ours)
    results, warm = {}, {}
    for name, function in baselines.items():
        results[name] = function()
        warm[name] = clocked(function)[1]
    fastest = min(warm.values())
    pruned = {
        name: round(ms, 1)
        for name, ms in warm.items()
        if ms > PRUNE_FACTOR * fastest + PRUNE_SLACK_MS
    }
    for name, function in extras.items():
        function()
        warm[name] = clocked(function)[1]
    functions = [
        ("ours", ours),
        *((n, f) for n, f in baselines.items() if n not in pruned),
        *extras.items(),
    ]
    slowest = max([ours_warm, *(warm[name] for name, _ in functions[1:])])
    runs = max(repeat, min(MAX_RUNS, int(RUN_BUDGET_MS / max(slowest, 0.1))))
    samples: dict[str, list[float]] = {name: [] for name, _ in functions}
    for index in range(runs):
        shift = index % len(functions)
        for name, function in functions[shift:] + functions[:shift]:
            samples[name].append(clocked(function)[1])
    ours_ms = samples.pop("ours")
    extra_ms = {name: samples.pop(name) for name in extras}
    sql = [query["sql"] for query in queries]
    return Timing(ours_ms, samples, ours_result, results, sql, pruned, extra_ms)


def fetch(sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def run_counts(account, cases: list[Count], repeat: int, factor: float) -> list[Result]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audiences.compiler import count_members
    from audiences.conditions import parse

    today = account.today()
    params = {"a": account.pk, "today": str(today), "first": str(today - timedelta(days=30))}
    results = []
    for case in cases:
        node = parse(case.conditions)
        with CaptureQueriesContext(connection) as queries:
            count_members(account, node, None)
        compiled = [query["sql"] for query in queries]
        timing = time_all(
            lambda node=node: count_members(account, node, None),
            {
                name: lambda sql=sql: fetch(sql, params)[0][0]
                for name, sql in case.candidates.items()
            },
            repeat,
            # The compiler's own SQL without the ORM: what is the shape, what is the ORM.
            {COMPILED_RAW: lambda sqls=compiled: [fetch(sql) for sql in sqls]},
        )
        result = Result.of(case.name, case.conditions, case.target, timing)
        result.rows = timing.ours_result
        wrong = [
            f"{name} counted {count}"
            for name, count in timing.results.items()
            if count != timing.ours_result
        ]
        result.check("same count as every baseline", not wrong)
        result.notes += wrong
        limit = TARGET_MS[case.target] * factor
        result.check(f"p95 <= {limit:g} ms", result.ours_p95 <= limit)
        result.check(
            f"<= {RATIO}x baseline + {SLACK_MS} ms",
            result.ours_median <= RATIO * result.baseline_median + SLACK_MS,
        )
        report_line(result)
        results.append(result)
    return results


def prepare_audiences(account) -> None:
    """Save the audiences the IN AUDIENCE and static rows count, once: "VIP Winback" as a
    dynamic audience, and a static audience of every second contact of the account (about
    500k, unsubscribed ones included, as a static audience keeps them)."""
    from django.db import connection

    from audiences.models import Audience

    Audience.objects.get_or_create(
        account=account,
        name=SAVED_VIP_WINBACK,
        defaults={"conditions": "label:ltv_tier = vip AND label:last_purchase_days = 90"},
    )
    static, made = Audience.objects.get_or_create(
        account=account, name=SAVED_STATIC, defaults={"kind": Audience.Kind.STATIC}
    )
    if made:
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {STATIC_TABLE} (audience_id, contact_id, account_id) "
                "SELECT %s, id, account_id FROM contacts_contact"
                " WHERE account_id = %s AND id %% 2 = 0",
                [static.pk, account.pk],
            )
            static.static_size = cursor.rowcount
        static.save(update_fields=["static_size"])


def static_count_candidates() -> dict[str, str]:
    """Counting a static audience's subscribed contacts (`%(s)s` the audience)."""
    rows = f"SELECT m.contact_id FROM {STATIC_TABLE} m WHERE m.audience_id = %(s)s"
    return {
        "join": f"SELECT count(*) FROM {STATIC_TABLE} m JOIN contacts_contact c "
        f"ON c.id = m.contact_id WHERE m.audience_id = %(s)s AND c.status = 'subscribed'",
        "semi-join (IN)": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE} AND c.id IN "
        f"({rows})",
        # Nearly every contact is subscribed: all rows, less the unsubscribed contacts found
        # among them from their side.
        "rows minus unsubscribed": f"SELECT (SELECT count(*) FROM {STATIC_TABLE} m WHERE "
        f"m.audience_id = %(s)s) - (SELECT count(*) FROM contacts_contact c WHERE "
        f"{UNSUBSCRIBED} AND EXISTS (SELECT 1 FROM {STATIC_TABLE} m WHERE m.audience_id = %(s)s "
        "AND m.contact_id = c.id))",
    }


def run_audiences(account, repeat: int, factor: float, wanted) -> list[Result]:
    """IN AUDIENCE of a saved audience with a label condition, and a static audience's count,
    against hand-written SQL."""
    from audiences.conditions import And, Condition, InAudience, Not, Op
    from audiences.models import Audience, count_matching

    results = []
    saved = Audience.objects.get(account=account, name=SAVED_VIP_WINBACK)
    static = Audience.objects.get(account=account, name=SAVED_STATIC)
    cases = [
        (
            "count: IN AUDIENCE + label",
            f'IN AUDIENCE "{SAVED_VIP_WINBACK}" AND engagement_level = high',
            And((InAudience(saved.pk), Condition("engagement_level", Op.EQ, ("high",)))),
            "tree",
            and_candidates(VIP, LAPSED_90, ENGAGED),
        ),
        (
            "count: NOT IN AUDIENCE static + label",
            f'NOT IN AUDIENCE "{SAVED_STATIC}" AND ltv_tier = vip',
            And((Not(InAudience(static.pk)), Condition("ltv_tier", Op.EQ, ("vip",)))),
            "tree",
            {
                "anti-join (NOT EXISTS)": f"SELECT count(*) FROM contacts_contact c WHERE {SCOPE} "
                f"AND c.id IN ({VIP.ids()}) AND NOT EXISTS (SELECT 1 FROM {STATIC_TABLE} m "
                "WHERE m.audience_id = %(s)s AND m.contact_id = c.id)",
                "EXCEPT": f"SELECT count(*) FROM (SELECT c.id FROM contacts_contact c WHERE "
                f"{SCOPE} AND c.id IN ({VIP.ids()}) EXCEPT SELECT m.contact_id FROM "
                f"{STATIC_TABLE} m WHERE m.audience_id = %(s)s) AS matched",
            },
        ),
    ]
    for name, detail, tree, target, candidates in cases:
        if not wanted(name):
            continue
        timing = time_all(
            lambda tree=tree: count_matching(account, tree, None),
            {
                label: lambda sql=sql: fetch(sql, {"a": account.pk, "s": static.pk})[0][0]
                for label, sql in candidates.items()
            },
            repeat,
        )
        results.append(_checked_count(name, detail, target, timing, factor))
    name = "count: static audience"
    if wanted(name):
        timing = time_all(
            static.count_members,
            {
                label: lambda sql=sql: fetch(sql, {"a": account.pk, "s": static.pk})[0][0]
                for label, sql in static_count_candidates().items()
            },
            repeat,
        )
        detail = f"{static.static_size:,} contacts kept (every second one)"
        results.append(_checked_count(name, detail, "static", timing, factor))
    return results


def _checked_count(name: str, detail: str, target: str, timing: "Timing", factor: float):
    result = Result.of(name, detail, target, timing)
    result.rows = timing.ours_result
    wrong = [
        f"{label} counted {count}"
        for label, count in timing.results.items()
        if count != timing.ours_result
    ]
    result.check("same count as every baseline", not wrong)
    result.notes += wrong
    limit = TARGET_MS[target] * (1 if target == "static" else factor)
    result.check(f"p95 <= {limit:g} ms", result.ours_p95 <= limit)
    result.check(
        f"<= {RATIO}x baseline + {SLACK_MS} ms",
        result.ours_median <= RATIO * result.baseline_median + SLACK_MS,
    )
    report_line(result)
    return result


def loose_scan(column: str, where: str, limit: int | None = None) -> str:
    """Distinct `column` values of the label rows matching `where`, one index descent each: a
    recursive CTE jumping from one value to the next (PostgreSQL has no loose index scan)."""
    return (
        f"WITH RECURSIVE found(v) AS ("
        f"SELECT (SELECT l.{column} FROM {LABELS} l WHERE {where} ORDER BY l.{column} LIMIT 1) "
        f"UNION ALL SELECT (SELECT l.{column} FROM {LABELS} l WHERE {where} "
        f"AND l.{column} > found.v ORDER BY l.{column} LIMIT 1) "
        f"FROM found WHERE found.v IS NOT NULL) SELECT v FROM found WHERE v IS NOT NULL"
        + (f" LIMIT {limit}" if limit else "")
    )


def run_dropdowns(
    account, vendor: str, repeat: int, factor: float, wanted: Callable[[str], bool]
) -> list[Result]:
    """The key dropdown and the values dropdown, each against the naive GROUP BY (the target)
    and, for comparison, the loose scans that find the distinct names without counts."""
    from audiences.catalogue import TOP_VALUES, label_keys, label_values

    params = {"a": account.pk}
    in_account = "l.account_id = %(a)s"
    key_baselines = {
        "naive GROUP BY": f"SELECT l.key, count(*) FROM {LABELS} l WHERE {in_account} "
        "GROUP BY l.key ORDER BY l.key",
        "loose scan (keys only)": loose_scan("key", in_account),
    }
    if vendor == "sqlite":
        # SQLite skips ahead through an index for DISTINCT by itself.
        key_baselines["DISTINCT (keys only)"] = (
            f"SELECT DISTINCT l.key FROM {LABELS} l WHERE {in_account} ORDER BY l.key"
        )
    comparisons = [
        (
            "key dropdown",
            "audiences.catalogue.label_keys",
            "keys",
            lambda: [(row.key, row.contacts) for row in label_keys(account)],
            key_baselines,
        )
    ]
    for key in VALUE_KEYS:
        of_key = f"{in_account} AND l.key = {quote(key)}"
        comparisons.append(
            (
                f"values of {key}",
                f"audiences.catalogue.label_values(account, {key!r})",
                "values",
                lambda key=key: [(row.value, row.contacts) for row in label_values(account, key)],
                {
                    "naive GROUP BY": f"SELECT l.value, count(*) FROM {LABELS} l WHERE {of_key} "
                    f"GROUP BY l.value ORDER BY count(*) DESC, l.value LIMIT {TOP_VALUES}",
                    f"loose scan (first {TOP_VALUES} values, no counts)": loose_scan(
                        "value", of_key, TOP_VALUES
                    ),
                },
            )
        )
    results = []
    for title, detail, target, ours, baselines in comparisons:
        for name, sql in baselines.items():
            if not wanted(f"{title} vs {name}"):
                continue
            timing = time_all(ours, {name: lambda sql=sql: fetch(sql, params)}, repeat)
            result = Result.of(f"{title} vs {name}", detail, target, timing)
            ours_rows, rows = timing.ours_result, timing.results[name]
            result.rows = len(ours_rows)
            if "naive" in name:
                result.check("same rows as the baseline", rows == ours_rows)
                limit = TARGET_MS[target] * factor
                result.check(f"p95 <= {limit:g} ms", result.ours_p95 <= limit)
                result.check(
                    f">= {DROPDOWN_SPEEDUP}x faster than naive",
                    result.baseline_median >= DROPDOWN_SPEEDUP * result.ours_median,
                )
            elif target == "keys" and [row[0] for row in rows] != [row[0] for row in ours_rows]:
                # The loose scans answer a smaller question (no counts): for comparison only.
                result.check("same keys as the baseline", False)
            report_line(result)
            results.append(result)
    return results


# The builder's value search (`audiences.catalogue.search_values`): prefixes served by the
# (account, key, value) index, and substrings, which a trigram index serves (3 characters or
# more; SQLite's FTS5 table, PostgreSQL's GIN index) or a scan of a key's values until the page
# is full.
VALUE_SEARCHES = [
    ("value search: city prefix", "city", "city-5"),
    ("value search: customer_id prefix", "customer_id", "cus_00a"),
    ("value search: customer_id substring, common", "customer_id", "ab"),
    ("value search: customer_id substring, rare", "customer_id", "beef1"),
]
VALUE_COUNTS = "contacts_labelvaluecount"


def run_value_search(
    account, vendor: str, repeat: int, factor: float, wanted: Callable[[str], bool]
) -> list[Result]:
    """The value search's first page against the same answer written by hand over the value
    counts, and against the naive GROUP BY over the labels (for comparison)."""
    from audiences.catalogue import TOP_VALUES, search_values

    like = "LIKE" if vendor == "sqlite" else "ILIKE"
    results = []
    for name, key, text in VALUE_SEARCHES:
        if not wanted(name):
            continue
        params = {"a": account.pk, "k": key, "t": text, "p": f"%{text}%"}
        upper = text[:-1] + chr(ord(text[-1]) + 1)
        params["u"] = upper
        of_key = "account_id = %(a)s AND key = %(k)s"
        starting = "value >= %(t)s AND value < %(u)s"
        by_hand = (
            f"SELECT value, contacts FROM (SELECT value, contacts, 0 AS part FROM {VALUE_COUNTS} "
            f"WHERE {of_key} AND {starting} "
            f"UNION ALL SELECT value, contacts, 1 FROM {VALUE_COUNTS} WHERE {of_key} "
            f"AND value {like} %(p)s AND NOT ({starting})) found "
            f"ORDER BY part, value LIMIT {TOP_VALUES}"
        )
        naive = (
            f"SELECT value, count(*) FROM {LABELS} WHERE {of_key} AND value {like} %(p)s "
            f"GROUP BY value ORDER BY value LIMIT {TOP_VALUES}"
        )
        timing = time_all(
            lambda key=key, text=text: [
                tuple(row) for row in search_values(account, key, text).values
            ],
            {
                "by hand over the value counts": lambda sql=by_hand, params=params: fetch(
                    sql, params
                ),
                "naive GROUP BY over the labels": lambda sql=naive, params=params: fetch(
                    sql, params
                ),
            },
            repeat,
        )
        result = Result.of(name, f"search_values(account, {key!r}, {text!r})", "search", timing)
        result.rows = len(timing.ours_result)
        by_hand_rows = timing.results.get("by hand over the value counts")
        if by_hand_rows is not None:
            result.check("same rows as by hand", by_hand_rows == timing.ours_result)
        limit = TARGET_MS["search"] * factor
        result.check(f"p95 <= {limit:g} ms", result.ours_p95 <= limit)
        report_line(result)
        results.append(result)
    return results


def run_previews(
    account, vendor: str, repeat: int, factor: float, wanted: Callable[[str], bool]
) -> list[Result]:
    from django.db.models import Prefetch

    from audiences.conditions import parse, to_text
    from audiences.models import Audience
    from contacts.models import Label

    results = []
    for name, conditions, leaves in PREVIEWS:
        if not wanted(name):
            continue
        saved, _ = Audience.objects.update_or_create(
            account=account,
            name=name.split(": ", 1)[1],
            defaults={"conditions": to_text(parse(conditions))},
        )
        # Loaded as the view loads it (`_get_audience`), so that its lists are prefetched.
        audience = (
            Audience.objects.for_account(account).prefetch_related("sending_lists").get(pk=saved.pk)
        )

        def ours(audience=audience):
            # As audiences.views.audience_detail reads its first page.
            members = audience.members().select_related("sending_list").order_by("pk")
            labels = Prefetch("labels", queryset=Label.objects.order_by("key"))
            page = list(members.prefetch_related(labels)[:PAGE])
            return [
                (
                    contact.pk,
                    contact.phone_number,
                    contact.sending_list.name,
                    [(label.key, label.value) for label in contact.labels.all()],
                )
                for contact in page
            ]

        candidates = {
            shape: (lambda where=where: preview_by_hand(vendor, account.pk, where))
            for shape, where in preview_conditions(leaves).items()
        }
        timing = time_all(ours, candidates, repeat)
        result = Result.of(name, conditions, "preview", timing)
        result.rows = len(timing.ours_result)
        wrong = [shape for shape, rows in timing.results.items() if rows != timing.ours_result]
        result.check("same page as every baseline", not wrong)
        result.notes += [f"{shape} returned another page" for shape in wrong]
        limit = TARGET_MS["preview"] * factor
        result.check(f"p95 <= {limit:g} ms", result.ours_p95 <= limit)
        report_line(result)
        results.append(result)
    return results


def preview_conditions(leaves: list[Leaf]) -> dict[str, str]:
    """The audience's conditions as a WHERE clause on contact "c", in two shapes."""
    return {
        "two queries, IN (subquery)": " AND ".join(f"c.id IN ({leaf.ids()})" for leaf in leaves),
        "two queries, EXISTS": " AND ".join(
            f"EXISTS (SELECT 1 FROM {LABELS} l WHERE l.contact_id = c.id AND {leaf.test('l')})"
            for leaf in leaves
        ),
    }


def preview_by_hand(vendor: str, account_id: int, where: str) -> list[tuple]:
    """The first page of members with their list and labels, by hand: the same rows the ORM
    reads (every column), in two queries."""
    contacts = fetch(
        "SELECT c.id, c.phone_number, s.name, c.account_id, c.sending_list_id, c.status, "
        "c.unsubscribed_at, c.created_at, c.updated_at, s.id, s.account_id, s.phone_number, "
        "s.status, s.created_at FROM contacts_contact c "
        "JOIN contacts_sendinglist s ON s.id = c.sending_list_id "
        f"WHERE {SCOPE} AND {where} ORDER BY c.id LIMIT {PAGE}",
        {"a": account_id},
    )
    ids = [row[0] for row in contacts]
    labels: dict[int, list[tuple[str, str]]] = {contact_id: [] for contact_id in ids}
    if ids:
        if vendor == "postgresql":
            match, params = "= ANY(%(ids)s)", {"ids": ids}
        else:
            match = "IN (" + ", ".join(f"%(i{n})s" for n in range(len(ids))) + ")"
            params = {f"i{n}": contact_id for n, contact_id in enumerate(ids)}
        for contact_id, key, value in fetch(
            f"SELECT l.contact_id, l.key, l.value FROM {LABELS} l WHERE l.contact_id {match} "
            "ORDER BY l.key",
            params,
        ):
            labels[contact_id].append((key, value))
    return [(row[0], row[1], row[2], labels[row[0]]) for row in contacts]


def report_line(result: Result) -> None:
    print(
        f"  {result.name:<48} ours {result.ours_median:8.1f} ms  {result.baseline_name} "
        f"{result.baseline_median:.1f} ms  {result.status}",
        flush=True,
    )


# ---------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------


def marker(contacts: int, seed: int) -> str:
    from contacts.management.commands.generate_contacts import DATA_VERSION

    return f"Benchmark: {contacts} contacts, seed {seed}, data v{DATA_VERSION}"


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def ensure_data_set(target: Target, contacts: int, seed: int) -> str | None:
    """Reuse the stored data set when its marker matches; otherwise rebuild it from an empty
    database. Returns the generator's report when it built one."""
    from django.db import connections

    from contacts.models import Contact
    from trackly.models import Account

    migrate()
    account = Account.objects.filter(slug=SLUG).first()
    if account is not None:
        if (
            account.name == marker(contacts, seed)
            and Contact.objects.filter(account=account).count() == contacts
        ):
            print(f"Reusing the data set: {account.name}.", flush=True)
            return None
        print(f"The stored data set is '{account.name}'; rebuilding it.", flush=True)
        connections.close_all()
        target.create(drop=True)
        migrate()
    return build_data_set(contacts, seed)


def build_data_set(contacts: int, seed: int) -> str:
    from django.core.management import call_command

    from contacts.services import sending_list_create
    from trackly.models import Account

    print(f"Building the data set: {contacts:,} contacts, seed {seed}.", flush=True)
    account = Account.objects.create(slug=SLUG, name="Benchmark (being built)")
    sending_list = sending_list_create(
        account=account, name="Benchmark list", phone_number="+14155550100"
    )
    output = Tee()
    call_command(
        "generate_contacts",
        account=SLUG,
        list=sending_list.pk,
        contacts=contacts,
        seed=seed,
        stdout=output,
    )
    account.name = marker(contacts, seed)
    account.save(update_fields=["name"])
    return output.getvalue().strip()


class Tee(io.StringIO):
    """Keeps what is written and shows it as it comes."""

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        sys.stdout.flush()
        return super().write(text)


def analyze(vendor: str) -> float:
    """Fresh statistics (and, on PostgreSQL, a set visibility map) before timing."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(
                "VACUUM (ANALYZE) contacts_contact, contacts_label, contacts_labelkeycount, "
                f"contacts_labelvaluecount, {STATIC_TABLE}"
            )
        else:
            cursor.execute("ANALYZE")
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def machine_facts(vendor: str) -> dict[str, Any]:
    import django
    from django.db import connection

    facts: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "django": django.get_version(),
    }
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute("SHOW server_version")
            facts["postgresql"] = cursor.fetchone()[0]
            for setting in (
                "shared_buffers",
                "work_mem",
                "effective_cache_size",
                "max_parallel_workers_per_gather",
                "random_page_cost",
                "jit",
            ):
                cursor.execute(f"SHOW {setting}")
                facts[setting] = cursor.fetchone()[0]
            cursor.execute(
                "SELECT pg_size_pretty(pg_total_relation_size('contacts_label')), "
                "pg_size_pretty(pg_relation_size('label_account_key_value_idx')), "
                "pg_size_pretty(pg_total_relation_size('contacts_contact'))"
            )
            sizes = cursor.fetchone()
            facts["label table with indexes"], facts["label key/value index"] = sizes[:2]
            facts["contact table with indexes"] = sizes[2]
        else:
            cursor.execute("SELECT sqlite_version()")
            facts["sqlite"] = cursor.fetchone()[0]
            for pragma in ("journal_mode", "synchronous", "cache_size", "mmap_size", "page_size"):
                cursor.execute(f"PRAGMA {pragma}")
                facts[pragma] = cursor.fetchone()[0]
            facts["file size"] = f"{SQLITE_FILE.stat().st_size / 2**20:,.0f} MB"
    return facts


def calibrate(vendor: str) -> dict[str, float]:
    """How fast this machine is right now, to read the timings by: a million-row count done by
    the database alone and a million-step Python loop (medians of 5, in ms)."""
    from django.db import connection

    series = (
        "SELECT count(*) FROM generate_series(1, 1000000)"
        if vendor == "postgresql"
        else "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) "
        "SELECT count(*) FROM n"
    )

    def database() -> None:
        with connection.cursor() as cursor:
            cursor.execute(series)
            cursor.fetchall()

    def python() -> None:
        total = 0
        for number in range(1_000_000):
            total += number

    speeds = {}
    for name, function in (
        ("database: count 1M generated rows", database),
        ("python: 1M-step loop", python),
    ):
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            function()
            samples.append((time.perf_counter() - started) * 1000)
        speeds[name] = round(statistics.median(samples), 1)
    return speeds


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    rows = [
        (
            "operation",
            "rows",
            "ours ms (median / p95)",
            "ours SQL raw",
            "baseline ms (median)",
            "ratio",
            "status",
        ),
        *(
            (
                result.name,
                f"{result.rows:,}" if result.rows is not None else "",
                f"{result.ours_median:.1f} / {result.ours_p95:.1f}",
                f"{statistics.median(result.extras[COMPILED_RAW]):.1f}"
                if COMPILED_RAW in result.extras
                else "",
                f"{result.baseline_median:.1f} {result.baseline_name}",
                f"{result.ratio:.2f}",
                result.status,
            )
            for result in results
        ),
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    right = {1, 2, 3, 5}

    def line(row: tuple[str, ...]) -> str:
        cells = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        return "| " + " | ".join(cells) + " |"

    rule = (
        "|"
        + "|".join(
            "-" * (width + 1) + ":" if index in right else "-" * (width + 2)
            for index, width in enumerate(widths)
        )
        + "|"
    )
    return "\n".join([line(rows[0]), rule, *map(line, rows[1:])])


def misses(results: list[Result]) -> list[str]:
    return [
        f"{result.name}: " + "; ".join(name for name, ok in result.checks if not ok)
        for result in results
        if result.status == "MISS"
    ]


def run(args: argparse.Namespace, target: Target) -> int:
    from django.db import connection
    from django.test.utils import override_settings

    from trackly.models import Account

    target.create(drop=args.rebuild)
    vendor = connection.vendor
    build_load = os.getloadavg()
    built = ensure_data_set(target, args.contacts, args.seed)
    prepare_audiences(Account.objects.get(slug=SLUG))
    analyzed = analyze(vendor)
    print(f"{'VACUUM ANALYZE' if vendor == 'postgresql' else 'ANALYZE'}: {analyzed:.1f} s")
    account = Account.objects.get(slug=SLUG)
    factor = SQLITE_FACTOR if vendor == "sqlite" else 1
    only = re.compile(args.only) if args.only else None

    def wanted(name: str) -> bool:
        return only is None or bool(only.search(name))

    started = time.perf_counter()
    load_start = os.getloadavg()
    speed_start = calibrate(vendor)
    results: list[Result] = []
    # Production cursors (no query log, as with DEBUG off) for ours and the baselines alike.
    with override_settings(DEBUG=False):
        counts = [case for case in COUNTS + TYPED_COUNTS if wanted(case.name)]
        results += run_counts(account, counts, args.repeat, factor)
        results += run_audiences(account, args.repeat, factor, wanted)
        results += run_dropdowns(account, vendor, args.repeat, factor, wanted)
        results += run_value_search(account, vendor, args.repeat, factor, wanted)
        results += run_previews(account, vendor, args.repeat, factor, wanted)
    load_end = os.getloadavg()
    speed_end = calibrate(vendor)
    elapsed = time.perf_counter() - started

    facts = machine_facts(vendor)
    facts["load average (1, 5, 15 min) at start"] = [round(x, 2) for x in load_start]
    facts["load average at end"] = [round(x, 2) for x in load_end]
    facts["calibration ms at start"] = speed_start
    facts["calibration ms at end"] = speed_end
    print()
    print(table(results))
    print(
        f"\n{target.description}; {args.contacts:,} contacts; {args.repeat} timed runs each "
        f"after a warm-up; load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end; "
        f"{elapsed:.0f} s.\nCalibration (ms, start -> end): "
        + "; ".join(f"{name} {speed_start[name]} -> {speed_end[name]}" for name in speed_start)
    )
    for line in misses(results):
        print(f"MISS {line}")
    report = {
        "vendor": vendor,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "contacts": args.contacts,
        "seed": args.seed,
        "repeat": args.repeat,
        "only": args.only,
        "machine": facts,
        "generator": built,
        "load average when the run began": [round(x, 2) for x in build_load],
        "analyze seconds": round(analyzed, 1),
        "results": [
            {
                "operation": result.name,
                "detail": result.detail,
                "rows": result.rows,
                "ours ms": summary(result.ours),
                "baseline": result.baseline_name,
                "baseline ms": summary(result.baseline),
                "other candidates (median ms)": {
                    name: round(statistics.median(samples), 2)
                    for name, samples in result.baselines.items()
                    if name != result.baseline_name
                },
                "candidates left out after warm-up (warm-up ms)": result.pruned,
                **{f"{name} (ms)": summary(samples) for name, samples in result.extras.items()},
                "ratio": round(result.ratio, 3),
                "checks": dict(result.checks),
                "status": result.status,
                "notes": result.notes,
                # The compiler's SQL, for the counts (the other operations' is in the code).
                "ours sql": result.ours_sql if result.name.startswith("count") else [],
            }
            for result in results
        ],
    }
    # A partial run (--only) does not replace the day's full results.
    write_results(vendor, report, "-partial" if args.only else "")
    return 0


def write_suite_results(
    benchmark: str, vendor: str, machine: dict[str, Any], load: tuple, results: list[dict]
) -> Path:
    """Write the results of the bulk or import suite (`benchmark`) begun at load average `load`
    to `bench/results/<vendor>-<date>-<benchmark>.json`."""
    report = {
        "benchmark": benchmark,
        "vendor": vendor,
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "machine": machine,
        "load average at start and end": [
            [round(x, 2) for x in load],
            [round(x, 2) for x in os.getloadavg()],
        ],
        "results": results,
    }
    return write_results(vendor, report, f"-{benchmark}")


def write_results(vendor: str, report: dict[str, Any], suffix: str = "") -> Path:
    """Write a suite's report to `bench/results/<vendor>-<date><suffix>.json`."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{vendor}-{datetime.now(UTC):%Y-%m-%d}{suffix}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"Wrote {path.relative_to(ROOT)}")
    return path


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(samples), 2),
        "p95": round(p95(samples), 2),
        "runs": [round(ms, 1) for ms in samples],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    target = configure_environment()
    import django

    django.setup()
    return run(args, target)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--contacts", type=int, default=1_000_000, help="default 1,000,000")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query (>= 5)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    build = parser.add_mutually_exclusive_group()
    build.add_argument(
        "--reuse",
        dest="rebuild",
        action="store_false",
        help="reuse the stored data set when its marker matches (the default)",
    )
    build.add_argument("--rebuild", action="store_true", help="always build the data set anew")
    parser.set_defaults(rebuild=False)
    parser.add_argument("--only", default="", help="time only operations matching this regex")
    args = parser.parse_args(argv)
    if args.repeat < 5:
        parser.error("--repeat must be at least 5")
    if args.contacts < 1000:
        parser.error("--contacts must be at least 1000")
    return args


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
