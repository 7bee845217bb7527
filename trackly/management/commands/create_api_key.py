from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from trackly.api_keys import api_key_create
from trackly.models import Account, ApiKey
from trackly.text import check_text

NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


class Command(BaseCommand):
    help = (
        "Create an API key for an account and print it (as the last line). The key is shown "
        "only this once: Trackly stores only a hash of it."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", required=True, help="The account's slug.")
        parser.add_argument("--name", required=True, help="What the key is for.")
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="A key that can read everything and change nothing.",
        )

    def handle(self, *args, account: str, name: str, read_only: bool, **options) -> None:
        target = Account.objects.filter(slug=account).first()
        if target is None:
            raise CommandError(f"No account has the slug '{account}'.")
        name = name.strip()
        if not name or len(name) > NAME_MAX_LENGTH:
            raise CommandError(f"--name must be 1 to {NAME_MAX_LENGTH} characters.")
        try:
            check_text(name)
        except ValidationError as error:
            raise CommandError(f"--name: {error.messages[0]}") from None
        api_key, key = api_key_create(account=target, name=name, read_only=read_only)
        access = "read-only" if read_only else "read-write"
        self.stdout.write(
            f"Created the {access} API key '{api_key.name}' for '{target.name}' ({target.slug}). "
            "Keep it now; it is not shown again:"
        )
        self.stdout.write(key)
