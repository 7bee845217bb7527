"""Renaming keys, merging values, deleting labels, and undoing any recorded bulk change."""

import importlib
from dataclasses import asdict
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from audiences import bulk, hygiene, services
from audiences.hygiene import LabelEdit, clean_edit
from audiences.models import Audience, LabelChange
from contacts.importing import import_file
from contacts.models import Contact, CreatedContact, Label, LabelRecord
from contacts.services import contact_labels_update
from tests.contacts.test_label_counts import (
    counted_keys,
    counted_values,
    kept_keys,
    kept_values,
)
from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.jobs import LeaseLost
from trackly.models import Job

Action = LabelChange.Action


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


def assert_counts_exact() -> None:
    assert kept_keys() == counted_keys()
    assert kept_values() == counted_values()


def records(job) -> set[tuple]:
    rows = LabelRecord.objects.filter(job=job).values_list("contact_id", "key", "before", "after")
    return set(rows)


@pytest.fixture
def make(sending_list):
    return lambda labels: label_contact(ContactFactory(sending_list=sending_list), labels)


def everyone(account, user, key, value=""):
    selection = {"audience": {"conditions": "", "list_ids": []}}
    action = bulk.ADD if value else bulk.REMOVE
    return services.label_change_start(
        account=account,
        user=user,
        action=action,
        key=key,
        value=value,
        target="everyone",
        selection=selection,
    )


def undo(account, user, job) -> LabelChange:
    change = services.undo_start(account=account, user=user, job=job)
    change.refresh_from_db()
    change.job.refresh_from_db()
    assert change.job.status == Job.Status.SUCCEEDED, change.job.error
    return change


# Recording -----------------------------------------------------------------------------------


def test_add_label_records_each_changed_label_before_and_after(account, editor_user, make):
    bare, other, same = make({}), make({"tier": "silver"}), make({"tier": "gold"})
    change = everyone(account, editor_user, "tier", "gold")
    assert records(change.job) == {
        (bare.pk, "tier", None, "gold"),
        (other.pk, "tier", "silver", "gold"),
    }
    assert labels_of(same) == {"tier": "gold"}


def test_remove_label_records_the_removed_values(account, editor_user, make):
    first, second, _ = make({"tier": "gold"}), make({"tier": "silver"}), make({})
    change = everyone(account, editor_user, "tier")
    assert records(change.job) == {
        (first.pk, "tier", "gold", None),
        (second.pk, "tier", "silver", None),
    }


# Undo of bulk changes ------------------------------------------------------------------------


def test_undo_of_add_label_restores_every_previous_value(account, editor_user, make):
    bare, other, same = make({"a": "1"}), make({"tier": "silver"}), make({"tier": "gold"})
    change = everyone(account, editor_user, "tier", "gold")
    assert hygiene.undo_review(change.job) == hygiene.UndoCounts(labels=2, contacts=2)
    undone = undo(account, editor_user, change.job)
    assert undone.counts == {
        "labels": 2,
        "contacts": 2,
        "erased": 0,
        "changed_since": 0,
        "skipped": 0,
    }
    assert labels_of(bare) == {"a": "1"}
    assert labels_of(other) == {"tier": "silver"}
    assert labels_of(same) == {"tier": "gold"}
    assert undone.target == "Add label tier=gold on everyone"
    assert_counts_exact()


def test_undo_leaves_contacts_changed_since_alone_and_counts_them(account, editor_user, make):
    kept, edited, removed = make({}), make({}), make({})
    change = everyone(account, editor_user, "tier", "gold")
    contact_labels_update(contact=edited, labels={"tier": "platinum"})
    contact_labels_update(contact=removed, labels={}, remove=["tier"])
    review = hygiene.undo_review(change.job)
    assert review == hygiene.UndoCounts(labels=1, contacts=1, changed_since=2)
    undone = undo(account, editor_user, change.job)
    assert undone.counts == asdict(review)
    assert labels_of(kept) == {}
    assert labels_of(edited) == {"tier": "platinum"}
    assert labels_of(removed) == {}


