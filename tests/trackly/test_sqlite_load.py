"""SQLite under load: API clients writing contacts while an import and a bulk label change run,
through a real web server and a real worker on the same database file.

Every request must be answered (no 5xx, no time-out), every job must succeed, the database must
hold exactly what the clients were told was written, and the worker must still be running.
"""

import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field

import pytest
from django.db import connection
from django.db.models import Count

from contacts.models import Contact, Label, LabelKeyCount, LabelValueCount
from tests.factories import SendingListFactory, vip_audience
from tests.workers import free_port, start_web_server, start_worker, stop
from trackly.api_keys import api_key_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="SQLite's single write lock is what is under test; PostgreSQL locks rows",
    ),
]

# The clients write at least this long, and on until both jobs have finished.
CLIENT_SECONDS = 6
# Past this the jobs count as stuck; a machine busy with other work needs the margin.
GIVE_UP_SECONDS = 150
# One chunk of a bulk change, three of an import: each holds the write lock for a while.
AUDIENCE_SIZE = 20_000
IMPORT_ROWS = 30_000
# Every few requests, a client merges a label into a contact it made before, or reads one back.
UPDATE_EVERY = 4
READ_EVERY = 5


@dataclass
class Answer:
    what: str
    status: int | None
    seconds: float
    body: dict | None = None
    error: str = ""


