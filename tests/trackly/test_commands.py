"""The management commands: create_account, create_user and seed_demo."""

import random
from collections import Counter, defaultdict
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Count, Max
from django.test import RequestFactory

from audiences.models import Audience
from contacts.labels import MAX_LABELS_PER_CONTACT, clean_key, clean_value
from contacts.management.commands.seed_demo import (
    DEMO_LISTS,
    EXAMPLE_AUDIENCES,
    demo_labels,
    demo_phone_numbers,
)
from contacts.models import Contact, Label, SendingList
from tests.conftest import PASSWORD
from tests.factories import MembershipFactory, UserFactory
from trackly.models import Account, Membership, Role
from trackly.phones import normalize_phone

LOGIN_LINE = "Demo login: http://127.0.0.1:8000/  e-mail: demo@trackly.test  password: trackly-demo"
# The seed's example audiences, each as the label values a member must have.
SEED_AUDIENCES = {
    "VIP Winback": {"ltv_tier": "vip", "last_purchase_days": "90"},
    "New High Engagers": {"cohort": "2024-Q1", "engagement_level": "high", "buyer_status": "never"},
    "Promo Candidates": {"promo_responsive": "true", "buyer_status": "once"},
}


def log_in(username: str, password: str):
    """The user these credentials log in, as the login page would (the lockout needs a request)."""
    return authenticate(RequestFactory().post("/login/"), username=username, password=password)


def run(command: str, /, *args, **options) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, **options)
    return out.getvalue()


# create_account


def test_create_account(db):
    output = run("create_account", "acme", name="Acme Shoes")
    account = Account.objects.get(slug="acme")
    assert (account.name, account.default_region) == ("Acme Shoes", "US")
    assert output == "Created account 'Acme Shoes' (acme), phone region US.\n"


def test_create_account_with_a_region(db):
    run("create_account", "londoners", "--name", "Londoners", "--region", "gb")
    assert Account.objects.get(slug="londoners").default_region == "GB"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["acme", "--name", "Again"], "An account with the slug 'acme' already exists."),
        (["new", "--name", "New", "--region", "XX"], "--region: 'XX' is not a known phone region."),
        (
            ["Bad slug", "--name", "New"],
            "SLUG: Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.",
        ),
        (["new", "--name", "  "], "--name: This field cannot be blank."),
        (["new"], "Error: the following arguments are required: --name"),
    ],
)
def test_create_account_refuses(account, args, message):
    with pytest.raises(CommandError) as error:
        run("create_account", *args)
    assert str(error.value) == message
    assert list(Account.objects.values_list("slug", flat=True)) == ["acme"]


# create_user


def test_create_user_creates_a_member(account):
    output = run(
        "create_user", "new@acme.test", "--account", "acme", "--role", "editor",
        "--password", PASSWORD,
    )  # fmt: skip
    user = get_user_model().objects.get(username="new@acme.test")
    assert user.email == "new@acme.test"
    assert log_in("new@acme.test", PASSWORD) == user
    assert Membership.objects.get(user=user).role == Role.EDITOR
    assert (
        output == "Created user new@acme.test.\nnew@acme.test is editor of 'Acme Shoes' (acme).\n"
    )


def test_create_user_reuses_an_existing_user(account, outsider_user):
    output = run("create_user", "outsider@globex.test", account="acme", role="viewer")
    assert outsider_user.memberships.get(account=account).role == Role.VIEWER
    assert outsider_user.memberships.count() == 2
    assert get_user_model().objects.filter(email="outsider@globex.test").count() == 1
    # Without --password the existing password stays.
    assert log_in("outsider@globex.test", PASSWORD) == outsider_user
    assert output == "outsider@globex.test is viewer of 'Acme Shoes' (acme).\n"


def test_create_user_changes_a_role_and_a_password(account, admin_user, editor_user):
    output = run(
        "create_user", "editor@acme.test", account="acme", role="admin", password="new-pass-9876"
    )
    assert editor_user.memberships.get(account=account).role == Role.ADMIN
    assert log_in("editor@acme.test", "new-pass-9876") == editor_user
    assert output == (
        "Changed the password of editor@acme.test.\n"
        "editor@acme.test is admin of 'Acme Shoes' (acme).\n"
    )


def test_create_user_finds_an_existing_user_whatever_the_case(account, editor_user):
    output = run("create_user", "Editor@ACME.test", account="acme", role="viewer")
    assert editor_user.memberships.get(account=account).role == Role.VIEWER
    assert output == "editor@acme.test is viewer of 'Acme Shoes' (acme).\n"


