"""Jobs run by real `db_worker` processes against the test database."""

import signal
import sqlite3
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audiences import bulk, services
from contacts.models import Contact, CreatedContact, Label, LabelRecord
from tests.factories import ContactFactory, vip_audience
from tests.trackly.slow_jobs import pace, slow_chunk_task
from tests.workers import DATABASE_QUEUE, start_worker, stop, wait_for
from trackly.jobs import NO_WORKER, STALE_ERROR, fail_stale_jobs, start_job
from trackly.models import Job, Worker

pytestmark = pytest.mark.django_db(transaction=True)

FINISHED_TASK = [TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED]
DATABASE_ERROR = "Database error; the worker will try again"


def start_change(audience) -> Job:
    change = services.label_change_start(
        account=audience.account,
        user=None,
        action=bulk.ADD,
        key="tier",
        value="gold",
        target=audience.name,
        selection=services.audience_selection(audience),
        audience=audience,
    )
    return change.job


def start_slow_job(*, seconds: float, before: float = 0) -> Job:
    """A job of one chunk (`tests.trackly.slow_jobs`) that takes `seconds`, after `before`."""
    contact = ContactFactory()
    return start_job(
        account=contact.account,
        kind=Job.Kind.ADD_LABEL,
        user=None,
        params={"contact": contact.pk, "before": before, "seconds": seconds},
        task=slow_chunk_task,
    )


def wait_until_mid_chunk(job: Job) -> None:
    """Wait until the slow job's worker has written its label and waits before committing."""
    wait_for(lambda: Job.objects.get(pk=job.pk).status == Job.Status.RUNNING)
    time.sleep(1)


def test_a_worker_process_runs_a_queued_job(settings):
    settings.TASKS = DATABASE_QUEUE
    audience = vip_audience(40)
    job = start_change(audience)
    assert job.status == Job.Status.QUEUED
    worker = start_worker()
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished)
    finally:
        worker.terminate()
        worker.wait(10)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"matching": 40, "gained": 40, "replaced": 0, "already": 0, "skipped": 0}
    assert Label.objects.filter(key="tier", value="gold").count() == 40


def test_a_killed_worker_leaves_whole_chunks_and_the_job_can_run_again(settings):
    settings.TASKS = DATABASE_QUEUE
    settings.JOB_HEARTBEAT_TIMEOUT = 1
    audience = vip_audience(600)
    job = start_change(audience)
    # Three contacts per chunk, 10 ms each: hundreds of chunks, so the kill lands half-way.
    pace(job, "audiences.services.label_change_run")
    worker = start_worker(BULK_CHUNK_SIZE="3", JOB_HEARTBEAT_TIMEOUT="1")
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).progress_done >= 30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING
    labelled = Label.objects.filter(key="tier").count()
    assert 30 <= labelled < 600
    # Chunks commit whole: a killed worker leaves a multiple of the chunk size.
    assert labelled % 3 == 0

    time.sleep(1.1)
    assert fail_stale_jobs() == 1
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.FAILED, STALE_ERROR)

    again = start_change(audience)
    worker = start_worker()
    try:
        wait_for(lambda: Job.objects.get(pk=again.pk).is_finished)
    finally:
        worker.terminate()
        worker.wait(10)
    again.refresh_from_db()
    assert again.status == Job.Status.SUCCEEDED
    assert again.result["already"] == labelled
    assert again.result["gained"] == 600 - labelled
    assert Contact.objects.filter(labels__key="tier", labels__value="gold").count() == 600


@pytest.mark.parametrize(
    ("before", "seconds"), [(0, 5), (5, 0)], ids=["slow chunk", "slow start before a chunk"]
)
def test_a_job_slower_than_its_lease_finishes_as_succeeded(settings, before, seconds):
    settings.TASKS = DATABASE_QUEUE
    job = start_slow_job(seconds=seconds, before=before)
    # A two-second lease, shorter than the slow part.
    worker = start_worker(JOB_HEARTBEAT_TIMEOUT="2")
    failed = 0
    try:
        deadline = time.monotonic() + 30
        # Meanwhile the pages keep failing the jobs whose lease expired, as they do.
        while not Job.objects.get(pk=job.pk).is_finished:
            assert time.monotonic() < deadline, "timed out"
            failed += fail_stale_jobs()
            time.sleep(0.1)
    finally:
        stop(worker)
    job.refresh_from_db()
    assert (job.status, job.error, job.result, failed) == (
        Job.Status.SUCCEEDED,
        "",
        {"written": 1},
        0,
    )
    assert Label.objects.filter(key="slow").count() == 1


@pytest.mark.parametrize("how", ["failed as stale", "taken over by another run"])
def test_a_run_that_lost_its_lease_writes_nothing_more(settings, how):
    settings.TASKS = DATABASE_QUEUE
    # Five thousand chunks of one contact: the job is still running when its lease goes, even
    # on a busy machine.
    audience = vip_audience(5000)
    job = start_change(audience)
    worker = start_worker(BULK_CHUNK_SIZE="1")
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).progress_done >= 30)
        running = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING)
        if how == "failed as stale":
            lost = running.update(
                status=Job.Status.FAILED, error=STALE_ERROR, finished_at=timezone.now()
            )
        else:
            lost = running.update(lease_token="another-run")
        assert lost == 1
        # The update waited for any chunk that was committing: what is written now is final.
        written = Label.objects.filter(key="tier").count()
        taken = Job.objects.get(pk=job.pk)
        wait_for(lambda: DBTaskResult.objects.filter(status__in=FINISHED_TASK).exists())
        assert worker.poll() is None
    finally:
        stop(worker)
    assert 30 <= written < 5000
    assert Label.objects.filter(key="tier").count() == written
    job.refresh_from_db()
    assert (job.status, job.lease_token, job.progress_done, job.result) == (
        taken.status,
        taken.lease_token,
        taken.progress_done,
        {},
    )


