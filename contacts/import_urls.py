"""CSV import URLs, included at `a/<slug:account_slug>/`."""

from django.urls import path

from contacts import import_views

app_name = "imports"

urlpatterns = [
    path("lists/<int:list_id>/import/", import_views.import_new, name="import_new"),
    path("imports/<int:job_id>/", import_views.import_detail, name="import_detail"),
    path("imports/<int:job_id>/confirm/", import_views.import_confirm, name="import_confirm"),
    path("imports/<int:job_id>/columns/", import_views.import_remap, name="import_remap"),
    path(
        "imports/<int:job_id>/rejected.csv",
        import_views.import_rejected,
        name="import_rejected",
    ),
]
