"""Running long work as jobs: a Job record per piece of work, run by a task worker.

`start_job` records the job and enqueues its task; the task calls `run_job`, which claims the
job, runs the work and records the outcome.

A running job is owned through a lease: the run that claimed it holds a random token, and the
lease lasts `settings.JOB_HEARTBEAT_TIMEOUT` seconds from its last renewal. A thread renews it
while the work runs (whatever a chunk is doing), and every progress report renews it too. The
work reports progress inside each chunk's transaction, before it commits: the report checks that
this run still holds the lease, in the same transaction as the chunk's writes, so a run that has
lost its lease (failed as stale by `fail_stale_jobs`, or taken over) rolls its chunk back and
commits nothing more. A job is failed as stale only once its lease has really expired.
"""

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.tasks import Task, task_backends
from django.utils import timezone

from trackly.models import Account, Job, Worker

logger = logging.getLogger(__name__)

type Progress = Callable[[int, int], None]
type Work = Callable[[Job, Progress], dict]

STALE_ERROR = "The worker running this job stopped before it finished. Start the job again."
NO_WORKER = "No worker is running: start one with python manage.py db_worker."


class LeaseLost(Exception):
    """This run no longer holds its job's lease: it must not write anything more."""


def lease_seconds() -> float:
    return settings.JOB_HEARTBEAT_TIMEOUT


def renew_every() -> float:
    """How often a lease (and a worker's liveness) is renewed: several times per lease."""
    return min(10.0, lease_seconds() / 4)


def start_job(*, account: Account, kind: str, user, params: dict, task: Task) -> Job:
    """Record a queued job and enqueue `task` with its id."""
    fail_stale_jobs()
    job = Job.objects.create(account=account, kind=kind, created_by=user, params=params)
    task.enqueue(job.pk)
    job.refresh_from_db()
    return job


