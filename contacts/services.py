"""Writes to sending lists, contacts and labels.

Every change to a contact's labels goes through `_write_labels`, which holds the contact's row
lock while it counts, so the 50-label limit holds even when two requests add labels at once; it
is the one place a write counts the labels (the callers only validate them).
"""

from collections.abc import Iterable, Mapping

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from contacts.labels import check_label_count, clean_key, clean_label_set
from contacts.models import Contact, Label, SendingList
from contacts.phones import normalize_phone
from trackly.models import Account


def _lock_contact(contact: Contact) -> Contact:
    # SQLite ignores FOR UPDATE, but its IMMEDIATE transactions already serialise writers.
    return Contact.objects.select_for_update().get(pk=contact.pk)


def _write_labels(contact: Contact, current: dict[str, str], wanted: dict[str, str]) -> None:
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
            unique_fields=["contact", "key"],
            update_fields=["value"],
        )
    if removed or changed:
        Contact.objects.filter(pk=contact.pk).update(updated_at=timezone.now())


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


@transaction.atomic
def contact_create(
    *, sending_list: SendingList, phone_number: str, labels: Mapping[str, str]
) -> Contact:
    """Add a new subscribed contact to a list; `invalid_phone` or `conflict` when it cannot."""
    phone = normalize_phone(phone_number, sending_list.account.default_region)
    cleaned = clean_label_set(labels)
    if Contact.objects.filter(sending_list=sending_list, phone_number=phone).exists():
        raise ValidationError(f"{phone} is already on this list.", code="conflict")
    contact = Contact.objects.create(
        account_id=sending_list.account_id, sending_list=sending_list, phone_number=phone
    )
    _write_labels(contact, {}, cleaned)
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


def sending_list_create(*, account: Account, name: str, phone_number: str) -> SendingList:
    return SendingList.objects.create(
        account=account,
        name=name,
        phone_number=normalize_phone(phone_number, account.default_region),
    )
