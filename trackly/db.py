"""What the chunked writers (`contacts.importing`, `audiences.bulk`) tell PostgreSQL about their
statements."""

from django.db import connection


def plan_as_lookups(*, session: bool = False) -> None:
    """Plan the rest of the current transaction's statements (with `session`, the connection's)
    as what a chunk's are: lookups of at most some thousands of rows by indexed keys
    (PostgreSQL; nothing elsewhere).

    - No sequential scans where an index can serve. A chunk's ids or phone numbers are one
      array constant, and at a million contacts PostgreSQL's default costs (random_page_cost
      4, for spinning disks) price ten thousand index probes above a parallel scan of the whole
      table, which reads far more than the probes do.
    - No JIT compilation: such plans cost enough to be compiled, which takes longer than it
      saves over some thousands of rows.

    The measurements behind both are in docs/performance.md (7. Bulk label changes, and
    7b. CSV import).

    Both settings end with the transaction, or with `session` the connection: for a
    connection of its own that reads outside transactions, as the import's reading thread.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('enable_seqscan', 'off', %s), set_config('jit', 'off', %s)",
            [not session, not session],
        )
