import threading
from dataclasses import asdict

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audiences import bulk, services
from audiences.models import Audience, LabelChange
from contacts import services as contact_services
from contacts.models import Contact, Label
from tests.factories import ContactFactory, SendingListFactory, label_contact
from trackly.models import Job


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


@pytest.fixture
def crowd(sending_list):
    """Members of `label:vip EXISTS` in every situation an Add Label can meet."""
    make = lambda labels: label_contact(ContactFactory(sending_list=sending_list), labels)  # noqa: E731
    return {
        "bare": make({"vip": "true"}),
        "other_value": make({"vip": "true", "tier": "silver"}),
        "same_value": make({"vip": "true", "tier": "gold"}),
        "full": make({"vip": "true", **{f"k{i}": "v" for i in range(49)}}),
        "full_with_key": make(
            {"vip": "true", "tier": "bronze", **{f"k{i}": "v" for i in range(48)}}
        ),
        "outside": make({"tier": "silver"}),
    }


@pytest.fixture
def vips(account, crowd):
    return Audience.objects.create(account=account, name="VIPs", conditions="label:vip EXISTS")


def test_preview_of_add_counts_every_case(vips):
    preview = bulk.preview_add(vips.members(), account_id=vips.account_id, key="tier", value="gold")
    assert asdict(preview) == {
        "matching": 5,
        "gained": 1,
        "replaced": 2,
        "already": 1,
        "skipped": 1,
    }


@pytest.mark.parametrize("chunk_size", [2, 20_000])
def test_add_does_exactly_what_the_preview_said(vips, crowd, chunk_size):
    preview = bulk.preview_add(vips.members(), account_id=vips.account_id, key="tier", value="gold")
    progress = []
    done = bulk.apply(
        vips.members(),
        account_id=vips.account_id,
        action=bulk.ADD,
        key="tier",
        value="gold",
        progress=lambda d, t: progress.append((d, t)),
        chunk_size=chunk_size,
    )
    assert done == preview
    assert labels_of(crowd["bare"])["tier"] == "gold"
    assert labels_of(crowd["other_value"])["tier"] == "gold"
    assert labels_of(crowd["full_with_key"])["tier"] == "gold"
    assert "tier" not in labels_of(crowd["full"])
    assert len(labels_of(crowd["full"])) == 50
    assert labels_of(crowd["outside"])["tier"] == "silver"
    assert progress[-1] == (5, 5)
    if chunk_size == 2:
        assert [d for d, _ in progress] == [0, 2, 4, 5]


def test_a_new_key_skips_the_full_contacts_too(vips, crowd):
    """No contact has `promo` yet, so nothing is probed; labels are still counted (the account
    uses 50 other keys) and the two contacts at 50 labels are skipped."""
    members = vips.members()
    preview = bulk.preview_add(members, account_id=vips.account_id, key="promo", value="x")
    done = bulk.apply(members, account_id=vips.account_id, action=bulk.ADD, key="promo", value="x")

    expected = {"matching": 5, "gained": 3, "replaced": 0, "already": 0, "skipped": 2}
    assert asdict(preview) == asdict(done) == expected
    assert "promo" not in labels_of(crowd["full"])
    assert "promo" not in labels_of(crowd["full_with_key"])
    assert labels_of(crowd["bare"]) == {"vip": "true", "promo": "x"}


def test_adding_again_changes_nothing_more(vips):
    bulk.apply(
        vips.members(), account_id=vips.account_id, action=bulk.ADD, key="tier", value="gold"
    )
    again = bulk.apply(
        vips.members(), account_id=vips.account_id, action=bulk.ADD, key="tier", value="gold"
    )
    assert asdict(again) == {"matching": 5, "gained": 0, "replaced": 0, "already": 4, "skipped": 1}


