"""Generate synthetic contacts with labels, set-based, for benchmarks and load tests.

The data follows the benchmark protocol of docs/performance.md: about 8 labels per contact on
30 keys (low-cardinality keys such as `tier`, keys with hundreds or thousands of values, two
near-unique keys), value frequencies skewed Zipf-like, and the keys and values of the seed's
example audiences. Keys are drawn independently of each other.

PostgreSQL loads with COPY (psycopg 3 `copy.write_row`) straight into the real tables, one COPY
per chunk, so the statement-level count triggers aggregate once per chunk; a large load rebuilds
the secondary indexes and foreign keys afterwards. SQLite loads with multi-row INSERTs under
load-only PRAGMAs; its count triggers are row-level and run for every label. Everything happens
in one transaction, so a failed run leaves nothing behind. The count triggers always run.
"""

import math
import random
import time
from bisect import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate, chain

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from contacts.labels import MAX_LABELS_PER_CONTACT, clean_key, clean_value
from contacts.models import Contact, Label, LabelKeyCount, LabelValueCount, SendingList
from trackly.models import Account
from trackly.phones import normalize_phone

# Bump when the generated data changes, so that stored benchmark data sets are rebuilt.
DATA_VERSION = 2
# Contacts generated (and written) per chunk: bounds memory at a few hundred MB.
CHUNK_SIZE = 50_000
UNSUBSCRIBED_SHARE = 0.04
# PostgreSQL: rebuild a table's indexes after the load when it adds at least this share of the
# rows the table already has.
REBUILD_SHARE = 0.25

# ---------------------------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------------------------

# NANP: real US area codes, exchanges 200-999 without the N11 service codes and 555; every
# number of this space is valid for the phone normaliser (checked on a sample at each run).
AREA_CODES = (
    "201", "212", "213", "305", "312", "404", "415", "512",
    "602", "617", "646", "702", "713", "818", "917", "972",
)  # fmt: skip
EXCHANGES = tuple(
    str(exchange) for exchange in range(200, 1000) if exchange % 100 != 11 and exchange != 555
)
LINES = 10_000
NUMBER_SPACE = len(AREA_CODES) * len(EXCHANGES) * LINES
# index -> (STRIDE * index + OFFSET) mod NUMBER_SPACE is a bijection (STRIDE is coprime to the
# space), so the numbers of a list's first N contacts are distinct and look scattered.
STRIDE = 48_271_117
OFFSET = 7_919_993
assert math.gcd(STRIDE, NUMBER_SPACE) == 1


