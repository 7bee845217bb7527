"""Is this contact in that audience, and why: from a contact's page (pick an audience) and from
an audience's page (type a phone number)."""

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from audiences import explain
from audiences.models import Audience
from contacts.forms import id_of
from contacts.models import Contact
from trackly.tenancy import AccountRequest, account_view


@require_GET
@vary_on_headers("HX-Request")
@account_view()
def contact_explain(request: AccountRequest, contact_id: int):
    """The audience picker for a contact and, once one is picked (`?audience=`), the tree."""
    contact = get_object_or_404(
        Contact.objects.for_account(request.account).select_related("sending_list"), pk=contact_id
    )
    audiences = Audience.objects.for_account(request.account).prefetch_related("sending_lists")
    chosen = None
    explanation = None
    audience_id = id_of(request.GET.get("audience", ""))
    if audience_id is not None:
        chosen = get_object_or_404(audiences, pk=audience_id)
        explanation = explain.explain_contact(chosen, contact)
    context = {
        "nav": "lists",
        "contact": contact,
        "audiences": audiences.filter(status=Audience.Status.ACTIVE),
        "chosen": chosen,
        "explanation": explanation,
    }
    if request.htmx:
        return render(request, "audiences/contact_explain.html#explain_panel", context)
    return render(request, "audiences/contact_explain.html", context)


@require_GET
@vary_on_headers("HX-Request")
@account_view()
def audience_explain(request: AccountRequest, audience_id: int):
    """Why the contacts with a phone number (`?phone=`) are or are not in the audience."""
    audience = get_object_or_404(
        Audience.objects.for_account(request.account).prefetch_related("sending_lists"),
        pk=audience_id,
    )
    phone = request.GET.get("phone", "").strip()
    found = None
    phone_error = ""
    if phone:
        try:
            found = explain.explain_phone(audience, phone)
        except ValidationError as error:
            phone_error = error.messages[0]
    context = {
        "nav": "audiences",
        "audience": audience,
        "phone": phone,
        "phone_error": phone_error,
        "found": found,
    }
    if request.htmx:
        return render(request, "audiences/audience_explain.html#phone_panel", context)
    return render(request, "audiences/audience_explain.html", context)
