import csv
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from audiences import bulk, catalogue, compiler, hygiene, services
from audiences.builder import OPERATORS, Builder, builder_from_post, builder_from_tree
from audiences.conditions import ConditionError, Node, parse, to_text
from audiences.forms import AudienceForm, LabelActionForm
from audiences.models import Audience, LabelChange
from contacts.exporting import contact_rows
from contacts.forms import ContactSearchForm, id_of
from contacts.models import Contact, Label, SendingList
from trackly.models import Job, Role
from trackly.paging import keyset_page
from trackly.tenancy import AccountRequest, account_view

MEMBERS_PER_PAGE = 50
AUDIT_PER_PAGE = 200
# A contacts table shows 50 rows a page; ticking is for a page, filters for more.
MAX_TICKED = 1000


def _get_audience(request: AccountRequest, audience_id: int) -> Audience:
    return get_object_or_404(
        Audience.objects.for_account(request.account).prefetch_related("sending_lists"),
        pk=audience_id,
    )


@require_GET
@account_view()
def audiences(request: AccountRequest):
    all_audiences = Audience.objects.for_account(request.account).prefetch_related("sending_lists")
    context = {
        "nav": "audiences",
        "active": [a for a in all_audiences if not a.is_archived],
        "archived": [a for a in all_audiences if a.is_archived],
    }
    return render(request, "audiences/audiences.html", context)


@require_GET
@account_view()
def audience_count(request: AccountRequest, audience_id: int):
    """The live member count of a saved audience, as a fragment loaded after the page."""
    audience = _get_audience(request, audience_id)
    return render(request, "audiences/_count.html", {"count": audience.count_members()})


def _builder_context(
    request: AccountRequest, builder: Builder | None, tree: Node | None, list_ids, *, count=True
):
    """What the builder's rows, text and count need: dropdown options and the live count
    (None, without a query, unless `count`)."""
    keys = catalogue.label_keys(request.account)
    values_by_key: dict[str, list] = {}
    for row in [row for group in builder.groups for row in group.rows] if builder else []:
        key = row.key.strip()
        if not key:
            continue
        if key not in values_by_key:
            values_by_key[key] = catalogue.label_values(request.account, key)
        known = {item.value for item in values_by_key[key]}
        row.options = [
            (item.value, item.contacts, item.value in row.values) for item in values_by_key[key]
        ] + [(value, None, True) for value in row.values if value and value not in known]
    return {
        "builder": builder,
        "operators": OPERATORS,
        "label_keys": keys,
        "known_keys": {item.key for item in keys},
        "conditions_text": to_text(tree),
        "count": compiler.count_members(request.account, tree, list_ids) if count else None,
    }


def _posted_list_ids(request: AccountRequest) -> list[int]:
    ids = [id_of(value) for value in request.POST.getlist("sending_lists")]
    lists = SendingList.objects.for_account(request.account).filter(pk__in=ids)
    return list(lists.values_list("pk", flat=True))


@require_POST
@account_view(Role.EDITOR)
def audience_builder(request: AccountRequest):
    """Re-render the builder after an edit of its rows (`source=rows`) or of its text.

    The response is the rows, with the count and, for a rows edit, the text swapped out of band;
    a text edit never rewrites the text the user is typing.
    """
    list_ids = _posted_list_ids(request)
    text_error = ""
    if request.POST.get("source") == "text":
        try:
            tree = parse(request.POST.get("conditions", ""))
        except ConditionError as error:
            tree = None
            text_error = error.messages[0]
            builder = builder_from_post(request.POST)
        else:
            builder = builder_from_tree(tree)
    else:
        builder = builder_from_post(request.POST)
        action = request.POST.get("action", "")
        _apply_action(builder, action)
        try:
            tree = builder.tree()
        except ValidationError as error:
            # A row the label validator refuses: its message instead of a count, and the text
            # keeps the last conditions that were valid.
            tree = None
            text_error = error.messages[0]
    context = _builder_context(request, builder, tree, list_ids, count=not text_error)
    context.update(
        text_error=text_error,
        from_text=request.POST.get("source") == "text" or bool(text_error),
    )
    return render(request, "audiences/_builder_response.html", context)


