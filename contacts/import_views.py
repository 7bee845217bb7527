"""The dashboard's CSV import: choose a file, see its preview (a dry-run job), confirm it (the
import job), then its result with the rejected rows as a CSV download.

Both steps are jobs of `contacts.importing`, so a large file is previewed and imported by the
task worker while the page polls; the upload waits in the import directory in between.
"""

import csv
from collections.abc import Iterator

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from audiences import hygiene
from contacts import importing, services
from contacts.cells import neutralise_cell
from contacts.models import SendingList
from trackly.jobs import fail_stale_jobs, worker_warning
from trackly.models import Job, Role
from trackly.phones import region_choices
from trackly.tenancy import AccountRequest, account_view

# Rejected rows shown on the page; all of them (up to the result's cap) are in the download.
REJECTED_SHOWN = 20
# Regions named in the warning about numbers of another region (the most frequent first).
OTHER_REGIONS_SHOWN = 3
# What a column can become in the preview's mapping.
MAPPING_USES = (
    (importing.PHONE, "Phone number"),
    (importing.FALLBACK, "Phone number when the first is empty"),
    (importing.COUNTRY, "Country of the number"),
    (importing.LABEL, "Label"),
    (importing.IGNORED, "Ignored"),
)

# What each outcome means for a row of the preview's sample.
EFFECTS = {
    importing.CREATED: "New contact",
    importing.UPDATED: "Labels merged",
    importing.UNCHANGED: "Unchanged",
    importing.SKIPPED: "Skipped: unsubscribed",
}


def effect_context(result: dict, *, shown: int | None = REJECTED_SHOWN) -> dict:
    """What `imports/_import_effect.html` shows of an import's result (its first `shown`
    rejected rows, or all it keeps), for the dashboard's import page and the admin's."""
    return {
        "result": result,
        "rejected_shown": result.get("rejected_rows", [])[:shown],
        "ignored_summary": importing.ignored_summary(result),
        "ignored_counts": importing.ignored_summary(result, named=False),
        "other_regions_top": list(result.get("other_regions", {}).get("regions", {}).items())[
            :OTHER_REGIONS_SHOWN
        ],
        "sample": [
            {**row, "effect": EFFECTS.get(row["outcome"], "")} for row in result.get("sample", [])
        ],
    }


def _get_list(request: AccountRequest, list_id: int) -> SendingList:
    return get_object_or_404(SendingList.objects.for_account(request.account), pk=list_id)


def _get_import_job(request: AccountRequest, job_id: int) -> Job:
    jobs = Job.objects.for_account(request.account).filter(kind__in=Job.IMPORT_KINDS)
    return get_object_or_404(jobs, pk=job_id)


def _upload_form(
    request: AccountRequest,
    sending_list: SendingList,
    error: str = "",
    phone_choices: list[str] | None = None,
):
    context = {
        "nav": "lists",
        "sending_list": sending_list,
        "error": error,
        # A file without a phone column the import knows: its columns, to choose one from.
        "phone_choices": phone_choices or [],
        "max_bytes": importing.max_bytes(),
        "phone_columns": importing.PHONE_COLUMNS,
    }
    return render(request, "imports/import_new.html", context)


# CSRF is checked by `_receive_upload`, once the upload handler is in place: the handler must
# be installed before anything reads the body, which the CSRF middleware would.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def import_new(request: AccountRequest, list_id: int):
    """GET: choose a file. POST: store it and start its preview."""
    sending_list = _get_list(request, list_id)
    try:
        services.check_list_open(sending_list)
    except ValidationError as error:
        # Refused before any upload is read or stored.
        messages.error(request, error.messages[0])
        return redirect(sending_list)
    if request.method == "GET":
        return _upload_form(request, sending_list)
    try:
        importing.expect_upload(request)
    except ValidationError as error:
        return _upload_form(request, sending_list, error.messages[0])
    return csrf_protect(_receive_upload)(request, sending_list)


