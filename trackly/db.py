"""What the chunked writers (`contacts.importing`, `audiences.bulk`) tell PostgreSQL about their
statements."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

# A chunk's ids as one `bigint[]` parameter on PostgreSQL (`id_list` makes it): sent as one
# string, which the server splits and reads. psycopg adapts a Python list element by element
# (finding for each the narrowest type that holds it), which took 30 ms for 20,000 ids, more
# than the lock statement they fed (docs/performance.md, 7c).
ID_ARRAY = "string_to_array(%s, ',')::bigint[]"


def id_list(ids: Iterable[int]) -> str:
    """The parameter of `ID_ARRAY` for these ids."""
    return ",".join(map(str, ids))


def plan_as_lookups() -> None:
    """Plan the rest of the current transaction's statements as what a chunk's are: lookups of
    at most some thousands of rows by indexed keys (PostgreSQL; nothing elsewhere).

    - No sequential scans where an index can serve. A chunk's ids or phone numbers are one
      array constant, and at a million contacts PostgreSQL's default costs (random_page_cost
      4, for spinning disks) price ten thousand index probes above a parallel scan of the whole
      table, which reads far more than the probes do.
    - No JIT compilation: such plans cost enough to be compiled, which takes longer than it
      saves over some thousands of rows.

    The measurements behind both are in docs/performance.md (7. Bulk label changes, and
    7b. CSV import).

    Both settings end with the transaction (and outside one, with the statement: call it in
    a transaction), so that a connection pooler hands no other client a connection with them.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
        )


@contextmanager
def lookup_reads() -> Iterator[None]:
    """Reads planned as lookups (`plan_as_lookups`) outside a chunk's transaction: in a
    transaction of their own on PostgreSQL, so that the settings end with it and a connection
    pooler hands no other client a connection with them; nothing on SQLite, where a
    transaction would take the write lock for reading."""
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        plan_as_lookups()
        yield
