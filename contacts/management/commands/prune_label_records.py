from django.conf import settings
from django.core.management.base import BaseCommand

from contacts.services import label_records_prune


class Command(BaseCommand):
    help = (
        "Delete the records of bulk label changes and imports older than LABEL_RECORD_DAYS "
        "days (after which they can no longer be undone). Every task worker also does this when it "
        "starts and then once a day."
    )

    def handle(self, *args, **options) -> None:
        deleted = label_records_prune()
        self.stdout.write(
            f"Deleted {deleted} label records older than {settings.LABEL_RECORD_DAYS} days."
        )
