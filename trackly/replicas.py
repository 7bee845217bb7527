"""Heavy reads on PostgreSQL streaming replicas (`DATABASE_REPLICA_URL`; docs/replicas.md).

Only reads that a view opts into with `reads_from_replica` go to a replica: audience counts,
member pages, exports, the label catalogue and the API's GET operations. Everything else,
every write, every read of a request after it wrote, every read inside a transaction and all
of a task worker's work goes to the primary. A user or API key that wrote reads from the
primary for `REPLICA_READ_YOUR_WRITES_SECONDS` afterwards, so a change shows at once.

A replica serves reads while it is reachable and at most `REPLICA_MAX_LAG_SECONDS` behind,
checked at most every `REPLICA_CHECK_SECONDS` per process; otherwise its reads go to the
primary, and the change is logged once. A replica that stops in the middle of a request
makes that view run again on the primary.

`ReplicaRouter` decides, `ReplicaMiddleware` keeps a request's state (did it write, which
replica serves it) and remembers writers after the response.
"""

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, Error, InterfaceError, OperationalError, connections
from django.http import HttpRequest, HttpResponse

from trackly.models import ApiKey

logger = logging.getLogger(__name__)

# Statements that write or lock nothing. Anything else on the primary marks the request as
# one that wrote; a SELECT or WITH that writes (a data-modifying CTE) or locks rows does too.
_READ_STATEMENT = re.compile(r"\s*(SELECT|WITH|SHOW|EXPLAIN|SAVEPOINT|RELEASE|ROLLBACK)\b", re.I)
_WRITE_INSIDE = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE)\b|\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE)\b", re.I
)

# What a replica says of itself: whether it is a standby, whether it is receiving WAL from the
# primary, whether it has replayed everything it received, and how old the last transaction
# it replayed is. An idle primary sends no transactions, so that age grows on a replica that
# is fully caught up: lag counts only while received WAL waits to be replayed, or while
# nothing is received at all.
_LAG_SQL = """
SELECT pg_is_in_recovery(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver),
       pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float
"""


@dataclass
class _RequestReads:
    """Where the current request's reads may go."""

    # Depth of `replica_reads` blocks: reads go to a replica only inside one.
    heavy: int = 0
    # The request wrote on the primary: its reads stay there from then on.
    wrote: bool = False
    # The replica chosen for this request ("default" when none is usable), on its first read.
    replica: str | None = None
    # The user or API key wrote moments ago, or a replica failed mid-request: primary only.
    primary_only: bool = False
    # Writes not counted, as the API key's last-used time (see `writes_not_tracked`).
    untracked: int = 0

    def watch(self, execute, sql, params, many, context):
        """An execute wrapper for the primary's connection: note statements that write."""
        if not self.wrote and not self.untracked and _writes(sql):
            self.wrote = True
        return execute(sql, params, many, context)


_current: ContextVar[_RequestReads | None] = ContextVar("trackly_replica_reads", default=None)


def _writes(sql: str) -> bool:
    if _cache_table_name() in sql:
        # The shared cache (rate-limit counters, these read-your-writes marks) is bookkeeping
        # that no read of the request depends on.
        return False
    if _READ_STATEMENT.match(sql) is None:
        return True
    return _WRITE_INSIDE.search(sql) is not None


def _cache_table_name() -> str:
    cache_settings = settings.CACHES["default"]
    if "DatabaseCache" in cache_settings["BACKEND"]:
        return f'"{cache_settings["LOCATION"]}"'
    # No cache table: a string no statement holds.
    return "\x00"


# ---------------------------------------------------------------------------------------------
# Replica health, per process
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Health:
    checked_at: float
    usable: bool
    reason: str


_health: dict[str, _Health] = {}


def forget_health() -> None:
    """Check every replica again on its next read (tests; a replica just restarted)."""
    _health.clear()


def _check(alias: str) -> tuple[bool, str]:
    """Whether the replica may serve reads now, and why not."""
    connection = connections[alias]
    try:
        with connection.cursor() as cursor:
            cursor.execute(_LAG_SQL)
            in_recovery, receiving, caught_up, replay_age = cursor.fetchone()
    except Error as error:
        _close(alias)
        return False, f"it is unreachable ({_one_line(error)})"
    if not in_recovery:
        return False, "it is not a standby (pg_is_in_recovery() is false)"
    lag = 0.0 if receiving and caught_up else replay_age
    if lag is None:
        return False, "it has replayed no transaction yet"
    if lag > settings.REPLICA_MAX_LAG_SECONDS:
        return False, (
            f"it is {lag:.1f} s behind the primary "
            f"(REPLICA_MAX_LAG_SECONDS is {settings.REPLICA_MAX_LAG_SECONDS})"
        )
    return True, f"it is {lag:.1f} s behind the primary"


def _record(alias: str, usable: bool, reason: str) -> None:
    """Keep a replica's state; log when it changes, not on every check."""
    before = _health.get(alias)
    _health[alias] = _Health(time.monotonic(), usable, reason)
    if (before.usable if before is not None else True) == usable:
        return
    if usable:
        logger.info("Replica %s serves reads again: %s.", alias, reason)
    else:
        logger.warning("Reads of replica %s go to the primary: %s.", alias, reason)


