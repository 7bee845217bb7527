"""The cache backends the API's rate-limit counters live in (see `trackly.settings.CACHES`).

Django's own backends either lose increments made at once by several processes (the database
cache reads, adds and writes back) or, on SQLite, make every request wait for the main
database's write lock. These two count every request of every process exactly.
"""

import base64
import pickle
import sqlite3
import time
from pathlib import Path
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction
from django.utils import timezone


class AtomicDatabaseCache(DatabaseCache):
    """Django's database cache with an atomic `incr`.

    The base class reads the value, adds and writes it back, so two processes incrementing at
    once lose one increment. Here the row is locked (`SELECT ... FOR UPDATE`) from the read to
    the write, so a counter shared by several processes counts every request, and an increment
    waits for the one before it instead of retrying (retries can run out when many processes
    count the same key at once).
    """

    def incr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        table = connection.ops.quote_name(self._table)
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        now = connection.ops.adapt_datetimefield_value(timezone.now().replace(microsecond=0))
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(
                f"SELECT value FROM {table} WHERE cache_key = %s AND expires > %s{lock}",  # noqa: S608
                [key, now],
            )
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            # The values are the cache's own pickles (as the base class reads them).
            value = pickle.loads(base64.b64decode(row[0].encode())) + delta  # noqa: S301
            new = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(
                f"UPDATE {table} SET value = %s WHERE cache_key = %s",  # noqa: S608
                [new, key],
            )
        return value


class SQLiteCache(BaseCache):
    """A cache in a SQLite file of its own: where the API's rate-limit counters live when the
    database is SQLite.

    Every API request writes its key's counter. In the main database file each of those writes
    would wait for SQLite's one write lock, which a job holds for a whole chunk at a time, and
    would be one more writer for the job worker to wait behind. In a file of their own the
    counters wait only for each other, one short statement at a time. Every process on the
    machine opens the same file, so several web workers share the counts (a local-memory cache
    would count per process). Whole numbers are stored as SQLite integers, so that `incr` is one
    atomic UPDATE; other values are pickled. Expired entries are deleted as new ones are made.
    """

    def __init__(self, location: str, params: dict) -> None:
        super().__init__(params)
        self._path = location
        # Django gives each thread its own cache object, so this is one connection per thread.
        self._connection: sqlite3.Connection | None = None

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self._path, timeout=5, isolation_level=None, check_same_thread=False
            )
            # The counters live seconds: losing the last ones in a power cut costs nothing.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB NOT NULL, "
                "expires REAL) WITHOUT ROWID"
            )
            # Serves the deletion of expired entries.
            connection.execute("CREATE INDEX IF NOT EXISTS cache_expires ON cache (expires)")
            self._connection = connection
        return self._connection

    @staticmethod
    def _encode(value: Any) -> int | bytes:
        if type(value) is int and -(2**63) <= value < 2**63:
            return value
        return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def _decode(stored: int | bytes) -> Any:
        # The values are this cache's own pickles.
        return stored if isinstance(stored, int) else pickle.loads(stored)  # noqa: S301

    def _write(self, mode: str, key, value, timeout, version) -> bool:
        key = self.make_and_validate_key(key, version=version)
        now = time.time()
        expires = self.get_backend_timeout(timeout)
        db = self._db()
        db.execute("DELETE FROM cache WHERE expires <= ?", [now])
        # `add` replaces only an entry that has expired (and is not deleted yet).
        condition = "" if mode == "set" else " WHERE cache.expires <= ?"
        cursor = db.execute(
            "INSERT INTO cache (key, value, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO "  # noqa: S608
            f"UPDATE SET value = excluded.value, expires = excluded.expires{condition}",
            [key, self._encode(value), expires] + ([] if mode == "set" else [now]),
        )
        return cursor.rowcount == 1

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> None:
        self._write("set", key, value, timeout, version)

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        return self._write("add", key, value, timeout, version)

    def get(self, key, default=None, version=None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        row = (
            self._db()
            .execute(
                "SELECT value FROM cache WHERE key = ? AND (expires IS NULL OR expires > ?)",
                [key, time.time()],
            )
            .fetchone()
        )
        return default if row is None else self._decode(row[0])

    def incr(self, key, delta=1, version=None) -> Any:
        made_key = self.make_and_validate_key(key, version=version)
        row = (
            self._db()
            .execute(
                "UPDATE cache SET value = value + ? WHERE key = ? AND typeof(value) = 'integer' "
                "AND (expires IS NULL OR expires > ?) RETURNING value",
                [delta, made_key, time.time()],
            )
            .fetchone()
        )
        if row is not None:
            return row[0]
        # Missing (ValueError), or not a whole number: read, add and write back.
        return super().incr(key, delta, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        cursor = self._db().execute(
            "UPDATE cache SET expires = ? WHERE key = ? AND (expires IS NULL OR expires > ?)",
            [self.get_backend_timeout(timeout), key, time.time()],
        )
        return cursor.rowcount == 1

    def delete(self, key, version=None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        cursor = self._db().execute(
            "DELETE FROM cache WHERE key = ? AND (expires IS NULL OR expires > ?)",
            [key, time.time()],
        )
        return cursor.rowcount == 1

    def has_key(self, key, version=None) -> bool:
        missing = object()
        return self.get(key, missing, version=version) is not missing

    def clear(self) -> None:
        self._db().execute("DELETE FROM cache")
