"""Running long work as jobs: a Job record per piece of work, run by a task worker.

`start_job` records the job and enqueues its task; the task calls `run_job`, which claims the
job, runs the work and records the outcome. The work reports progress through the callback it
is given, which also proves the worker alive: a running job whose heartbeat is older than
`settings.JOB_HEARTBEAT_TIMEOUT` seconds is marked failed by `fail_stale_jobs`.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.tasks import Task
from django.utils import timezone

from trackly.models import Account, Job

logger = logging.getLogger(__name__)

type Progress = Callable[[int, int], None]
type Work = Callable[[Job, Progress], dict]

STALE_ERROR = "The worker running this job stopped before it finished. Start the job again."


def start_job(*, account: Account, kind: str, user, params: dict, task: Task) -> Job:
    """Record a queued job and enqueue `task` with its id."""
    fail_stale_jobs()
    job = Job.objects.create(account=account, kind=kind, created_by=user, params=params)
    task.enqueue(job.pk)
    job.refresh_from_db()
    return job


def run_job(job_id: int, work: Work) -> None:
    """Claim a queued job, run `work(job, progress)` and record its result or its error.

    A job that is not queued any more (already claimed, finished or failed as stale) is left
    alone, so a task delivered twice does the work once.
    """
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        logger.warning("Job %s is not queued any more; not running it again.", job_id)
        return
    job = Job.objects.get(pk=job_id)

    def progress(done: int, total: int) -> None:
        Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
            progress_done=done, progress_total=total, heartbeat_at=timezone.now()
        )

    try:
        result = work(job, progress)
    except ValidationError as error:
        _finish(job_id, Job.Status.FAILED, error=" ".join(error.messages))
    except Exception as error:
        logger.exception("Job %s failed.", job_id)
        _finish(job_id, Job.Status.FAILED, error=f"Unexpected error: {error}")
    else:
        _finish(job_id, Job.Status.SUCCEEDED, result=result)


def _finish(job_id: int, status: str, *, result: dict | None = None, error: str = "") -> None:
    Job.objects.filter(pk=job_id, status=Job.Status.RUNNING).update(
        status=status, result=result or {}, error=error, finished_at=timezone.now()
    )


def fail_stale_jobs() -> int:
    """Mark running jobs whose worker stopped sending heartbeats as failed; return how many."""
    deadline = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT)
    return Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=deadline).update(
        status=Job.Status.FAILED, error=STALE_ERROR, finished_at=timezone.now()
    )
