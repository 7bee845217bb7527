"""Four real `db_worker` processes share one queue of jobs of every kind: each job runs exactly
once, the work spreads over the workers, and a worker killed in the middle of a job leaves that
job to the lease rules (failed as stale once its lease expires, then started again) while the
other workers finish everything else."""

import signal
from collections import Counter
from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audiences import bulk, hygiene, services
from audiences.models import Audience, LabelChange, StaticMember
from contacts import importing
from contacts.models import Contact, Label, LabelRecord
from tests.factories import vip_audience
from tests.trackly.slow_jobs import pace
from tests.workers import DATABASE_QUEUE, start_worker, stop, wait_for
from trackly.jobs import STALE_ERROR, fail_stale_jobs
from trackly.models import Job, Worker

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.workers]

Action = LabelChange.Action
WORKERS = 4
# Contacts of the audience every job works on, and the chunk size: each bulk job runs in
# several chunks, so jobs of different workers interleave.
CONTACTS = 12
CHUNK = 3
# The job whose worker is killed: long enough (LONG / CHUNK chunks) to be caught half-way.
LONG = 300
KILL_AFTER = 30
# Short leases, so that the killed worker's job is recognised as stale within seconds.
LEASE = 5
# Each kind's jobs; 10 kinds x 4 = 40 jobs.
PER_KIND = 4
IMPORTED = 5


def _label(audience: Audience, key: str, values: list[str]) -> None:
    """Give the audience's contacts `key`, its values taken in turn from `values`."""
    contacts = audience.members().order_by("pk")
    Label.objects.bulk_create(
        Label(account_id=audience.account_id, contact=contact, key=key, value=values[n % 2])
        for n, contact in enumerate(contacts)
    )


def _edit(account, **given) -> Job:
    edit = hygiene.clean_edit(**given)
    return services.label_edit_start(account=account, user=None, edit=edit).job


def _change(audience: Audience, action: str, key: str, value: str = "") -> Job:
    return services.label_change_start(
        account=audience.account,
        user=None,
        action=action,
        key=key,
        value=value,
        target=audience.name,
        selection=services.audience_selection(audience),
        audience=audience,
    ).job