@pytest.mark.parametrize("value", ["gold", ""], ids=["add", "remove"])
def test_undo_counts_contacts_erased_since_as_changed(account, editor_user, make, value):
    kept, erased = make({"tier": "silver"}), make({"tier": "silver"})
    change = everyone(account, editor_user, "tier", value)
    Contact.objects.filter(pk=erased.pk).delete()
    review = hygiene.undo_review(change.job)
    assert review == hygiene.UndoCounts(labels=1, contacts=1, changed_since=1)
    undone = undo(account, editor_user, change.job)
    assert undone.counts == asdict(review)
    assert labels_of(kept) == {"tier": "silver"}
    assert not Contact.objects.filter(pk=erased.pk).exists()
    assert not Label.objects.filter(contact_id=erased.pk).exists()
    assert_counts_exact()


def test_change_records_have_no_index_but_their_primary_key(db):
    # The primary key (job_id, contact_id, ...) serves reading a job's records; any other
    # index would cost every record written.
    for model in (LabelRecord, CreatedContact):
        with connection.cursor() as cursor:
            found = connection.introspection.get_constraints(cursor, model._meta.db_table)
        indexes = [c["columns"] for c in found.values() if c["index"] and not c["primary_key"]]
        assert indexes == [], model.__name__


def test_undo_of_remove_skips_contacts_it_would_take_past_fifty_labels(account, editor_user, make):
    roomy, full = (
        make({"tier": "gold"}),
        make({"tier": "gold", **{f"k{i}": "v" for i in range(49)}}),
    )
    change = everyone(account, editor_user, "tier")
    contact_labels_update(contact=full, labels={"extra": "1"})
    review = hygiene.undo_review(change.job)
    assert review == hygiene.UndoCounts(labels=1, contacts=1, skipped=1)
    undone = undo(account, editor_user, change.job)
    assert undone.counts == asdict(review)
    assert labels_of(roomy) == {"tier": "gold"}
    assert len(labels_of(full)) == 50
    assert "tier" not in labels_of(full)


def test_an_undo_can_be_undone(account, editor_user, make):
    contact = make({"tier": "silver"})
    change = everyone(account, editor_user, "tier", "gold")
    first = undo(account, editor_user, change.job)
    assert labels_of(contact) == {"tier": "silver"}
    second = undo(account, editor_user, first.job)
    assert second.counts["labels"] == 1
    assert labels_of(contact) == {"tier": "gold"}
    assert_counts_exact()


def test_a_change_undone_once_cannot_be_undone_again(account, editor_user, make):
    make({})
    change = everyone(account, editor_user, "tier", "gold")
    first = undo(account, editor_user, change.job)
    with pytest.raises(ValidationError) as raised:
        services.undo_start(account=account, user=editor_user, job=change.job)
    assert raised.value.messages == [
        f"This change was undone already (job {first.job_id}); undo that undo instead."
    ]


def test_an_undo_stopped_half_way_run_again_changes_nothing_twice(account, editor_user, make):
    contacts = [make({"tier": f"v{i}"}) for i in range(5)]
    change = everyone(account, editor_user, "tier", "gold")
    stopped = LabelChange.objects.create(
        account=account, action=Action.UNDO, undoes=change.job, target="x"
    )
    stopped.job = Job.objects.create(account=account, kind=Job.Kind.UNDO, status="failed")
    stopped.save()

    def stop_after_two(done, total):
        if done > 2:
            raise LeaseLost

    with pytest.raises(LeaseLost):
        hygiene.undo_apply(
            change.job, undo_job_id=stopped.job_id, progress=stop_after_two, chunk_size=2
        )
    assert [labels_of(c)["tier"] for c in contacts] == ["v0", "v1", "gold", "gold", "gold"]
    assert hygiene.undo_review(change.job) == hygiene.UndoCounts(labels=3, contacts=3)
    again = undo(account, editor_user, change.job)
    assert again.counts["contacts"] == 3
    assert again.counts["changed_since"] == 0
    assert [labels_of(c)["tier"] for c in contacts] == [f"v{i}" for i in range(5)]
    assert_counts_exact()


# Rename, merge, delete -----------------------------------------------------------------------


