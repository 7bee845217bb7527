import factory
from django.contrib.auth import get_user_model

from audiences.models import Audience
from contacts.models import Contact, Label, SendingList
from trackly.models import Account, Membership, Role


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery")

    @factory.post_generation
    def save_password(self, create, extracted, **kwargs):
        if create:
            self.save()


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    slug = factory.Sequence(lambda n: f"account-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    account = factory.SubFactory(AccountFactory)
    role = Role.EDITOR


class SendingListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SendingList

    account = factory.SubFactory(AccountFactory)
    name = factory.Sequence(lambda n: f"List {n}")
    # Outside the +1415555xxxx numbers that tests give their lists, which a long run's
    # sequence would otherwise reach.
    phone_number = factory.Sequence(lambda n: f"+1415557{n % 10000:04d}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    sending_list = factory.SubFactory(SendingListFactory)
    account = factory.SelfAttribute("sending_list.account")
    phone_number = factory.Sequence(lambda n: f"+1212555{n % 10000:04d}")


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    key = factory.Sequence(lambda n: f"key{n}")
    value = "value"


def label_contact(contact: Contact, labels: dict[str, str]) -> Contact:
    """Give a contact these labels directly (test set-up, bypassing the services)."""
    Label.objects.bulk_create(
        Label(account_id=contact.account_id, contact=contact, key=key, value=value)
        for key, value in labels.items()
    )
    return contact


def vip_audience(size: int, sending_list: SendingList | None = None) -> Audience:
    """An audience `VIPs` of `size` new contacts labelled `vip=true`, made set-based."""
    sending_list = sending_list or SendingListFactory()
    contacts = Contact.objects.bulk_create(
        Contact(
            account=sending_list.account,
            sending_list=sending_list,
            phone_number=f"+1212{555 + i // 10000}{i % 10000:04d}",
        )
        for i in range(size)
    )
    Label.objects.bulk_create(
        Label(account=sending_list.account, contact=contact, key="vip", value="true")
        for contact in contacts
    )
    return Audience.objects.create(
        account=sending_list.account, name="VIPs", conditions="label:vip EXISTS"
    )
