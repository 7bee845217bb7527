"""Saving audiences; static audiences' members; starting and running bulk label changes,
recorded in the audit log."""

from dataclasses import asdict, dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Greatest
from django.tasks import task
from django.utils import timezone

from audiences import bulk, hygiene
from audiences.conditions import audience_text, parse
from audiences.models import Audience, LabelChange, StaticMember, matching
from contacts.filters import saved_filter_contacts
from contacts.importing import check_header, read_records
from contacts.models import Contact, SendingList
from trackly.jobs import Progress, run_job, start_job
from trackly.models import Account, Job
from trackly.phones import normalize_phone
from trackly.text import check_multiline_text, check_text

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

    A name taken by a concurrent save between the check and the write is `conflict` too; a
    name or description with a control character is `control_character`, whatever face called.
    """
    check_text(audience.name)
    check_multiline_text(audience.description)
    try:
        with transaction.atomic():
            audience.save()
            if lists is not None:
                audience.sending_lists.set(
                    lists, through_defaults={"account_id": audience.account_id}
                )
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
    """The audience's contacts as they are defined now, to be found again when the job runs:
    a dynamic audience's conditions and lists, a static audience itself."""
    if audience.is_static:
        return {"static_audience": {"id": audience.pk}}
    return {"audience": {"conditions": audience.conditions, "list_ids": audience.list_ids()}}


def selected_contacts(account: Account, selection: dict) -> QuerySet[Contact]:
    """The contacts a recorded selection means now."""
    if "audience" in selection:
        chosen = selection["audience"]
        return matching(account, parse(chosen["conditions"]), chosen["list_ids"])
    if "static_audience" in selection:
        static = Audience.objects.for_account(account).filter(
            pk=selection["static_audience"]["id"], kind=Audience.Kind.STATIC
        )
        audience = static.first()
        return audience.members() if audience else Contact.objects.none()
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


# ---------------------------------------------------------------------------------------------
# Audiences in use, static audiences
# ---------------------------------------------------------------------------------------------


def audience_check_unused(*, audience: Audience, doing: str) -> None:
    """Raise `audience_in_use`, naming them, when other audiences refer to `audience` with
    IN AUDIENCE: it cannot then be archived or deleted (`doing`)."""
    users = audience.used_by()
    if users:
        names = ", ".join(audience_text(other.name) for other in users)
        raise ValidationError(
            f"{audience_text(audience.name)} cannot be {doing}: IN AUDIENCE refers to it in "
            f"{names}.",
            code="audience_in_use",
        )


def audience_archive(*, audience: Audience, archive: bool = True) -> Audience:
    if archive:
        audience_check_unused(audience=audience, doing="archived")
    audience.status = Audience.Status.ARCHIVED if archive else Audience.Status.ACTIVE
    audience.save(update_fields=["status", "updated_at"])
    return audience


def audience_delete(*, audience: Audience) -> None:
    audience_check_unused(audience=audience, doing="deleted")
    audience.delete()


def static_audience_create(
    *,
    account: Account,
    user,
    name: str,
    description: str = "",
    frozen_from: Audience | None = None,
) -> Audience:
    """A new, empty static audience; one `frozen_from` a dynamic audience keeps its conditions
    and list scope, to be frozen now (`static_fill_start`) and again later."""
    audience_check_name(account=account, name=name)
    audience = Audience(
        account=account,
        created_by=user,
        name=name,
        description=description,
        kind=Audience.Kind.STATIC,
    )
    lists = None
    if frozen_from is not None:
        audience.conditions = frozen_from.conditions
        lists = list(frozen_from.sending_lists.all())
    return audience_save(audience=audience, lists=lists)


def static_fill_start(*, audience: Audience, user, selection: dict, replace: bool) -> Job:
    """Start the job that adds the contacts of `selection` (as it is when the job runs) to a
    static audience; with `replace`, they become its only contacts (freezing again)."""
    return start_job(
        account=audience.account,
        kind=Job.Kind.FILL_STATIC,
        user=user,
        params={"audience": audience.pk, "selection": selection, "replace": replace},
        task=static_fill_task,
    )