def _receive_upload(request: AccountRequest, sending_list: SendingList) -> HttpResponse:
    def phone_column() -> importing.Mapping:
        chosen = request.POST.get("phone_column", "").strip()
        return importing.Mapping(phone=chosen or None)

    try:
        upload, mapping = importing.receive_upload(
            request, accept=phone_column, mapping=lambda mapping: mapping
        )
    except ValidationError as error:
        choices = getattr(error, "phone_choices", None)
        return _upload_form(request, sending_list, error.messages[0], choices)
    job = importing.import_start(
        account=request.account,
        user=request.user,
        sending_list=sending_list,
        upload=upload.name,
        file_name=upload.file_name,
        dry_run=True,
        mapping=mapping,
    )
    return redirect("imports:import_detail", request.account.slug, job.pk)


def _next_job(request: AccountRequest, job: Job) -> Job | None:
    """The import started from this preview (or from this failed import), if any."""
    jobs = Job.objects.for_account(request.account).filter(kind=Job.Kind.IMPORT)
    return jobs.filter(params__source_job=job.pk).first()


def _can_confirm(job: Job) -> bool:
    """A successful preview, or a failed import, can be (re)started while its upload is kept."""
    previewed = job.kind == Job.Kind.IMPORT_PREVIEW and job.status == Job.Status.SUCCEEDED
    failed = job.kind == Job.Kind.IMPORT and job.status == Job.Status.FAILED
    if not (previewed or failed):
        return False
    try:
        return importing.upload_path(job.params.get("upload", "")).exists()
    except ValidationError:
        return False


@require_GET
@vary_on_headers("HX-Request")
@account_view()
def import_detail(request: AccountRequest, job_id: int):
    """A preview or an import: its progress while it runs (the fragment polls), then its result."""
    fail_stale_jobs()
    job = _get_import_job(request, job_id)
    result = job.result or {}
    next_job = _next_job(request, job) if job.is_finished else None
    is_preview = job.kind == Job.Kind.IMPORT_PREVIEW
    context = {
        "nav": "lists",
        "job": job,
        "is_preview": is_preview,
        "mapping_shown": is_preview and bool(result.get("columns")),
        "mapping_uses": MAPPING_USES,
        "region_choices": region_choices(),
        "sending_list": SendingList.objects.for_account(request.account)
        .filter(pk=job.params.get("list_id"))
        .first(),
        **effect_context(result),
        "next_job": next_job,
        "worker_warning": worker_warning(job),
        "can_confirm": request.membership.can_edit and next_job is None and _can_confirm(job),
        **_undo_context(job),
    }
    if request.htmx:
        return render(request, "imports/import_detail.html#import_status", context)
    return render(request, "imports/import_detail.html", context)


def _undo_context(job: Job) -> dict:
    """Whether a finished import can be undone, and until when; or why not (undone already,
    an undo running, its records past the kept days)."""
    if job.kind != Job.Kind.IMPORT or job.status != Job.Status.SUCCEEDED:
        return {}
    try:
        hygiene.check_undoable(job)
    except ValidationError as error:
        return {"undo_refused": error.messages[0]}
    return {"undoable_until": hygiene.records_kept_until(job)}


@require_POST
@account_view(Role.EDITOR)
def import_confirm(request: AccountRequest, job_id: int):
    """Start the import of a previewed file (or start a failed import again)."""
    job = _get_import_job(request, job_id)
    next_job = _next_job(request, job)
    if next_job is not None:
        return redirect("imports:import_detail", request.account.slug, next_job.pk)
    if not _can_confirm(job):
        messages.error(request, "This import cannot be started: upload the file again.")
        return redirect("imports:import_detail", request.account.slug, job.pk)
    try:
        started = importing.import_start(
            account=request.account,
            user=request.user,
            sending_list=_get_list(request, job.params["list_id"]),
            upload=job.params["upload"],
            file_name=job.params["file_name"],
            dry_run=False,
            source=job,
            mapping=importing.clean_mapping(job.params.get("mapping")),
            region=job.params.get("region"),
        )
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect("imports:import_detail", request.account.slug, job.pk)
    return redirect("imports:import_detail", request.account.slug, started.pk)