def edit(account, user, audience_ids=(), **given) -> LabelChange:
    change = services.label_edit_start(
        account=account, user=user, edit=clean_edit(**given), audience_ids=list(audience_ids)
    )
    change.refresh_from_db()
    change.job.refresh_from_db()
    assert change.job.status == Job.Status.SUCCEEDED, change.job.error
    return change


def test_rename_review_counts_equal_what_the_job_does(account, editor_user, make):
    plain = make({"src": "fb", "a": "1"})
    both = make({"src": "fb", "source": "google"})
    untouched = make({"source": "tv"})
    renaming = clean_edit(action=Action.RENAME_KEY, key="src", new_key="source")
    review = hygiene.edit_review(account, renaming)
    assert review == hygiene.EditCounts(contacts=2, kept_target=1, skipped=0)
    change = edit(account, editor_user, action=Action.RENAME_KEY, key="src", new_key="source")
    assert change.counts == asdict(review)
    assert labels_of(plain) == {"source": "fb", "a": "1"}
    assert labels_of(both) == {"source": "google"}
    assert labels_of(untouched) == {"source": "tv"}
    # One record per renamed label: the new key coming names the key it came from; where the
    # contact kept its own label of the new key, the old key going.
    recorded = LabelRecord.objects.filter(job=change.job).values_list(
        "contact_id", "key", "before", "after", "renamed_from"
    )
    assert set(recorded) == {
        (plain.pk, "source", None, "fb", "src"),
        (both.pk, "src", "fb", None, None),
    }
    assert_counts_exact()
    undo(account, editor_user, change.job)
    assert labels_of(plain) == {"src": "fb", "a": "1"}
    assert labels_of(both) == {"src": "fb", "source": "google"}
    assert_counts_exact()


def test_merge_values_and_rewrite_the_audiences_naming_them(account, editor_user, make):
    facebook, fb, google = (
        make({"source": "Facebook"}),
        make({"source": "FB"}),
        make({"source": "g"}),
    )
    named = Audience.objects.create(
        account=account, name="Social", conditions="label:source IN [Facebook, facebook, g]"
    )
    Audience.objects.create(account=account, name="Other", conditions="label:source = g")
    merging = clean_edit(
        action=Action.MERGE_VALUES, key="source", values=["Facebook", "FB"], value="facebook"
    )
    found = hygiene.naming_audiences(account, merging)
    assert [(a.name, a.rewritten) for a in found] == [("Social", "label:source IN [facebook, g]")]
    assert hygiene.edit_review(account, merging) == hygiene.EditCounts(contacts=2)
    change = edit(
        account,
        editor_user,
        audience_ids=[named.pk],
        action=Action.MERGE_VALUES,
        key="source",
        values=["Facebook", "FB"],
        value="facebook",
    )
    assert change.counts == {
        "contacts": 2,
        "kept_target": 0,
        "skipped": 0,
        "audiences_rewritten": 1,
    }
    assert labels_of(facebook) == labels_of(fb) == {"source": "facebook"}
    assert labels_of(google) == {"source": "g"}
    named.refresh_from_db()
    assert named.conditions == "label:source IN [facebook, g]"
    assert_counts_exact()


def test_rename_rewrites_keys_with_the_parser_not_text_replacement(account, editor_user, make):
    make({"src": "x"})
    audience = Audience.objects.create(
        account=account, name="A", conditions='label:src = "src" AND label:srcs EXISTS'
    )
    edit(account, editor_user, [audience.pk], action=Action.RENAME_KEY, key="src", new_key="source")
    audience.refresh_from_db()
    assert audience.conditions == "label:source = src AND label:srcs EXISTS"