def _usable(alias: str) -> bool:
    """Whether `alias` is usable, checked at most every REPLICA_CHECK_SECONDS; and, when it
    is, whether this thread's connection to it is open or opens now."""
    health = _health.get(alias)
    if health is None or time.monotonic() - health.checked_at >= settings.REPLICA_CHECK_SECONDS:
        _record(alias, *_check(alias))
        health = _health[alias]
    if not health.usable:
        return False
    # The replica may have stopped since the last check: a connection that fails now fails
    # here, not in the middle of the view.
    connection = connections[alias]
    try:
        connection.close_if_health_check_failed()
        connection.ensure_connection()
    except Error as error:
        _close(alias)
        _record(alias, False, f"it is unreachable ({_one_line(error)})")
        return False
    return True


def _close(alias: str) -> None:
    try:
        connections[alias].close()
    except Error:
        # A connection that broke can fail to close; it is dropped either way.
        connections[alias].connection = None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _choose_replica() -> str:
    """A usable replica, or the primary when there is none."""
    aliases = list(settings.DATABASE_REPLICAS)
    random.shuffle(aliases)
    for alias in aliases:
        if _usable(alias):
            return alias
    return DEFAULT_DB_ALIAS


# ---------------------------------------------------------------------------------------------
# Routing
# ---------------------------------------------------------------------------------------------


class ReplicaRouter:
    """Reads inside `replica_reads` go to a usable replica unless the request wrote, the user
    or key wrote moments ago, or the primary is inside a transaction; everything else goes to
    the primary. Migrations run on the primary only."""

    def db_for_read(self, model, **hints) -> str:
        state = _current.get()
        if (
            state is None
            or not state.heavy
            or state.wrote
            or state.primary_only
            or connections[DEFAULT_DB_ALIAS].in_atomic_block
        ):
            return DEFAULT_DB_ALIAS
        if state.replica is None:
            state.replica = _choose_replica()
        return state.replica

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # A replica holds the primary's rows: an object read from one may point to the other.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        return db == DEFAULT_DB_ALIAS


# ---------------------------------------------------------------------------------------------
# Opting in
# ---------------------------------------------------------------------------------------------


@contextmanager
def replica_reads() -> Iterator[None]:
    """Let the block's reads go to a replica (in a request that `ReplicaMiddleware` follows;
    elsewhere, as in a task worker, this does nothing)."""
    state = _current.get()
    if state is None:
        yield
        return
    state.heavy += 1
    try:
        yield
    finally:
        state.heavy -= 1


@contextmanager
def writes_not_tracked() -> Iterator[None]:
    """Do not count the block's writes as the request's: for bookkeeping that no read of the
    request or of the next ones depends on (an API key's last-used time)."""
    state = _current.get()
    if state is None:
        yield
        return
    state.untracked += 1
    try:
        yield
    finally:
        state.untracked -= 1


def reads_from_replica(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Decorate a view whose reads are heavy and may be a few seconds old: they go to a
    replica, unless the user or API key wrote within REPLICA_READ_YOUR_WRITES_SECONDS.

    Put it below the decorators that check who may see the page, so that those checks read
    the primary. A replica that fails during the view makes the view run again on the
    primary (the view has not written: had it, its reads would have gone there); a streamed
    response reads from the same replica as it streams.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        state = _current.get()
        if state is None:
            return view(request, *args, **kwargs)
        if wrote_recently(request):
            state.primary_only = True
        with replica_reads():
            try:
                response = view(request, *args, **kwargs)
            except (OperationalError, InterfaceError) as error:
                failed = state.replica
                if failed in (None, DEFAULT_DB_ALIAS) or state.wrote:
                    raise
                _close(failed)
                _record(failed, False, f"it failed during a request ({_one_line(error)})")
                state.primary_only = True
            else:
                if getattr(response, "streaming", False):
                    response.streaming_content = _streamed(state, response.streaming_content)
                return response
        return view(request, *args, **kwargs)

    return wrapper


def _streamed(state: _RequestReads, chunks: Iterator) -> Iterator:
    """Stream `chunks` with the request's reads going where the view's went."""
    outer = _current.get()
    _current.set(state)
    state.heavy += 1
    try:
        yield from chunks
    finally:
        state.heavy -= 1
        _current.set(outer)


# ---------------------------------------------------------------------------------------------
# Read-your-writes
# ---------------------------------------------------------------------------------------------


def _writer(request: HttpRequest) -> str | None:
    """Who made the request: the API key, else the logged-in user; None for anyone else."""
    api_key = getattr(request, "auth", None)
    if isinstance(api_key, ApiKey):
        return f"api-key:{api_key.pk}"
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _wrote_key(writer: str) -> str:
    return f"trackly:replicas:wrote:{writer}"


def wrote_recently(request: HttpRequest) -> bool:
    """Whether the request's user or API key wrote within REPLICA_READ_YOUR_WRITES_SECONDS."""
    writer = _writer(request)
    if writer is None or settings.REPLICA_READ_YOUR_WRITES_SECONDS <= 0:
        return False
    return cache.get(_wrote_key(writer)) is not None


def remember_write(request: HttpRequest) -> None:
    """Send the request's user or API key to the primary for its next reads."""
    writer = _writer(request)
    if writer is not None and settings.REPLICA_READ_YOUR_WRITES_SECONDS > 0:
        cache.set(_wrote_key(writer), 1, timeout=settings.REPLICA_READ_YOUR_WRITES_SECONDS)


class ReplicaMiddleware:
    """Follow each request's writes on the primary, and remember who wrote after the
    response; nothing at all without replicas."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.DATABASE_REPLICAS:
            return self.get_response(request)
        state = _RequestReads()
        token = _current.set(state)
        try:
            with connections[DEFAULT_DB_ALIAS].execute_wrapper(state.watch):
                response = self.get_response(request)
        finally:
            _current.reset(token)
        if state.wrote:
            remember_write(request)
        return response
