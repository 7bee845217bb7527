import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.http import Http404, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from audiences import bulk, catalogue, hygiene, services
from audiences.builder import (
    DATE_OPERATORS,
    OPERATORS,
    TEXT_OPERATORS,
    TYPED_OPERATORS,
    Builder,
    Row,
    builder_from_post,
    builder_from_tree,
)
from audiences.conditions import ConditionError, Node, Op, literal_kind, parse, to_text
from audiences.forms import AudienceForm, AudienceNameForm, LabelActionForm
from audiences.models import (
    Audience,
    LabelChange,
    count_matching,
    named_audiences,
    resolve_audiences,
)
from contacts import importing
from contacts.exporting import contact_rows
from contacts.forms import ContactSearchForm, id_of
from contacts.labels import VALUE_MAX_LENGTH
from contacts.models import Contact, Label, SendingList
from contacts.services import ARCHIVED_LIST
from trackly.confirm import confirmation
from trackly.models import Job, Role
from trackly.paging import keyset_page
from trackly.replicas import reads_from_replica
from trackly.tenancy import AccountRequest, account_view
from trackly.text import check_text, counted

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
@reads_from_replica
def audience_count(request: AccountRequest, audience_id: int):
    """The live member count of a saved audience, as a fragment loaded after the page."""
    audience = _get_audience(request, audience_id)
    return render(request, "audiences/_count.html", {"count": audience.count_members()})


def _builder_context(
    request: AccountRequest, builder: Builder | None, tree: Node | None, list_ids, *, count=True
):
    """What the builder's rows, text and count need: value choices and the live count
    (None, without a query, unless `count`)."""
    keys = catalogue.label_keys(request.account)
    rows = [row for group in builder.groups for row in group.rows] if builder else []
    types = catalogue.value_types_by_key(request.account, {row.key.strip() for row in rows} - {""})
    for row in rows:
        _set_value_choices(request, row)
        _set_operators(row, types.get(row.key.strip()))
    return {
        "builder": builder,
        "saved_audiences": _saved_audiences(request) if any(r.is_audience for r in rows) else [],
        "operators": OPERATORS,
        "label_keys": keys,
        "known_keys": {item.key for item in keys},
        "conditions_text": to_text(named_audiences(request.account, tree)),
        "count": count_matching(request.account, tree, list_ids) if count else None,
    }


def _saved_audiences(request: AccountRequest) -> list[tuple[Audience, int]]:
    """The active audiences an "Audience" row may choose, with their member counts now."""
    audiences = Audience.objects.for_account(request.account).filter(status=Audience.Status.ACTIVE)
    return [(audience, audience.count_members()) for audience in audiences]


def _set_value_choices(request: AccountRequest, row: Row) -> None:
    """The row's value choices: its chosen values first, then the key's values that match
    what the user typed in the row's search (the most used ones without a search)."""
    key = row.key.strip()
    if row.is_audience or not key or row.input != "choice":
        return
    page = catalogue.search_values(request.account, key, row.search)
    found, row.more = page.values, bool(page.next_cursor)
    chosen = [value for value in dict.fromkeys(row.values) if value]
    counts = dict(found)
    row.options = [(value, counts.get(value), True) for value in chosen] + [
        (item.value, item.contacts, False) for item in found if item.value not in chosen
    ]


