import contextlib

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from audiences import catalogue
from contacts import services
from contacts.forms import ContactSearchForm, LabelRowsForm, SendingListForm
from contacts.models import Contact, SendingList
from trackly.confirm import confirmation
from trackly.models import Role
from trackly.paging import is_fragment_request, keyset_page
from trackly.phones import display_phone, normalize_phone
from trackly.tenancy import AccountRequest, account_view, require_role

CONTACTS_PER_PAGE = 50
# The key suggestions of the Edit Labels form stop here; the catalogue lists them all.
KEY_SUGGESTIONS = 500


def _key_suggestions(request: AccountRequest) -> list[str]:
    return [row.key for row in catalogue.label_keys(request.account, limit=KEY_SUGGESTIONS)]


def _get_list(request: AccountRequest, list_id: int) -> SendingList:
    return get_object_or_404(SendingList.objects.for_account(request.account), pk=list_id)


def _get_contact(request: AccountRequest, contact_id: int) -> Contact:
    return get_object_or_404(
        Contact.objects.for_account(request.account).select_related("sending_list"), pk=contact_id
    )


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@account_view()
def sending_lists(request: AccountRequest):
    form = SendingListForm(account=request.account)
    if request.method == "POST":
        require_role(request, Role.ADMIN)
        form = SendingListForm(request.POST, account=request.account)
        if form.is_valid():
            try:
                sending_list = services.sending_list_create(
                    account=request.account,
                    name=form.cleaned_data["name"],
                    phone_number=form.cleaned_data["phone_number"],
                )
            except ValidationError as error:
                # Taken by a concurrent request since the form's check: the same message.
                form.add_error(None, error)
            else:
                messages.success(request, f"Sending list “{sending_list.name}” created.")
                if request.htmx:
                    return HttpResponseClientRedirect(sending_list.get_absolute_url())
                return redirect(sending_list)
    lists = SendingList.objects.for_account(request.account).with_contact_count()
    context = {"lists": lists, "form": form, "nav": "lists"}
    if request.htmx and request.method == "POST":
        return render(request, "contacts/sending_lists.html#new_list_form", context)
    return render(request, "contacts/sending_lists.html", context)


@require_POST
@account_view(Role.ADMIN)
def sending_list_rename(request: AccountRequest, list_id: int):
    sending_list = _get_list(request, list_id)
    form = SendingListForm(request.POST, account=request.account, instance=sending_list)
    if form.is_valid():
        try:
            services.sending_list_update(sending_list=sending_list, name=form.cleaned_data["name"])
        except ValidationError as error:
            # Taken by a concurrent request since the form's check: the same message.
            form.add_error(None, error)
    if form.errors:
        messages.error(request, " ".join(form.errors["name"]))
    else:
        messages.success(request, f"Sending list renamed to “{sending_list.name}”.")
    return redirect(sending_list)


@require_POST
@account_view(Role.ADMIN)
def sending_list_archive(request: AccountRequest, list_id: int):
    sending_list = _get_list(request, list_id)
    archive = request.POST.get("archive") != "0"
    if archive and not sending_list.is_archived:
        confirm = confirmation(
            request,
            title=f"Archive “{sending_list.name}”?",
            question=(
                "The list then takes no new contacts, imports or bulk label changes. Its "
                "contacts and labels are kept, and Restore list brings it back."
            ),
            button="Archive list",
            cancel_url=sending_list.get_absolute_url(),
            nav="lists",
        )
        if confirm is not None:
            return confirm
    sending_list.status = SendingList.Status.ARCHIVED if archive else SendingList.Status.ACTIVE
    sending_list.save(update_fields=["status"])
    verb = "archived" if archive else "restored"
    messages.success(request, f"Sending list “{sending_list.name}” {verb}.")
    return redirect(sending_list)


@require_GET
@vary_on_headers("HX-Request")
@account_view()
def list_contacts(request: AccountRequest, list_id: int):
    """A list's contacts in phone order, paged by keyset, filtered by phone or label."""
    sending_list = _get_list(request, list_id)
    return _contacts_table(request, Contact.objects.filter(sending_list=sending_list), sending_list)