def test_delete_a_value_and_a_key_then_undo(account, editor_user, make):
    one, two = make({"source": "fb", "a": "1"}), make({"source": "tv", "a": "2"})
    deleting = clean_edit(action=Action.DELETE_VALUE, key="source", value="fb")
    review = hygiene.edit_review(account, deleting)
    assert review == hygiene.EditCounts(contacts=1)
    change = edit(account, editor_user, action=Action.DELETE_VALUE, key="source", value="fb")
    assert change.counts == asdict(review)
    assert labels_of(one) == {"a": "1"}
    review = hygiene.edit_review(account, clean_edit(action=Action.DELETE_KEY, key="a"))
    assert review == hygiene.EditCounts(contacts=2)
    gone = edit(account, editor_user, action=Action.DELETE_KEY, key="a")
    assert gone.counts == asdict(review)
    assert labels_of(two) == {"source": "tv"}
    assert_counts_exact()
    undo(account, editor_user, gone.job)
    undo(account, editor_user, change.job)
    assert labels_of(one) == {"source": "fb", "a": "1"}
    assert labels_of(two) == {"source": "tv", "a": "2"}
    assert_counts_exact()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            {"action": "rename_key", "key": "src", "new_key": "src"},
            "The new key is the key itself: there is nothing to rename.",
        ),
        (
            {"action": "rename_key", "key": "src", "new_key": "a b"},
            "Label key 'a b' may only contain letters, digits, '_' and '-'.",
        ),
        (
            {"action": "merge_values", "key": "k", "values": [], "value": "x"},
            "Choose at least one value to merge.",
        ),
        (
            {"action": "merge_values", "key": "k", "values": ["x"], "value": "x"},
            "Every value chosen is 'x' already: there is nothing to merge.",
        ),
        ({"action": "explode", "key": "k"}, "Unknown label edit 'explode'."),
    ],
)
def test_bad_edits_are_refused_with_a_message(given, message):
    with pytest.raises(ValidationError) as raised:
        clean_edit(**given)
    assert raised.value.messages == [message]


# Imports ------------------------------------------------------------------------------------


def test_undo_of_an_import_erases_created_contacts_unless_they_changed(
    account, editor_user, sending_list, tmp_path, make
):
    existing = label_contact(
        ContactFactory(sending_list=sending_list, phone_number="+14155550100"), {"tier": "gold"}
    )
    path = tmp_path / "file.csv"
    path.write_text(
        "phone,label_tier,label_city\n"
        "+14155550100,silver,\n"
        "+14155550101,gold,Paris\n"
        "+14155550102,gold,\n"
        "+14155550103,,\n"
    )
    job = Job.objects.create(account=account, kind=Job.Kind.IMPORT, status="succeeded")
    import_file(path, sending_list=sending_list, job_id=job.pk)
    created = {
        c.phone_number: c
        for c in Contact.objects.filter(
            pk__in=CreatedContact.objects.filter(job=job).values("contact_id")
        )
    }
    assert sorted(created) == ["+14155550101", "+14155550102", "+14155550103"]
    contact_labels_update(contact=created["+14155550102"], labels={"vip": "yes"})
    review = hygiene.undo_review(job)
    assert review == hygiene.UndoCounts(labels=1, contacts=1, erased=2, changed_since=1)
    undone = undo(account, editor_user, job)
    assert undone.counts == asdict(review)
    assert undone.target == "Import of a file"
    assert labels_of(existing) == {"tier": "gold"}
    assert set(
        Contact.objects.filter(sending_list=sending_list).values_list("phone_number", flat=True)
    ) == {
        "+14155550100",
        "+14155550102",
    }
    assert_counts_exact()


@pytest.mark.parametrize("chunk_rows", [1, 10_000])
def test_a_phone_met_again_in_an_import_keeps_one_record_with_its_first_value_before(
    account, editor_user, sending_list, tmp_path, chunk_rows
):
    existing = label_contact(
        ContactFactory(sending_list=sending_list, phone_number="+14155550100"),
        {"tier": "gold", "city": "Oslo"},
    )
    path = tmp_path / "file.csv"
    path.write_text(
        "phone,label_tier,label_city\n"
        "+14155550100,silver,Paris\n"
        "+14155550199,bronze,\n"
        "+14155550100,platinum,Oslo\n"
    )
    job = Job.objects.create(account=account, kind=Job.Kind.IMPORT, status="succeeded")
    import_file(path, sending_list=sending_list, job_id=job.pk, chunk_rows=chunk_rows)
    assert labels_of(existing) == {"tier": "platinum", "city": "Oslo"}
    new = Contact.objects.get(phone_number="+14155550199")
    # One record per label: the value before the file, the value after its last row. A label
    # the file set and then set back is recorded as such when its rows fall in two chunks
    # (each chunk records what it changed), and not when one chunk reads both rows; undo
    # restores the same either way.
    changed = {record for record in records(job) if record[2] != record[3]}
    assert changed == {
        (existing.pk, "tier", "gold", "platinum"),
        (new.pk, "tier", None, "bronze"),
    }
    set_back = {(existing.pk, "city", "Oslo", "Oslo")} if chunk_rows == 1 else set()
    assert records(job) - changed == set_back
    undone = undo(account, editor_user, job)
    assert labels_of(existing) == {"tier": "gold", "city": "Oslo"}
    assert not Contact.objects.filter(pk=new.pk).exists()
    assert (undone.counts["erased"], undone.counts["changed_since"]) == (1, 0)
    assert_counts_exact()


