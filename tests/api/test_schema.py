"""Property-based checks of the API against its own OpenAPI schema (schemathesis): for inputs
generated from the schema, valid and invalid, no answer is a 5xx and every answer is one the
schema documents, with the documented status, headers and body."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance
from schemathesis.core.parameters import ParameterLocation

from audiences.models import Audience
from trackly.models import Job
from trackly.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def existing(account, contact, other_contact):
    """Ids of real objects, put into generated paths half of the time (random ids only reach
    the 404 answers)."""
    audience = Audience.objects.create(account=account, name="Gold", conditions="label:tier = gold")
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL)
    return {
        "contact_id": contact.pk,
        "list_id": contact.sending_list_id,
        "audience_id": audience.pk,
        "job_id": job.pk,
        "key": "tier",
    }


@pytest.fixture
def api_headers(api_key):
    # The app is called as WSGI, not through the test client, so Django's closing of the
    # connection after each request is turned off as the test client does it; it would end the
    # test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield {"X-Api-Key": api_key[1]}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, api_headers, existing):
    for name, value in (case.path_parameters or {}).items():
        # Only valid ids are replaced, so that invalid ones still test their rejection.
        if name in existing and type(value) is type(existing[name]) and hash(str(value)) % 2:
            case.path_parameters[name] = existing[name]
    # A case whose headers are invalid on purpose (no key, or a malformed one) keeps them: the
    # real key would make it a valid request, answered 200 where a rejection is expected.
    negative_headers = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
    headers = {} if negative_headers else api_headers
    # Schema-valid input may still be refused: a phone number that is not a valid number, or
    # conditions that do not parse, cannot be told apart by a JSON schema.
    case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
