"""Saving audiences; starting and running bulk label changes, recorded in the audit log."""

from dataclasses import asdict

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.tasks import task

from audiences import bulk, compiler, hygiene
from audiences.conditions import parse
from audiences.models import Audience, LabelChange
from contacts.filters import saved_filter_contacts
from contacts.models import Contact, SendingList
from trackly.jobs import Progress, run_job, start_job
from trackly.models import Account, Job

NAME_TAKEN = "An audience with this name already exists."


def audience_check_name(*, account: Account, name: str, audience: Audience | None = None) -> None:
    """Raise `conflict` when another audience of the account has this name."""
    taken = Audience.objects.for_account(account).filter(name=name)
    if audience is not None:
        taken = taken.exclude(pk=audience.pk)
    if taken.exists():
        raise ValidationError(NAME_TAKEN, code="conflict")


def audience_save(*, audience: Audience, lists: list[SendingList] | None = None) -> Audience:
    """Save an audience and, when `lists` is given, its list scope, all or nothing.

    A name taken by a concurrent save between the check and the write is `conflict` too.
    """
    try:
        with transaction.atomic():
            audience.save()
            if lists is not None:
                audience.sending_lists.set(lists)
    except IntegrityError:
        raise ValidationError(NAME_TAKEN, code="conflict") from None
    return audience


def label_change_start(
    *,
    account: Account,
    user,
    action: str,
    key: str,
    value: str = "",
    target: str,
    selection: dict,
    audience: Audience | None = None,
) -> LabelChange:
    """Record a confirmed bulk label change in the audit log and start its job."""
    key, value = bulk.clean_action(action, key, value)
    change = LabelChange.objects.create(
        account=account,
        created_by=user,
        action=action,
        key=key,
        value=value,
        audience=audience,
        target=target,
        conditions=selection.get("audience", {}).get("conditions", ""),
        selection=selection,
    )
    kind = Job.Kind.ADD_LABEL if action == bulk.ADD else Job.Kind.REMOVE_LABEL
    change.job = start_job(
        account=account,
        kind=kind,
        user=user,
        params={"label_change": change.pk},
        task=label_change_task,
    )
    change.save(update_fields=["job"])
    return change


def audience_selection(audience: Audience) -> dict:
    """The audience's contacts as they are defined now, to be found again when the job runs."""
    return {"audience": {"conditions": audience.conditions, "list_ids": audience.list_ids()}}


def selected_contacts(account: Account, selection: dict) -> QuerySet[Contact]:
    """The contacts a recorded selection means now."""
    if "audience" in selection:
        chosen = selection["audience"]
        return compiler.members(account, parse(chosen["conditions"]), chosen["list_ids"])
    chosen = selection["contacts"]
    contacts = Contact.objects.for_account(account)
    if "ids" in chosen:
        return contacts.filter(pk__in=chosen["ids"])
    return saved_filter_contacts(contacts, chosen, region=account.default_region)


def label_change_run(job: Job, progress: Progress) -> dict:
    """The job's work: apply the recorded change to the contacts selected now."""
    change = LabelChange.objects.select_related("account").get(pk=job.params["label_change"])
    contacts = selected_contacts(change.account, change.selection)
    counts = bulk.apply(
        contacts,
        account_id=change.account_id,
        action=change.action,
        key=change.key,
        value=change.value,
        job_id=job.pk,
        progress=progress,
    )
    change.counts = asdict(counts)
    change.save(update_fields=["counts"])
    return change.counts


@task
def label_change_task(job_id: int) -> None:
    run_job(job_id, label_change_run)


# Label hygiene (rename, merge, delete) and undo: reviewed first, then run as jobs like bulk
# label changes, and recorded in the same audit log.

_EDIT_KINDS = {
    LabelChange.Action.RENAME_KEY: Job.Kind.RENAME_KEY,
    LabelChange.Action.MERGE_VALUES: Job.Kind.MERGE_VALUES,
    LabelChange.Action.DELETE_VALUE: Job.Kind.DELETE_VALUE,
    LabelChange.Action.DELETE_KEY: Job.Kind.DELETE_KEY,
}


def label_edit_start(
    *, account: Account, user, edit: hygiene.LabelEdit, audience_ids: list[int] = ()
) -> LabelChange:
    """Record a reviewed label edit in the audit log and start its job; `audience_ids` are the
    saved audiences (of those naming the edit's key or values) to rewrite in the same job."""
    naming = {found.id for found in hygiene.naming_audiences(account, edit)}
    rewrite = sorted(pk for pk in set(audience_ids) if pk in naming)
    if rewrite and edit.action not in (
        LabelChange.Action.RENAME_KEY,
        LabelChange.Action.MERGE_VALUES,
    ):
        raise ValidationError(
            "Only a rename or a merge can rewrite audiences.", code="invalid_request"
        )
    change = LabelChange.objects.create(
        account=account,
        created_by=user,
        action=edit.action,
        key=edit.key,
        new_key=edit.new_key,
        old_values=list(edit.values),
        value=edit.value,
        target="All contacts of the account",
        audience_ids=rewrite,
        selection={"account": True},
    )
    change.job = start_job(
        account=account,
        kind=_EDIT_KINDS[edit.action],
        user=user,
        params={"label_change": change.pk},
        task=label_edit_task,
    )
    change.save(update_fields=["job"])
    return change


def label_edit_run(job: Job, progress: Progress) -> dict:
    """The job's work: apply the recorded edit, then rewrite the chosen audiences."""
    change = LabelChange.objects.get(pk=job.params["label_change"])
    edit = hygiene.edit_of(change)
    counts = asdict(hygiene.edit_apply(change.account_id, edit, job_id=job.pk, progress=progress))
    if change.audience_ids:
        with transaction.atomic():
            counts["audiences_rewritten"] = hygiene.audiences_rewrite(
                change.account_id, change.audience_ids, edit
            )
    change.counts = counts
    change.save(update_fields=["counts"])
    return counts


@task
def label_edit_task(job_id: int) -> None:
    run_job(job_id, label_edit_run)


def undo_target(job: Job) -> str:
    """What an undo takes back, in words: the audit log's entry, or the import's file."""
    change = LabelChange.objects.filter(job=job).first()
    if change is not None:
        return f"{change.get_action_display()} {change.summary} on {change.target}"
    if job.kind == Job.Kind.IMPORT:
        return f"Import of {job.params.get('file_name', 'a file')}"
    return str(job)


def undo_start(*, account: Account, user, job: Job) -> LabelChange:
    """Record an undo of `job`'s change in the audit log and start its job."""
    hygiene.check_undoable(job)
    change = LabelChange.objects.create(
        account=account,
        created_by=user,
        action=LabelChange.Action.UNDO,
        key="",
        undoes=job,
        target=undo_target(job)[:500],
        selection={"job": job.pk},
    )
    change.job = start_job(
        account=account,
        kind=Job.Kind.UNDO,
        user=user,
        params={"label_change": change.pk},
        task=undo_task,
    )
    change.save(update_fields=["job"])
    return change


def undo_run(job: Job, progress: Progress) -> dict:
    change = LabelChange.objects.select_related("undoes").get(pk=job.params["label_change"])
    if change.undoes is None:
        raise ValidationError("The job to undo no longer exists.")
    counts = asdict(hygiene.undo_apply(change.undoes, undo_job_id=job.pk, progress=progress))
    change.counts = counts
    change.save(update_fields=["counts"])
    return counts


@task
def undo_task(job_id: int) -> None:
    run_job(job_id, undo_run)
