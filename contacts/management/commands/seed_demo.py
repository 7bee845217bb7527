import random
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from audiences.conditions import parse, to_text
from audiences.models import Audience
from contacts import services
from contacts.labels import clean_labels
from contacts.models import Contact, Label, SendingList
from trackly.models import Account, Membership, Role
from trackly.phones import normalize_phone

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Store"
DEMO_EMAIL = "demo@trackly.test"
DEMO_PASSWORD = "trackly-demo"
LOGIN_LINE = "Demo login: {url}  e-mail: {email}  password: {password}"
DEFAULT_URL = "http://127.0.0.1:8000/"
PUBLIC_PASSWORD_REFUSED = (
    f"DEBUG is off, and the demo login is a superuser whose password '{DEMO_PASSWORD}' is "
    "public: give it a password of your own with --password, or run with DEBUG=true for "
    "local development."
)
RANDOM_SEED = 2024
BATCH_SIZE = 1000

type Weights = dict[str, int]


@dataclass(frozen=True)
class DemoList:
    name: str
    phone_number: str
    contacts: int
    # How the list's contacts split into never / once / repeat buyers.
    buyer_weights: Weights
    # How many of its numbers are also on the lists before it (the same person on two lists).
    shared_numbers: int = 0


DEMO_LISTS = [
    DemoList("Main", "+14155550100", 3000, {"never": 45, "once": 35, "repeat": 20}),
    DemoList(
        "VIP line",
        "+14155550199",
        500,
        {"never": 10, "once": 30, "repeat": 60},
        shared_numbers=300,
    ),
]


@dataclass(frozen=True)
class ExampleAudience:
    """One of the seed's example audiences, with labels that make a contact one of its members."""

    name: str
    conditions: str
    member_labels: dict[str, str] = field(default_factory=dict)


EXAMPLE_AUDIENCES = [
    ExampleAudience(
        "VIP Winback",
        "ltv_tier=vip AND last_purchase_days=90",
        {"ltv_tier": "vip", "last_purchase_days": "90", "buyer_status": "repeat"},
    ),
    ExampleAudience(
        "New High Engagers",
        "cohort=2024-Q1 AND engagement_level=high AND buyer_status=never",
        {"cohort": "2024-Q1", "engagement_level": "high", "buyer_status": "never"},
    ),
    ExampleAudience(
        "Promo Candidates",
        "promo_responsive=true AND buyer_status=once",
        {"promo_responsive": "true", "buyer_status": "once"},
    ),
]
# Each list starts with this many guaranteed members of each example audience.
MEMBERS_PER_EXAMPLE_AUDIENCE = 3

SOURCES = {"facebook": 40, "google": 25, "organic": 15, "email": 12, "referral": 8}
CAMPAIGNS = {
    "facebook": {"summer2024": 5, "black_friday": 4, "launch": 2},
    "google": {"brand_search": 5, "black_friday": 3, "summer2024": 2},
    "email": {"newsletter": 6, "black_friday": 3, "winback": 1},
    "referral": {"refer_a_friend": 1},
}
COHORTS = {"2024-Q1": 20, "2024-Q2": 25, "2024-Q3": 30, "2024-Q4": 25}
LAST_PURCHASE_DAYS = {
    "once": {"7": 10, "30": 20, "90": 35, "180": 35},
    "repeat": {"7": 35, "30": 35, "90": 20, "180": 10},
}
ENGAGEMENT = {
    "never": {"high": 15, "medium": 40, "low": 45},
    "once": {"high": 20, "medium": 50, "low": 30},
    "repeat": {"high": 45, "medium": 40, "low": 15},
}
LTV_TIERS = {
    "never": {"new": 1},
    "once": {"standard": 75, "new": 20, "vip": 5},
    "repeat": {"standard": 60, "vip": 40},
}
AOV_BUCKETS = {
    "vip": {"low": 10, "medium": 40, "high": 50},
    "standard": {"low": 45, "medium": 40, "high": 15},
    "new": {"low": 60, "medium": 30, "high": 10},
}
CATEGORIES = {"fashion": 42, "electronics": 33, "home": 25}
PROMO_RESPONSIVE = {"true": 40, "false": 60}
AREA_CODES = ["415", "212", "310"]


def _pick(rng: random.Random, weights: Weights) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def demo_labels(
    rng: random.Random, buyer_weights: Weights, fixed: dict[str, str]
) -> dict[str, str]:
    """Draw one contact's labels after the seed's e-commerce strategy; `fixed` labels win."""
    labels: dict[str, str] = {}

    def draw(key: str, weights: Weights) -> str:
        labels[key] = fixed[key] if key in fixed else _pick(rng, weights)
        return labels[key]

    source = draw("source", SOURCES)
    if source in CAMPAIGNS:
        draw("campaign", CAMPAIGNS[source])
    draw("cohort", COHORTS)
    buyer = draw("buyer_status", buyer_weights)
    last_purchase = (
        draw("last_purchase_days", LAST_PURCHASE_DAYS[buyer]) if buyer != "never" else ""
    )
    engagement = draw("engagement_level", ENGAGEMENT[buyer])
    tier = draw("ltv_tier", LTV_TIERS[buyer])
    if buyer != "never":
        draw("aov_bucket", AOV_BUCKETS[tier])
    draw("category_interest", CATEGORIES)
    draw("promo_responsive", PROMO_RESPONSIVE)
    if tier == "vip" and rng.random() < 0.6:
        labels["vip"] = "true"
    lapsed = last_purchase == "180" and engagement == "low"
    if rng.random() < (0.5 if lapsed else 0.005):
        labels["churned"] = "true"
    return labels


