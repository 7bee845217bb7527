"""What the jobs pages say about workers and about jobs whose worker stopped."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.workers import DATABASE_QUEUE
from trackly.jobs import NO_WORKER, STALE_ERROR
from trackly.models import Job, Worker


@pytest.fixture
def database_queue(settings):
    settings.TASKS = DATABASE_QUEUE


def seen(seconds_ago: float) -> Worker:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    return Worker.objects.create(worker_id="w1", hostname="host", pid=1, started_at=at, seen_at=at)


def page(client, url: str, **headers) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def test_the_jobs_page_says_when_no_worker_has_been_seen(database_queue, viewer_client, account):
    url = f"/a/{account.slug}/jobs/"
    assert NO_WORKER in page(viewer_client, url)
    worker = seen(0)
    assert NO_WORKER not in page(viewer_client, url)
    worker.seen_at = timezone.now() - timedelta(seconds=61)
    worker.save()
    assert NO_WORKER in page(viewer_client, url)


def test_jobs_run_inside_the_request_need_no_worker(viewer_client, account):
    assert NO_WORKER not in page(viewer_client, f"/a/{account.slug}/jobs/")


@pytest.mark.parametrize(
    ("kind", "url"),
    [(Job.Kind.ADD_LABEL, "/a/{slug}/jobs/{pk}/"), (Job.Kind.IMPORT, "/a/{slug}/imports/{pk}/")],
)
def test_a_waiting_job_says_that_no_worker_runs_and_a_finished_one_does_not(
    database_queue, viewer_client, account, kind, url
):
    job = Job.objects.create(account=account, kind=kind, params={"file_name": "a.csv"})
    url = url.format(slug=account.slug, pk=job.pk)
    assert NO_WORKER in page(viewer_client, url)
    # The fragment the page polls says it too.
    assert NO_WORKER in page(viewer_client, url, HX_Request="true")
    job.status = Job.Status.SUCCEEDED
    job.save()
    assert NO_WORKER not in page(viewer_client, url)


def test_the_import_page_fails_an_import_whose_worker_stopped(viewer_client, account):
    job = Job.objects.create(
        account=account,
        kind=Job.Kind.IMPORT,
        status=Job.Status.RUNNING,
        params={"file_name": "a.csv"},
        lease_token="run",
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    html = page(viewer_client, f"/a/{account.slug}/imports/{job.pk}/", HX_Request="true")
    job.refresh_from_db()
    assert (job.status, job.error) == (Job.Status.FAILED, STALE_ERROR)
    assert STALE_ERROR in html


def test_polling_a_running_job_writes_nothing(viewer_client, account):
    """A poll must not wait for SQLite's write lock, which the job's own chunks hold."""
    job = Job.objects.create(
        account=account,
        kind=Job.Kind.ADD_LABEL,
        status=Job.Status.RUNNING,
        lease_token="run",
        lease_expires_at=timezone.now() + timedelta(seconds=60),
    )
    with CaptureQueriesContext(connection) as queries:
        page(viewer_client, f"/a/{account.slug}/jobs/{job.pk}/", HX_Request="true")
    statements = [query["sql"].split()[0].upper() for query in queries]
    assert statements
    assert set(statements) - {"SELECT", "SAVEPOINT", "RELEASE"} == set()


def test_the_jobs_page_is_paged_newest_first(
    viewer_client, account, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr("trackly.views.JOBS_PER_PAGE", 2)
    jobs = [Job.objects.create(account=account, kind=Job.Kind.IMPORT) for _ in range(3)]
    url = f"/a/{account.slug}/jobs/"
    with django_assert_max_num_queries(8):
        first = viewer_client.get(url)
    assert list(first.context["jobs"]) == [jobs[2], jobs[1]]
    assert f'rel="next" href="{url}?cursor=' in first.content.decode()
    second = viewer_client.get(url, {"cursor": first.context["page"].next_cursor})
    assert list(second.context["jobs"]) == [jobs[0]]
    html = second.content.decode()
    assert 'rel="next"' not in html
    assert f'rel="prev" href="{url}?cursor=' in html


@pytest.fixture
def label_jobs(account, sending_list, editor_user):
    """An Add Label on an audience and a Remove Label on ticked contacts, run in the request."""
    from audiences import services
    from audiences.models import Audience

    audience = Audience.objects.create(account=account, name="VIP Winback", conditions="vip = 1")
    added = services.label_change_start(
        account=account,
        user=editor_user,
        action="add",
        key="tier",
        value="gold",
        audience=audience,
        target=audience.name,
        selection=services.audience_selection(audience),
    )
    removed = services.label_change_start(
        account=account,
        user=editor_user,
        action="remove",
        key="churned",
        target=f"2 ticked contacts on {sending_list.name}",
        selection={"contacts": {"ids": [1, 2]}},
    )
    return added, removed


def test_jobs_say_what_they_did_and_to_what(viewer_client, account, label_jobs):
    added, _ = label_jobs
    html = page(viewer_client, f"/a/{account.slug}/jobs/")
    assert (
        f'<a href="/a/{account.slug}/jobs/{added.job_id}/">'
        "Add label tier=gold to the audience “VIP Winback”</a>"
    ) in html
    assert "Remove label churned from 2 ticked contacts on Main</a>" in html
    preview = Job.objects.create(
        account=account, kind=Job.Kind.IMPORT_PREVIEW, params={"file_name": "shoes.csv"}
    )
    Job.objects.filter(pk=preview.pk).update(status=Job.Status.SUCCEEDED)
    html = page(viewer_client, f"/a/{account.slug}/jobs/")
    assert "Preview of importing shoes.csv</a>" in html
    assert '<span class="status status-job-preview">Preview ready</span>' in html


def test_the_jobs_page_reads_the_changes_with_the_jobs(
    viewer_client, account, label_jobs, django_assert_max_num_queries
):
    with django_assert_max_num_queries(8):
        page(viewer_client, f"/a/{account.slug}/jobs/")


def test_a_label_jobs_page_links_its_audit_log_entry_and_back(
    editor_client, viewer_client, account, label_jobs
):
    added, _ = label_jobs
    html = page(editor_client, f"/a/{account.slug}/jobs/{added.job_id}/")
    assert "Add label tier=gold to the audience “VIP Winback”" in html
    audit = f"/a/{account.slug}/audit/?change={added.pk}"
    assert f'href="{audit}#change-{added.pk}" data-testid="audit-link"' in html
    assert f'href="/a/{account.slug}/audiences/{added.audience_id}/">the audience' in html
    # Viewers do not see the audit log, so no link to it.
    assert 'data-testid="audit-link"' not in page(
        viewer_client, f"/a/{account.slug}/jobs/{added.job_id}/"
    )
    entry = page(editor_client, audit)
    assert f'<tr id="change-{added.pk}" class="highlight">' in entry
    assert entry.count("<tr id=") == 1
    assert (
        f'href="/a/{account.slug}/jobs/{added.job_id}/" data-testid="job-link-{added.pk}"' in entry
    )
    assert 'data-testid="one-change"' in entry


def test_a_job_whose_change_is_unknown_says_its_kind(viewer_client, account):
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL)
    assert job.title == "Add label"
    assert Job(kind=Job.Kind.IMPORT, params={}).title == "Import"
    assert Job(kind=Job.Kind.IMPORT, params={"file_name": "a.csv"}).title == "Import a.csv"
    assert Job(kind=Job.Kind.IMPORT, status=Job.Status.SUCCEEDED).status_label == "Succeeded"
    html = page(viewer_client, f"/a/{account.slug}/jobs/{job.pk}/")
    assert '<h1 data-testid="job-title">Add label <span class="muted">' in html
