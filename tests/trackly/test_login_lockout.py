"""Login throttling: wrong passwords lock the user name and the address out for a while."""

from datetime import datetime, timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.api.conftest import ApiClient
from tests.conftest import PASSWORD
from trackly.api_keys import api_key_create

LOGIN = "/login/"
ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"


def log_in(username: str, password: str, address: str = ATTACKER):
    return Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password})


def fail(username: str, times: int, address: str = ATTACKER):
    """Send `times` wrong passwords for `username` from `address`; return the last response."""
    for _ in range(times):
        response = log_in(username, "wrong password", address)
    return response


def lockout_message(started_at: datetime | None = None, minutes: int = 15) -> str:
    """The lockout page's message for a lockout that started with the failure at `started_at`
    (by default the newest failure recorded); it ends 15 minutes later."""
    if started_at is None:
        started_at = max(AccessAttempt.objects.values_list("attempt_time", flat=True))
    retry_at = started_at + timedelta(minutes=15)
    return (
        "Too many failed log-in attempts for this user name or from this address. "
        f"Try again in {minutes} minutes (at {retry_at:%H:%M} UTC)."
    )


def assert_locked_out(response, started_at: datetime | None = None) -> None:
    assert response.status_code == 429
    assert response.context["lockout_message"] == lockout_message(started_at)
    assert lockout_message(started_at) in response.content.decode()
    assert "registration/login.html" in [template.name for template in response.templates]
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def assert_logged_in(response) -> None:
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_a_few_wrong_passwords_still_let_the_right_one_in(editor_user):
    response = fail(editor_user.username, 4)
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Please enter a correct username and password. Note that both fields may be case-sensitive."
    ]
    assert_logged_in(log_in(editor_user.username, PASSWORD))


def test_the_fifth_wrong_password_locks_the_user_out(editor_user):
    assert_locked_out(fail(editor_user.username, 5))


def test_the_right_password_is_refused_while_locked_out(editor_user):
    fail(editor_user.username, 5)
    response = log_in(editor_user.username, PASSWORD)
    assert_locked_out(response)
    assert "_auth_user_id" not in response.client.session


def test_the_lockout_keeps_the_user_name_typed(editor_user):
    response = fail(editor_user.username, 5)
    assert response.context["form"]["username"].value() == editor_user.username


def test_a_locked_user_name_is_locked_from_every_address(editor_user):
    fail(editor_user.username, 5)
    assert_locked_out(log_in(editor_user.username, PASSWORD, ELSEWHERE))


def test_a_locked_address_refuses_every_user_name(editor_user, viewer_user):
    # One wrong password for each of five user names: password spraying from one address.
    for username in ["a@acme.test", "b@acme.test", "c@acme.test", "d@acme.test"]:
        fail(username, 1)
    response = fail(editor_user.username, 1)
    # The address is locked until its oldest of the five failures is 15 minutes old.
    first = min(AccessAttempt.objects.values_list("attempt_time", flat=True))
    assert_locked_out(response, first)
    assert_locked_out(log_in(viewer_user.username, PASSWORD), first)


def test_the_lockout_ends_when_the_failures_that_reached_the_limit_expire(editor_user):
    for username in ["a@acme.test", "b@acme.test", "c@acme.test", "d@acme.test"]:
        fail(username, 1)
    first = timezone.now() - timedelta(minutes=5, seconds=30)
    AccessAttempt.objects.update(attempt_time=first)
    response = fail(editor_user.username, 1)
    assert response.status_code == 429
    assert response.context["lockout_message"] == lockout_message(first, minutes=10)
    assert 9 * 60 < int(response["Retry-After"]) <= 10 * 60


def test_other_users_at_other_addresses_are_unaffected(editor_user, viewer_user):
    fail(editor_user.username, 5)
    assert_logged_in(log_in(viewer_user.username, PASSWORD, ELSEWHERE))


def test_the_lockout_ends_after_fifteen_minutes(editor_user):
    fail(editor_user.username, 5)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=15, seconds=1)
    )
    assert_logged_in(log_in(editor_user.username, PASSWORD))


def test_wrong_passwords_during_the_lockout_do_not_extend_it(editor_user):
    fail(editor_user.username, 5)
    first = AccessAttempt.objects.get()
    response = fail(editor_user.username, 3)
    assert_locked_out(response)
    assert AccessAttempt.objects.get().attempt_time == first.attempt_time
    assert AccessAttempt.objects.get().failures_since_start == 5


def test_the_admin_login_is_locked_out_too(editor_user):
    fail(editor_user.username, 5)
    response = Client(REMOTE_ADDR=ATTACKER).post(
        "/admin/login/", {"username": editor_user.username, "password": PASSWORD}
    )
    assert_locked_out(response)


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_axes_reset_username_unlocks_the_user_name(editor_user):
    fail(editor_user.username, 5)
    assert run("axes_reset_username", editor_user.username) == "1 attempts removed.\n"
    assert_logged_in(log_in(editor_user.username, PASSWORD, ELSEWHERE))


def test_axes_reset_ip_unlocks_the_address(editor_user, viewer_user):
    fail("nobody@acme.test", 5)
    assert run("axes_reset_ip", ATTACKER) == "1 attempts removed.\n"
    assert_logged_in(log_in(viewer_user.username, PASSWORD))


def test_axes_reset_unlocks_everything(editor_user):
    fail(editor_user.username, 5)
    fail("nobody@acme.test", 5, ELSEWHERE)
    assert run("axes_reset") == "2 attempts removed.\n"
    assert_logged_in(log_in(editor_user.username, PASSWORD))


@pytest.mark.parametrize("behind_proxy", [False, True])
def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(
    editor_user, viewer_user, settings, behind_proxy
):
    if behind_proxy:
        settings.AXES_CLIENT_IP_CALLABLE = "trackly.lockout.client_ip_behind_proxy"
    # Every request arrives from the proxy; the proxy appends the address it saw.
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(5):
        Client(**proxy).post(
            LOGIN,
            {"username": editor_user.username, "password": "wrong"},
            headers={"X-Forwarded-For": f"192.0.2.1, {ATTACKER}"},
        )
    response = Client(**proxy).post(
        LOGIN,
        {"username": viewer_user.username, "password": PASSWORD},
        headers={"X-Forwarded-For": ELSEWHERE},
    )
    if behind_proxy:
        assert_logged_in(response)
        assert AccessAttempt.objects.get().ip_address == ATTACKER
    else:
        assert_locked_out(response)


def test_force_login_and_api_keys_still_work_from_a_locked_address(editor_user, account):
    fail(editor_user.username, 5, "127.0.0.1")
    client = Client()
    client.force_login(editor_user)
    assert client.get("/a/acme/jobs/").status_code == 200
    _, key = api_key_create(account=account, name="CI")
    assert ApiClient(key).get("lists").status_code == 200