# Keeping records -----------------------------------------------------------------------------


def test_records_are_pruned_after_the_kept_days_and_the_change_cannot_be_undone(
    account, editor_user, make, settings
):
    settings.LABEL_RECORD_DAYS = 30
    make({})
    change = everyone(account, editor_user, "tier", "gold")
    assert hygiene.records_kept_until(change.job) == change.job.created_at + timedelta(days=30)
    Job.objects.filter(pk=change.job_id).update(created_at=timezone.now() - timedelta(days=31))
    change.job.refresh_from_db()
    call_command("prune_label_records")
    assert not LabelRecord.objects.filter(job=change.job).exists()
    with pytest.raises(ValidationError) as raised:
        services.undo_start(account=account, user=editor_user, job=change.job)
    assert raised.value.messages == [
        "What the job changed was kept for 30 days only: it can no longer be undone."
    ]


def _deleted_account_import(other_account, tmp_path) -> Job:
    other_list = SendingListFactory(account=other_account)
    ContactFactory(sending_list=other_list, phone_number="+14155550100")
    path = tmp_path / "contacts.csv"
    path.write_text("phone_number,label_tier\n+14155550100,gold\n+14155550101,silver\n")
    job = Job.objects.create(account=other_account, kind=Job.Kind.IMPORT)
    import_file(path, sending_list=other_list, job_id=job.pk)
    assert LabelRecord.objects.filter(job=job).count() == 2
    assert CreatedContact.objects.filter(job=job).count() == 1
    return job


def test_deleting_an_account_deletes_its_change_records_and_no_other(
    account, editor_user, other_account, make, tmp_path
):
    contact = make({})
    kept = everyone(account, editor_user, "tier", "gold")
    gone = _deleted_account_import(other_account, tmp_path)
    other_account.delete()
    assert not LabelRecord.objects.filter(job_id=gone.pk).exists()
    assert not CreatedContact.objects.filter(job_id=gone.pk).exists()
    assert records(kept.job) == {(contact.pk, "tier", None, "gold")}


def test_the_migration_deletes_records_left_by_jobs_deleted_before_it(
    account, editor_user, other_account, make, tmp_path
):
    contact = make({})
    kept = everyone(account, editor_user, "tier", "gold")
    gone = _deleted_account_import(other_account, tmp_path)
    # As an account deleted before records went with their job left them.
    LabelChange.objects.filter(job=gone).delete()
    Job.objects.filter(pk=gone.pk)._raw_delete(connection.alias)
    assert LabelRecord.objects.filter(job_id=gone.pk).count() == 2
    migration = importlib.import_module("contacts.migrations.0012_label_records_go_with_their_job")
    migration.delete_records_of_deleted_jobs(django_apps, connection.schema_editor())
    assert not LabelRecord.objects.filter(job_id=gone.pk).exists()
    assert not CreatedContact.objects.filter(job_id=gone.pk).exists()
    assert records(kept.job) == {(contact.pk, "tier", None, "gold")}


def test_an_edit_names_nothing_in_audiences_about_other_keys(account):
    Audience.objects.create(account=account, name="A", conditions="label:source_x = a")
    renaming = LabelEdit(Action.RENAME_KEY, "source", new_key="src")
    assert hygiene.naming_audiences(account, renaming) == []
