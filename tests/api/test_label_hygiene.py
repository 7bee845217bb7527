"""The API's label edits (rename, merge, delete) and undo of a job's change."""

from audiences.models import Audience
from contacts.models import Label
from tests.factories import ContactFactory, label_contact
from trackly.models import Job


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


def test_rename_review_then_job_then_undo(api, account, contact, sending_list, other_contact):
    both = label_contact(ContactFactory(sending_list=sending_list), {"source": "a", "src": "b"})
    Audience.objects.create(account=account, name="FB", conditions="label:source = facebook")
    review = api.post("labels/source/rename", {"new_key": "src", "dry_run": True})
    assert review.status_code == 200
    assert review.json() == {
        "contacts": 2,
        "kept_target": 1,
        "skipped": 0,
        "audiences": [
            {
                "id": Audience.objects.get(name="FB").pk,
                "name": "FB",
                "conditions": "label:source = facebook",
                "rewritten_conditions": "label:src = facebook",
            }
        ],
    }
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}
    started = api.post("labels/source/rename", {"new_key": "src", "rewrite_audiences": True})
    assert started.status_code == 202
    job = started.json()
    assert started["Location"] == f"/api/v1/jobs/{job['id']}"
    done = api.get(f"jobs/{job['id']}").json()
    assert done["kind"] == "rename_key"
    assert done["result"] == {
        "contacts": 2,
        "kept_target": 1,
        "skipped": 0,
        "audiences_rewritten": 1,
    }
    assert labels_of(contact) == {"src": "facebook", "tier": "gold"}
    assert labels_of(both) == {"src": "b"}
    assert labels_of(other_contact) == {"source": "google"}
    assert Audience.objects.get(name="FB").conditions == "label:src = facebook"

    undo_review = api.post(f"jobs/{job['id']}/undo", {"dry_run": True}).json()
    # The review's counts are what the undo then does.
    undo_counts = {
        "labels": 3,
        "contacts": 2,
        "erased": 0,
        "changed_since": 0,
        "skipped": 0,
        "audiences_restored": 1,
        "audiences_changed_since": 0,
    }
    assert {k: v for k, v in undo_review.items() if k != "undoable_until"} == undo_counts
    undone = api.post(f"jobs/{job['id']}/undo", {})
    assert undone.status_code == 202
    assert undone.json()["kind"] == "undo"
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}
    assert labels_of(both) == {"source": "a", "src": "b"}
    # The audience the rename rewrote names the key it names again.
    assert Audience.objects.get(name="FB").conditions == "label:source = facebook"
    assert api.get(f"jobs/{undone.json()['id']}").json()["result"] == undo_counts
    # Undoing the undo renames again, and rewrites the audience again.
    redone = api.post(f"jobs/{undone.json()['id']}/undo", {})
    assert redone.status_code == 202
    assert labels_of(contact) == {"src": "facebook", "tier": "gold"}
    assert Audience.objects.get(name="FB").conditions == "label:src = facebook"
    again = api.post(f"jobs/{job['id']}/undo", {})
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    assert again.json()["error"] == (
        f"This change was undone already (job {undone.json()['id']}); undo that undo instead."
    )


def test_merge_and_delete(api, contact, sending_list):
    fb = label_contact(ContactFactory(sending_list=sending_list), {"source": "FB"})
    merged = api.post("labels/source/merge", {"values": ["FB", "facebook"], "into": "Facebook"})
    assert merged.status_code == 202
    assert labels_of(fb) == {"source": "Facebook"}
    assert api.get(f"jobs/{merged.json()['id']}").json()["result"]["contacts"] == 2
    deleted = api.post("labels/tier/delete", {"value": "gold"})
    assert deleted.status_code == 202
    assert deleted.json()["kind"] == "delete_value"
    assert labels_of(contact) == {"source": "Facebook"}
    assert api.post("labels/source/delete", {}).json()["kind"] == "delete_key"
    assert labels_of(contact) == {}


def test_bad_edits_are_400_and_change_nothing(api, contact):
    response = api.post("labels/source/rename", {"new_key": "no spaces"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_label_key"
    assert response.json()["error"] == (
        "Label key 'no spaces' may only contain letters, digits, '_' and '-'."
    )
    response = api.post("labels/source/merge", {"values": ["x"], "into": "a\tb"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_label_value"
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}
    assert not Job.objects.exists()


def test_read_only_keys_cannot_rename_merge_or_undo(read_only_api, account, contact):
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="succeeded")
    for path, body in [
        ("labels/source/rename", {"new_key": "src"}),
        ("labels/source/merge", {"values": ["facebook"], "into": "fb"}),
        ("labels/source/delete", {}),
        (f"jobs/{job.pk}/undo", {}),
    ]:
        response = read_only_api.post(path, body)
        assert response.status_code == 403, path
        assert response.json()["code"] == "forbidden"
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_outsiders_get_404_for_undo_and_change_nothing_by_editing(outsider_api, account, contact):
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="succeeded")
    response = outsider_api.post(f"jobs/{job.pk}/undo", {"dry_run": True})
    assert response.status_code == 404
    assert response.json() == {"error": f"No job with id {job.pk}.", "code": "not_found"}
    review = outsider_api.post("labels/source/rename", {"new_key": "src", "dry_run": True})
    assert review.json()["contacts"] == 0
    outsider_api.post("labels/source/delete", {})
    assert labels_of(contact) == {"source": "facebook", "tier": "gold"}


def test_a_running_job_cannot_be_undone(api, account):
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="running")
    response = api.post(f"jobs/{job.pk}/undo", {"dry_run": True})
    assert response.status_code == 409
    assert response.json()["error"] == "The job has not finished: undo it once it has."
