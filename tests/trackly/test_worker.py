"""Jobs run by real `db_worker` processes against the test database."""

import signal
import time

import pytest

from audiences import bulk, services
from audiences.models import Audience
from contacts.models import Contact, Label
from tests.factories import SendingListFactory
from tests.workers import DATABASE_QUEUE, start_worker, wait_for
from trackly.jobs import STALE_ERROR, fail_stale_jobs
from trackly.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


def make_audience(size: int) -> Audience:
    sending_list = SendingListFactory()
    contacts = Contact.objects.bulk_create(
        Contact(
            account=sending_list.account, sending_list=sending_list, phone_number=f"+1212555{i:04d}"
        )
        for i in range(size)
    )
    Label.objects.bulk_create(
        Label(account=sending_list.account, contact=contact, key="vip", value="true")
        for contact in contacts
    )
    return Audience.objects.create(
        account=sending_list.account, name="VIPs", conditions="label:vip EXISTS"
    )


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


def test_a_worker_process_runs_a_queued_job(settings):
    settings.TASKS = DATABASE_QUEUE
    audience = make_audience(40)
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
    audience = make_audience(600)
    job = start_change(audience)
    # Three contacts per chunk: hundreds of chunks, so the kill lands half-way.
    worker = start_worker(BULK_CHUNK_SIZE="3")
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