def mapping_from_form(form, columns: list[dict]) -> importing.Mapping:
    """The mapping the preview's form gives for its `columns` (the result's): each column's
    use (`use_<number>`) and label key (`key_<number>`, left empty: the key cleaned from the
    column's name); a column without a name is a label when a key is typed for it
    (`key_<number>`), and stays ignored otherwise. Raise `invalid_mapping`."""
    chosen: dict[str, list[str]] = {use: [] for use, _ in MAPPING_USES}
    labels = []
    unnamed_labels = []
    for column in columns:
        number = column["number"]
        key = form.get(f"key_{number}", "").strip()
        if not column["column"]:
            if key:
                unnamed_labels.append((number, key))
            continue
        use = form.get(f"use_{number}", column["use"])
        if use not in chosen:
            raise ValidationError(
                f"Choose what {column['column']!r} becomes.", code="invalid_mapping"
            )
        chosen[use].append(column["column"])
        if use == importing.LABEL:
            labels.append((column["column"], key or importing.suggested_key(column["column"])))
    for use, text in MAPPING_USES[:3]:
        if len(chosen[use]) > 1:
            names = " and ".join(repr(name) for name in chosen[use])
            raise ValidationError(
                f"Only one column can be the {text.lower()}: {names} are.", code="invalid_mapping"
            )
    if not chosen[importing.PHONE]:
        raise ValidationError(
            "Choose the column that holds the phone number.", code="invalid_mapping"
        )
    return importing.Mapping(
        phone=chosen[importing.PHONE][0],
        fallback=next(iter(chosen[importing.FALLBACK]), None),
        country=next(iter(chosen[importing.COUNTRY]), ""),
        labels=tuple(labels),
        ignore=tuple(chosen[importing.IGNORED]),
        unnamed_labels=tuple(unnamed_labels),
    )


@require_POST
@account_view(Role.EDITOR)
def import_remap(request: AccountRequest, job_id: int):
    """Preview the same upload again with the columns and region chosen on a preview."""
    job = _get_import_job(request, job_id)
    if job.kind != Job.Kind.IMPORT_PREVIEW or not _can_confirm(job):
        messages.error(request, "This preview cannot be changed: upload the file again.")
        return redirect("imports:import_detail", request.account.slug, job.pk)
    try:
        mapping = mapping_from_form(request.POST, (job.result or {}).get("columns", []))
        region = importing.clean_region(request.POST.get("region", ""))
        importing.check_header(importing.upload_path(job.params["upload"]), mapping)
        started = importing.import_start(
            account=request.account,
            user=request.user,
            sending_list=_get_list(request, job.params["list_id"]),
            upload=job.params["upload"],
            file_name=job.params["file_name"],
            dry_run=True,
            mapping=mapping,
            region=region,
        )
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect("imports:import_detail", request.account.slug, job.pk)
    return redirect("imports:import_detail", request.account.slug, started.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _rejected_lines(result: dict) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in importing.rejected_rows_csv(result):
        yield writer.writerow([neutralise_cell(cell) for cell in row])


@require_GET
@account_view(Role.EDITOR)
def import_rejected(request: AccountRequest, job_id: int):
    """The rejected rows of a finished preview or import, as CSV: row, phone as given, reason."""
    job = _get_import_job(request, job_id)
    response = StreamingHttpResponse(_rejected_lines(job.result or {}), content_type="text/csv")
    stem = slugify(str(job.params.get("file_name", "")).rsplit(".", 1)[0]) or "import"
    response["Content-Disposition"] = f'attachment; filename="{stem}-rejected-rows.csv"'
    return response
