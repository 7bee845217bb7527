"""Every URL of the dashboard, the admin and the API, tried with hostile path parameters and
query strings by each persona, with GET and POST: no answer may be a server error.

The URLs come from the resolver, so a new pattern is tried without anyone listing it here.
"""

import re
from urllib.parse import quote

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from api.urls import api
from audiences.models import Audience
from audiences.services import label_change_start
from contacts.models import Label
from tests.api.conftest import ApiClient
from tests.factories import ContactFactory, SendingListFactory
from trackly.api_keys import api_key_create
from trackly.models import Job, Membership

NUL = "a\x00b"
LONG = "x" * 10_000
# Query and form parameters the dashboard's views read (they ignore the others).
DASHBOARD_NAMES = [
    "q",
    "key",
    "value",
    "conditions",
    "cursor",
    "job",
    "list_id",
    "ids",
    "scope",
    "action",
    "back",
    "source",
    "sending_lists",
    "filter_q",
    "filter_key",
    "filter_value",
    "remove",
    "subscribe",
    "archive",
    "role",
    "name",
    "phone_number",
    "email",
]
# The changelists' own parameters (any other name is a filter, refused before any of these is
# read, so they go alone).
ADMIN_NAMES = ["q", "o", "p", "all", "_changelist_filters", "_popup", "_to_field"]
BAD_VALUES = {
    "nul": NUL,
    "long": LONG,
    "malformed": "((tier = ",
    "non-numeric": "abc",
    # A digit to `str.isdigit`, not to `int`.
    "unicode digit": "²",
    "huge number": "9" * 30,
    "page link": "+14155551234~²",
}
# Values of an int path parameter that no object has: unknown, beyond a 64-bit integer,
# and more digits than Python turns into an int.
BAD_INTS = ["987654321", "9" * 30, "9" * 5000]
# Values of a text path parameter.
BAD_TEXTS = [NUL, LONG, "not-a-number", "-1", "²"]


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _all_routes() -> list[str]:
    routes = []
    for route in _routes(get_resolver().url_patterns):
        if route not in routes:
            routes.append(route)
    return routes


ROUTES = _all_routes()
PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>|\(\?P<(?P<regex_name>\w+)>[^)]*\)")


def _area(route: str) -> str:
    if route.startswith("api/"):
        return "api"
    if route.startswith("admin/"):
        return "admin"
    return "dashboard"


def _params(route: str) -> list[tuple[str, str]]:
    """(name, converter) of each parameter of the route, in order."""
    found = []
    for match in PARAM.finditer(route):
        if match["regex_name"]:
            found.append((match["regex_name"], "regex"))
        else:
            found.append((match["name"], match["converter"] or "str"))
    return found


def _fill(route: str, values: dict[str, str]) -> str:
    """The path of `route` with these parameter values (quoted as a browser would)."""

    def value_of(match: re.Match) -> str:
        name = match["regex_name"] or match["name"]
        return quote(values[name], safe="")

    path = PARAM.sub(value_of, route)
    # Regex routes: drop the anchors and the rest of the syntax.
    path = path.replace("^", "").replace("$", "").replace(".*", "")
    return "/" + path


@pytest.fixture
def world(
    request, account, other_account, admin_user, viewer_user, outsider_user, superuser, contact
):
    """Objects of every kind a URL names, in the account and in the other account."""
    other_list = SendingListFactory(account=other_account, name="Theirs")
    other_contact = ContactFactory(sending_list=other_list)
    audience = Audience.objects.create(account=account, name="Gold", conditions="tier = gold")
    other_audience = Audience.objects.create(account=other_account, name="Theirs")
    change = label_change_start(
        account=account,
        user=admin_user,
        action="add",
        key="promo",
        value="yes",
        target="1 ticked contacts",
        selection={"contacts": {"ids": [contact.pk]}},
    )
    key, raw_key = api_key_create(account=account, name="Shop", created_by=admin_user)
    import_job_id = change.job_id
    # An import to look at, for the import pages only (an import takes a while to make).
    if "imports/" in request.node.callspec.params["route"]:
        upload = ApiClient(raw_key).upload(
            "/api/v1/imports",
            {"file": SimpleUploadedFile("c.csv", b"phone_number,label_tier\n+14155551299,gold\n")},
        )
        assert upload.status_code == 202, upload.content
        import_job_id = upload.json()["id"]
    other_job = Job.objects.create(account=other_account, kind=Job.Kind.ADD_LABEL)
    viewer_membership = Membership.objects.get(user=viewer_user)
    return {
        "real": {
            "account_slug": account.slug,
            "list_id": str(contact.sending_list_id),
            "contact_id": str(contact.pk),
            "audience_id": str(audience.pk),
            "job_id": str(change.job_id),
            "import_job_id": str(import_job_id),
            "membership_id": str(viewer_membership.pk),
            "key_id": str(key.pk),
            "key": "tier",
            "id": str(admin_user.pk),
            "content_type_id": str(ContentType.objects.get_for_model(Label).pk),
            "app_label": "contacts",
            "url": "nowhere/",
            "object_id": str(contact.pk),
        },
        "theirs": {
            "list_id": str(other_list.pk),
            "contact_id": str(other_contact.pk),
            "audience_id": str(other_audience.pk),
            "job_id": str(other_job.pk),
            "membership_id": str(Membership.objects.get(user=outsider_user).pk),
        },
        "api_keys": {
            "key": raw_key,
            "read-only key": api_key_create(account=account, name="Reports", read_only=True)[1],
            "outsider key": api_key_create(account=other_account, name="Theirs")[1],
        },
        "users": {
            "admin": admin_user,
            "viewer": viewer_user,
            "outsider": outsider_user,
            "superuser": superuser,
        },
    }