@pytest.mark.parametrize(
    ("email", "options", "message"),
    [
        ("new@acme.test", {"account": "nope"}, "No account has the slug 'nope'."),
        (
            "new@acme.test",
            {"role": "owner"},
            "Unknown role 'owner'; choose admin, editor or viewer.",
        ),
        ("not-an-email", {}, "'not-an-email' is not a valid e-mail address."),
        ("new@acme.test", {"password": None}, "A new user needs a password: give --password."),
        (
            "new@acme.test",
            {"password": "short"},
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            "admin@acme.test",
            {"role": "viewer"},
            "An account needs at least one admin.",
        ),
    ],
)
def test_create_user_refuses(account, admin_user, email, options, message):
    options = {"account": "acme", "role": "editor", "password": PASSWORD} | options
    users_before = get_user_model().objects.count()
    with pytest.raises(CommandError) as error:
        run("create_user", email, **{key: value for key, value in options.items() if value})
    assert str(error.value) == message
    assert get_user_model().objects.count() == users_before
    assert list(Membership.objects.values_list("user__email", "role")) == [
        ("admin@acme.test", "admin")
    ]


def test_create_user_may_demote_an_admin_when_another_remains(account, admin_user):
    MembershipFactory(account=account, role=Role.ADMIN, user=UserFactory(email="boss@acme.test"))
    run("create_user", "admin@acme.test", account="acme", role="editor")
    assert admin_user.memberships.get(account=account).role == Role.EDITOR


# seed_demo (each run loads 3,500 contacts, so the checks share as few runs as they can)


@pytest.fixture
def seeded(db, django_assert_max_num_queries, settings) -> str:
    # As `make run` runs it: in development, where the public demo password is allowed.
    settings.DEBUG = True
    # Set-based: a few statements per batch of contacts, never one per contact.
    with django_assert_max_num_queries(40):
        return run("seed_demo")


def labels_by_contact() -> dict[int, dict[str, str]]:
    labels: dict[int, dict[str, str]] = defaultdict(dict)
    for contact_id, key, value in Label.objects.values_list("contact_id", "key", "value"):
        labels[contact_id][key] = value
    return labels


def test_seed_demo_creates_the_demo_data(seeded):
    account = Account.objects.get(slug="demo")
    assert account.name == "Demo Store"
    user = log_in("demo@trackly.test", "trackly-demo")
    assert user is not None
    assert (user.is_staff, user.is_superuser) == (True, True)
    assert Membership.objects.get(user=user).role == Role.ADMIN
    lists = SendingList.objects.filter(account=account).annotate(contacts_total=Count("contacts"))
    assert sorted((lst.name, lst.phone_number, lst.contacts_total) for lst in lists) == [
        ("Main", "+14155550100", 3000),
        ("VIP line", "+14155550199", 500),
    ]
    assert seeded == (
        "Created the demo account 'Demo Store' with 2 sending lists, 3,500 contacts, "
        f"{Label.objects.count():,} labels and 3 example audiences.\n{LOGIN_LINE}\n"
    )

    contacts = list(Contact.objects.values_list("id", "phone_number", "account_id"))
    assert len(contacts) >= 3000
    assert {account_id for _, _, account_id in contacts} == {account.pk}
    assert all(normalize_phone(phone) == phone for _, phone, _ in contacts)
    most = Contact.objects.annotate(n=Count("labels")).aggregate(most=Max("n"))["most"]
    assert most <= MAX_LABELS_PER_CONTACT
    unsubscribed = Contact.objects.filter(status="unsubscribed").count()
    assert 0 < unsubscribed < len(contacts) / 10
    # The same number on both lists is two contacts.
    shared = Contact.objects.values("phone_number").annotate(n=Count("id")).filter(n=2)
    assert shared.count() > 0

    labels = labels_by_contact()
    assert len(labels) == len(contacts)
    for contact_labels in labels.values():
        for key, value in contact_labels.items():
            assert (clean_key(key), clean_value(value)) == (key, value)
        if contact_labels["buyer_status"] == "never":
            assert "last_purchase_days" not in contact_labels
        else:
            assert contact_labels["last_purchase_days"] in {"7", "30", "90", "180"}
    keys = Counter(key for contact_labels in labels.values() for key in contact_labels)
    assert set(keys) == {
        "source", "campaign", "cohort", "buyer_status", "last_purchase_days",
        "engagement_level", "ltv_tier", "aov_bucket", "category_interest", "promo_responsive",
        "churned", "vip",
    }  # fmt: skip
    assert 0 < keys["churned"] < len(contacts) / 10
    assert 0 < keys["vip"] < len(contacts) / 10
    sources = Counter(contact_labels["source"] for contact_labels in labels.values())
    assert set(sources) == {"facebook", "google", "organic", "email", "referral"}
    assert sources.most_common(1)[0][0] == "facebook"
    assert sources["facebook"] > 3 * sources["referral"]

    # The seed's example audiences have subscribed members on each list.
    subscribed = Contact.objects.filter(status="subscribed").values_list("id", "sending_list__name")
    for name, wanted in SEED_AUDIENCES.items():
        members = Counter(
            list_name
            for contact_id, list_name in subscribed
            if wanted.items() <= labels[contact_id].items()
        )
        assert members["Main"] >= 1, name
        assert members["VIP line"] >= 1, name

    # They are saved as audiences, in canonical text, and the database agrees they have members.
    saved = {audience.name: audience for audience in Audience.objects.filter(account=account)}
    assert {name: audience.conditions for name, audience in saved.items()} == {
        "VIP Winback": "label:ltv_tier = vip AND label:last_purchase_days = 90",
        "New High Engagers": "label:cohort = 2024-Q1 AND label:engagement_level = high"
        " AND label:buyer_status = never",
        "Promo Candidates": "label:promo_responsive = true AND label:buyer_status = once",
    }
    for name, audience in saved.items():
        expected = sum(
            1
            for contact_id, _ in subscribed
            if SEED_AUDIENCES[name].items() <= labels[contact_id].items()
        )
        assert audience.count_members() == expected >= 6