def _set_operators(row: Row, types: catalogue.ValueTypes | None) -> None:
    """The operators the row's key supports (comparisons when some of its values are numbers or
    dates, from its value `types`), the input its comparison takes, and how many of the key's
    values it skips."""
    if types is None:
        return
    operators = list(OPERATORS)
    if types.numbers or types.dates:
        operators += TYPED_OPERATORS
    if types.dates:
        operators += DATE_OPERATORS
    operators += TEXT_OPERATORS
    if row.op not in operators:
        operators.append(row.op)
    row.operators = operators
    written = literal_kind(row.value.strip()) if row.input in ("literal", "between") else None
    if written is not None:
        row.value_kind = str(written)
    elif row.input == "days" or types.dates > types.numbers:
        row.value_kind = "date"
    if row.typed:
        row.not_in_form = types.not_of(row.value_kind)


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
    text_invalid = False
    if request.POST.get("source") == "text":
        try:
            tree = resolve_audiences(request.account, parse(request.POST.get("conditions", "")))
        except ConditionError as error:
            tree = None
            text_error = error.messages[0]
            text_invalid = True
            builder = builder_from_post(request.POST)
        else:
            builder = builder_from_tree(tree)
    elif text_error := _text_problem(request.POST.get("conditions", "")):
        # The text the user typed does not parse: a change of the rows would overwrite it, so
        # the rows stay as they were and say that the text is not valid.
        tree = None
        text_invalid = True
        builder = builder_from_post(request.POST)
    else:
        builder = builder_from_post(request.POST)
        action = request.POST.get("action", "")
        _apply_action(builder, action)
        try:
            tree = resolve_audiences(request.account, builder.tree())
        except ValidationError as error:
            # A row the label validator refuses: its message instead of a count, and the text
            # keeps the last conditions that were valid.
            tree = None
            text_error = error.messages[0]
    context = _builder_context(request, builder, tree, list_ids, count=not text_error)
    context.update(
        text_error=text_error,
        text_invalid=text_invalid,
        from_text=request.POST.get("source") == "text" or bool(text_error),
    )
    return render(request, "audiences/_builder_response.html", context)


def _text_problem(text: str) -> str:
    """Why the conditions text does not parse, or "" when it does."""
    try:
        parse(text)
    except ConditionError as error:
        return error.messages[0]
    return ""


# A row's fields are named g<group>-r<row>-<field>.
ROW_PREFIX = re.compile(r"g(\d{1,2})-r(\d{1,2})")


@require_GET
@account_view(Role.EDITOR)
@reads_from_replica
def audience_builder_values(request: AccountRequest):
    """One builder row's value choices for what the user typed in its search, as a fragment
    that replaces the row's choices without touching the rest of the builder."""
    match = ROW_PREFIX.fullmatch(request.GET.get("row", ""))
    if match is None:
        return HttpResponseBadRequest("The row to search values for is missing.")
    prefix = match.group(0)
    op_text = request.GET.get(f"{prefix}-op", Op.EQ.value)
    row = Row(
        key=request.GET.get(f"{prefix}-key", ""),
        op=Op(op_text) if op_text in Op._value2member_map_ else Op.EQ,
        values=request.GET.getlist(f"{prefix}-value"),
        search=request.GET.get(f"{prefix}-q", "")[:VALUE_MAX_LENGTH],
    )
    _set_value_choices(request, row)
    context = {"row": row, "gi": int(match.group(1)), "ri": int(match.group(2))}
    return render(request, "audiences/_builder_values.html", context)