@pytest.mark.parametrize("action", [bulk.ADD, bulk.REMOVE])
def test_the_set_is_read_once_when_the_job_starts(vips, crowd, action):
    # After the first chunk, a contact joins the audience and a member is deleted: the joiner
    # is not changed, the deleted member is passed over, and the job finishes.
    members = sorted(vips.members().values_list("pk", flat=True))
    gone = Contact.objects.get(pk=members[-1])
    joiner = label_contact(
        ContactFactory(sending_list=gone.sending_list), {"not_yet": "late", "tier": "x"}
    )

    def meanwhile(done, total):
        if done == 2:
            Label.objects.filter(contact=joiner, key="not_yet").update(key="vip")
            gone.delete()

    counts = bulk.apply(
        vips.members(),
        account_id=vips.account_id,
        action=action,
        key="tier",
        value="gold",
        progress=meanwhile,
        chunk_size=2,
    )
    if action == bulk.ADD:
        assert asdict(counts) == {
            "matching": 4,
            "gained": 1,
            "replaced": 1,
            "already": 1,
            "skipped": 1,
        }
    else:
        assert asdict(counts) == {"matching": 5, "removed": 2}
    assert labels_of(joiner) == {"vip": "late", "tier": "x"}


def test_remove_counts_and_removes_the_key(vips, crowd):
    assert asdict(bulk.preview_remove(vips.members(), "tier")) == {"matching": 5, "removed": 3}
    done = bulk.apply(vips.members(), account_id=vips.account_id, action=bulk.REMOVE, key="tier")
    assert asdict(done) == {"matching": 5, "removed": 3}
    assert "tier" not in labels_of(crowd["other_value"])
    assert labels_of(crowd["outside"]) == {"tier": "silver"}


def _alternating(account, sending_list, labels: dict[str, str]) -> tuple[list, Audience]:
    """Seven contacts with `labels`, members of `label:vip EXISTS` (the even ones) and not in
    turn by id, so that every chunk's id range (which its lock and its delete scan) holds
    non-members too; and that audience."""
    contacts = [
        label_contact(
            ContactFactory(sending_list=sending_list),
            {**labels, **({"vip": "y"} if n % 2 == 0 else {})},
        )
        for n in range(7)
    ]
    members = Audience.objects.create(account=account, name="VIPs", conditions="label:vip EXISTS")
    return contacts, members


@pytest.mark.parametrize("chunk_size", [2, 3, 20_000])
def test_remove_leaves_the_key_of_non_members_between_members(account, sending_list, chunk_size):
    contacts, members = _alternating(account, sending_list, {"tier": "gold"})
    done = bulk.apply(
        members.members(),
        account_id=account.pk,
        action=bulk.REMOVE,
        key="tier",
        chunk_size=chunk_size,
    )
    assert asdict(done) == {"matching": 4, "removed": 4}
    assert [labels_of(contact) for contact in contacts] == [
        {"vip": "y"} if n % 2 == 0 else {"tier": "gold"} for n in range(7)
    ]


@pytest.mark.parametrize("chunk_size", [2, 3, 20_000])
def test_add_leaves_non_members_between_members_as_they_are(account, sending_list, chunk_size):
    contacts, members = _alternating(account, sending_list, {})
    done = bulk.apply(
        members.members(),
        account_id=account.pk,
        action=bulk.ADD,
        key="tier",
        value="gold",
        chunk_size=chunk_size,
    )
    assert asdict(done) == {
        "matching": 4,
        "gained": 4,
        "replaced": 0,
        "already": 0,
        "skipped": 0,
    }
    assert [labels_of(contact) for contact in contacts] == [
        {"vip": "y", "tier": "gold"} if n % 2 == 0 else {} for n in range(7)
    ]


def _state_sql(contacts, account, key: str) -> str:
    """The SQL with which the preview of adding `key` works out the state of `contacts`."""
    with CaptureQueriesContext(connection) as queries:
        bulk.preview_add(contacts, account_id=account.pk, key=key, value="x")
    return queries[-1]["sql"]