def _real_values(route: str, world: dict) -> dict[str, str]:
    values = dict(world["real"])
    if "/imports/" in route:
        values["job_id"] = values["import_job_id"]
    admin_model = re.match(r"admin/(\w+)/(\w+)/<path:object_id>", route)
    if admin_model:
        model = apps.get_model(*admin_model.groups())
        first = model._default_manager.order_by("pk").first()
        values["object_id"] = str(first.pk) if first else "1"
    return values


def _paths(route: str, world: dict) -> list[str]:
    """The route with real values, then with one hostile value at a time in each parameter."""
    real = _real_values(route, world)
    paths = [_fill(route, real)]
    for name, converter in _params(route):
        if name == "account_slug" or converter == "regex":
            continue
        if converter == "int":
            bad = [*BAD_INTS, *([world["theirs"][name]] if name in world["theirs"] else [])]
        else:
            bad = BAD_TEXTS
        paths += [_fill(route, {**real, name: value}) for value in bad]
    return paths


def _clients(route: str, world: dict) -> dict[str, object]:
    """The personas a route is tried by: the account's admin and viewer and another account's
    admin (by their API keys for the API), and staff for the Django admin."""
    if _area(route) == "api":
        clients = {name: ApiClient(key) for name, key in world["api_keys"].items()}
        for client in clients.values():
            client.client.raise_request_exception = False
        return clients
    names = ["admin", "viewer", "outsider"] + (["superuser"] if _area(route) == "admin" else [])
    clients = {}
    for name in names:
        client = Client(raise_request_exception=False)
        client.force_login(world["users"][name])
        clients[name] = client
    return clients


def _api_query_names() -> dict[str, list[str]]:
    """The query parameters of each API path, from its OpenAPI description."""
    names: dict[str, list[str]] = {}
    for route, operations in api.get_openapi_schema(path_prefix="/api/v1/")["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "query":
                    names.setdefault(route, []).append(parameter["name"])
    return names


API_QUERY_NAMES = _api_query_names()


def _queries(route: str) -> list[dict[str, str]]:
    """Hostile query strings (and form bodies) for the route: its area's parameter names all at
    once with each bad value; for the API, which refuses names it does not know before reading
    any, each of the operation's own names alone, and a name it does not have."""
    if _area(route) == "api":
        schema_path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        names = [*API_QUERY_NAMES.get(schema_path, []), "unknown"]
        return [{name: value} for name in names for value in BAD_VALUES.values()]
    names = ADMIN_NAMES if _area(route) == "admin" else DASHBOARD_NAMES
    return [dict.fromkeys(names, value) for value in BAD_VALUES.values()]


def _request(client, method: str, path: str, data: dict):
    if isinstance(client, ApiClient):
        send = client.client.get if method == "GET" else client.client.post
        return send(path, data, headers=client.headers)
    return (client.get if method == "GET" else client.post)(path, data)


@pytest.mark.parametrize("route", ROUTES)
def test_no_hostile_request_is_a_server_error(world, route):
    failures = []
    paths = _paths(route, world)
    for persona, client in _clients(route, world).items():
        # Hostile paths, and hostile query strings and form bodies on the real path, by every
        # persona: a viewer reads the pages an admin does, and another account's admin must be
        # answered 404 whatever it sends.
        tries = [(method, path, {}) for path in paths for method in ("GET", "POST")]
        tries += [
            (method, paths[0], data) for data in _queries(route) for method in ("GET", "POST")
        ]
        for method, path, data in tries:
            response = _request(client, method, path, data)
            if response.status_code >= 500:
                shown = sorted({value[:12] for value in data.values()})
                failures.append(f"{persona} {method} {path[:100]} {shown}: {response.status_code}")
    assert not failures, "\n".join(failures)
