"""API personas: a read-write key and a read-only key of the account, and a key of another
account (the outsider), each with a client that sends it."""

import json
from collections.abc import Iterable

import pytest
from django.test import Client

from api import urls as api_urls
from trackly.api_keys import api_key_create


def operations() -> Iterable[tuple[str, str]]:
    """Every (method, path) of the API, for tests that try each one."""
    schema = api_urls.api.get_openapi_schema(path_prefix="/api/v1/")
    for route, methods in schema["paths"].items():
        for method in methods:
            yield method.upper(), route


class ApiClient:
    """The test client with an `X-Api-Key` header, sending and reading JSON."""

    def __init__(self, key: str | None = None, **headers):
        self.client = Client()
        self.headers = {"X-Api-Key": key} if key else {}
        self.headers.update(headers)

    def request(self, method: str, path: str, data=None, **kwargs):
        if not path.startswith("/"):
            path = "/api/v1/" + path
        if method == "GET":
            return self.client.get(path, data, headers=self.headers, **kwargs)
        body = json.dumps(data) if data is not None and not isinstance(data, str | bytes) else data
        return self.client.generic(
            method,
            path,
            body or "",
            content_type=kwargs.pop("content_type", "application/json"),
            headers=self.headers,
            **kwargs,
        )

    def get(self, path, params=None, **kwargs):
        return self.request("GET", path, params, **kwargs)

    def post(self, path, data=None, **kwargs):
        return self.request("POST", path, data, **kwargs)

    def patch(self, path, data=None, **kwargs):
        return self.request("PATCH", path, data, **kwargs)

    def put(self, path, data=None, **kwargs):
        return self.request("PUT", path, data, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def upload(self, path, data, **kwargs):
        """POST `data` (with files) as multipart/form-data."""
        if not path.startswith("/"):
            path = "/api/v1/" + path
        return self.client.post(path, data, headers=self.headers, **kwargs)


@pytest.fixture(autouse=True)
def _api_settings(settings, tmp_path):
    # Tests make requests faster than any client should; the rate limit tests turn it on.
    settings.API_RATE_LIMIT = 0
    # Uploads wait for their import here, not in the project's directory.
    settings.IMPORT_DIR = tmp_path / "imports"


@pytest.fixture
def api_key(account, admin_user):
    return api_key_create(account=account, name="Shop", created_by=admin_user)


@pytest.fixture
def api(api_key):
    return ApiClient(api_key[1])


@pytest.fixture
def read_only_api(account, admin_user):
    return ApiClient(
        api_key_create(account=account, name="Reports", read_only=True, created_by=admin_user)[1]
    )


@pytest.fixture
def outsider_api(other_account):
    return ApiClient(api_key_create(account=other_account, name="Theirs")[1])


@pytest.fixture
def anonymous_api():
    return ApiClient()