def _apply_action(builder: Builder, action: str) -> None:
    name, _, where = action.partition(":")
    numbers = [number for part in where.split(":") if (number := id_of(part)) is not None]
    if name == "add_group":
        builder.add_group()
    elif name == "add_row" and len(numbers) == 1:
        builder.add_row(numbers[0])
    elif name == "remove_row" and len(numbers) == 2:
        builder.remove_row(*numbers)
    elif name == "join":
        builder.join = "OR" if builder.join == "AND" else "AND"
        for group in builder.groups:
            group.join = "OR" if builder.join == "AND" else "AND"


def _save_audience(request: AccountRequest, form: AudienceForm, audience: Audience | None):
    if audience is None:
        audience = Audience(account=request.account, created_by=request.user)
    audience.name = form.cleaned_data["name"]
    audience.description = form.cleaned_data["description"]
    audience.conditions = form.cleaned_data["conditions"]
    return services.audience_save(audience=audience, lists=form.cleaned_data["sending_lists"])


def _edit_audience(request: AccountRequest, audience: Audience | None):
    text_error = ""
    if request.method == "POST":
        form = AudienceForm(request.POST, account=request.account, instance=audience)
        if form.is_valid():
            try:
                audience = _save_audience(request, form, audience)
            except ValidationError as error:
                form.add_error("name", error)
            else:
                messages.success(request, f"Audience “{audience.name}” saved.")
                return redirect("audiences:audience_detail", request.account.slug, audience.pk)
        tree = form.tree if form.is_valid() or "conditions" not in form.errors else None
        list_ids = _posted_list_ids(request)
    else:
        initial = {}
        if audience is not None:
            initial = {
                "name": audience.name,
                "description": audience.description,
                "conditions": audience.conditions,
                "sending_lists": audience.list_ids(),
            }
        else:
            initial = {"conditions": request.GET.get("conditions", "")}
        form = AudienceForm(initial=initial, account=request.account, instance=audience)
        # Conditions from a link (`?conditions=`) may not parse: show them with the reason, as
        # the builder shows a text it cannot read.
        try:
            tree = parse(initial["conditions"])
        except ConditionError as error:
            tree = None
            text_error = error.messages[0]
        list_ids = initial.get("sending_lists", [])
    context = _builder_context(
        request, builder_from_tree(tree), tree, list_ids, count=not text_error
    )
    if text_error:
        context.update(conditions_text=initial["conditions"])
    context.update(
        text_error=text_error,
        nav="audiences",
        form=form,
        audience=audience,
        lists=SendingList.objects.for_account(request.account),
        selected_lists=set(list_ids),
    )
    return render(request, "audiences/audience_form.html", context)


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def audience_new(request: AccountRequest):
    return _edit_audience(request, None)


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def audience_edit(request: AccountRequest, audience_id: int):
    return _edit_audience(request, _get_audience(request, audience_id))


@require_POST
@account_view(Role.EDITOR)
def audience_archive(request: AccountRequest, audience_id: int):
    audience = _get_audience(request, audience_id)
    archive = request.POST.get("archive") != "0"
    audience.status = Audience.Status.ARCHIVED if archive else Audience.Status.ACTIVE
    audience.save(update_fields=["status", "updated_at"])
    messages.success(
        request, f"Audience “{audience.name}” {'archived' if archive else 'restored'}."
    )
    return redirect("audiences:audience_detail", request.account.slug, audience.pk)


@require_GET
@vary_on_headers("HX-Request")
@account_view()
def audience_detail(request: AccountRequest, audience_id: int):
    """The audience, its live count (loaded after the page) and its members, paged by id."""
    audience = _get_audience(request, audience_id)
    members = audience.members().select_related("sending_list").prefetch_related(_ordered_labels())
    # The links page the members only: a job's progress shows once, after it starts.
    page = keyset_page(members, ("id",), per_page=MEMBERS_PER_PAGE, params=request.GET, kept=())
    job_id = id_of(request.GET.get("job", ""))
    job = None
    if job_id is not None:
        job = Job.objects.for_account(request.account).filter(pk=job_id).first()
    context = {
        "nav": "audiences",
        "audience": audience,
        "job": job,
        "members": page.rows,
        "page": page,
    }
    if request.htmx:
        return render(request, "audiences/audience_detail.html#members_table", context)
    return render(request, "audiences/audience_detail.html", context)


