"""The account overview (the home page after login) and the glance panels of an audience's
page. Counts that cost a scan at a million contacts are fragments loaded after the page."""

from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from audiences import catalogue, explain, insights
from audiences.conditions import And, Condition, Node, Not, Or
from audiences.models import Audience
from contacts.models import Contact, SendingList
from trackly.models import Job, Role
from trackly.replicas import reads_from_replica
from trackly.tenancy import AccountRequest, account_view

# The overview lists this many audiences and jobs; their own pages have the rest.
OVERVIEW_AUDIENCES = 8
OVERVIEW_JOBS = 5
# Bars of the added-per-day chart: drawn in a 300 x 100 SVG box, 10 units a day.
_CHART_HEIGHT = 90
_DAY_WIDTH = 10


@require_GET
@account_view()
def overview(request: AccountRequest):
    """The account at a glance: lists, contacts, audiences, jobs, label hygiene, next steps."""
    account = request.account
    lists = list(SendingList.objects.for_account(account).active())
    has_contacts = Contact.objects.for_account(account).exists()
    audiences = list(
        Audience.objects.for_account(account).filter(status=Audience.Status.ACTIVE)[
            : OVERVIEW_AUDIENCES + 1
        ]
    )
    # Previews are a step of an import, not work of their own.
    jobs = (
        Job.objects.for_account(account)
        .defer("result", "params")
        .exclude(kind=Job.Kind.IMPORT_PREVIEW)
    )
    unfinished = (Job.Status.QUEUED, Job.Status.RUNNING)
    context = {
        "nav": "home",
        "lists": lists,
        "first_list": lists[0] if lists else None,
        "has_contacts": has_contacts,
        "audiences": audiences[:OVERVIEW_AUDIENCES],
        "more_audiences": len(audiences) > OVERVIEW_AUDIENCES,
        "running": list(jobs.filter(status__in=unfinished)[:OVERVIEW_JOBS]),
        "recent": list(jobs.exclude(status__in=unfinished)[:OVERVIEW_JOBS]),
        "can_admin": request.membership.has_role(Role.ADMIN),
    }
    return render(request, "audiences/overview.html", context)


@require_GET
@account_view()
@reads_from_replica
def overview_lists(request: AccountRequest):
    """The lists with their subscribed contacts, and the account's contacts: counted after the
    page, two queries."""
    lists = list(SendingList.objects.for_account(request.account).active().with_contact_count())
    context = {
        "lists": lists,
        "total": Contact.objects.for_account(request.account).count(),
        "subscribed": sum(item.contact_count for item in lists),
    }
    return render(request, "audiences/_overview_lists.html", context)


@require_GET
@account_view()
@reads_from_replica
def overview_added(request: AccountRequest):
    """Contacts added per day over the last 30 days, as bars in an SVG."""
    days = insights.added_per_day(request.account)
    most = max((item.contacts for item in days), default=0)
    bars = []
    for index, item in enumerate(days):
        height = round(item.contacts * _CHART_HEIGHT / most) if most else 0
        if item.contacts and height < 1:
            height = 1
        bars.append(
            {
                "day": item.day,
                "contacts": item.contacts,
                "x": index * _DAY_WIDTH + 1,
                "y": 100 - height,
                "height": height,
            }
        )
    context = {
        "bars": bars,
        "most": most,
        "total": sum(item.contacts for item in days),
        "first": days[0].day,
        "last": days[-1].day,
    }
    return render(request, "audiences/_overview_added.html", context)


@require_GET
@account_view()
@reads_from_replica
def overview_hygiene(request: AccountRequest):
    """Label hygiene warnings: keys and values that look like duplicates."""
    return render(
        request, "audiences/_overview_hygiene.html", {"hygiene": insights.hygiene(request.account)}
    )


def _get_audience(request: AccountRequest, audience_id: int) -> Audience:
    return get_object_or_404(
        Audience.objects.for_account(request.account).prefetch_related("sending_lists"),
        pk=audience_id,
    )


@require_GET
@account_view()
@reads_from_replica
def audience_breakdown(request: AccountRequest, audience_id: int):
    """The audience's members by their value of one key (`?key=`; by default the first key its
    conditions name, else the most used key)."""
    audience = _get_audience(request, audience_id)
    keys = catalogue.label_keys(request.account)
    known = {item.key for item in keys}
    key = request.GET.get("key", "")
    if key not in known:
        named = [
            condition.key for condition in _conditions_of(audience.tree) if condition.key in known
        ]
        by_use = sorted(keys, key=lambda item: (-item.contacts, item.key))
        key = named[0] if named else (by_use[0].key if by_use else "")
    result = None
    if key:
        result = insights.breakdown(audience.members(), account=request.account, key=key)
    context = {"audience": audience, "keys": keys, "key": key, "breakdown": result}
    return render(request, "audiences/_audience_breakdown.html", context)


def _conditions_of(node: Node | None) -> list[Condition]:
    """The conditions of a tree, in the order they are written."""
    match node:
        case Condition():
            return [node]
        case And(children=children) | Or(children=children):
            return [leaf for child in children for leaf in _conditions_of(child)]
        case Not(child=child):
            return _conditions_of(child)
    return []


@require_GET
@account_view()
@reads_from_replica
def audience_why_empty(request: AccountRequest, audience_id: int):
    """For an audience with no members: the contacts left after each of its tests."""
    audience = _get_audience(request, audience_id)
    steps = explain.funnel(request.account, audience.tree, audience.list_ids())
    emptied = next((step for step in steps if step.contacts == 0), None)
    context = {"audience": audience, "steps": steps, "emptied": emptied}
    return render(request, "audiences/_audience_why_empty.html", context)
