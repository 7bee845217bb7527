"""Jobs paced for the worker tests: one whose one chunk is slower than the job lease (only the
work is made up), and any real job slowed down chunk by chunk. Both run in real worker
processes through the real `run_job`.
"""

import time

from django.db import transaction
from django.tasks import task
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from contacts.models import Label
from trackly.jobs import Progress, run_job
from trackly.models import Job


def slow_chunk(job: Job, progress: Progress) -> dict:
    """Wait `before` seconds outside any transaction, then write one label in a chunk that
    takes `seconds` seconds."""
    time.sleep(job.params.get("before", 0))
    with transaction.atomic():
        Label.objects.create(
            account_id=job.account_id, contact_id=job.params["contact"], key="slow", value="done"
        )
        time.sleep(job.params["seconds"])
        progress(1, 1)
    return {"written": 1}


@task
def slow_chunk_task(job_id: int) -> None:
    run_job(job_id, slow_chunk)


@task
def paced_task(job_id: int, work: str, pause: float) -> None:
    """The job's real work (`work`, the dotted path of a job's run function) pausing `pause`
    seconds inside each chunk's transaction, after its writes: slow enough, on any machine, for
    a test to kill the worker half-way."""
    run = import_string(work)

    def paced(job: Job, progress: Progress) -> dict:
        def slowly(done: int, total: int) -> None:
            progress(done, total)
            time.sleep(pause)

        return run(job, slowly)

    run_job(job_id, paced)


def pace(job: Job, work: str, pause: float = 0.01) -> None:
    """Have the queued `job` run as `paced_task` instead of its own task (taken off the queue):
    a chunk of a few contacts takes far less than 10 ms, and a worker would finish hundreds of
    them between two looks at its progress."""
    queued = [t.pk for t in DBTaskResult.objects.all() if t.args_kwargs["args"] == [job.pk]]
    assert len(queued) == 1, queued
    DBTaskResult.objects.filter(pk__in=queued).delete()
    paced_task.enqueue(job.pk, work, pause)
