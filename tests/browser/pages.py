"""Every dashboard page, on demo-like data: the URLs come from the resolver (as in
tests/test_hostile_urls.py), filled with real objects, so a new page is walked without anyone
listing it here."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver

from audiences.models import Audience
from audiences.services import label_change_start
from contacts import importing
from tests.api.conftest import ApiClient
from tests.factories import ContactFactory, label_contact
from tests.test_hostile_urls import _area, _fill, _params, _routes
from trackly.api_keys import api_key_create
from trackly.models import Membership

# Sorts first, so the contacts table shows it among its first chips.
LONG_KEY = "abandoned_cart_reminder_window_local_time_for_marketing_sms"
# Routes that are no page of their own: downloads, fragments and POST-only actions answer
# something else than 200 HTML to a GET and are left out when walked.
SKIPPED_ROUTES = ("export", "rejected", ".csv", "logout/")


def demo_like_world(account, sending_list, admin_user, editor_user, viewer_user) -> dict:
    """Contacts with many labels, long keys and values, an audience, a bulk job, an import and
    API keys with long names: the objects every page names."""
    contacts = []
    for number in range(12):
        labels = {
            "aov_bucket": "250-500",
            "ltv_tier": "vip" if number % 2 else "regular",
            "source": "instagram-story-swipe-up-spring-sale-2024",
            LONG_KEY: "weekday evenings after 6pm",
            **{f"interest_{n}": f"category number {n}" for n in range(6)},
        }
        contact = ContactFactory(sending_list=sending_list, phone_number=f"+1415555{7000 + number}")
        contacts.append(label_contact(contact, labels))
    audience = Audience.objects.create(
        account=account,
        name="VIP customers who bought twice in the last ninety days",
        conditions="ltv_tier = vip AND aov_bucket = 250-500",
        created_by=admin_user,
    )
    change = label_change_start(
        account=account,
        user=admin_user,
        action="add",
        key="promo_spring_2024",
        value="yes",
        target=f"audience {audience.name}",
        selection={"contacts": {"ids": [contacts[0].pk]}},
    )
    key, raw = api_key_create(
        account=account, name="Shopify CRM sync (marketing automations)", created_by=admin_user
    )
    api_key_create(account=account, name="Reports", read_only=True, created_by=admin_user)
    upload = ApiClient(raw).upload(
        "/api/v1/imports",
        {"file": SimpleUploadedFile("c.csv", b"phone_number,tier\n+14155551299,gold\n")},
    )
    assert upload.status_code == 202, upload.content
    assert importing  # the import above ran through the one pipeline
    return {
        "account_slug": account.slug,
        "list_id": str(sending_list.pk),
        "contact_id": str(contacts[0].pk),
        "audience_id": str(audience.pk),
        "job_id": str(change.job_id),
        "import_job_id": str(upload.json()["id"]),
        "membership_id": str(Membership.objects.get(user=viewer_user).pk),
        "key_id": str(key.pk),
        "key": LONG_KEY,
    }


def dashboard_paths(values: dict) -> list[str]:
    """The path of every dashboard route, filled with `values`."""
    paths = []
    for route in _routes(get_resolver().url_patterns):
        if _area(route) != "dashboard" or any(part in route for part in SKIPPED_ROUTES):
            continue
        filled = dict(values)
        if "/imports/" in route:
            filled["job_id"] = values["import_job_id"]
        if any(name not in filled for name, _ in _params(route)):
            continue
        path = _fill(route, filled)
        if path not in paths:
            paths.append(path)
    return paths


def html_pages(page, live_server, paths: list[str]) -> list[str]:
    """The URLs among `paths` that answer a GET with a 200 HTML page (not a POST-only action,
    a download or a fragment), asked with the page's cookies."""
    urls = []
    for path in paths:
        response = page.request.get(live_server.url + path, max_redirects=0)
        if response.status == 200 and "text/html" in response.headers["content-type"]:
            body = response.text()
            if body.lstrip().lower().startswith("<!doctype html>"):
                urls.append(live_server.url + path)
    return urls
