"""A job whose one chunk is slower than the job lease, for the worker tests.

It runs in real worker processes through the real `run_job`: only the work is made up.
"""

import time

from django.db import transaction
from django.tasks import task

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