def _ordered_labels() -> Prefetch:
    return Prefetch("labels", queryset=Label.objects.order_by("key"))


class _Echo:
    def write(self, value: str) -> str:
        return value


def _export_rows(audience: Audience) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in contact_rows(audience.members()):
        yield writer.writerow(row)


@require_GET
@account_view(Role.EDITOR)
def audience_export(request: AccountRequest, audience_id: int):
    """The members as CSV, streamed in chunks of contacts so memory stays flat."""
    audience = _get_audience(request, audience_id)
    response = StreamingHttpResponse(_export_rows(audience), content_type="text/csv")
    filename = f"{slugify(audience.name) or 'audience'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@account_view()
def labels(request: AccountRequest):
    """The label catalogue: every key with its contact count, and likely duplicate keys."""
    keys = catalogue.label_keys(request.account)
    context = {
        "nav": "labels",
        "label_keys": keys,
        "most": max((item.contacts for item in keys), default=0),
        "similar_keys": [
            {"names": group, "merges": [(t, next(k for k in group if k != t)) for t in group]}
            for group in catalogue.similar_names(item.key for item in keys)
        ],
    }
    return render(request, "audiences/labels.html", context)


@require_GET
@account_view()
def label_detail(request: AccountRequest, key: str):
    """One key's values with their contact counts, drawn as bars, and likely duplicate values."""
    key_count = catalogue.label_key(request.account, key)
    if key_count is None:
        raise Http404
    values = catalogue.label_values(request.account, key)
    context = {
        "nav": "labels",
        "key": key_count,
        "label_values": values,
        "most": max((item.contacts for item in values), default=0),
        "similar_values": [
            {"names": group, "merges": [(t, [v for v in group if v != t]) for t in group]}
            for group in catalogue.similar_names(item.value for item in values)
        ],
        "top_values": catalogue.TOP_VALUES,
    }
    return render(request, "audiences/label_detail.html", context)


def _label_action_page(request: AccountRequest, action: str, contacts, context: dict, start):
    """The steps of a bulk label action: key and value, the exact effect, then the job.

    `start(key, value)` records and starts the change once it is confirmed; it returns the
    response to send, or None when the selection changed since it was reviewed.
    """
    # The first step arrives without a key (from a menu or a contacts table): show the form.
    data = request.POST if "key" in request.POST else None
    form = LabelActionForm(data, action=action)
    context.update(action=action, form=form)
    if data is not None and form.is_valid():
        key, value = form.cleaned_data["key"], form.cleaned_data["value"]
        if "confirm" in request.POST and (response := start(key, value)) is not None:
            return response
        if action == bulk.ADD:
            context["preview"] = bulk.preview_add(
                contacts, account_id=request.account.pk, key=key, value=value
            )
        else:
            context["preview"] = bulk.preview_remove(contacts, key)
        context["changed_meanwhile"] = "confirm" in request.POST
    return render(request, "audiences/label_action.html", context)


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def audience_label_action(request: AccountRequest, audience_id: int, action: str):
    """Actions > Add Label / Remove Label on an audience."""
    audience = _get_audience(request, audience_id)

    def start(key: str, value: str):
        if request.POST.get("reviewed_conditions") != audience.conditions:
            return None
        change = services.label_change_start(
            account=request.account,
            user=request.user,
            action=action,
            key=key,
            value=value,
            audience=audience,
            target=audience.name,
            selection=services.audience_selection(audience),
        )
        detail = reverse("audiences:audience_detail", args=[request.account.slug, audience.pk])
        return redirect(f"{detail}?job={change.job_id}")

    context = {
        "nav": "audiences",
        "audience": audience,
        "target": f"the audience “{audience.name}”",
        "carry": [("reviewed_conditions", audience.conditions)],
        "cancel_url": reverse(
            "audiences:audience_detail", args=[request.account.slug, audience.pk]
        ),
    }
    return _label_action_page(request, action, audience.members(), context, start)