class Lease:
    """One run's hold on a job. Every write it makes is conditional on still holding it."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.token = secrets.token_hex(16)

    def _held(self):
        return Job.objects.filter(pk=self.job_id, status=Job.Status.RUNNING, lease_token=self.token)

    def _expiry(self):
        return timezone.now() + timedelta(seconds=lease_seconds())

    def claim(self) -> bool:
        """Take a queued job; False when it is not queued any more."""

        def take() -> int:
            return Job.objects.filter(pk=self.job_id, status=Job.Status.QUEUED).update(
                status=Job.Status.RUNNING,
                started_at=timezone.now(),
                lease_token=self.token,
                lease_expires_at=self._expiry(),
            )

        return bool(_retried(take))

    def renew(self) -> bool:
        return bool(self._held().update(lease_expires_at=self._expiry()))

    def progress(self, done: int, total: int) -> None:
        """Record progress and renew the lease, or raise `LeaseLost`.

        Called inside a chunk's transaction, the check commits or rolls back with the chunk's
        writes. On PostgreSQL the update locks the job's row until then, so `fail_stale_jobs`
        waits for the chunk and then sees the renewed lease.
        """
        renewed = self._held().update(
            progress_done=done, progress_total=total, lease_expires_at=self._expiry()
        )
        if not renewed:
            raise LeaseLost(f"Job {self.job_id} is no longer held by this run.")

    def finish(self, status: str, *, result: dict | None = None, error: str = "") -> bool:
        def record() -> int:
            return self._held().update(
                status=status, result=result or {}, error=error, finished_at=timezone.now()
            )

        return bool(_retried(record))

    @contextmanager
    def renewed_in_background(self) -> Iterator[None]:
        """Renew the lease from a thread of its own while the block runs."""
        stop = threading.Event()
        renewer = threading.Thread(
            target=self._renew_until, args=(stop,), name=f"job-{self.job_id}-lease", daemon=True
        )
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            # A renewal waiting for a lock must not hold the job up: once the job is finished,
            # the renewal changes nothing.
            renewer.join(timeout=5)

    def _renew_until(self, stop: threading.Event) -> None:
        failing = False
        try:
            while not stop.wait(renew_every()):
                try:
                    if not self.renew():
                        return
                except DatabaseError as error:
                    # The work's own next write will meet the same problem; keep trying until
                    # the lease runs out, and say so once.
                    if not failing:
                        logger.warning("Job %s: could not renew its lease: %s", self.job_id, error)
                    failing = True
                    drop_connection()
                else:
                    failing = False
        finally:
            drop_connection()


def run_job(job_id: int, work: Work) -> None:
    """Claim a queued job, run `work(job, progress)` and record its result or its error.

    A job that is not queued any more (already claimed, finished or failed as stale) is left
    alone, so a task delivered twice does the work once. `progress(done, total)` raises
    `LeaseLost` once the job is no longer this run's; the run then stops, leaving the job as
    whoever took it over left it.
    """
    lease = Lease(job_id)
    if not lease.claim():
        logger.warning("Job %s is not queued any more; not running it again.", job_id)
        return
    job = Job.objects.get(pk=job_id)
    with lease.renewed_in_background():
        try:
            result = work(job, lease.progress)
        except LeaseLost:
            logger.warning("Job %s: this run lost its lease and stopped.", job_id)
        except ValidationError as error:
            lease.finish(Job.Status.FAILED, error=" ".join(error.messages))
        except Exception as error:
            logger.exception("Job %s failed.", job_id)
            lease.finish(Job.Status.FAILED, error=f"Unexpected error: {error}")
        else:
            lease.finish(Job.Status.SUCCEEDED, result=result)


# A job's own records (its claim, its outcome) are tried again after a database error: a
# SQLite write lock held past the busy timeout, a dropped connection. Pauses between tries.
RECORD_PAUSES = (0.5, 1, 2, 4)


def _retried[T](write: Callable[[], T]) -> T:
    """`write()`, tried again after database errors, on a new connection each time.

    Inside a transaction (a job run inside a request) the transaction decides: no retry.
    """
    for pause in RECORD_PAUSES:
        if connection.in_atomic_block:
            break
        try:
            return write()
        except DatabaseError as error:
            logger.warning("Could not record a job's state (trying again): %s", error)
            drop_connection()
            time.sleep(pause)
    return write()


def drop_connection() -> None:
    """Close this thread's database connection, even one that broke: the next query opens a
    new one."""
    try:
        connection.close()
    except DatabaseError:
        # A connection that broke mid-transaction can fail to roll back; it is gone either way.
        connection.connection = None


def fail_stale_jobs() -> int:
    """Mark running jobs whose lease has expired as failed; return how many.

    Pages and API polls call this often: it writes (which on SQLite waits for the write lock
    that a job's chunk may hold) only when there is a stale job to fail.
    """
    now = timezone.now()
    stale = Job.objects.filter(status=Job.Status.RUNNING, lease_expires_at__lt=now)
    if not stale.exists():
        return 0
    return stale.update(status=Job.Status.FAILED, error=STALE_ERROR, finished_at=now)


# Worker liveness.


def needs_worker() -> bool:
    """Whether jobs wait for a `db_worker` process (the database queue) to run them."""
    from django_tasks_db.backend import DatabaseBackend

    return isinstance(task_backends["default"], DatabaseBackend)


def worker_missing() -> bool:
    """True when jobs need a worker and none has been seen for a lease's length."""
    if not needs_worker():
        return False
    recent = timezone.now() - timedelta(seconds=lease_seconds())
    return not Worker.objects.filter(seen_at__gte=recent).exists()


def worker_warning(job: Job | None = None) -> str:
    """What a jobs page says about the workers: `NO_WORKER` when none is running (for a job's
    page, only while the job waits or runs), otherwise nothing."""
    if job is not None and job.is_finished:
        return ""
    return NO_WORKER if worker_missing() else ""
