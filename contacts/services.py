"""Writes to sending lists, contacts and labels.

A sending list's name and number are each unique in its account: `sending_list_check_unique`
is the one check, with one message per rule, that the dashboard, the API and the admin show.

Every change to a contact's labels goes through `_write_labels`, which holds the contact's row
lock while it counts, so the 50-label limit holds even when two requests add labels at once; it
is the one place a write counts the labels (the callers only validate them).
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from contacts.labels import check_label_count, clean_key, clean_label_set
from contacts.models import Contact, CreatedContact, Label, LabelRecord, SendingList
from trackly.models import Account, Job
from trackly.phones import normalize_phone
from trackly.text import check_text


def _lock_contact(contact: Contact) -> Contact:
    # SQLite ignores FOR UPDATE, but its IMMEDIATE transactions already serialise writers.
    return Contact.objects.select_for_update().get(pk=contact.pk)


def _write_labels(
    contact: Contact, current: dict[str, str], wanted: dict[str, str], *, touch: bool = True
) -> None:
    """Store `wanted` as the contact's labels, given its `current` ones; with `touch`, a change
    stamps the contact's `updated_at` (in the row and in `contact`)."""
    check_label_count(len(wanted))
    removed = current.keys() - wanted.keys()
    if removed:
        Label.objects.filter(contact=contact, key__in=removed).delete()
    changed = [
        Label(account_id=contact.account_id, contact=contact, key=key, value=value)
        for key, value in wanted.items()
        if current.get(key) != value
    ]
    if changed:
        Label.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=["contact", "key", "account"],
            update_fields=["value"],
        )
    if touch and (removed or changed):
        now = timezone.now()
        Contact.objects.filter(pk=contact.pk).update(updated_at=now)
        contact.updated_at = now


def _current_labels(contact: Contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


@transaction.atomic
def contact_labels_replace(*, contact: Contact, labels: Mapping[str, str]) -> dict[str, str]:
    """Make `labels` the contact's whole label set; return it as stored."""
    wanted = clean_label_set(labels)
    locked = _lock_contact(contact)
    _write_labels(locked, _current_labels(locked), wanted)
    return wanted


@transaction.atomic
def contact_labels_update(
    *, contact: Contact, labels: Mapping[str, str], remove: Iterable[str] = ()
) -> dict[str, str]:
    """Merge `labels` into the contact's labels (given values win), drop keys in `remove`."""
    given = clean_label_set(labels)
    dropped = {clean_key(key) for key in remove}
    if dropped & given.keys():
        raise ValidationError(
            "A label key cannot be both set and removed.", code="invalid_label_key"
        )
    locked = _lock_contact(contact)
    current = _current_labels(locked)
    wanted = {key: value for key, value in current.items() if key not in dropped} | given
    _write_labels(locked, current, wanted)
    return wanted


ARCHIVED_LIST = (
    "“{name}” is archived: restore it (List settings) to add contacts, import a file or change "
    "labels in bulk."
)


def check_list_open(sending_list: SendingList) -> None:
    """Raise `list_archived` for an archived list, which takes no new contacts, imports or bulk
    label changes: the one check every face makes."""
    if sending_list.is_archived:
        raise ValidationError(ARCHIVED_LIST.format(name=sending_list.name), code="list_archived")


@transaction.atomic
def contact_create(
    *, sending_list: SendingList, phone_number: str, labels: Mapping[str, str]
) -> Contact:
    """Add a new subscribed contact to a list; `list_archived`, `invalid_phone` or `conflict`
    when it cannot."""
    check_list_open(sending_list)
    phone = normalize_phone(phone_number, sending_list.account.default_region)
    cleaned = clean_label_set(labels)
    if Contact.objects.filter(sending_list=sending_list, phone_number=phone).exists():
        raise ValidationError(f"{phone} is already on this list.", code="conflict")
    contact = Contact.objects.create(
        account_id=sending_list.account_id, sending_list=sending_list, phone_number=phone
    )
    # Made a moment ago in this transaction: its updated_at is already now.
    _write_labels(contact, {}, cleaned, touch=False)
    return contact


def contact_unsubscribe(*, contact: Contact) -> None:
    if contact.is_subscribed:
        contact.status = Contact.Status.UNSUBSCRIBED
        contact.unsubscribed_at = timezone.now()
        contact.save(update_fields=["status", "unsubscribed_at", "updated_at"])


def contact_resubscribe(*, contact: Contact) -> None:
    if not contact.is_subscribed:
        contact.status = Contact.Status.SUBSCRIBED
        contact.unsubscribed_at = None
        contact.save(update_fields=["status", "unsubscribed_at", "updated_at"])


LIST_NAME_TAKEN = "A sending list with this name already exists."
LIST_NUMBER_TAKEN = "A sending list with this number already exists."


def sending_list_check_unique(
    *,
    account: Account,
    name: str | None = None,
    phone_number: str | None = None,
    sending_list: SendingList | None = None,
) -> None:
    """Raise `conflict`, keyed by field (`name`, `phone_number`), when another list of the
    account has this name or this (E.164) number; `None` leaves that rule unchecked."""
    others = SendingList.objects.for_account(account)
    if sending_list is not None:
        others = others.exclude(pk=sending_list.pk)
    errors = {}
    if name is not None and others.filter(name=name).exists():
        errors["name"] = ValidationError(LIST_NAME_TAKEN, code="conflict")
    if phone_number is not None and others.filter(phone_number=phone_number).exists():
        errors["phone_number"] = ValidationError(LIST_NUMBER_TAKEN, code="conflict")
    if errors:
        raise ValidationError(errors)


def _save_list(sending_list: SendingList, **save_kwargs) -> None:
    # A concurrent write may take the name or number between the check and this save: the
    # unique constraints refuse it, and the check, run again, names the rule.
    try:
        with transaction.atomic():
            sending_list.save(**save_kwargs)
    except IntegrityError:
        sending_list_check_unique(
            account=sending_list.account,
            name=sending_list.name,
            phone_number=sending_list.phone_number,
            sending_list=sending_list if sending_list.pk else None,
        )
        raise


def sending_list_create(*, account: Account, name: str, phone_number: str) -> SendingList:
    """A new sending list; `control_character` in the name, `invalid_phone`, or `conflict`
    when its name or number is taken."""
    check_text(name)
    phone = normalize_phone(phone_number, account.default_region)
    sending_list_check_unique(account=account, name=name, phone_number=phone)
    sending_list = SendingList(account=account, name=name, phone_number=phone)
    _save_list(sending_list)
    return sending_list


def sending_list_update(*, sending_list: SendingList, name: str) -> SendingList:
    """Rename a sending list; `control_character` in the name, or `conflict` when another
    list of its account has the name."""
    check_text(name)
    sending_list_check_unique(account=sending_list.account, name=name, sending_list=sending_list)
    sending_list.name = name
    _save_list(sending_list, update_fields=["name"])
    return sending_list


def label_records_prune(*, now: datetime | None = None) -> int:
    """Delete the change records (`LabelRecord`, `CreatedContact`) of jobs started more than
    `LABEL_RECORD_DAYS` days ago, after which those changes can no longer be undone; return how
    many label records went."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.LABEL_RECORD_DAYS)
    old_jobs = Job.objects.filter(created_at__lt=cutoff).values("pk")
    deleted, _ = LabelRecord.objects.filter(job__in=old_jobs).delete()
    CreatedContact.objects.filter(job__in=old_jobs).delete()
    return deleted
