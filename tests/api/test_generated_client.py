"""A client generated from the OpenAPI document with openapi-python-client works against a
running server: the document says what the API does, under the published operation names."""

import importlib
import json
import subprocess
import sys

import pytest

from api import urls as api_urls
from contacts.models import Contact

PACKAGE = "trackly_client"


@pytest.fixture(scope="module")
def client_package(tmp_path_factory):
    """The generated client, importable as `trackly_client` while the module's tests run."""
    root = tmp_path_factory.mktemp("generated")
    document = root / "openapi.json"
    document.write_text(json.dumps(api_urls.api.get_openapi_schema(path_prefix="/api/v1/")))
    # No post hooks: the generator would format its output with ruff from PATH.
    config = root / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            document,
            "--output-path",
            root / PACKAGE,
            "--meta",
            "none",
            "--config",
            config,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.partition(".")[0] == PACKAGE]:
            del sys.modules[name]


def _module(name: str):
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture
def client(client_package, live_server, api_key, sending_list):
    return client_package.AuthenticatedClient(
        base_url=live_server.url, token=api_key[1], prefix="", auth_header_name="X-Api-Key"
    )


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_upserts_a_contact_counts_an_audience_and_polls_a_job(client):
    models = _module("models")
    upsert = _module("api.contacts.contacts_upsert")
    count = _module("api.audiences.audiences_count")
    create = _module("api.audiences.audiences_create")
    add_label = _module("api.bulk_label_actions.audiences_add_label")
    job_get = _module("api.jobs.jobs_get")

    answer = upsert.sync_detailed(
        client=client,
        body=models.ContactIn(
            phone_number="(415) 555-1234",
            labels=models.ContactInLabels.from_dict({"tier": "gold"}),
        ),
    )
    assert answer.status_code == 201
    assert answer.parsed.phone_number == "+14155551234"
    assert answer.parsed.labels.to_dict() == {"tier": "gold"}
    assert Contact.objects.filter(phone_number="+14155551234").exists()

    counted = count.sync(client=client, body=models.CountIn(conditions="label:tier = gold"))
    assert counted.count == 1

    audience = create.sync(
        client=client, body=models.AudienceIn(name="Gold", conditions="label:tier = gold")
    )
    job = add_label.sync(audience.id, client=client, body=models.AddLabelIn(key="vip", value="yes"))
    polled = job_get.sync(job.id, client=client)
    assert polled.id == job.id
    assert polled.kind == "add_label"
    # The tests' task backend runs a job inside the request that starts it.
    assert polled.status.value == "succeeded"
    assert polled.result.to_dict()["gained"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_generated_client_reads_an_error_answer(client, client_package):
    job_get = _module("api.jobs.jobs_get")
    answer = job_get.sync_detailed(999_999, client=client)
    assert answer.status_code == 404
    assert answer.parsed.code == "not_found"
    assert answer.parsed.error == "No job with id 999999."
