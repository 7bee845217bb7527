"""Rename, merge and undo run by real `db_worker` processes: a worker killed half-way leaves
whole chunks, and running the operation again finishes it without changing anything twice."""

import signal
import time

import pytest

from audiences import bulk, hygiene, services
from audiences.models import LabelChange
from contacts.models import Label, LabelRecord
from tests.factories import vip_audience
from tests.trackly.slow_jobs import pace
from tests.workers import DATABASE_QUEUE, start_worker, wait_for
from trackly.jobs import fail_stale_jobs
from trackly.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

Action = LabelChange.Action
CONTACTS = 600
CHUNK = 3


def _edit(account, action: str) -> Job:
    given = {
        Action.RENAME_KEY: {"key": "vip", "new_key": "member"},
        Action.MERGE_VALUES: {"key": "vip", "values": ["true"], "value": "yes"},
    }[action]
    edit = hygiene.clean_edit(action=action, **given)
    return services.label_edit_start(account=account, user=None, edit=edit).job


def _done(audience, action: str) -> int:
    """Contacts the operation has changed so far."""
    if action == Action.RENAME_KEY:
        return Label.objects.filter(key="member").count()
    if action == Action.MERGE_VALUES:
        return Label.objects.filter(key="vip", value="yes").count()
    return CONTACTS - Label.objects.filter(key="tier").count()


def _run_to_the_end(job: Job) -> Job:
    worker = start_worker()
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished)
    finally:
        worker.terminate()
        worker.wait(10)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize("action", [Action.RENAME_KEY, Action.MERGE_VALUES, Action.UNDO])
def test_a_killed_worker_leaves_whole_chunks_and_running_again_finishes(settings, action):
    settings.TASKS = DATABASE_QUEUE
    settings.JOB_HEARTBEAT_TIMEOUT = 1
    audience = vip_audience(CONTACTS)
    account = audience.account
    if action == Action.UNDO:
        added = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="succeeded")
        bulk.apply(
            audience.members(),
            account_id=account.pk,
            action=bulk.ADD,
            key="tier",
            value="gold",
            job_id=added.pk,
        )
        job = services.undo_start(account=account, user=None, job=added).job
    else:
        job = _edit(account, action)
    run = "undo_run" if action == Action.UNDO else "label_edit_run"
    pace(job, f"audiences.services.{run}")
    worker = start_worker(BULK_CHUNK_SIZE=str(CHUNK), JOB_HEARTBEAT_TIMEOUT="1")
    try:
        wait_for(lambda: Job.objects.get(pk=job.pk).progress_done >= 30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    done = _done(audience, action)
    assert 30 <= done < CONTACTS
    assert done % CHUNK == 0
    # Every change made is recorded, in the same transactions: one record per changed label.
    assert LabelRecord.objects.filter(job=job).count() == done

    time.sleep(1.1)
    assert fail_stale_jobs() == 1
    if action == Action.UNDO:
        again = services.undo_start(account=account, user=None, job=added).job
    else:
        again = _edit(account, action)
    again = _run_to_the_end(again)
    assert again.status == Job.Status.SUCCEEDED
    assert again.result["contacts"] == CONTACTS - done
    assert LabelRecord.objects.filter(job=again).count() == CONTACTS - done
    assert _done(audience, action) == CONTACTS
    if action == Action.UNDO:
        assert again.result["changed_since"] == 0
        assert not Label.objects.filter(key="tier").exists()
