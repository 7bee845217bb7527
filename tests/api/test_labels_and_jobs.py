from datetime import timedelta

from django.utils import timezone

from tests.factories import ContactFactory, label_contact
from trackly.models import Job


def test_label_keys_with_contact_counts(api, contact, other_contact, sending_list):
    label_contact(ContactFactory(sending_list=sending_list), {"source": "google", "Source": "x"})
    response = api.get("labels")
    assert response.status_code == 200
    assert response.json() == [
        {"key": "Source", "contacts": 1},
        {"key": "source", "contacts": 2},
        {"key": "tier", "contacts": 1},
    ]


def test_a_keys_values_most_used_first(api, contact, sending_list, other_contact):
    for _ in range(2):
        label_contact(ContactFactory(sending_list=sending_list), {"source": "google"})
    response = api.get("labels/source/values")
    assert response.json() == [
        {"value": "google", "contacts": 2},
        {"value": "facebook", "contacts": 1},
    ]
    assert api.get("labels/source/values", {"limit": 1}).json() == [
        {"value": "google", "contacts": 2}
    ]


def test_an_unused_key_has_no_values(api, contact, other_contact):
    # The other account's contact has source=google: it is not ours to count.
    assert api.get("labels/unused/values").json() == []
    assert api.get("labels/source/values").json() == [{"value": "facebook", "contacts": 1}]


def test_an_invalid_key_is_invalid_label_key(api, db):
    response = api.get("labels/bad$key/values")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_label_key"
    assert response.json()["details"][0]["field"] == "key"


def test_another_accounts_labels_are_not_listed(outsider_api, contact):
    assert outsider_api.get("labels").json() == []


def test_a_job_is_read(api, account, settings):
    job = Job.objects.create(
        account=account,
        kind=Job.Kind.ADD_LABEL,
        status=Job.Status.RUNNING,
        progress_done=20,
        progress_total=80,
        lease_expires_at=timezone.now() + timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT),
    )
    response = api.get(f"jobs/{job.pk}")
    assert response.status_code == 200
    assert response.json() == {
        "id": job.pk,
        "kind": "add_label",
        "status": "running",
        "progress": {"done": 20, "total": 80},
        "result": {},
        "error": None,
        "created_at": response.json()["created_at"],
        "finished_at": None,
    }


def test_a_job_whose_worker_stopped_reads_as_failed(api, account, settings):
    job = Job.objects.create(
        account=account,
        kind=Job.Kind.ADD_LABEL,
        status=Job.Status.RUNNING,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    body = api.get(f"jobs/{job.pk}").json()
    assert body["status"] == "failed"
    assert body["error"].startswith("The worker running this job stopped")


def test_another_accounts_job_is_not_found(outsider_api, account):
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL)
    response = outsider_api.get(f"jobs/{job.pk}")
    assert response.status_code == 404
    assert response.json() == {"error": f"No job with id {job.pk}.", "code": "not_found"}