@require_GET
@vary_on_headers("HX-Request")
@account_view()
def all_contacts(request: AccountRequest):
    """The contacts of every list of the account, with the same filters and paging."""
    return _contacts_table(request, Contact.objects.for_account(request.account), None)


# The orders a contacts table can be sorted in: (name, ordering for keyset paging).
SORTS = {
    "phone": ("phone_number", "id"),
    "-phone": ("-phone_number", "-id"),
    "added": ("created_at", "id"),
    "-added": ("-created_at", "-id"),
}
# The labels shown as chips in a row; the rest open from "+N".
CHIPS_PER_ROW = 3


def _contacts_table(request: AccountRequest, contacts, sending_list: SendingList | None):
    """Render a contacts table page, sorted by phone number or date added, filtered by the
    search form; with `?total=1`, only the number of contacts that match (loaded after)."""
    form = ContactSearchForm(request.GET)
    search_error = ""
    if form.is_valid():
        contacts, search_error = form.filter(contacts, request.account.default_region)
    else:
        contacts = contacts.none()
    if request.GET.get("total") == "1":
        context = {"total": contacts.count(), "is_filtered": _is_filtered(form)}
        return render(request, "contacts/list_contacts.html#contacts_total", context)
    sort = request.GET.get("sort", "phone")
    if sort not in SORTS:
        sort = "phone"
    page = keyset_page(
        contacts.select_related("sending_list").with_labels(),
        SORTS[sort],
        per_page=CONTACTS_PER_PAGE,
        params=request.GET,
        kept=[*ContactSearchForm.base_fields, "sort"],
    )
    # Where the page starts, carried by the page links; a broken cursor is the first page.
    start = _position(request.GET.get("at", "")) if page.has_previous else 1
    region = request.account.default_region
    for contact in page.rows:
        contact.display_phone = display_phone(contact.phone_number, region)
        labels = list(contact.labels.all())
        contact.chips, contact.more_labels = labels[:CHIPS_PER_ROW], labels[CHIPS_PER_ROW:]
    filters = QueryDict(page.filters, mutable=True)
    filters.pop("sort", None)
    context = {
        "nav": "lists" if sending_list else "contacts",
        "sending_list": sending_list,
        "form": form,
        "contacts": page.rows,
        "page": page,
        "sort": sort,
        "sort_links": _sort_links(filters, sort),
        "filters": filters.urlencode(),
        "start": start,
        "end": start + len(page.rows) - 1,
        "next_at": start + len(page.rows),
        "previous_at": max(1, start - CONTACTS_PER_PAGE),
        "label_keys": catalogue.label_keys(request.account),
        "search_error": search_error,
        "is_filtered": _is_filtered(form),
    }
    if is_fragment_request(request):
        return render(request, "contacts/list_contacts.html#contacts_table", context)
    return render(request, "contacts/list_contacts.html", context)


def _is_filtered(form: ContactSearchForm) -> bool:
    return any(form.data.get(name) for name in ("q", "key", "value"))


def _position(text: str) -> int:
    """A page's first row number from a page link; 1 for anything that is not one."""
    return int(text) if text.isdigit() and 0 < len(text) < 10 else 1


def _sort_links(filters: QueryDict, sort: str) -> dict[str, str]:
    """The query string of each column's sort link: a click on the sorted column reverses it."""
    links = {}
    for column in ("phone", "added"):
        query = filters.copy()
        query["sort"] = f"-{column}" if sort == column else column
        links[column] = query.urlencode()
    return links


def _labels_panel(request: AccountRequest, contact: Contact, form: LabelRowsForm | None, **extra):
    """Render the labels panel: chips, or the Edit Labels form when `form` is given."""
    context = {"nav": "lists", "contact": contact, "form": form, **extra}
    if form is not None:
        context["key_suggestions"] = _key_suggestions(request)
    else:
        context["labels"] = list(contact.labels.order_by("key"))
    if request.htmx:
        return render(request, "contacts/contact_detail.html#labels_panel", context)
    if form is None:
        messages.success(request, "Labels saved.")
        return redirect(contact)
    return render(request, "contacts/contact_detail.html", context)


