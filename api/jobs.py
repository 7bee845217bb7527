"""The API's jobs: the answer every endpoint that starts a job gives, and polling a job."""

from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from pydantic import ConfigDict, StrictBool

from api.auth import ApiRequest
from api.errors import ApiError, get_or_404
from api.openapi import operation
from audiences import hygiene, services
from contacts.labels import MAX_LABELS_PER_CONTACT
from trackly.jobs import fail_stale_jobs
from trackly.models import Job


class JobProgress(Schema):
    done: int
    total: int


class JobOut(Schema):
    id: int
    kind: str = Field(
        description="`add_label`, `remove_label`, `import`, `import_preview` (a dry run), "
        "`rename_key`, `merge_values`, `delete_value`, `delete_key` or `undo`."
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


class UndoIn(Schema):
    dry_run: StrictBool = Field(False, description="Only review: count what the undo would do.")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"dry_run": True}]})


class UndoReviewOut(Schema):
    labels: int = Field(description="Labels the undo restores.")
    contacts: int = Field(description="Contacts whose labels it restores.")
    erased: int = Field(description="Contacts an import created that it erases.")
    changed_since: int = Field(
        description="Contacts changed again since (or erased): left alone, never overwritten."
    )
    skipped: int = Field(
        description=f"Contacts that restoring would take past {MAX_LABELS_PER_CONTACT} labels."
    )
    audiences_restored: int = Field(
        description="Saved audiences the change rewrote (a rename or merge) whose conditions "
        "the undo sets back."
    )
    audiences_changed_since: int = Field(
        description="Saved audiences the change rewrote that were edited since: left alone."
    )
    undoable_until: datetime = Field(description="Until when the change can be undone.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "labels": 1500,
                    "contacts": 1500,
                    "erased": 0,
                    "changed_since": 12,
                    "skipped": 0,
                    "audiences_restored": 1,
                    "audiences_changed_since": 0,
                    "undoable_until": "2025-03-31T10:00:00Z",
                }
            ]
        }
    )


@router.post(
    "/jobs/{int:job_id}/undo",
    **operation(
        {200: UndoReviewOut, 202: JobOut},
        "not_found",
        "conflict",
        body=True,
        writes=True,
        summary="Undo a job's change",
        description="Takes back what a bulk label change, label edit, import or undo changed: "
        "every contact not changed since gets its labels back as they were before (contacts an "
        "import created are erased); contacts changed since are left alone and counted. With "
        "`dry_run` the answer is the review and nothing changes; otherwise the undo runs as a "
        "job, recorded in the audit log (and can itself be undone). `409 conflict` when the "
        "job is still running, was undone already, or its records are past the kept days.",
        operation_id="jobs_undo",
    ),
)
def job_undo(request: ApiRequest, response: HttpResponse, job_id: int, payload: UndoIn):
    job = get_or_404(Job.objects.for_account(request.account), job_id, "job")
    try:
        hygiene.check_undoable(job)
        if payload.dry_run:
            review = asdict(hygiene.undo_review(job))
            rewrites = hygiene.rewrites_to_undo(job)
            restored = sum(rewrite.unchanged for rewrite in rewrites)
            review.update(
                audiences_restored=restored,
                audiences_changed_since=len(rewrites) - restored,
                undoable_until=hygiene.records_kept_until(job),
            )
            return Status(200, review)
        change = services.undo_start(account=request.account, user=request.auth.created_by, job=job)
    except ValidationError as error:
        raise ApiError("conflict", error.messages[0]) from None
    response["Location"] = reverse("api-v1:job_get", args=[change.job_id])
    change.job.refresh_from_db()
    return Status(202, job_out(change.job))
