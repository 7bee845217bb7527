from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from trackly.models import Account
from trackly.phones import DEFAULT_REGION

# How the command line names each field, for error messages.
OPTION_NAMES = {"slug": "SLUG", "name": "--name", "default_region": "--region"}


class Command(BaseCommand):
    help = "Create an account (tenant) with a slug, a name and a default phone region."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="Short name used in URLs, e.g. acme.")
        parser.add_argument("--name", required=True, help="Display name, e.g. 'Acme Shoes'.")
        parser.add_argument(
            "--region",
            default=DEFAULT_REGION,
            help=f"Phone region of numbers without a country code (default {DEFAULT_REGION}).",
        )

    def handle(self, *args, slug: str, name: str, region: str, **options) -> None:
        account = Account(
            slug=slug.strip(), name=name.strip(), default_region=region.strip().upper()
        )
        if Account.objects.filter(slug=account.slug).exists():
            raise CommandError(f"An account with the slug '{account.slug}' already exists.")
        try:
            account.full_clean()
        except ValidationError as error:
            problems = [
                f"{OPTION_NAMES.get(field, field)}: {message}"
                for field, messages in error.message_dict.items()
                for message in messages
            ]
            raise CommandError(" ".join(problems)) from None
        try:
            with transaction.atomic():
                account.save()
        except IntegrityError:
            raise CommandError(
                f"An account with the slug '{account.slug}' already exists."
            ) from None
        self.stdout.write(
            f"Created account '{account.name}' ({account.slug}), "
            f"phone region {account.default_region}."
        )
