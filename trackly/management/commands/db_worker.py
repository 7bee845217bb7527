"""`manage.py db_worker`: django-tasks-db's worker, made to outlive database trouble.

The worker it extends stops at the first database error outside a task: a SQLite write lock held
past the busy timeout when it claims a task, a PostgreSQL restart, a dropped connection. This one
logs the first error of a run of them, drops its connections and tries again with a growing
pause, so queued jobs run again once the database answers. It also records itself in `Worker`
every few seconds, which the dashboard reads to say when no worker is running, and runs the
upkeep of `settings.WORKER_DAILY` (pruning change records past `LABEL_RECORD_DAYS`) when it
starts and then once a day, so that no cron is needed.
"""

import logging
import os
import random
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

from trackly.jobs import drop_connection, renew_every
from trackly.models import Worker

logger = logging.getLogger("django_tasks_db")

# Pauses after a database error: 0.5 s, doubling up to 30 s, with some jitter so that several
# workers do not come back in step.
FIRST_PAUSE = 0.5
LONGEST_PAUSE = 30.0
# Rows of workers not seen for this long are removed (a killed worker cannot remove its own).
FORGOTTEN_AFTER = timedelta(days=1)
# How often each worker runs the upkeep of `settings.WORKER_DAILY`. Several workers may run it
# the same day: each piece deletes what is past its time, so running it twice deletes nothing.
UPKEEP_EVERY = timedelta(days=1)


def _pause(failures: int) -> float:
    return min(LONGEST_PAUSE, FIRST_PAUSE * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)


class ResilientWorker(db_worker.Worker):
    # The task being run, until its outcome is recorded.
    unrecorded: DBTaskResult | None = None

    def run(self) -> None:
        presence = _Presence(self.worker_id)
        presence.start()
        failures = 0
        try:
            while self.running:
                started = time.monotonic()
                try:
                    self._record_lost_outcome()
                    super().run()
                    return
                except DatabaseError as error:
                    # A worker that ran well for a while before this error starts a new run of
                    # errors, which is logged again.
                    if time.monotonic() - started > LONGEST_PAUSE:
                        failures = 0
                    failures += 1
                    if failures == 1:
                        logger.warning("Database error; the worker will try again: %s", error)
                    else:
                        logger.debug("Database error (%d in a row): %s", failures, error)
                    drop_connection()
                    # Once running, there is no thundering herd to spread out.
                    self.startup_delay = False
                    time.sleep(_pause(failures))
        finally:
            presence.stop()

    def run_task(self, db_task_result: DBTaskResult) -> None:
        self.unrecorded = db_task_result
        super().run_task(db_task_result)
        self.unrecorded = None

    def _record_lost_outcome(self) -> None:
        """A task whose outcome a database error kept from being recorded is recorded as failed,
        so that it does not read as running forever (its job records what it did)."""
        if self.unrecorded is not None:
            self.unrecorded.set_failed(
                RuntimeError("The worker lost the database before recording this task's outcome.")
            )
            self.unrecorded = None


class _Presence:
    """Records the worker in `Worker` from a thread of its own, until stopped."""

    def __init__(self, worker_id: str):
        self.worker_id = worker_id
        self.started_at = timezone.now()
        # `time.monotonic()` of the last upkeep that ran through; None until then.
        self._upkept_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            Worker.objects.filter(worker_id=self.worker_id).delete()
        except DatabaseError:
            logger.debug("Could not remove worker %s from the worker list.", self.worker_id)

    def _run(self) -> None:
        try:
            self._forget_old()
            while True:
                self._record()
                self._upkeep_when_due()
                if self._stop.wait(renew_every()):
                    return
        finally:
            drop_connection()

    def _forget_old(self) -> None:
        try:
            Worker.objects.filter(seen_at__lt=timezone.now() - FORGOTTEN_AFTER).delete()
        except DatabaseError:
            drop_connection()

    def _upkeep_when_due(self) -> None:
        """Run `settings.WORKER_DAILY` at the first beat and then once every `UPKEEP_EVERY`;
        after a database error, at the next beat."""
        now = time.monotonic()
        if self._upkept_at is not None and now - self._upkept_at < UPKEEP_EVERY.total_seconds():
            return
        try:
            for path in settings.WORKER_DAILY:
                import_string(path)()
        except DatabaseError as error:
            logger.warning("Daily upkeep failed; the worker will try again: %s", error)
            drop_connection()
        else:
            self._upkept_at = now

    def _record(self) -> None:
        try:
            Worker.objects.update_or_create(
                worker_id=self.worker_id,
                defaults={"seen_at": timezone.now()},
                create_defaults={
                    "seen_at": timezone.now(),
                    "started_at": self.started_at,
                    "hostname": socket.gethostname()[:255],
                    "pid": os.getpid(),
                },
            )
        except DatabaseError:
            # The main loop logs database trouble; this only tries again at the next beat.
            drop_connection()


class Command(db_worker.Command):
    help = "Run a task worker that survives database errors and reports that it is alive"

    def handle(self, *args, **options) -> None:
        # The parent builds its Worker by name from its own module: give it this one.
        original = db_worker.Worker
        db_worker.Worker = ResilientWorker
        try:
            super().handle(*args, **options)
        finally:
            db_worker.Worker = original
