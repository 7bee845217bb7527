from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from trackly import services
from trackly.models import Account, Membership, Role

ROLE_NAMES = ", ".join(Role.values[:-1]) + " or " + Role.values[-1]


class Command(BaseCommand):
    help = (
        "Create a user (their e-mail address is their login) or reuse an existing one, and give "
        "them a role in an account. The password is required for a new user; for an existing "
        "user it replaces their password."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("email", help="The user's e-mail address, also their login.")
        parser.add_argument("--account", required=True, help="The account's slug.")
        parser.add_argument("--role", required=True, help=f"One of {ROLE_NAMES}.")
        parser.add_argument("--password", help="The user's password.")

    @transaction.atomic
    def handle(
        self, *args, email: str, account: str, role: str, password: str | None, **options
    ) -> None:
        User = get_user_model()
        email = User.objects.normalize_email(email.strip())
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"'{email}' is not a valid e-mail address.") from None
        if role not in Role.values:
            raise CommandError(f"Unknown role '{role}'; choose {ROLE_NAMES}.")
        target = Account.objects.filter(slug=account).first()
        if target is None:
            raise CommandError(f"No account has the slug '{account}'.")

        # Looked up as the members page looks users up, so both find the same person.
        user = User.objects.filter(username__iexact=email).first()
        created = user is None
        if created:
            if not password:
                raise CommandError("A new user needs a password: give --password.")
            user = User(username=email, email=email)
        else:
            email = user.username
        if password:
            try:
                validate_password(password, user)
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
            user.set_password(password)
            user.save()

        membership = Membership.objects.filter(user=user, account=target).first()
        try:
            if membership is None:
                services.member_add(account=target, email=email, role=Role(role))
            else:
                services.member_set_role(membership=membership, role=Role(role))
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None

        if created:
            self.stdout.write(f"Created user {email}.")
        elif password:
            self.stdout.write(f"Changed the password of {email}.")
        self.stdout.write(
            f"{email} is {Role(role).label.lower()} of '{target.name}' ({target.slug})."
        )