@pytest.mark.parametrize(("other_keys", "counted"), [(49, False), (50, True)])
def test_labels_are_counted_only_if_the_account_uses_50_other_keys(
    account, sending_list, other_keys, counted
):
    keys = [f"k{i}" for i in range(other_keys)]
    # The other keys spread over two contacts: neither is full, but the account could have one.
    first = label_contact(ContactFactory(sending_list=sending_list), dict.fromkeys(keys[:25], "v"))
    label_contact(ContactFactory(sending_list=sending_list), dict.fromkeys(keys[25:], "v"))
    # The key being added is not one of the others; another account's keys are not counted.
    label_contact(ContactFactory(sending_list=sending_list), {"new": "x"})
    label_contact(ContactFactory(), {f"z{i}": "v" for i in range(50)})

    sql = _state_sql(Contact.objects.filter(pk=first.pk), account, "new")
    assert ("x.contact_id" in sql) is counted


@pytest.mark.parametrize(("used_by", "probed"), [(None, False), ("other", True)])
def test_current_values_are_probed_only_if_some_contact_has_the_key(
    account, sending_list, used_by, probed
):
    member = label_contact(ContactFactory(sending_list=sending_list), {"tier": "gold"})
    if used_by == "other":
        label_contact(ContactFactory(sending_list=sending_list), {"new": "y"})
    # Another account's use of the key does not count.
    label_contact(ContactFactory(), {"new": "z"})
    contacts = Contact.objects.filter(pk=member.pk)

    assert ("l.contact_id" in _state_sql(contacts, account, "new")) is probed
    done = bulk.apply(contacts, account_id=account.pk, action=bulk.ADD, key="new", value="x")
    assert asdict(done) == {"matching": 1, "gained": 1, "replaced": 0, "already": 0, "skipped": 0}
    assert labels_of(member) == {"tier": "gold", "new": "x"}


@pytest.mark.parametrize("other_keys", [49, 50])
def test_a_contact_at_49_labels_gains_its_50th_whether_labels_are_counted_or_not(
    account, sending_list, other_keys
):
    """With 49 other keys in the account nothing is counted; with 50 a count runs and lets the
    contact at 49 labels through all the same. Preview and job agree either way."""
    at_49 = label_contact(
        ContactFactory(sending_list=sending_list), {f"k{i}": "v" for i in range(49)}
    )
    if other_keys == 50:
        label_contact(ContactFactory(sending_list=sending_list), {"k49": "v"})
    contacts = Contact.objects.filter(pk=at_49.pk)

    with CaptureQueriesContext(connection) as queries:
        preview = bulk.preview_add(contacts, account_id=account.pk, key="new", value="x")
        done = bulk.apply(contacts, account_id=account.pk, action=bulk.ADD, key="new", value="x")

    expected = {"matching": 1, "gained": 1, "replaced": 0, "already": 0, "skipped": 0}
    assert asdict(preview) == asdict(done) == expected
    assert len(labels_of(at_49)) == 50
    counted = [query for query in queries if "x.contact_id" in query["sql"]]
    assert len(counted) == (2 if other_keys == 50 else 0)


def test_the_job_changes_contacts_matching_when_it_runs(vips, crowd, account, admin_user):
    # The audience gains a member after it was reviewed but before the job ran.
    late = label_contact(ContactFactory(sending_list=crowd["bare"].sending_list), {"vip": "yes"})
    change = services.label_change_start(
        account=account,
        user=admin_user,
        action=bulk.ADD,
        key="promo",
        value="x",
        target=vips.name,
        selection=services.audience_selection(vips),
        audience=vips,
    )
    change.refresh_from_db()
    assert change.job.status == Job.Status.SUCCEEDED
    assert change.counts == {"matching": 6, "gained": 4, "replaced": 0, "already": 0, "skipped": 2}
    assert labels_of(late)["promo"] == "x"
    # Contacts matching later are not changed: the change is not a rule.
    later = label_contact(ContactFactory(sending_list=crowd["bare"].sending_list), {"vip": "1"})
    assert "promo" not in labels_of(later)