def static_refresh_selection(audience: Audience) -> dict:
    """The conditions and lists a static audience was frozen from, as a selection."""
    return {"audience": {"conditions": audience.conditions, "list_ids": audience.list_ids()}}


@dataclass
class RefreshPreview:
    """What freezing a static audience again would do now: members = staying + leaving."""

    members: int
    after: int
    joining: int
    leaving: int


def static_refresh_preview(audience: Audience) -> RefreshPreview:
    members = audience.members()
    after = selected_contacts(audience.account, static_refresh_selection(audience))
    staying = after.filter(pk__in=members.values("pk")).count()
    count = members.count()
    after_count = after.count()
    return RefreshPreview(count, after_count, after_count - staying, count - staying)


def _insert_members(audience: Audience, contacts: QuerySet[Contact]) -> int:
    """Add the subscribed contacts of the audience's account among `contacts`; return how many
    were not already there. One statement."""
    chosen = contacts.filter(account_id=audience.account_id, status=Contact.Status.SUBSCRIBED)
    try:
        sql, params = chosen.values("id").query.sql_with_params()
    except EmptyResultSet:
        return 0
    table = StaticMember._meta.db_table
    with connection.cursor() as cursor:
        # `WHERE true`: SQLite needs it to read ON CONFLICT after INSERT ... SELECT.
        cursor.execute(
            f"INSERT INTO {table} (audience_id, contact_id, account_id)"  # noqa: S608
            f" SELECT %s, c.id, %s FROM ({sql}) c"
            " WHERE true ON CONFLICT (audience_id, contact_id, account_id) DO NOTHING",
            [audience.pk, audience.account_id, *params],
        )
        return max(cursor.rowcount, 0)


@transaction.atomic
def static_members_add(*, audience: Audience, contacts: QuerySet[Contact]) -> int:
    """Add `contacts` (those subscribed, of the audience's account) to a static audience; return
    how many were added."""
    _check_static(audience)
    added = _insert_members(audience, contacts)
    Audience.objects.filter(pk=audience.pk).update(static_size=F("static_size") + added)
    audience.refresh_from_db(fields=["static_size"])
    return added


@transaction.atomic
def static_members_remove(*, audience: Audience, contacts: QuerySet[Contact]) -> int:
    """Take `contacts` out of a static audience; return how many were in it."""
    _check_static(audience)
    rows = StaticMember.objects.filter(audience=audience, contact__in=contacts.values("pk"))
    removed, _ = rows.delete()
    Audience.objects.filter(pk=audience.pk).update(
        static_size=Greatest(F("static_size") - removed, 0)
    )
    audience.refresh_from_db(fields=["static_size"])
    return removed


def _check_static(audience: Audience) -> None:
    if not audience.is_static:
        raise ValidationError(
            f"{audience_text(audience.name)} is a dynamic audience: its members are the contacts "
            "that match its conditions, and cannot be added or removed one by one.",
            code="not_static",
        )


def static_fill_run(job: Job, progress: Progress) -> dict:
    """The job's work: the selection's contacts now, added chunk by chunk; with `replace`, the
    audience's earlier contacts are taken out in the first chunk's transaction."""
    audience = Audience.objects.select_related("account").get(pk=job.params["audience"])
    contacts = selected_contacts(audience.account, job.params["selection"])
    ids = list(contacts.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=20_000))
    replace = job.params["replace"]
    total = len(ids)
    progress(0, total)
    chunk_size = settings.BULK_CHUNK_SIZE
    removed = added = 0
    for start in range(0, max(total, 1), chunk_size):
        chunk = ids[start : start + chunk_size]
        with transaction.atomic():
            if replace and start == 0:
                removed, _ = StaticMember.objects.filter(audience=audience).delete()
            added += _insert_members(audience, Contact.objects.filter(pk__in=chunk))
            progress(min(start + chunk_size, total), total)
    size = StaticMember.objects.filter(audience=audience).count()
    changed = {"static_size": size}
    if replace:
        changed["frozen_at"] = timezone.now()
    Audience.objects.filter(pk=audience.pk).update(**changed)
    return {"matching": total, "added": added, "members": size} | (
        {"removed": removed} if replace else {}
    )


