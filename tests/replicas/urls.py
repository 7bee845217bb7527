"""The project's URLs and one more view for the replica tests: it reads, writes, then reads."""

from django.db import connections, router
from django.http import JsonResponse
from django.urls import path

from contacts.models import Contact
from trackly.replicas import reads_from_replica
from trackly.tenancy import AccountRequest, account_view
from trackly.urls import urlpatterns as project_urlpatterns


def _read(request: AccountRequest) -> dict:
    """Where the router sends a read now, whether that server is a standby, and what it sees."""
    alias = router.db_for_read(Contact)
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        (standby,) = cursor.fetchone()
    return {
        "alias": alias,
        "standby": standby,
        "contacts": Contact.objects.for_account(request.account).count(),
    }


@account_view()
@reads_from_replica
def read_write_read(request: AccountRequest):
    before = _read(request)
    sending_list = request.account.sending_lists.get(name="Main")
    Contact.objects.create(
        account=request.account, sending_list=sending_list, phone_number="+14155550199"
    )
    return JsonResponse({"before": before, "after": _read(request)})


urlpatterns = [
    path("a/<slug:account_slug>/read-write-read/", read_write_read),
    *project_urlpatterns,
]