def phone_number(index: int) -> str:
    """The `index`-th generated number, in E.164 form; distinct for distinct indexes."""
    rest, line = divmod((STRIDE * index + OFFSET) % NUMBER_SPACE, LINES)
    area, exchange = divmod(rest, len(EXCHANGES))
    return f"+1{AREA_CODES[area]}{EXCHANGES[exchange]}{line:04d}"


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeySpec:
    """One label key: the share of contacts that have it and how its value is drawn."""

    name: str
    presence: float
    # Either a fixed set of values with relative weights...
    values: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    # ...or a function drawing a (near-unique) value.
    make_value: Callable[[random.Random], str] | None = None
    cum_weights: tuple[float, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cum_weights", tuple(accumulate(self.weights)))

    def draw(self, rng: random.Random, count: int) -> list[str]:
        if self.make_value is not None:
            return [self.make_value(rng) for _ in range(count)]
        # random.choices with cum_weights, inlined: this loop runs 8M times for 1M contacts.
        values, cum_weights, rand = self.values, self.cum_weights, rng.random
        total = cum_weights[-1]
        return [values[bisect(cum_weights, rand() * total)] for _ in range(count)]


def weighted(name: str, presence: float, weights: dict[str, float]) -> KeySpec:
    return KeySpec(name, presence, tuple(weights), tuple(weights.values()))


def zipf(name: str, presence: float, values: Sequence[str], exponent: float = 1.0) -> KeySpec:
    """Values in decreasing frequency: the value of rank r is drawn with weight 1 / r^exponent."""
    weights = tuple(1 / rank**exponent for rank in range(1, len(values) + 1))
    return KeySpec(name, presence, tuple(values), weights)


# Purchase dates spread over the three years up to this day, one in a hundred not a date (as a
# real account has a few `Jan 15, 2024`); fixed, so that a seed gives the same data set.
LAST_DATE = date(2026, 12, 31)


def purchase_date(rng: random.Random) -> str:
    if rng.random() < 0.01:
        return "unknown"
    return str(LAST_DATE - timedelta(days=rng.randrange(3 * 365)))


def numbered(prefix: str, count: int) -> list[str]:
    width = len(str(count))
    return [f"{prefix}-{rank:0{width}d}" for rank in range(1, count + 1)]


SOURCES = ["facebook", "google", "organic", "email", "referral", "tiktok", "instagram", "partner"]
CATEGORIES = ["fashion", "electronics", "home", "beauty", "sports", "toys", "garden", "books"]
CATEGORIES += ["grocery", "pets", "auto", "jewelry"]
QUARTERS = [f"{year}-Q{quarter}" for year in range(2022, 2026) for quarter in range(1, 5)]
MONTHS = [f"{year}-{month:02d}" for year in range(2019, 2025) for month in range(1, 13)]

KEYS = (
    # The keys and values of the seed's example audiences.
    weighted("buyer_status", 0.85, {"never": 45, "once": 35, "repeat": 20}),
    weighted("ltv_tier", 0.55, {"standard": 55, "new": 30, "vip": 15}),
    weighted("last_purchase_days", 0.45, {"7": 15, "30": 25, "90": 30, "180": 20, "365": 10}),
    # A date key, for date comparisons and WITHIN LAST n DAYS.
    KeySpec("last_purchase", 0.45, make_value=purchase_date),
    KeySpec("cohort", 0.55, tuple(QUARTERS), (2, 2, 3, 3, 4, 4, 5, 5, 9, 8, 7, 7, 6, 5, 3, 2)),
    weighted("engagement_level", 0.55, {"high": 25, "medium": 45, "low": 30}),
    weighted("promo_responsive", 0.5, {"true": 40, "false": 60}),
    # Low cardinality.
    weighted("tier", 0.3, {"free": 60, "basic": 25, "pro": 12, "enterprise": 3}),
    zipf("source", 0.45, SOURCES),
    weighted("aov_bucket", 0.3, {"low": 45, "medium": 40, "high": 15}),
    zipf("category_interest", 0.35, CATEGORIES),
    weighted("vip", 0.04, {"true": 1}),
    weighted("churned", 0.05, {"true": 1}),
    weighted("device", 0.3, {"ios": 45, "android": 40, "web": 10, "desktop": 5}),
    zipf("consent_source", 0.2, ["checkout", "popup", "keyword", "import", "api"]),
    zipf("birthday_month", 0.15, [f"{month:02d}" for month in range(1, 13)], exponent=0.1),
    weighted("sms_frequency", 0.15, {"weekly": 55, "daily": 25, "monthly": 20}),
    zipf("utm_medium", 0.15, numbered("medium", 10)),
    zipf("language", 0.2, numbered("lang", 40), exponent=1.2),
    # Tens to thousands of values.
    zipf("state", 0.2, numbered("state", 60), exponent=0.8),
    zipf("signup_month", 0.2, MONTHS, exponent=0.5),
    zipf("loyalty_points", 0.1, numbered("points", 25), exponent=0.7),
    zipf("store", 0.1, numbered("store", 150), exponent=0.8),
    zipf("country", 0.2, numbered("country", 200), exponent=1.1),
    zipf("campaign", 0.3, numbered("campaign", 300)),
    zipf("favorite_brand", 0.15, numbered("brand", 500), exponent=0.9),
    zipf("city", 0.3, numbered("city", 800)),
    zipf("referrer", 0.05, numbered("ref", 1000)),
    zipf("zip", 0.12, [f"{code:05d}" for code in range(10001, 15001)], exponent=0.7),
    # Near-unique.
    KeySpec("customer_id", 0.45, make_value=lambda rng: f"cus_{rng.getrandbits(48):012x}"),
    KeySpec("order_ref", 0.05, make_value=lambda rng: f"ORD-{rng.randrange(10**8):08d}"),
)
LABELS_PER_CONTACT = sum(spec.presence for spec in KEYS)


def check_keys() -> None:
    """Every generated key and fixed value passes the one label validator."""
    if len(KEYS) > MAX_LABELS_PER_CONTACT:
        raise CommandError("More keys than a contact may have labels.")
    sample = random.Random(0)
    for spec in KEYS:
        if clean_key(spec.name) != spec.name:
            raise CommandError(f"Invalid generated key {spec.name!r}.")
        for value in [*spec.values, *spec.draw(sample, 3)]:
            if clean_value(value) != value:
                raise CommandError(f"Invalid generated value {value!r} for {spec.name!r}.")


def chunk_labels(rng: random.Random, count: int) -> Iterator[tuple[int, str, str]]:
    """(contact position in the chunk, key, value) for a chunk of `count` contacts, key by key
    and in value order within a key (locality for the index and the count tables).

    Drawing who has a key as a binomial count plus a sample costs one draw per label rather
    than one per contact and key.
    """
    positions = range(count)
    for spec in KEYS:
        having = rng.sample(positions, rng.binomialvariate(count, spec.presence))
        key = spec.name
        for value, position in sorted(zip(spec.draw(rng, len(having)), having, strict=True)):
            yield position, key, value


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Create N synthetic contacts on a sending list, with about "
        f"{LABELS_PER_CONTACT:.1f} labels each on {len(KEYS)} keys (Zipf-like values, the seed's "
        "example audience keys included); deterministic for a seed. Set-based, in one "
        "transaction: COPY on PostgreSQL, multi-row INSERTs on SQLite; (VACUUM) ANALYZE at the "
        "end. Phone numbers continue after the list's existing contacts, so reruns append."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="The account's slug.")
        parser.add_argument("--list", required=True, type=int, help="The sending list's id.")
        parser.add_argument("--contacts", required=True, type=int, help="How many to create.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")

    def handle(self, *args, **options) -> None:
        account = Account.objects.filter(slug=options["account"]).first()
        if account is None:
            raise CommandError(f"No account with the slug {options['account']!r}.")
        sending_list = SendingList.objects.filter(account=account, pk=options["list"]).first()
        if sending_list is None:
            raise CommandError(f"The account has no sending list {options['list']}.")
        count = options["contacts"]
        if count < 1:
            raise CommandError("--contacts must be at least 1.")
        check_keys()
        first = Contact.objects.filter(sending_list=sending_list).count()
        if first + count > NUMBER_SPACE:
            raise CommandError(f"A list can have at most {NUMBER_SPACE:,} generated numbers.")
        sample = [first, first + count - 1, *range(first, first + count, max(count // 100, 1))]
        for index in sample:
            phone = phone_number(index)
            if normalize_phone(phone) != phone:
                raise CommandError(f"Generated an invalid phone number {phone}.")

        load_class = PostgresLoad if connection.vendor == "postgresql" else SqliteLoad
        load = load_class(self, account, sending_list, first, count, random.Random(options["seed"]))
        started = time.perf_counter()
        try:
            load.run()
        except IntegrityError as error:
            raise CommandError(f"Nothing was created: {error}") from error
        loaded = time.perf_counter() - started
        load.analyze()
        total = time.perf_counter() - started
        rows = count + load.labels
        self.stdout.write(
            f"Created {count:,} contacts and {load.labels:,} labels "
            f"({load.labels / count:.2f} per contact) on list {sending_list.pk} in {total:.1f} s: "
            f"{count / total:,.0f} contacts/s, {rows / total:,.0f} rows/s "
            f"({rows / loaded:,.0f} rows/s before {load.analyze_step})."
        )
        self.stdout.write(
            "  " + "; ".join(f"{step} {sec:.1f} s" for step, sec in load.timings.items())
        )


class Load:
    """One run of the generator: draw the data chunk by chunk and write it set-based."""

    analyze_step = "ANALYZE"

    def __init__(
        self,
        command: Command,
        account: Account,
        sending_list: SendingList,
        first: int,
        count: int,
        rng: random.Random,
    ) -> None:
        self.command = command
        self.account = account
        self.sending_list = sending_list
        self.first = first
        self.count = count
        self.rng = rng
        self.labels = 0
        self.done = 0
        self.now = timezone.now()
        self.timings: dict[str, float] = {}
        self.clock = time.perf_counter()

    def lap(self, step: str) -> None:
        """Add the time since the previous lap to `step`."""
        now = time.perf_counter()
        self.timings[step] = self.timings.get(step, 0.0) + now - self.clock
        self.clock = now

    def chunks(self) -> Iterator[tuple[list[tuple], list[tuple[int, str, str]]]]:
        """Per chunk: contact rows (without id), and labels as (position, key, value)."""
        rng, account_id, list_id = self.rng, self.account.pk, self.sending_list.pk
        subscribed, unsubscribed = Contact.Status.SUBSCRIBED, Contact.Status.UNSUBSCRIBED
        adapt = connection.ops.adapt_datetimefield_value
        created = adapt(self.now)
        unsubscribed_at = [adapt(self.now - timedelta(days=days)) for days in range(1, 201)]
        for start in range(self.first, self.first + self.count, CHUNK_SIZE):
            self.clock = time.perf_counter()
            size = min(CHUNK_SIZE, self.first + self.count - start)
            contacts = []
            for index in range(start, start + size):
                if rng.random() < UNSUBSCRIBED_SHARE:
                    status, at = unsubscribed, unsubscribed_at[rng.randrange(200)]
                else:
                    status, at = subscribed, None
                contacts.append(
                    (account_id, list_id, phone_number(index), status, at, created, created)
                )
            labels = list(chunk_labels(rng, size))
            self.lap("generate (Python)")
            yield contacts, labels

    def chunk_done(self, contacts: int, labels: int) -> None:
        self.done += contacts
        self.labels += labels
        if self.done % (10 * CHUNK_SIZE) == 0 and self.done < self.count:
            self.command.stdout.write(f"  {self.done:,} contacts")

    def run(self) -> None:
        raise NotImplementedError

    def analyze(self) -> None:
        raise NotImplementedError


CONTACT_COLUMNS = (
    "id, account_id, sending_list_id, phone_number, status, unsubscribed_at, created_at, updated_at"
)
LABEL_COLUMNS = "account_id, contact_id, key, value"
TABLES = [model._meta.db_table for model in (Contact, Label, LabelKeyCount, LabelValueCount)]


class PostgresLoad(Load):
    """COPY into the real tables. When the load is large next to what a table holds, its
    secondary indexes, unique constraints and foreign keys are dropped for the load and rebuilt
    (and validated) afterwards, in the same transaction, from their own definitions, as
    PostgreSQL's "Populating a Database" advises: one sort per index and one anti-join per
    foreign key instead of millions of index insertions and per-row checks."""

    analyze_step = "VACUUM ANALYZE"

    def run(self) -> None:
        account_id = self.account.pk
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            trigger_timing = self.track_trigger_time(cursor)
            rebuild = []
            for table, rows in (
                (TABLES[0], self.count),
                (TABLES[1], self.count * LABELS_PER_CONTACT),
            ):
                if rows >= REBUILD_SHARE * self.estimated_rows(cursor, table):
                    rebuild += self.drop_secondary(cursor, table)
            self.lap("drop indexes and foreign keys")
            for contacts, labels in self.chunks():
                # Ids from the contact sequence, so that labels can point at them in the same
                # pass; the sequence never hands them to anyone else.
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [TABLES[0], len(contacts)],
                )
                ids = [row[0] for row in cursor.fetchall()]
                with cursor.copy(f"COPY {TABLES[0]} ({CONTACT_COLUMNS}) FROM STDIN") as copy:
                    for contact_id, row in zip(ids, contacts, strict=True):
                        copy.write_row((contact_id, *row))
                self.lap("COPY contacts")
                # One COPY per chunk: the statement-level count triggers run once per chunk.
                with cursor.copy(f"COPY {TABLES[1]} ({LABEL_COLUMNS}) FROM STDIN") as copy:
                    for position, key, value in labels:
                        copy.write_row((account_id, ids[position], key, value))
                self.lap("COPY labels (count triggers included)")
                self.chunk_done(len(ids), len(labels))
            if trigger_timing:
                cursor.execute(
                    "SELECT coalesce(sum(total_time), 0) FROM pg_stat_xact_user_functions "
                    "WHERE funcname = 'contacts_label_counts'"
                )
                self.timings["of which count triggers"] = cursor.fetchone()[0] / 1000
            self.clock = time.perf_counter()
            for statement in rebuild:
                cursor.execute(statement)
            self.lap("rebuild indexes, validate foreign keys")
        self.lap("commit")

    @staticmethod
    def estimated_rows(cursor, table: str) -> float:
        cursor.execute(
            "SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", [table]
        )
        return cursor.fetchone()[0]

    @staticmethod
    def drop_secondary(cursor, table: str) -> list[str]:
        """Drop `table`'s foreign keys, unique constraints (none that a foreign key relies on)
        and other non-primary indexes; return the statements that create them again."""
        cursor.execute(
            """
            SELECT format('ALTER TABLE %%I DROP CONSTRAINT %%I', %(table)s, conname),
                   format('ALTER TABLE %%I ADD CONSTRAINT %%I %%s', %(table)s, conname,
                          pg_get_constraintdef(c.oid)),
                   contype = 'f'
            FROM pg_constraint c
            WHERE conrelid = %(table)s::regclass AND contype IN ('f', 'u')
              AND NOT EXISTS (
                  SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid
                  AND c.contype = 'u')
            UNION ALL
            SELECT format('DROP INDEX %%s', indexrelid::regclass), pg_get_indexdef(indexrelid),
                   false
            FROM pg_index i
            WHERE indrelid = %(table)s::regclass AND NOT indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """,
            {"table": table},
        )
        objects = cursor.fetchall()
        for drop, _, _ in objects:
            cursor.execute(drop)
        # Indexes before foreign keys: a foreign key is validated with the indexes in place.
        return [create for _, create, _ in sorted(objects, key=lambda row: row[2])]

    @staticmethod
    def track_trigger_time(cursor) -> bool:
        """Count the trigger function's time in this transaction, when allowed (superuser)."""
        try:
            with transaction.atomic():
                cursor.execute("SET LOCAL track_functions = 'pl'")
        except DatabaseError:
            return False
        return True

    def analyze(self) -> None:
        self.clock = time.perf_counter()
        with connection.cursor() as cursor:
            # VACUUM sets the visibility map, which index-only scans need.
            cursor.execute(f"VACUUM (ANALYZE) {', '.join(TABLES)}")
        self.lap(self.analyze_step)


# Rows per multi-row INSERT on SQLite: one statement per row pays a statement journal per row
# (the count triggers make every insert a statement that may need undoing), which made label
# inserts 3x slower. 8 columns x 1,000 rows stays under SQLite's 32,766 parameters.
SQLITE_ROWS_PER_INSERT = 1_000


class SqliteLoad(Load):
    # Load-only connection settings, restored afterwards: a 1 GB page cache, no fsync.
    PRAGMAS = {"cache_size": -1_000_000, "synchronous": 0, "temp_store": 2}

    def run(self) -> None:
        account_id = self.account.pk
        with connection.cursor() as cursor:
            saved = {}
            for name, value in self.PRAGMAS.items():
                cursor.execute(f"PRAGMA {name}")
                saved[name] = cursor.fetchone()[0]
                cursor.execute(f"PRAGMA {name} = {value}")
            try:
                with transaction.atomic():
                    # Transactions begin IMMEDIATE (settings), holding the write lock: the ids
                    # after the largest one ever used are ours.
                    cursor.execute(
                        "SELECT max(coalesce((SELECT max(id) FROM contacts_contact), 0), "
                        "coalesce((SELECT seq FROM sqlite_sequence "
                        "WHERE name = 'contacts_contact'), 0))"
                    )
                    next_id = cursor.fetchone()[0] + 1
                    for contacts, labels in self.chunks():
                        ids = range(next_id, next_id + len(contacts))
                        next_id += len(contacts)
                        rows = [
                            (contact_id, *row)
                            for contact_id, row in zip(ids, contacts, strict=True)
                        ]
                        self.insert(cursor, TABLES[0], CONTACT_COLUMNS, rows)
                        self.lap("insert contacts")
                        rows = [
                            (account_id, ids[position], key, value)
                            for position, key, value in labels
                        ]
                        self.insert(cursor, TABLES[1], LABEL_COLUMNS, rows)
                        self.lap("insert labels (count triggers included)")
                        self.chunk_done(len(ids), len(labels))
                    self.clock = time.perf_counter()
                self.lap("commit")
            finally:
                for name, value in saved.items():
                    cursor.execute(f"PRAGMA {name} = {value}")

    @staticmethod
    def insert(cursor, table: str, columns: str, rows: list[tuple]) -> None:
        """Insert `rows` into `table` (constants, not input) in multi-row statements."""
        per_statement = SQLITE_ROWS_PER_INSERT
        row = f"({', '.join(['%s'] * len(rows[0]))})"
        into = f"INSERT INTO {table} ({columns}) VALUES "  # noqa: S608 (constants)
        full = len(rows) - len(rows) % per_statement
        if full:
            batches = (
                list(chain.from_iterable(rows[start : start + per_statement]))
                for start in range(0, full, per_statement)
            )
            cursor.executemany(into + ", ".join([row] * per_statement), batches)
        if full < len(rows):
            cursor.executemany(into + row, rows[full:])

    def analyze(self) -> None:
        self.clock = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.lap(self.analyze_step)