@task
def static_fill_task(job_id: int) -> None:
    run_job(job_id, static_fill_run)


# Phone numbers from a file or a request.

PHONE_EXAMPLES = 5


@dataclass
class PhonesAdded:
    """What adding contacts by phone number did: numbers not valid or of no contact of the
    account are counted, with a few examples."""

    added: int = 0
    found: int = 0
    not_found: int = 0
    invalid: int = 0
    not_found_examples: list[str] = field(default_factory=list)
    invalid_examples: list[str] = field(default_factory=list)


def _by_phone(account: Account, phones: list[str]) -> QuerySet[Contact]:
    return Contact.objects.for_account(account).filter(phone_number__in=phones)


def static_members_add_phones(
    *, audience: Audience, phones: list[str], chunk_size: int = 5_000
) -> PhonesAdded:
    """Add the account's contacts with these phone numbers (read by the one normaliser, in the
    account's region) to a static audience; on every list the number is on."""
    _check_static(audience)
    region = audience.account.default_region
    result = PhonesAdded()
    normalized: dict[str, str] = {}
    for raw in phones:
        try:
            normalized.setdefault(normalize_phone(raw, region), raw)
        except ValidationError:
            result.invalid += 1
            if len(result.invalid_examples) < PHONE_EXAMPLES:
                result.invalid_examples.append(str(raw)[:64])
    wanted = list(normalized)
    for start in range(0, len(wanted), chunk_size):
        chunk = wanted[start : start + chunk_size]
        found = set(_by_phone(audience.account, chunk).values_list("phone_number", flat=True))
        result.found += len(found)
        for phone in chunk:
            if phone not in found:
                result.not_found += 1
                if len(result.not_found_examples) < PHONE_EXAMPLES:
                    result.not_found_examples.append(normalized[phone])
        result.added += static_members_add(
            audience=audience, contacts=_by_phone(audience.account, chunk)
        )
    return result


def static_members_add_file(*, audience: Audience, path: Path) -> PhonesAdded:
    """Add the contacts whose numbers are in the phone column of a CSV file (an upload received
    by `contacts.importing.receive_upload`); the file is deleted afterwards."""
    try:
        header = check_header(path)
        phones: list[str] = []
        with path.open(encoding="utf-8-sig", newline="") as text:
            records = read_records(text)
            next(records)
            for _, record in records:
                if header.phone < len(record) and record[header.phone].strip():
                    phones.append(record[header.phone])
    finally:
        path.unlink(missing_ok=True)
    return static_members_add_phones(audience=audience, phones=phones)


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
    with transaction.atomic():
        if change.audience_ids:
            change.rewrites = hygiene.audiences_rewrite(
                change.account_id, change.audience_ids, edit
            )
            counts["audiences_rewritten"] = len(change.rewrites)
        change.counts = counts
        change.save(update_fields=["counts", "rewrites"])
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
    with transaction.atomic():
        # The saved audiences the change rewrote, set back with its labels.
        change.rewrites, changed_since = hygiene.rewrites_undo(change.undoes)
        if change.rewrites or changed_since:
            counts["audiences_restored"] = len(change.rewrites)
            counts["audiences_changed_since"] = changed_since
        change.counts = counts
        change.save(update_fields=["counts", "rewrites"])
    return counts


@task
def undo_task(job_id: int) -> None:
    run_job(job_id, undo_run)