@require_POST
@account_view(Role.EDITOR)
def contacts_label_action(request: AccountRequest):
    """Add Label / Remove Label on contacts ticked in a contacts table, or on all that match its
    filter (evaluated again when the job runs)."""
    action = bulk.ADD if request.POST.get("action") != bulk.REMOVE else bulk.REMOVE
    chosen = _contacts_selection(request)
    context = {
        "nav": "contacts",
        "target": chosen.target,
        "carry": [("action", action), *chosen.carry],
        "cancel_url": chosen.back,
    }
    if chosen.problem:
        # Nothing to act on: say why instead of offering a change to no contacts.
        context.update(action=action, problem=chosen.problem)
        return render(request, "audiences/label_action.html", context)
    contacts = services.selected_contacts(request.account, chosen.selection)

    def start(key: str, value: str):
        change = services.label_change_start(
            account=request.account,
            user=request.user,
            action=action,
            key=key,
            value=value,
            target=chosen.target,
            selection=chosen.selection,
        )
        return redirect("job_detail", request.account.slug, change.job_id)

    return _label_action_page(request, action, contacts, context, start)


@dataclass
class _ContactsSelection:
    """What a contacts-table action is for, as recorded with the change and carried from step
    to step; `problem` says why there is nothing to act on."""

    selection: dict
    target: str
    carry: list[tuple[str, str]]
    back: str
    problem: str = ""


def _safe_back(request: AccountRequest, sending_list: SendingList | None) -> str:
    """The page to go back to: the posted `back` if it is a path of this site, else the table's
    own page (a link to another site or a `javascript:` URL is never shown)."""
    back = request.POST.get("back", "")
    if back.startswith("/") and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return back
    if sending_list is not None:
        return reverse("contacts:list_contacts", args=[request.account.slug, sending_list.pk])
    return reverse("contacts:all_contacts", args=[request.account.slug])


def _ticked_ids(values: list[str]) -> list[int]:
    """Ticked contact ids, sent as one field each or as one comma-separated field."""
    ids = (id_of(piece) for value in values for piece in value.split(","))
    return sorted({pk for pk in ids if pk is not None})


def _contacts_selection(request: AccountRequest) -> _ContactsSelection:
    """The contacts a contacts-table action is for: ticked ids, or all matching the filter."""
    post = request.POST
    list_id = id_of(post.get("list_id", ""))
    sending_list = None
    if list_id is not None:
        sending_list = get_object_or_404(
            SendingList.objects.for_account(request.account), pk=list_id
        )
    list_value = str(sending_list.pk) if sending_list else ""
    where = f" on {sending_list.name}" if sending_list else ""
    back = _safe_back(request, sending_list)
    scope = "all" if post.get("scope") == "all" else "ticked"
    carry = [("scope", scope), ("list_id", list_value), ("back", back)]
    if scope == "all":
        chosen = {name: post.get(f"filter_{name}", "") for name in ("q", "key", "value")}
        carry += [(f"filter_{name}", value) for name, value in chosen.items()]
        named = {"q": "phone", "key": "key", "value": "value"}
        described = ", ".join(f"{named[name]} “{value}”" for name, value in chosen.items() if value)
        target = f"all contacts{where}" + (f" matching {described}" if described else "")
        selection = {"contacts": {"list_id": list_value, **chosen}}
        problem = _filter_problem(request, sending_list, chosen, where, described)
        return _ContactsSelection(selection, target, carry, back, problem)
    ids = _ticked_ids(post.getlist("ids"))
    problem = ""
    if not ids:
        problem = (
            "No contacts are ticked. Tick the contacts to change, or choose all contacts "
            "matching the filter."
        )
    elif len(ids) > MAX_TICKED:
        problem = (
            f"{len(ids):,} contacts are ticked, and a bulk action takes at most "
            f"{MAX_TICKED:,} ticked contacts. Choose all contacts matching a filter to change "
            "more."
        )
    # One field for every id: a field each would reach Django's limit on the number of fields.
    carry.append(("ids", ",".join(str(pk) for pk in ids)))
    target = f"{len(ids)} ticked contacts{where}"
    return _ContactsSelection({"contacts": {"ids": ids}}, target, carry, back, problem)