def test_seed_demo_keeps_the_seeds_example_audiences():
    assert {audience.name: audience.conditions for audience in EXAMPLE_AUDIENCES} == {
        "VIP Winback": "ltv_tier=vip AND last_purchase_days=90",
        "New High Engagers": "cohort=2024-Q1 AND engagement_level=high AND buyer_status=never",
        "Promo Candidates": "promo_responsive=true AND buyer_status=once",
    }
    for audience in EXAMPLE_AUDIENCES:
        assert SEED_AUDIENCES[audience.name].items() <= audience.member_labels.items()


def test_seed_demo_twice_changes_nothing(seeded):
    counts = (Account.objects.count(), Contact.objects.count(), Label.objects.count())
    user = get_user_model().objects.get(username="demo@trackly.test")
    output = run("seed_demo")
    assert (Account.objects.count(), Contact.objects.count(), Label.objects.count()) == counts
    assert get_user_model().objects.get(username="demo@trackly.test").password == user.password
    assert output == f"The demo account already exists; nothing was changed.\n{LOGIN_LINE}\n"


def test_seed_demo_draws_the_same_data_every_time():
    def draw():
        rng = random.Random(2024)
        phones = demo_phone_numbers(rng, 50, set())
        labels = [demo_labels(rng, DEMO_LISTS[0].buyer_weights, {}) for _ in range(50)]
        return phones, labels

    assert draw() == draw()


def test_seed_demo_refuses_the_public_password_when_debug_is_off(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError) as error:
        run("seed_demo")
    assert str(error.value) == (
        "DEBUG is off, and the demo login is a superuser whose password 'trackly-demo' is "
        "public: give it a password of your own with --password, or run with DEBUG=true for "
        "local development."
    )
    assert not Account.objects.exists()
    assert not get_user_model().objects.exists()


def test_seed_demo_refuses_a_weak_password(db, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError) as error:
        run("seed_demo", "--password", "demo")
    assert str(error.value) == (
        "The password is too similar to the username. This password is too short. It must "
        "contain at least 8 characters. This password is too common."
    )
    assert not Account.objects.exists()


def test_seed_demo_with_a_password_uses_it_when_debug_is_off(db, settings):
    settings.DEBUG = False
    output = run("seed_demo", "--password", "a-private-demo-pass")
    assert output.splitlines()[-1] == (
        "Demo login: http://127.0.0.1:8000/  e-mail: demo@trackly.test  "
        "password: the one given with --password"
    )
    assert log_in("demo@trackly.test", "a-private-demo-pass").is_superuser
    assert log_in("demo@trackly.test", "trackly-demo") is None
    again = run("seed_demo", "--password", "another-private-pass")
    assert again == (
        "The demo account already exists; nothing was changed.\n"
        "Demo login: http://127.0.0.1:8000/  e-mail: demo@trackly.test  password: unchanged\n"
    )


def test_seed_demo_prints_the_address_it_is_given(seeded):
    output = run("seed_demo", "--url", "http://127.0.0.1:8101/")
    assert output == (
        "The demo account already exists; nothing was changed.\n"
        "Demo login: http://127.0.0.1:8101/  e-mail: demo@trackly.test  password: trackly-demo\n"
    )