@require_GET
@account_view()
def contact_detail(request: AccountRequest, contact_id: int):
    contact = _get_contact(request, contact_id)
    context = {
        "nav": "lists",
        "contact": contact,
        "labels": list(contact.labels.order_by("key")),
        "form": None,
    }
    return render(request, "contacts/contact_detail.html", context)


@require_http_methods(["GET", "POST"])
@vary_on_headers("HX-Request")
@account_view(Role.EDITOR)
def contact_labels_edit(request: AccountRequest, contact_id: int):
    """GET: the Edit Labels form. POST: save all rows, or show each row's error and save none."""
    contact = _get_contact(request, contact_id)
    if request.method == "GET":
        labels = dict(contact.labels.order_by("key").values_list("key", "value"))
        form = LabelRowsForm.from_labels(labels)
        if not form.rows:
            form.add_row()
        return _labels_panel(request, contact, form)
    form = LabelRowsForm.from_post(request.POST)
    if form.is_valid():
        try:
            services.contact_labels_replace(contact=contact, labels=form.cleaned_labels)
        except ValidationError as error:
            form.errors.extend(error.messages)
        else:
            return _labels_panel(request, contact, None, saved=True)
    return _labels_panel(request, contact, form)


@require_POST
@vary_on_headers("HX-Request")
@account_view(Role.EDITOR)
def contact_labels_rows(request: AccountRequest, contact_id: int):
    """Add or remove a row of the Edit Labels form without saving anything."""
    contact = _get_contact(request, contact_id)
    return _labels_panel(request, contact, _change_rows(request))


def _change_rows(request: AccountRequest) -> LabelRowsForm:
    """The posted label rows, with the row named by `remove` removed or, else, a row added."""
    form = LabelRowsForm.from_post(request.POST)
    if "remove" in request.POST:
        with contextlib.suppress(ValueError):
            form.remove_row(int(request.POST["remove"]))
    else:
        form.add_row()
    return form


@require_POST
@account_view(Role.EDITOR)
def contact_subscription(request: AccountRequest, contact_id: int):
    contact = _get_contact(request, contact_id)
    if request.POST.get("subscribe") == "1":
        services.contact_resubscribe(contact=contact)
        messages.success(request, f"{contact.phone_number} is subscribed again.")
    else:
        services.contact_unsubscribe(contact=contact)
        messages.success(request, f"{contact.phone_number} is unsubscribed.")
    return redirect(contact)


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def contact_erase(request: AccountRequest, contact_id: int):
    contact = _get_contact(request, contact_id)
    if request.method == "POST":
        sending_list = contact.sending_list
        contact.delete()
        messages.success(request, f"{contact.phone_number} and its labels were erased.")
        return redirect(sending_list)
    return render(request, "contacts/contact_erase.html", {"nav": "lists", "contact": contact})


@require_http_methods(["GET", "POST"])
@account_view(Role.EDITOR)
def contact_new(request: AccountRequest, list_id: int):
    """Add one contact to a list, with its labels, from one form."""
    sending_list = _get_list(request, list_id)
    try:
        services.check_list_open(sending_list)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect(sending_list)
    phone = request.POST.get("phone_number", "")
    phone_error = ""
    if request.method == "GET":
        form = LabelRowsForm()
        form.add_row()
    elif "save" not in request.POST:
        form = _change_rows(request)
    else:
        form = LabelRowsForm.from_post(request.POST)
        labels_valid = form.is_valid()
        try:
            normalize_phone(phone, request.account.default_region)
        except ValidationError as error:
            phone_error = error.messages[0]
        if labels_valid and not phone_error:
            try:
                contact = services.contact_create(
                    sending_list=sending_list, phone_number=phone, labels=form.cleaned_labels
                )
            except ValidationError as error:
                phone_error = error.messages[0]
            else:
                messages.success(request, f"{contact.phone_number} added.")
                return redirect(contact)
    context = {
        "nav": "lists",
        "sending_list": sending_list,
        "form": form,
        "phone_number": phone,
        "phone_error": phone_error,
        "key_suggestions": _key_suggestions(request),
    }
    return render(request, "contacts/contact_new.html", context)
