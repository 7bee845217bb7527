"""Undo restores the exact previous state of every contact not changed since: random label
states, a random bulk change, random later edits, undo, compared with a model in Python."""

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from audiences import bulk, hygiene
from audiences.models import LabelChange
from contacts.models import Contact, Label
from contacts.services import contact_labels_replace
from tests.contacts.test_label_counts import counted_keys, counted_values, kept_keys, kept_values
from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.models import Job

Action = LabelChange.Action
KEYS = ["a", "b", "c"]
VALUES = ["x", "y", "X"]

label_sets = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
changes = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(KEYS), st.sampled_from(VALUES)),
    st.tuples(st.just("remove"), st.sampled_from(KEYS), st.just("")),
    st.tuples(st.just(Action.RENAME_KEY), st.sampled_from(KEYS), st.sampled_from(KEYS)),
    st.tuples(st.just(Action.MERGE_VALUES), st.sampled_from(KEYS), st.sampled_from(VALUES)),
    st.tuples(st.just(Action.DELETE_VALUE), st.sampled_from(KEYS), st.sampled_from(VALUES)),
    st.tuples(st.just(Action.DELETE_KEY), st.sampled_from(KEYS), st.just("")),
)


# The job each change runs as: undo reads a job's records by its kind (a rename's, one of a
# single key's).
KINDS = {
    "add": Job.Kind.ADD_LABEL,
    "remove": Job.Kind.REMOVE_LABEL,
    Action.RENAME_KEY: Job.Kind.RENAME_KEY,
    Action.MERGE_VALUES: Job.Kind.MERGE_VALUES,
    Action.DELETE_VALUE: Job.Kind.DELETE_VALUE,
    Action.DELETE_KEY: Job.Kind.DELETE_KEY,
}


def modelled_change(labels: dict, change: tuple) -> dict:
    """What the change makes of one contact's labels (the Python model)."""
    action, key, other = change
    labels = dict(labels)
    if action == "add":
        labels[key] = other
    elif action in ("remove", Action.DELETE_KEY):
        labels.pop(key, None)
    elif action == Action.RENAME_KEY and key in labels:
        value = labels.pop(key)
        labels.setdefault(other, value)
    elif action == Action.MERGE_VALUES and labels.get(key) in set(VALUES) - {other}:
        labels[key] = other
    elif action == Action.DELETE_VALUE and labels.get(key) == other:
        del labels[key]
    return labels


def modelled_undo(before: dict, after: dict, now: dict) -> dict:
    """Undo, per contact: restored only when every label the change wrote is as it left it."""
    written = {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}
    if any(now.get(key) != after.get(key) for key in written):
        return now
    restored = dict(now)
    for key in written:
        if key in before:
            restored[key] = before[key]
        else:
            restored.pop(key, None)
    return restored


def run_change(account_id: int, change: tuple, job: Job) -> None:
    action, key, other = change
    if action in ("add", "remove"):
        contacts = Contact.objects.filter(account_id=account_id)
        bulk.apply(
            contacts,
            account_id=account_id,
            action=action,
            key=key,
            value=other,
            job_id=job.pk,
            chunk_size=2,
        )
        return
    if action == Action.RENAME_KEY and key == other:
        return
    edit = hygiene.LabelEdit(
        action,
        key,
        new_key=other if action == Action.RENAME_KEY else "",
        values=tuple(v for v in VALUES if v != other) if action == Action.MERGE_VALUES else (),
        value="" if action in (Action.RENAME_KEY, Action.DELETE_KEY) else other,
    )
    hygiene.edit_apply(account_id, edit, job_id=job.pk, chunk_size=2)


class UndoPropertyTests(TestCase):
    @settings(max_examples=50, deadline=None)
    @given(
        st.lists(label_sets, min_size=1, max_size=5),
        changes,
        st.lists(st.tuples(st.integers(0, 4), label_sets), max_size=4),
    )
    def test_undo_restores_every_contact_not_changed_since(self, states, change, edits):
        sending_list = SendingListFactory()
        account_id = sending_list.account_id
        contacts = [label_contact(ContactFactory(sending_list=sending_list), s) for s in states]
        job = Job.objects.create(account_id=account_id, kind=KINDS[change[0]], status="succeeded")
        run_change(account_id, change, job)
        before = dict(enumerate(states))
        after = {i: modelled_change(labels, change) for i, labels in before.items()}
        assert {i: self.labels(c) for i, c in enumerate(contacts)} == after
        now = dict(after)
        for index, labels in edits:
            if index < len(contacts):
                contact_labels_replace(contact=contacts[index], labels=labels)
                now[index] = labels
        undo_job = Job.objects.create(account_id=account_id, kind=Job.Kind.UNDO)
        review = hygiene.undo_review(job)
        counts = hygiene.undo_apply(job, undo_job_id=undo_job.pk, chunk_size=2)
        assert counts == review
        expected = {i: modelled_undo(before[i], after[i], now[i]) for i in before}
        assert {i: self.labels(c) for i, c in enumerate(contacts)} == expected
        assert kept_keys() == counted_keys()
        assert kept_values() == counted_values()

    @staticmethod
    def labels(contact) -> dict:
        return dict(Label.objects.filter(contact=contact).values_list("key", "value"))
