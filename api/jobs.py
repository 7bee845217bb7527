"""The API's jobs: the answer every endpoint that starts a job gives, and polling a job."""

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Router, Schema
from pydantic import ConfigDict

from api.auth import ApiRequest
from api.errors import get_or_404
from api.openapi import operation
from trackly.jobs import fail_stale_jobs
from trackly.models import Job


class JobProgress(Schema):
    done: int
    total: int


class JobOut(Schema):
    id: int
    kind: str = Field(
        description="`add_label`, `remove_label`, `import`, or `import_preview` (a dry run)."
    )
    status: Literal["queued", "running", "succeeded", "failed"]
    progress: JobProgress
    result: dict[str, Any] = Field(
        description="Once succeeded: what the job did (e.g. the counts of a bulk label change "
        "or an import)."
    )
    error: str | None = Field(description="Why the job failed; null unless it did.")
    created_at: datetime
    finished_at: datetime | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "kind": "add_label",
                    "status": "succeeded",
                    "progress": {"done": 1840, "total": 1840},
                    "result": {
                        "matching": 1840,
                        "gained": 1500,
                        "replaced": 40,
                        "already": 300,
                        "skipped": 0,
                    },
                    "error": None,
                    "created_at": "2025-03-01T10:00:00Z",
                    "finished_at": "2025-03-01T10:00:02Z",
                }
            ]
        }
    )


def job_out(job: Job) -> dict[str, Any]:
    return {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "progress": {"done": job.progress_done, "total": job.progress_total},
        "result": job.result or {},
        "error": job.error or None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
    }


router = Router(tags=["Jobs"])


@router.get(
    "/jobs/{int:job_id}",
    **operation(
        {200: JobOut},
        "not_found",
        summary="Get a job",
        description="A background job (bulk label change, import): its status, progress and, "
        "once finished, its result or error. Poll it until `status` is `succeeded` or `failed`.",
        operation_id="jobs_get",
    ),
)
def job_get(request: ApiRequest, job_id: int):
    fail_stale_jobs()
    return job_out(get_or_404(Job.objects.for_account(request.account), job_id, "job"))