def test_a_worker_outlives_a_write_lock_held_past_its_busy_timeout(settings, tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write lock")
    settings.TASKS = DATABASE_QUEUE
    audience = vip_audience(40)
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = start_worker(log=log, SQLITE_BUSY_TIMEOUT="1")
        try:
            wait_for(Worker.objects.exists)
            # Another connection holds the write lock for three of the worker's busy timeouts.
            locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
            locker.execute("BEGIN IMMEDIATE")
            time.sleep(3)
            locker.rollback()
            locker.close()
            job = start_change(audience)
            wait_for(lambda: Job.objects.get(pk=job.pk).is_finished)
            assert worker.poll() is None
        finally:
            stop(worker)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert Label.objects.filter(key="tier").count() == 40
    assert log_path.read_text().count(DATABASE_ERROR) == 1


def admin_connection():
    """A connection to the server's `postgres` database, beside the test database."""
    import psycopg

    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname="postgres",
        autocommit=True,
    )


def test_a_worker_outlives_a_database_that_drops_its_connections(settings, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL connections")
    settings.TASKS = DATABASE_QUEUE
    audience = vip_audience(40)
    name = connection.settings_dict["NAME"]
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = start_worker(log=log)
        try:
            wait_for(Worker.objects.exists)
            # As in a restart: every connection of the worker is killed, and for three seconds
            # the database takes no new ones.
            with admin_connection() as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                try:
                    assert kill_other_connections()
                    time.sleep(3)
                finally:
                    admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            job = start_change(audience)
            wait_for(lambda: Job.objects.get(pk=job.pk).is_finished)
            assert worker.poll() is None
        finally:
            stop(worker)
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert Label.objects.filter(key="tier").count() == 40
    assert log_path.read_text().count(DATABASE_ERROR) == 1


def test_a_running_worker_is_seen_and_a_stopped_one_is_not(settings, admin_client, account):
    settings.TASKS = DATABASE_QUEUE
    jobs_page = f"/a/{account.slug}/jobs/"
    assert NO_WORKER in admin_client.get(jobs_page).content.decode()
    worker = start_worker()
    try:
        wait_for(Worker.objects.exists)
        assert NO_WORKER not in admin_client.get(jobs_page).content.decode()
    finally:
        stop(worker)
    # A worker that stops removes itself.
    assert not Worker.objects.exists()
    assert NO_WORKER in admin_client.get(jobs_page).content.decode()


def test_a_worker_prunes_change_records_past_their_days_without_cron(settings, account):
    old, kept = (
        Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status=Job.Status.SUCCEEDED)
        for _ in range(2)
    )
    now = timezone.now()
    # The worker reads LABEL_RECORD_DAYS from its environment: the default, 30.
    Job.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=30, minutes=1))
    Job.objects.filter(pk=kept.pk).update(created_at=now - timedelta(days=29, hours=23))
    for job in (old, kept):
        LabelRecord.objects.bulk_create(
            LabelRecord(job=job, account_id=job.account_id, contact_id=n, key="tier", after="gold")
            for n in range(1, 4)
        )
        CreatedContact.objects.create(job=job, account_id=job.account_id, contact_id=1)
    worker = start_worker()
    try:
        wait_for(lambda: not LabelRecord.objects.filter(job=old).exists())
    finally:
        stop(worker)
    assert not CreatedContact.objects.filter(job=old).exists()
    assert LabelRecord.objects.filter(job=kept).count() == 3
    assert CreatedContact.objects.filter(job=kept).count() == 1


def kill_other_connections() -> int:
    """End every connection to the test database but this one, as a server restart would."""
    connection.ensure_connection()
    with admin_connection() as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> %s",
                [connection.settings_dict["NAME"], connection.connection.info.backend_pid],
            ).fetchall()
        )


def test_a_chunk_whose_lease_is_taken_over_while_it_runs_is_rolled_back(settings):
    if connection.vendor != "postgresql":
        pytest.skip("on SQLite a chunk holds the write lock: nothing happens in its middle")
    settings.TASKS = DATABASE_QUEUE
    job = start_slow_job(seconds=3)
    worker = start_worker()
    try:
        wait_until_mid_chunk(job)
        assert Job.objects.filter(pk=job.pk).update(lease_token="another-run") == 1
        wait_for(lambda: DBTaskResult.objects.filter(status__in=FINISHED_TASK).exists())
        assert worker.poll() is None
    finally:
        stop(worker)
    job.refresh_from_db()
    assert (job.status, job.lease_token, job.progress_done) == (
        Job.Status.RUNNING,
        "another-run",
        0,
    )
    assert not Label.objects.filter(key="slow").exists()


def test_a_job_whose_connection_is_killed_is_failed_at_once_and_the_worker_goes_on(settings):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL connections")
    settings.TASKS = DATABASE_QUEUE
    job = start_slow_job(seconds=3)
    worker = start_worker()
    try:
        wait_until_mid_chunk(job)
        assert kill_other_connections()
        # Recorded as failed by its worker, long before its 60-second lease would expire.
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=15)
        job.refresh_from_db()
        assert job.status == Job.Status.FAILED
        assert job.error.startswith("Unexpected error: ")
        again = start_change(vip_audience(40))
        wait_for(lambda: Job.objects.get(pk=again.pk).is_finished)
        assert worker.poll() is None
    finally:
        stop(worker)
    again.refresh_from_db()
    assert again.status == Job.Status.SUCCEEDED
    assert not Label.objects.filter(key="slow").exists()
    assert not DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).exists()