def request(base: str, key: str, method: str, path: str, data=None, *, content_type=None):
    """One API request; the answer, or why there was none (status None)."""
    headers = {"X-Api-Key": key}
    body = None
    if data is not None:
        if content_type is None:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
        else:
            body = data
            headers["Content-Type"] = content_type
    started = time.monotonic()
    what = f"{method} {path}"
    req = urllib.request.Request(base + path, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    except OSError as error:
        return Answer(what, None, time.monotonic() - started, error=repr(error))
    seconds = time.monotonic() - started
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        return Answer(what, status, seconds, error=f"not JSON: {raw[:200]!r}")
    return Answer(what, status, seconds, parsed)


@dataclass
class ApiWriter:
    """A client creating contacts and merging labels into them as fast as it is answered."""

    name: str
    area_code: str
    base: str
    key: str
    list_id: int
    answers: list[Answer] = field(default_factory=list)
    # What the API said it stored: the labels of each contact made, by phone number.
    written: dict[str, dict[str, str]] = field(default_factory=dict)
    # Answers that contradict earlier ones, and anything that stopped the client.
    mismatches: list[str] = field(default_factory=list)

    def run(self, keep_going: threading.Event) -> None:
        try:
            self._write(keep_going)
        except Exception as error:  # reported by the test
            self.mismatches.append(f"client {self.name} stopped: {error!r}")

    def _write(self, keep_going: threading.Event) -> None:
        n = 0
        made: list[str] = []
        ids: dict[str, int] = {}
        while keep_going.is_set():
            n += 1
            if n % READ_EVERY == 0 and made:
                phone = made[n % len(made)]
                answer = request(self.base, self.key, "GET", f"/api/v1/contacts/{ids[phone]}")
                self.answers.append(answer)
                if answer.status == 200 and answer.body["labels"] != self.written[phone]:
                    self.mismatches.append(f"{phone}: read {answer.body['labels']}")
                elif answer.status == 429:
                    time.sleep(1)
                continue
            if n % UPDATE_EVERY == 0 and made:
                phone = made[n % len(made)]
                labels = {"seen": str(n)}
            else:
                phone = f"+1{self.area_code}555{len(made):04d}"
                labels = {"client": self.name, "n": str(n)}
            answer = request(
                self.base,
                self.key,
                "POST",
                "/api/v1/contacts",
                {"phone_number": phone, "list_id": self.list_id, "labels": labels},
            )
            self.answers.append(answer)
            if answer.status in (200, 201):
                expected = self.written.get(phone, {}) | labels
                if (answer.status == 201) == (phone in self.written):
                    self.mismatches.append(
                        f"{phone}: {answer.status} after {self.written.get(phone)}"
                    )
                if answer.body["labels"] != expected:
                    self.mismatches.append(
                        f"{phone}: answered {answer.body['labels']}, not {expected}"
                    )
                self.written[phone] = answer.body["labels"]
                ids[phone] = answer.body["id"]
                if phone not in made:
                    made.append(phone)
            elif answer.status == 429:
                time.sleep(1)


@dataclass
class ApiReader:
    """A client reading the label catalogue as fast as it is answered."""

    key: str
    base: str
    answers: list[Answer] = field(default_factory=list)

    def run(self, keep_going: threading.Event) -> None:
        while keep_going.is_set():
            answer = request(self.base, self.key, "GET", "/api/v1/labels")
            self.answers.append(answer)
            if answer.status == 429:
                time.sleep(1)


def multipart(fields: dict[str, str], file_name: str, content: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"'
        f"\r\nContent-Type: text/csv\r\n\r\n".encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_api_clients_an_import_and_a_bulk_change_at_once_lose_nothing(
    account, admin_user, tmp_path
):
    sending_list = SendingListFactory(account=account)
    audience = vip_audience(AUDIENCE_SIZE, sending_list)
    keys = [
        api_key_create(account=account, name=name, created_by=admin_user)[1]
        for name in ("a", "b", "reader", "operator")
    ]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"IMPORT_DIR": str(tmp_path / "imports")}
    server_log = open(tmp_path / "server.log", "w+")  # noqa: SIM115 (read at the end)
    server = start_web_server(port, server_log, **env)
    worker = start_worker(**env)
    writers = [
        ApiWriter("a", "303", base, keys[0], sending_list.pk),
        ApiWriter("b", "312", base, keys[1], sending_list.pk),
    ]
    operator: list[Answer] = []
    keep_going = threading.Event()
    keep_going.set()
    # A third client only reads: it has no reason to wait for the write lock.
    reader = ApiReader(keys[2], base)
    threads = [
        threading.Thread(target=client.run, args=(keep_going,)) for client in [*writers, reader]
    ]
    started = time.monotonic()
    jobs: dict[str, dict] = {}
    try:
        for thread in threads:
            thread.start()
        time.sleep(1)
        csv = "phone_number,label_source\n" + "".join(
            f"+1646{555 + i // 10000}{i % 10000:04d},load\n" for i in range(IMPORT_ROWS)
        )
        body, content_type = multipart({"list_id": str(sending_list.pk)}, "load.csv", csv.encode())
        answer = request(base, keys[3], "POST", "/api/v1/imports", body, content_type=content_type)
        operator.append(answer)
        if answer.status == 202:
            jobs["import"] = answer.body
        answer = request(
            base,
            keys[3],
            "POST",
            f"/api/v1/audiences/{audience.pk}/add-label",
            {"key": "tier", "value": "gold"},
        )
        operator.append(answer)
        if answer.status == 202:
            jobs["bulk"] = answer.body
        while time.monotonic() - started < GIVE_UP_SECONDS:
            for name, job in jobs.items():
                if job["status"] not in ("succeeded", "failed"):
                    answer = request(base, keys[3], "GET", f"/api/v1/jobs/{job['id']}")
                    operator.append(answer)
                    if answer.status == 200:
                        jobs[name] = answer.body
            finished = all(job["status"] in ("succeeded", "failed") for job in jobs.values())
            if finished and time.monotonic() - started >= CLIENT_SECONDS:
                break
            if worker.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        keep_going.clear()
        for thread in threads:
            thread.join(90)
        worker_alive = worker.poll() is None
        server_alive = server.poll() is None
        stop(worker)
        stop(server)
    worker_log = worker.stderr.read().decode(errors="replace")
    server_log.seek(0)
    server_output = server_log.read()
    server_log.close()
    elapsed = time.monotonic() - started

    answers = [a for client in [*writers, reader] for a in client.answers] + operator
    unanswered = [a for a in answers if a.status is None or a.status >= 500 or a.error]
    refused = [a for a in answers if a.status is not None and 400 <= a.status < 500]
    slowest: dict[str, float] = {}
    for answer in answers:
        endpoint = re.sub(r"/\d+", "/{id}", answer.what)
        slowest[endpoint] = max(slowest.get(endpoint, 0), answer.seconds)
    print(
        f"\n{len(answers)} requests in {elapsed:.1f} s; "
        + ", ".join(f"{w.name}: {len(w.written)} contacts" for w in writers)
        + "; slowest: "
        + ", ".join(f"{endpoint} {seconds:.2f} s" for endpoint, seconds in sorted(slowest.items()))
    )
    assert worker_alive, f"The worker died:\n{worker_log[-5000:]}"
    assert server_alive, f"The web server died:\n{server_output[-5000:]}"
    assert unanswered == [], f"Requests without an answer:\n{unanswered}\n{server_output[-5000:]}"
    # Only the rate limit may refuse these requests; all of them are valid.
    assert [a for a in refused if a.status != 429] == []
    assert [m for writer in writers for m in writer.mismatches] == []
    assert set(jobs) == {"import", "bulk"}, operator
    assert jobs["import"]["status"] == "succeeded", (jobs["import"], worker_log[-5000:])
    assert jobs["bulk"]["status"] == "succeeded", (jobs["bulk"], worker_log[-5000:])
    imported = jobs["import"]["result"]
    assert (imported["rows"], imported["created"], imported["rejected"]) == (IMPORT_ROWS,) * 2 + (
        0,
    )
    assert jobs["bulk"]["result"]["gained"] == AUDIENCE_SIZE

    # Nothing lost, nothing more: each client's contacts hold exactly what it was answered.
    for writer in writers:
        assert len(writer.written) > 10, f"client {writer.name} wrote almost nothing"
        stored: dict[str, dict[str, str]] = {}
        prefix = f"+1{writer.area_code}555"
        for phone, key, value in Label.objects.filter(
            contact__phone_number__startswith=prefix
        ).values_list("contact__phone_number", "key", "value"):
            stored.setdefault(phone, {})[key] = value
        assert Contact.objects.filter(phone_number__startswith=prefix).count() == len(
            writer.written
        )
        assert stored == writer.written
    assert Contact.objects.filter(phone_number__startswith="+1646").count() == IMPORT_ROWS
    assert Label.objects.filter(key="source", value="load").count() == IMPORT_ROWS
    assert Label.objects.filter(key="tier", value="gold").count() == AUDIENCE_SIZE
    assert Contact.objects.count() == AUDIENCE_SIZE + IMPORT_ROWS + sum(
        len(writer.written) for writer in writers
    )
    # The catalogue's counts, kept by triggers, agree with the labels.
    assert dict(LabelKeyCount.objects.values_list("key", "contacts")) == dict(
        Label.objects.values("key").annotate(n=Count("contact")).values_list("key", "n")
    )
    assert {
        (key, value): n
        for key, value, n in LabelValueCount.objects.values_list("key", "value", "contacts")
    } == {
        (key, value): n
        for key, value, n in Label.objects.values("key", "value")
        .annotate(n=Count("contact"))
        .values_list("key", "value", "n")
    }