def demo_phone_numbers(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """`count` valid US numbers not in `taken`, each read by the one phone normaliser."""
    numbers: list[str] = []
    while len(numbers) < count:
        exchange = rng.randint(200, 999)
        # N11 exchanges are service codes and 555 is reserved (555-01xx is fictional).
        if exchange % 100 == 11 or exchange == 555:
            continue
        raw = f"({rng.choice(AREA_CODES)}) {exchange}-{rng.randint(0, 9999):04d}"
        phone = normalize_phone(raw, "US")
        if phone not in taken:
            taken.add(phone)
            numbers.append(phone)
    return numbers


class Command(BaseCommand):
    help = (
        f"Create the demo account '{DEMO_NAME}' ({DEMO_SLUG}): two sending lists and "
        f"{sum(demo.contacts for demo in DEMO_LISTS):,} contacts labelled after an e-commerce "
        "strategy, with members for each of the seed's example audiences. Its login "
        f"({DEMO_EMAIL}) is an account admin and also a superuser, so it opens /admin/ too; "
        "demo use only. Does nothing when the demo account exists. Prints the login. Outside "
        f"development (DEBUG off) it needs --password instead of the public '{DEMO_PASSWORD}'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--password",
            help=f"The demo login's password; required when DEBUG is off (else {DEMO_PASSWORD}).",
        )
        parser.add_argument(
            "--url",
            default=DEFAULT_URL,
            help=f"Where the dashboard is served, for the login line (default {DEFAULT_URL}).",
        )

    def handle(self, *args, password: str | None, url: str, **options) -> None:
        if not password and not settings.DEBUG:
            raise CommandError(PUBLIC_PASSWORD_REFUSED)
        if password:
            try:
                validate_password(password, get_user_model()(username=DEMO_EMAIL, email=DEMO_EMAIL))
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
        # The password is not echoed when given: it is not public.
        shown = "the one given with --password" if password else DEMO_PASSWORD
        if Account.objects.filter(slug=DEMO_SLUG).exists():
            self.stdout.write("The demo account already exists; nothing was changed.")
            shown = "unchanged" if password else shown
        else:
            contacts, labels = self.seed(password or DEMO_PASSWORD)
            self.stdout.write(
                f"Created the demo account '{DEMO_NAME}' with {len(DEMO_LISTS)} sending lists, "
                f"{contacts:,} contacts, {labels:,} labels and "
                f"{len(EXAMPLE_AUDIENCES)} example audiences."
            )
        self.stdout.write(LOGIN_LINE.format(url=url, email=DEMO_EMAIL, password=shown))

    def seed(self, password: str) -> tuple[int, int]:
        rng = random.Random(RANDOM_SEED)
        with transaction.atomic():
            account = Account.objects.create(slug=DEMO_SLUG, name=DEMO_NAME)
            user = self.demo_user(password)
            Membership.objects.create(user=user, account=account, role=Role.ADMIN)
            contacts = labels = 0
            numbers_so_far: list[str] = []
            taken = {demo.phone_number for demo in DEMO_LISTS}
            for demo in DEMO_LISTS:
                sending_list = services.sending_list_create(
                    account=account, name=demo.name, phone_number=demo.phone_number
                )
                shared = rng.sample(numbers_so_far, demo.shared_numbers)
                numbers = shared + demo_phone_numbers(rng, demo.contacts - len(shared), taken)
                rng.shuffle(numbers)
                numbers_so_far += numbers
                added = self.add_contacts(rng, sending_list, demo, numbers)
                contacts += demo.contacts
                labels += added
            for example in EXAMPLE_AUDIENCES:
                Audience.objects.create(
                    account=account,
                    name=example.name,
                    conditions=to_text(parse(example.conditions)),
                    created_by=user,
                )
        self.analyze()
        return contacts, labels

    def demo_user(self, password: str):
        User = get_user_model()
        user = User.objects.filter(username=DEMO_EMAIL).first() or User(username=DEMO_EMAIL)
        user.email = DEMO_EMAIL
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        return user

    def add_contacts(
        self, rng: random.Random, sending_list: SendingList, demo: DemoList, numbers: list[str]
    ) -> int:
        """Insert the list's contacts and their labels in batches; return the label count."""
        now = timezone.now()
        guaranteed = [
            audience.member_labels
            for audience in EXAMPLE_AUDIENCES
            for _ in range(MEMBERS_PER_EXAMPLE_AUDIENCE)
        ]
        contacts, label_sets = [], []
        for index, phone in enumerate(numbers):
            fixed = guaranteed[index] if index < len(guaranteed) else {}
            labels = clean_labels(demo_labels(rng, demo.buyer_weights, fixed))
            churned = "churned" in labels
            unsubscribed = not fixed and rng.random() < (0.25 if churned else 0.02)
            contacts.append(
                Contact(
                    account_id=sending_list.account_id,
                    sending_list=sending_list,
                    phone_number=phone,
                    status=Contact.Status.UNSUBSCRIBED
                    if unsubscribed
                    else Contact.Status.SUBSCRIBED,
                    unsubscribed_at=now - timedelta(days=rng.randint(1, 200))
                    if unsubscribed
                    else None,
                )
            )
            label_sets.append(labels)
        Contact.objects.bulk_create(contacts, batch_size=BATCH_SIZE)
        rows = [
            Label(account_id=contact.account_id, contact_id=contact.pk, key=key, value=value)
            for contact, labels in zip(contacts, label_sets, strict=True)
            for key, value in labels.items()
        ]
        Label.objects.bulk_create(rows, batch_size=BATCH_SIZE * 5)
        return len(rows)

    def analyze(self) -> None:
        # Fresh statistics, so that the planner uses the label index from the first query on.
        with connection.cursor() as cursor:
            for model in (Contact, Label):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