def _upload(rows: list[str]) -> str:
    name = importing.new_upload_name()
    importing.upload_path(name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return name


def _import_file(n: int) -> list[str]:
    """The n-th import's file (n < 10): IMPORTED numbers of its own, each with the label
    `imp<n>`. A preview's file has numbers of its own too (n + PER_KIND), so that it finds
    them new whether it runs before or after the imports."""
    return ["phone,label_imp" + str(n)] + [
        f"+1415555{n}{row:03d},v{row}" for row in range(IMPORTED)
    ]


class Jobs:
    """The 40 jobs, started on an account whose audience `VIPs` has CONTACTS contacts, and the
    labels the account must end with once each job has run once."""

    def __init__(self, audience: Audience):
        self.audience = audience
        self.account = audience.account
        # (key, value) -> how many labels the account ends with.
        self.expected = Counter({("vip", "true"): CONTACTS})

    def prepare(self, n: int) -> list:
        """The set-up of the n-th job of each kind, done before any worker starts; returns the
        functions that start them."""
        half = CONTACTS // 2
        _label(self.audience, f"rem{n}", ["x", "x"])
        _label(self.audience, f"old{n}", ["o", "o"])
        _label(self.audience, f"mrg{n}", ["a", "b"])
        _label(self.audience, f"dv{n}", ["a", "b"])
        _label(self.audience, f"dk{n}", ["k", "k"])
        # The change an undo takes back: applied beforehand as its job would have.
        added = Job.objects.create(
            account=self.account, kind=Job.Kind.ADD_LABEL, status=Job.Status.SUCCEEDED
        )
        bulk.apply(
            self.audience.members(),
            account_id=self.account.pk,
            action=bulk.ADD,
            key=f"und{n}",
            value="u",
            job_id=added.pk,
        )
        frozen = services.static_audience_create(
            account=self.account, user=None, name=f"Frozen {n}", frozen_from=self.audience
        )
        self.expected.update(
            {
                (f"add{n}", "yes"): CONTACTS,
                (f"new{n}", "o"): CONTACTS,
                (f"mrg{n}", "b"): CONTACTS,
                (f"dv{n}", "b"): half,
                **{(f"imp{n}", f"v{row}"): 1 for row in range(IMPORTED)},
            }
        )
        selection = services.audience_selection(self.audience)
        sending_list = self.audience.members().first().sending_list
        common = {"account": self.account, "user": None, "sending_list": sending_list}
        return [
            lambda: _change(self.audience, bulk.ADD, f"add{n}", "yes"),
            lambda: _change(self.audience, bulk.REMOVE, f"rem{n}"),
            lambda: importing.import_start(
                **common,
                upload=_upload(_import_file(n + PER_KIND)),
                file_name=f"{n}.csv",
                dry_run=True,
            ),
            lambda: importing.import_start(
                **common, upload=_upload(_import_file(n)), file_name=f"{n}.csv", dry_run=False
            ),
            lambda: services.static_fill_start(
                audience=frozen, user=None, selection=selection, replace=True
            ),
            lambda: _edit(self.account, action=Action.RENAME_KEY, key=f"old{n}", new_key=f"new{n}"),
            lambda: _edit(
                self.account, action=Action.MERGE_VALUES, key=f"mrg{n}", values=["a"], value="b"
            ),
            lambda: _edit(self.account, action=Action.DELETE_VALUE, key=f"dv{n}", value="a"),
            lambda: _edit(self.account, action=Action.DELETE_KEY, key=f"dk{n}"),
            lambda: services.undo_start(account=self.account, user=None, job=added).job,
        ]


def _task(job: Job) -> DBTaskResult:
    (task,) = [t for t in DBTaskResult.objects.all() if t.args_kwargs["args"][0] == job.pk]
    return task


def _fresh(jobs: list[Job]) -> list[Job]:
    return list(Job.objects.filter(pk__in=[job.pk for job in jobs]))


def _labels(account) -> Counter:
    rows = Label.objects.filter(account=account).values_list("key", "value")
    return Counter(rows)


def test_four_workers_run_forty_jobs_of_every_kind_once_and_survive_a_killed_one(
    settings, tmp_path
):
    settings.TASKS = DATABASE_QUEUE
    settings.JOB_HEARTBEAT_TIMEOUT = LEASE
    settings.IMPORT_DIR = tmp_path / "imports"
    audience = vip_audience(CONTACTS)
    jobs = Jobs(audience)
    starts = [start for n in range(PER_KIND) for start in jobs.prepare(n)]
    assert len(starts) == 40
    # The long job, on an account of its own, is queued first: the first worker to look takes it.
    long_audience = vip_audience(LONG)
    long_job = _change(long_audience, bulk.ADD, "long", "yes")
    # 50 ms a chunk, so that it is still running once its worker is known (its own chunks of
    # three take a few milliseconds).
    pace(long_job, "audiences.services.label_change_run", 0.05)
    # Half the jobs (two of each kind) are queued before the workers start, half once one of
    # them is killed.
    early, late = starts[: len(starts) // 2], starts[len(starts) // 2 :]
    started = [start() for start in early]

    env = {"BULK_CHUNK_SIZE": str(CHUNK), "JOB_HEARTBEAT_TIMEOUT": str(LEASE)}
    env["IMPORT_DIR"] = str(settings.IMPORT_DIR)
    workers = [start_worker(**env) for _ in range(WORKERS)]
    try:
        wait_for(lambda: Job.objects.get(pk=long_job.pk).progress_done >= KILL_AFTER, timeout=90)
        owner_id = _task(long_job).worker_ids[0]
        # A worker records itself from a thread of its own, which tries again at its next beat
        # when the database is busy: its row may come after its first job has started.
        wait_for(lambda: Worker.objects.filter(worker_id=owner_id).exists(), timeout=30)
        owner = Worker.objects.get(worker_id=owner_id).pid
        (killed,) = [worker for worker in workers if worker.pid == owner]
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        killed_at = timezone.now()
        # The killed worker's job reads as running until its lease expires.
        assert Job.objects.get(pk=long_job.pk).status == Job.Status.RUNNING
        started += [start() for start in late]
        wait_for(lambda: all(job.is_finished for job in _fresh(started)), timeout=90)

        long_job.refresh_from_db()
        done = Label.objects.filter(key="long").count()
        assert KILL_AFTER <= done < LONG
        # Chunks commit whole, with their progress and their change records.
        assert done % CHUNK == 0
        assert long_job.progress_done == done
        assert LabelRecord.objects.filter(job=long_job).count() == done
        # Once its lease has expired, the job is failed as stale: by the next job started (which
        # looks for stale jobs first) or by the next page that does.
        wait_for(lambda: timezone.now() > long_job.lease_expires_at + timedelta(seconds=0.1))
        fail_stale_jobs()
        long_job.refresh_from_db()
        assert (long_job.status, long_job.error) == (Job.Status.FAILED, STALE_ERROR)

        # Started again, it runs on a worker still alive and does only what was left.
        again = _change(long_audience, bulk.ADD, "long", "yes")
        wait_for(lambda: Job.objects.get(pk=again.pk).is_finished, timeout=60)
    finally:
        for worker in workers:
            stop(worker)

    again.refresh_from_db()
    assert again.status == Job.Status.SUCCEEDED
    assert again.result == {
        "matching": LONG,
        "gained": LONG - done,
        "replaced": 0,
        "already": done,
        "skipped": 0,
    }
    assert Label.objects.filter(key="long", value="yes").count() == LONG
    assert LabelRecord.objects.filter(job=again).count() == LONG - done

    # Every job of every kind ran, once, and succeeded.
    jobs_run = Job.objects.filter(pk__in=[job.pk for job in started])
    assert Counter(jobs_run.values_list("kind", flat=True)) == {kind: 4 for kind in Job.Kind}
    failed = {job.pk: job.error for job in jobs_run if job.status != Job.Status.SUCCEEDED}
    assert failed == {}
    tasks = {job.pk: _task(job) for job in jobs_run}
    assert {len(task.worker_ids) for task in tasks.values()} == {1}
    assert {task.status for task in tasks.values()} == {TaskResultStatus.SUCCESSFUL}
    # The work spread: more than one worker ran the jobs, and the ones queued after the kill
    # ran on the workers left.
    ran_on = Counter(task.worker_ids[0] for task in tasks.values())
    killed_id = _task(long_job).worker_ids[0]
    assert len(ran_on) >= 2, ran_on
    assert len(ran_on.keys() | {killed_id}) >= 3, ran_on
    late_ids = {job.pk for job in started[len(early) :]}
    assert killed_id not in {tasks[pk].worker_ids[0] for pk in late_ids}
    assert all(job.finished_at > killed_at for job in jobs_run if job.pk in late_ids)
    assert _task(long_job).status == TaskResultStatus.RUNNING

    # The account ends with exactly the labels of each job applied once.
    assert _labels(jobs.account) == jobs.expected
    assert Contact.objects.filter(account=jobs.account).count() == CONTACTS + PER_KIND * IMPORTED
    for n in range(PER_KIND):
        frozen = Audience.objects.get(account=jobs.account, name=f"Frozen {n}")
        assert StaticMember.objects.filter(audience=frozen).count() == CONTACTS
        assert frozen.static_size == CONTACTS
    # One change record per label changed (a renamed label's names the key it came from).
    records = Counter(
        LabelRecord.objects.filter(job__in=jobs_run).values_list("job__kind", flat=True)
    )
    assert records == {
        Job.Kind.ADD_LABEL: PER_KIND * CONTACTS,
        Job.Kind.REMOVE_LABEL: PER_KIND * CONTACTS,
        Job.Kind.IMPORT: PER_KIND * IMPORTED,
        Job.Kind.RENAME_KEY: PER_KIND * CONTACTS,
        Job.Kind.MERGE_VALUES: PER_KIND * CONTACTS // 2,
        Job.Kind.DELETE_VALUE: PER_KIND * CONTACTS // 2,
        Job.Kind.DELETE_KEY: PER_KIND * CONTACTS,
        Job.Kind.UNDO: PER_KIND * CONTACTS,
    }
    outcomes = {(job.kind, _outcome(job)) for job in jobs_run}
    assert outcomes == {
        (Job.Kind.ADD_LABEL, bulk_result(gained=CONTACTS)),
        (Job.Kind.REMOVE_LABEL, (("matching", CONTACTS), ("removed", CONTACTS))),
        (Job.Kind.IMPORT_PREVIEW, imported(dry_run=True)),
        (Job.Kind.IMPORT, imported(dry_run=False)),
        (
            Job.Kind.FILL_STATIC,
            (("added", CONTACTS), ("matching", CONTACTS), ("members", CONTACTS), ("removed", 0)),
        ),
        (Job.Kind.RENAME_KEY, edited(CONTACTS)),
        (Job.Kind.MERGE_VALUES, edited(CONTACTS // 2)),
        (Job.Kind.DELETE_VALUE, edited(CONTACTS // 2)),
        (Job.Kind.DELETE_KEY, edited(CONTACTS)),
        (
            Job.Kind.UNDO,
            (
                ("changed_since", 0),
                ("contacts", CONTACTS),
                ("erased", 0),
                ("labels", CONTACTS),
                ("skipped", 0),
            ),
        ),
    }


IMPORT_COUNTS = ("rows", "created", "updated", "unchanged", "skipped", "rejected", "dry_run")


def _outcome(job: Job) -> tuple:
    """A job's result as a sorted tuple (an import's: its counts)."""
    result = job.result
    if job.kind in Job.IMPORT_KINDS:
        result = {name: result[name] for name in IMPORT_COUNTS}
    return tuple(sorted(result.items()))


def bulk_result(gained: int) -> tuple:
    counts = {"matching": gained, "gained": gained, "replaced": 0, "already": 0, "skipped": 0}
    return tuple(sorted(counts.items()))


def imported(*, dry_run: bool) -> tuple:
    counts = dict.fromkeys(IMPORT_COUNTS, 0) | {"rows": IMPORTED, "created": IMPORTED}
    return tuple(sorted((counts | {"dry_run": dry_run}).items()))


def edited(contacts: int) -> tuple:
    return (("contacts", contacts), ("kept_target", 0), ("skipped", 0))