def test_a_failing_job_records_why_and_changes_nothing(vips, crowd, account, admin_user):
    change = LabelChange.objects.create(
        account=account,
        action="add",
        key="tier",
        value="gold",
        target="broken",
        selection={"audience": {"conditions": "tier IN [", "list_ids": []}},
    )
    job = Job.objects.create(account=account, kind="add_label", params={"label_change": change.pk})
    services.label_change_task.enqueue(job.pk)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert job.error == "expected a value at column 10"
    assert labels_of(crowd["bare"]) == {"vip": "true"}


def action_url(audience, action="add"):
    name = "audience_add_label" if action == "add" else "audience_remove_label"
    return reverse(f"audiences:{name}", args=[audience.account.slug, audience.pk])


def test_confirmation_shows_the_effect_before_anything_changes(editor_client, vips, crowd):
    response = editor_client.post(action_url(vips), {"key": "tier", "value": "gold"})
    assert asdict(response.context["preview"]) == {
        "matching": 5,
        "gained": 1,
        "replaced": 2,
        "already": 1,
        "skipped": 1,
    }
    assert 'data-testid="preview-skipped">1<' in response.content.decode()
    assert labels_of(crowd["bare"]) == {"vip": "true"}
    assert not LabelChange.objects.exists()


def test_confirming_runs_the_job_and_logs_it(editor_client, editor_user, vips, crowd):
    response = editor_client.post(
        action_url(vips),
        {"key": "tier", "value": "gold", "confirm": "1", "reviewed_conditions": vips.conditions},
    )
    change = LabelChange.objects.get()
    assert response["Location"] == (
        reverse("audiences:audience_detail", args=["acme", vips.pk]) + f"?job={change.job_id}"
    )
    assert (change.created_by, change.key, change.value, change.conditions) == (
        editor_user,
        "tier",
        "gold",
        "label:vip EXISTS",
    )
    assert change.counts == {"matching": 5, "gained": 1, "replaced": 2, "already": 1, "skipped": 1}
    page = editor_client.get(response["Location"]).content.decode()
    assert 'data-status="succeeded"' in page
    assert "hx-trigger" not in page.split('data-testid="job-progress"')[1].split(">")[0]
    log = editor_client.get(reverse("audiences:label_changes", args=["acme"]))
    assert list(log.context["changes"]) == [change]


def test_confirming_after_the_audience_changed_shows_the_new_effect(editor_client, vips, crowd):
    response = editor_client.post(
        action_url(vips),
        {"key": "tier", "value": "gold", "confirm": "1", "reviewed_conditions": "label:x EXISTS"},
    )
    assert response.context["changed_meanwhile"] is True
    assert not LabelChange.objects.exists()


def test_remove_label_action(editor_client, vips, crowd):
    preview = editor_client.post(action_url(vips, "remove"), {"key": "tier"})
    assert asdict(preview.context["preview"]) == {"matching": 5, "removed": 3}
    editor_client.post(
        action_url(vips, "remove"),
        {"key": "tier", "confirm": "1", "reviewed_conditions": vips.conditions},
    )
    assert LabelChange.objects.get().counts == {"matching": 5, "removed": 3}
    assert labels_of(crowd["outside"]) == {"tier": "silver"}


def test_invalid_key_or_value_is_refused_with_the_validators_message(editor_client, vips):
    response = editor_client.post(action_url(vips), {"key": "bad key", "value": "a\tb"})
    form = response.context["form"]
    assert form.errors["key"] == [
        "Label key 'bad key' may only contain letters, digits, '_' and '-'."
    ]
    assert form.errors["value"] == ["Label value contains the control character U+0009."]
    assert "preview" not in response.context