def _apply_action(builder: Builder, action: str) -> None:
    name, _, where = action.partition(":")
    numbers = [number for part in where.split(":") if (number := id_of(part)) is not None]
    if name == "add_group":
        builder.add_group()
    elif name == "add_audience":
        builder.add_audience_group()
    elif name == "add_row" and len(numbers) == 1:
        builder.add_row(numbers[0])
    elif name == "remove_row" and len(numbers) == 2:
        builder.remove_row(*numbers)
    elif name == "join":
        builder.toggle_join()
    elif name == "group_join" and len(numbers) == 1:
        builder.toggle_group_join(numbers[0])


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
        text_invalid = "conditions" in form.errors
        list_ids = _posted_list_ids(request)
    else:
        initial = {}
        if audience is not None:
            initial = {
                "name": audience.name,
                "description": audience.description,
                "conditions": audience.conditions_text,
                "sending_lists": audience.list_ids(),
            }
        else:
            initial = {"conditions": request.GET.get("conditions", "")}
        form = AudienceForm(initial=initial, account=request.account, instance=audience)
        # Conditions from a link (`?conditions=`) may not parse: show them with the reason, as
        # the builder shows a text it cannot read.
        try:
            tree = resolve_audiences(request.account, parse(initial["conditions"]))
        except ConditionError as error:
            tree = None
            text_error = error.messages[0]
        text_invalid = bool(text_error)
        list_ids = initial.get("sending_lists", [])
    context = _builder_context(
        request, builder_from_tree(tree), tree, list_ids, count=not text_error
    )
    if text_error:
        context.update(conditions_text=initial["conditions"])
    elif text_invalid:
        context.update(conditions_text=request.POST.get("conditions", ""))
    context.update(
        text_error=text_error,
        text_invalid=text_invalid,
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
    audience = _get_audience(request, audience_id)
    if audience.is_static:
        return _edit_static(request, audience)
    return _edit_audience(request, audience)


def _edit_static(request: AccountRequest, audience: Audience):
    """A static audience's name and description. Its members change on its page; the
    conditions it was frozen from stay those its members came from (Refresh uses them)."""
    if request.method == "POST":
        form = AudienceNameForm(request.POST, account=request.account, instance=audience)
        if form.is_valid():
            audience.name = form.cleaned_data["name"]
            audience.description = form.cleaned_data["description"]
            try:
                services.audience_save(audience=audience)
            except ValidationError as error:
                audience.refresh_from_db(fields=["name", "description"])
                form.add_error("name", error)
            else:
                messages.success(request, f"Audience “{audience.name}” saved.")
                return redirect("audiences:audience_detail", request.account.slug, audience.pk)
    else:
        initial = {"name": audience.name, "description": audience.description}
        form = AudienceNameForm(initial=initial, account=request.account, instance=audience)
    return _static_page(request, audience, "edit", form=form)


@require_POST
@account_view(Role.EDITOR)
def audience_archive(request: AccountRequest, audience_id: int):
    audience = _get_audience(request, audience_id)
    archive = request.POST.get("archive") != "0"
    if archive and not audience.is_archived:
        try:
            # Refused before the confirm step: confirming could not help.
            services.audience_check_unused(audience=audience, doing="archived")
        except ValidationError as error:
            messages.error(request, error.messages[0])
            return redirect("audiences:audience_detail", request.account.slug, audience.pk)
        confirm = confirmation(
            request,
            title=f"Archive “{audience.name}”?",
            question=(
                "The audience leaves the Audiences page and can no longer be picked for bulk "
                "label changes. Its conditions are kept, and Restore brings it back."
            ),
            button="Archive audience",
            cancel_url=reverse(
                "audiences:audience_detail", args=[request.account.slug, audience.pk]
            ),
            nav="audiences",
        )
        if confirm is not None:
            return confirm
    try:
        services.audience_archive(audience=audience, archive=archive)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(
            request, f"Audience “{audience.name}” {'archived' if archive else 'restored'}."
        )
    return redirect("audiences:audience_detail", request.account.slug, audience.pk)


@require_GET
@vary_on_headers("HX-Request")
@account_view()
@reads_from_replica
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
    if audience.is_static:
        # A static audience's members are counted at once, with those that dropped out.
        count = audience.count_members()
        context.update(count=count, dropped_out=audience.dropped_out(count))
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
@reads_from_replica
def audience_export(request: AccountRequest, audience_id: int):
    """The members as CSV, streamed in chunks of contacts so memory stays flat."""
    audience = _get_audience(request, audience_id)
    response = StreamingHttpResponse(_export_rows(audience), content_type="text/csv")
    filename = f"{slugify(audience.name) or 'audience'}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# ---------------------------------------------------------------------------------------------
# Static audiences
# ---------------------------------------------------------------------------------------------


def _static_page(request: AccountRequest, audience: Audience, step: str, **context):
    context.update(nav="audiences", audience=audience, step=step)
    return render(request, "audiences/static_action.html", context)


def _detail_with_job(request: AccountRequest, audience: Audience, job: Job):
    detail = reverse("audiences:audience_detail", args=[request.account.slug, audience.pk])
    return redirect(f"{detail}?job={job.pk}")


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def audience_freeze(request: AccountRequest, audience_id: int):
    """ "Save as static": a new static audience of this audience's members now, filled by a job;
    it keeps the conditions and lists, to be frozen again later."""
    audience = _get_audience(request, audience_id)
    if audience.is_static:
        raise Http404
    name = request.POST.get("name", f"{audience.name} (static)"[:255]).strip()
    error = ""
    if request.method == "POST":
        try:
            check_text(name)
            if not name or len(name) > 255:
                raise ValidationError("A name has 1 to 255 characters.")
            static = services.static_audience_create(
                account=request.account, user=request.user, name=name, frozen_from=audience
            )
        except ValidationError as problem:
            error = problem.messages[0]
        else:
            job = services.static_fill_start(
                audience=static,
                user=request.user,
                selection=services.static_refresh_selection(static),
                replace=True,
            )
            messages.success(request, f"Static audience “{static.name}” saved.")
            return _detail_with_job(request, static, job)
    return _static_page(
        request, audience, "freeze", name=name, error=error, count=audience.count_members()
    )


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def audience_refresh(request: AccountRequest, audience_id: int):
    """ "Refresh": freeze a static audience again from its conditions, after a review of the
    counts; a job."""
    audience = _get_audience(request, audience_id)
    if not audience.is_static or audience.frozen_at is None:
        raise Http404
    if request.method == "POST":
        job = services.static_fill_start(
            audience=audience,
            user=request.user,
            selection=services.static_refresh_selection(audience),
            replace=True,
        )
        return _detail_with_job(request, audience, job)
    preview = services.static_refresh_preview(audience)
    return _static_page(request, audience, "refresh", preview=preview)


def _get_static(request: AccountRequest, audience_id: int) -> Audience:
    audience = _get_audience(request, audience_id)
    if not audience.is_static:
        raise Http404
    return audience


# CSRF is checked once the upload handler is in place, as for imports (contacts.import_views).
@csrf_exempt
@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def audience_upload(request: AccountRequest, audience_id: int):
    """Add contacts to a static audience from a CSV file of phone numbers."""
    audience = _get_static(request, audience_id)
    context = {"max_bytes": importing.max_bytes(), "phone_columns": importing.PHONE_COLUMNS}
    if request.method == "GET":
        return _static_page(request, audience, "upload", **context)
    try:
        importing.expect_upload(request)
    except ValidationError as error:
        return _static_page(request, audience, "upload", error=error.messages[0], **context)
    return csrf_protect(_receive_members_file)(request, audience, context)


def _receive_members_file(request: AccountRequest, audience: Audience, context: dict):
    try:
        upload, _ = importing.receive_upload(request)
    except ValidationError as error:
        return _static_page(request, audience, "upload", error=error.messages[0], **context)
    result = services.static_members_add_file(
        audience=audience, path=importing.upload_path(upload.name)
    )
    return _static_page(request, audience, "uploaded", result=result, **context)


@require_POST
@account_view(Role.EDITOR)
def audience_remove_members(request: AccountRequest, audience_id: int):
    """Take the posted contacts out of a static audience."""
    audience = _get_static(request, audience_id)
    ids = _ticked_ids(request.POST.getlist("ids"))[:MAX_TICKED]
    contacts = Contact.objects.for_account(request.account).filter(pk__in=ids)
    removed = services.static_members_remove(audience=audience, contacts=contacts)
    messages.success(request, f"{removed:,} contact{'s' if removed != 1 else ''} removed.")
    return redirect("audiences:audience_detail", request.account.slug, audience.pk)


def _contacts_to_static(request: AccountRequest):
    """Ticked contacts, or all matching a contacts table's filter, into a static audience: an
    existing one, or a new one named here. Ticked contacts are added at once, all matching by
    a job."""
    chosen = _contacts_selection(request)
    statics = Audience.objects.for_account(request.account).filter(
        kind=Audience.Kind.STATIC, status=Audience.Status.ACTIVE
    )
    context = {
        "nav": "contacts",
        "target": chosen.target,
        "carry": [("action", "static"), *chosen.carry],
        "cancel_url": chosen.back,
        "statics": statics,
        "problem": chosen.problem,
        "name": request.POST.get("name", "").strip(),
    }
    if chosen.problem or "confirm" not in request.POST:
        return _static_page(request, None, "contacts", **context)
    try:
        target_id = id_of(request.POST.get("audience", ""))
        if target_id is not None:
            audience = get_object_or_404(statics, pk=target_id)
        else:
            check_text(context["name"])
            if not context["name"] or len(context["name"]) > 255:
                raise ValidationError("Choose a static audience, or name a new one.")
            audience = services.static_audience_create(
                account=request.account, user=request.user, name=context["name"]
            )
    except ValidationError as error:
        return _static_page(request, None, "contacts", error=error.messages[0], **context)
    if "ids" in chosen.selection["contacts"]:
        contacts = services.selected_contacts(request.account, chosen.selection)
        added = services.static_members_add(audience=audience, contacts=contacts)
        messages.success(
            request, f"{added:,} contact{'s' if added != 1 else ''} added to “{audience.name}”."
        )
        return redirect("audiences:audience_detail", request.account.slug, audience.pk)
    job = services.static_fill_start(
        audience=audience, user=request.user, selection=chosen.selection, replace=False
    )
    return _detail_with_job(request, audience, job)


@require_GET
@account_view()
@reads_from_replica
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
@reads_from_replica
def label_detail(request: AccountRequest, key: str):
    """One key's values with their contact counts, drawn as bars; how many are numbers and
    dates, the values that break the key's main type, and likely duplicate values."""
    key_count = catalogue.label_key(request.account, key)
    if key_count is None:
        raise Http404
    values = catalogue.label_values(request.account, key)
    types = catalogue.value_types(request.account, key)
    main_type = types.main_type
    context = {
        "nav": "labels",
        "key": key_count,
        "value_types": types,
        "other_values": types.contacts - types.numbers - types.dates,
        "main_type": main_type,
        "breaking_count": types.not_of(main_type) if main_type != "text" else 0,
        "breaking_values": (
            catalogue.values_not_of(request.account, key, main_type, limit=50)
            if main_type != "text"
            else []
        ),
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
    if request.POST.get("action") == "static":
        return _contacts_to_static(request)
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
    if sending_list is not None and sending_list.is_archived:
        archived = ARCHIVED_LIST.format(name=sending_list.name)
        return _ContactsSelection({}, f"contacts on {sending_list.name}", [], back, archived)
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
    target = f"{counted(len(ids), 'ticked contact')}{where}"
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
    # `?change=` is the link to one entry, from its job's page.
    one_change = id_of(request.GET.get("change", ""))
    if one_change is not None:
        changes = changes.filter(pk=one_change)
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
        "one_change": one_change is not None,
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
    # The catalogue's "Merge into …" hints link straight to the review (`?review=1`).
    if request.method == "POST" or request.GET.get("review") == "1":
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
    undone = getattr(job, "label_change", None)
    context.update(
        review=hygiene.undo_review(job),
        # An undo of an import's undo: the contacts that undo erased do not come back.
        erased_before=undone.counts.get("erased", 0) if undone is not None else 0,
        rewrites=hygiene.rewrites_to_undo(job),
        undoable_until=hygiene.records_kept_until(job),
    )
    return render(request, "audiences/undo.html", context)