def _filter_problem(
    request: AccountRequest,
    sending_list: SendingList | None,
    chosen: dict[str, str],
    where: str,
    described: str,
) -> str:
    """Why all contacts matching a contacts table's filter are nothing to act on, if they are:
    a filter that is not valid, or one that matches no contact now."""
    form = ContactSearchForm(chosen)
    if not form.is_valid():
        errors = " ".join(message for messages in form.errors.values() for message in messages)
        return f"This filter cannot be used: {errors}"
    contacts = Contact.objects.for_account(request.account)
    if sending_list is not None:
        contacts = contacts.filter(sending_list=sending_list)
    contacts, hint = form.filter(contacts, request.account.default_region)
    if hint:
        return hint
    if not contacts.exists():
        if described:
            return f"No contacts{where} match {described}: there is nothing to change."
        return f"There are no contacts{where}: there is nothing to change."
    return ""


@require_GET
@account_view(Role.EDITOR)
def label_changes(request: AccountRequest):
    """The audit log of bulk label actions, newest first."""
    changes = LabelChange.objects.filter(account=request.account).select_related(
        "created_by", "job"
    )
    page = keyset_page(
        changes, ("-created_at", "-id"), per_page=AUDIT_PER_PAGE, params=request.GET, kept=()
    )
    undone = set(
        LabelChange.objects.filter(
            account=request.account,
            undoes__in=[change.job_id for change in page.rows if change.job_id],
            job__status=Job.Status.SUCCEEDED,
        ).values_list("undoes_id", flat=True)
    )
    now = timezone.now()
    for change in page.rows:
        change.undoable_until = None
        job = change.job
        if job is not None and job.kind in hygiene.UNDOABLE_KINDS and job.is_finished:
            until = hygiene.records_kept_until(job)
            if until >= now and job.pk not in undone:
                change.undoable_until = until
        change.undone = change.job_id in undone
    context = {
        "nav": "audit",
        "changes": page.rows,
        "page": page,
        "record_days": settings.LABEL_RECORD_DAYS,
    }
    return render(request, "audiences/label_changes.html", context)


_EDIT_TITLES = {
    LabelChange.Action.RENAME_KEY: "Rename a key",
    LabelChange.Action.MERGE_VALUES: "Merge values",
    LabelChange.Action.DELETE_VALUE: "Delete a value",
    LabelChange.Action.DELETE_KEY: "Delete a key",
}


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def label_edit(request: AccountRequest, key: str):
    """Rename a key, merge values, delete a value or the key: the form, the review with exact
    counts and the audiences naming what changes, then the job."""
    if catalogue.label_key(request.account, key) is None:
        raise Http404
    data = request.POST if request.method == "POST" else request.GET
    action = data.get("action", LabelChange.Action.RENAME_KEY)
    if action not in _EDIT_TITLES:
        action = LabelChange.Action.RENAME_KEY
    given = {
        "new_key": data.get("new_key", ""),
        "values": data.getlist("values"),
        "value": data.get("value", ""),
    }
    context = {
        "nav": "labels",
        "key": key,
        "action": action,
        "title": _EDIT_TITLES[action],
        "given": given,
        "key_values": catalogue.label_values(request.account, key),
    }
    if request.method == "POST":
        try:
            edit = hygiene.clean_edit(action=action, key=key, **given)
        except ValidationError as error:
            context["error"] = error.messages[0]
        else:
            if "confirm" in request.POST:
                change = services.label_edit_start(
                    account=request.account,
                    user=request.user,
                    edit=edit,
                    audience_ids=[
                        int(pk) for pk in request.POST.getlist("rewrite") if pk.isdigit()
                    ],
                )
                return redirect("job_detail", request.account.slug, change.job_id)
            context.update(
                edit=edit,
                review=hygiene.edit_review(request.account, edit),
                audiences=hygiene.naming_audiences(request.account, edit),
            )
    return render(request, "audiences/label_edit.html", context)


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def undo(request: AccountRequest, job_id: int):
    """Undo a recorded change (a bulk change, a label edit, an import, an undo): the review,
    then the job."""
    job = get_object_or_404(Job.objects.filter(account=request.account), pk=job_id)
    context = {"nav": "audit", "job": job, "target": services.undo_target(job)}
    try:
        hygiene.check_undoable(job)
    except ValidationError as error:
        context["error"] = error.messages[0]
        return render(request, "audiences/undo.html", context)
    if request.method == "POST":
        change = services.undo_start(account=request.account, user=request.user, job=job)
        return redirect("job_detail", request.account.slug, change.job_id)
    context.update(review=hygiene.undo_review(job), undoable_until=hygiene.records_kept_until(job))
    return render(request, "audiences/undo.html", context)