def test_viewers_cannot_run_actions_and_outsiders_get_404(viewer_client, outsider_client, vips):
    data = {"key": "tier", "value": "gold", "confirm": "1", "reviewed_conditions": vips.conditions}
    assert viewer_client.get(action_url(vips)).status_code == 403
    assert viewer_client.post(action_url(vips), data).status_code == 403
    assert outsider_client.post(action_url(vips), data).status_code == 404
    other = reverse("audiences:audience_add_label", args=["globex", vips.pk])
    assert outsider_client.post(other, data).status_code == 404
    assert viewer_client.get(reverse("audiences:label_changes", args=["acme"])).status_code == 403
    assert not LabelChange.objects.exists()


def test_jobs_pages(viewer_client, outsider_client, vips, account, admin_user):
    change = services.label_change_start(
        account=account,
        user=admin_user,
        action=bulk.REMOVE,
        key="tier",
        target=vips.name,
        selection=services.audience_selection(vips),
        audience=vips,
    )
    listing = viewer_client.get(reverse("jobs", args=["acme"]))
    assert list(listing.context["jobs"]) == [change.job]
    fragment = viewer_client.get(
        reverse("job_detail", args=["acme", change.job_id]), HTTP_HX_REQUEST="true"
    )
    assert fragment.content.decode().lstrip().startswith('<div class="job-progress job-succeeded"')
    assert (
        outsider_client.get(reverse("job_detail", args=["globex", change.job_id])).status_code
        == 404
    )
    assert viewer_client.post(reverse("jobs", args=["acme"])).status_code == 405


def test_an_import_job_links_to_its_import_instead_of_listing_its_rows(viewer_client, account):
    job = Job.objects.create(
        account=account,
        kind=Job.Kind.IMPORT,
        status=Job.Status.SUCCEEDED,
        result={
            "rows": 2,
            "rejected_rows": [
                {"row": 2, "phone": "x", "reason": "reason-shown-on-the-import-page"}
            ],
        },
    )
    html = viewer_client.get(reverse("job_detail", args=["acme", job.pk])).content.decode()
    assert f'href="/a/acme/imports/{job.pk}/" data-testid="import-link"' in html
    assert "reason-shown-on-the-import-page" not in html


@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_when_a_bulk_add_meets_a_concurrent_edit():
    """A contact at 49 labels gets a 50th from a bulk job and another from an edit at once:
    exactly one of them lands. Ten rounds, because an unguarded race is lost only sometimes."""

    sending_list = SendingListFactory()
    for _ in range(10):
        contact = label_contact(
            ContactFactory(sending_list=sending_list), {f"k{i}": "v" for i in range(49)}
        )
        barrier = threading.Barrier(2)
        outcomes: dict[str, object] = {}

        def bulk_add(contact=contact, barrier=barrier, outcomes=outcomes) -> None:
            try:
                barrier.wait()
                outcomes["bulk"] = bulk.apply(
                    Contact.objects.filter(pk=contact.pk),
                    account_id=contact.account_id,
                    action=bulk.ADD,
                    key="bulk",
                    value="x",
                )
            finally:
                connection.close()

        def edit(contact=contact, barrier=barrier, outcomes=outcomes) -> None:
            try:
                barrier.wait()
                contact_services.contact_labels_update(contact=contact, labels={"edit": "y"})
                outcomes["edit"] = "saved"
            except ValidationError as error:
                outcomes["edit"] = error.code
            finally:
                connection.close()

        threads = [threading.Thread(target=bulk_add), threading.Thread(target=edit)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert Label.objects.filter(contact=contact).count() == 50
        bulk_landed = outcomes["bulk"].gained == 1
        assert (outcomes["bulk"].gained, outcomes["bulk"].skipped) in {(1, 0), (0, 1)}
        assert outcomes["edit"] == ("too_many_labels" if bulk_landed else "saved")
