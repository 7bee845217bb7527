"""Saving audiences; starting and running bulk label changes, recorded in the audit log."""

from dataclasses import asdict

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.tasks import task

from audiences import bulk, compiler
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
        progress=progress,
    )
    change.counts = asdict(counts)
    change.save(update_fields=["counts"])
    return change.counts


@task
def label_change_task(job_id: int) -> None:
    run_job(job_id, label_change_run)
