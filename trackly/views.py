from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from trackly import services
from trackly.confirm import confirmation
from trackly.forms import AccountSettingsForm, MemberAddForm, MemberRoleForm
from trackly.jobs import fail_stale_jobs, worker_warning
from trackly.models import Job, Membership, Role
from trackly.paging import keyset_page
from trackly.tenancy import AccountRequest, account_view

JOBS_PER_PAGE = 100


@require_GET
def home(request: HttpRequest):
    """Open the first of the user's accounts, or say that there is none yet."""
    membership = Membership.objects.for_user(request.user).first()
    if membership is None:
        return render(request, "trackly/no_account.html")
    return redirect("audiences:overview", membership.account.slug)


def _settings_page(request: AccountRequest, **forms):
    context = {
        "nav": "settings",
        "settings_form": forms.get("settings_form")
        or AccountSettingsForm(instance=request.account),
        "add_form": forms.get("add_form") or MemberAddForm(account=request.account),
        "members": Membership.objects.filter(account=request.account)
        .select_related("user")
        .order_by("user__username"),
        "roles": Role.choices,
        "new_password": forms.get("new_password"),
        "new_member": forms.get("new_member"),
        "reset_password": forms.get("reset_password"),
        "reset_member": forms.get("reset_member"),
    }
    return render(request, "trackly/settings.html", context)


@require_http_methods(["GET", "POST"])
@account_view(Role.ADMIN)
def account_settings(request: AccountRequest):
    """The account's name and phone region, and its members."""
    if request.method == "POST":
        form = AccountSettingsForm(request.POST, instance=request.account)
        if form.is_valid():
            form.save()
            messages.success(request, "Account settings saved.")
            return redirect("settings", request.account.slug)
        return _settings_page(request, settings_form=form)
    return _settings_page(request)


@require_POST
@account_view(Role.ADMIN)
def member_add(request: AccountRequest):
    form = MemberAddForm(request.POST, account=request.account)
    if not form.is_valid():
        return _settings_page(request, add_form=form)
    membership, password = services.member_add(
        account=request.account, email=form.cleaned_data["email"], role=form.cleaned_data["role"]
    )
    if password is None:
        messages.success(request, f"{membership.user.username} added.")
        return redirect("settings", request.account.slug)
    # The one-time password is shown on this response only, never stored in clear.
    return _settings_page(request, new_password=password, new_member=membership.user.username)


def _get_member(request: AccountRequest, membership_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.filter(account=request.account).select_related("user", "account"),
        pk=membership_id,
    )


@require_POST
@account_view(Role.ADMIN)
def member_role(request: AccountRequest, membership_id: int):
    membership = _get_member(request, membership_id)
    form = MemberRoleForm(request.POST)
    if form.is_valid():
        try:
            services.member_set_role(membership=membership, role=Role(form.cleaned_data["role"]))
        except ValidationError as error:
            messages.error(request, error.messages[0])
        else:
            messages.success(request, f"{membership.user.username} is now {membership.role}.")
    return redirect("settings", request.account.slug)


@require_POST
@account_view(Role.ADMIN)
def member_remove(request: AccountRequest, membership_id: int):
    membership = _get_member(request, membership_id)
    yourself = membership.user_id == request.user.pk
    who = "yourself" if yourself else membership.user.username
    confirm = confirmation(
        request,
        title=f"Remove {who} from {request.account.name}?",
        question=(
            "You lose access to this account at once."
            if yourself
            else f"{membership.user.username} loses access to this account at once; "
            "their user stays, and an admin can add them again."
        ),
        button="Remove member",
        cancel_url=reverse("settings", args=[request.account.slug]),
        nav="settings",
    )
    if confirm is not None:
        return confirm
    try:
        services.member_remove(membership=membership)
    except ValidationError as error:
        messages.error(request, error.messages[0])
    else:
        messages.success(request, f"{membership.user.username} removed from the account.")
    if membership.user_id == request.user.pk and membership.pk is None:
        return redirect("home")
    return redirect("settings", request.account.slug)


@require_POST
@account_view(Role.ADMIN)
def member_password_reset(request: AccountRequest, membership_id: int):
    """Issue a member a one-time password (shown once) that they must change at their next
    log-in: the way back in after a forgotten password, with no e-mail server."""
    membership = _get_member(request, membership_id)
    username = membership.user.username
    confirm = confirmation(
        request,
        title=f"Reset the password of {username}?",
        question=(
            f"{username}'s password stops working and they are logged out everywhere. You get "
            "a one-time password to pass on; they must choose a new password when they log in "
            "with it."
        ),
        button="Reset password",
        cancel_url=reverse("settings", args=[request.account.slug]),
        nav="settings",
    )
    if confirm is not None:
        return confirm
    try:
        password = services.member_reset_password(membership=membership)
    except ValidationError as error:
        messages.error(request, error.messages[0])
        return redirect("settings", request.account.slug)
    # Shown on this response only, never stored in clear.
    return _settings_page(request, reset_password=password, reset_member=username)


def _get_job(request: AccountRequest, job_id: int) -> Job:
    return get_object_or_404(Job.objects.for_account(request.account), pk=job_id)


@require_GET
@account_view()
def jobs(request: AccountRequest):
    """The account's jobs, newest first."""
    fail_stale_jobs()
    # Results are not shown here, and an import's can be large.
    jobs = (
        Job.objects.for_account(request.account)
        .select_related("created_by", "label_change")
        .defer("result")
    )
    page = keyset_page(
        jobs, ("-created_at", "-id"), per_page=JOBS_PER_PAGE, params=request.GET, kept=()
    )
    context = {"nav": "jobs", "jobs": page.rows, "page": page, "worker_warning": worker_warning()}
    return render(request, "trackly/jobs.html", context)


@require_GET
@vary_on_headers("HX-Request")
@account_view()
def job_detail(request: AccountRequest, job_id: int):
    """A job's progress and result; as an htmx fragment, it polls until the job ends."""
    fail_stale_jobs()
    job = get_object_or_404(
        Job.objects.for_account(request.account).select_related(
            "created_by", "label_change__audience"
        ),
        pk=job_id,
    )
    change = getattr(job, "label_change", None)
    context = {"nav": "jobs", "job": job, "change": change, "worker_warning": worker_warning(job)}
    if request.htmx:
        return render(request, "trackly/_job_progress.html", context)
    return render(request, "trackly/job_detail.html", context)
