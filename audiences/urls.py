from django.urls import path

from audiences import views

app_name = "audiences"

urlpatterns = [
    path("audiences/", views.audiences, name="audiences"),
    path("audiences/new/", views.audience_new, name="audience_new"),
    path("audiences/builder/", views.audience_builder, name="audience_builder"),
    path("audiences/<int:audience_id>/", views.audience_detail, name="audience_detail"),
    path("audiences/<int:audience_id>/edit/", views.audience_edit, name="audience_edit"),
    path("audiences/<int:audience_id>/count/", views.audience_count, name="audience_count"),
    path("audiences/<int:audience_id>/archive/", views.audience_archive, name="audience_archive"),
    path("audiences/<int:audience_id>/export.csv", views.audience_export, name="audience_export"),
    path(
        "audiences/<int:audience_id>/actions/add-label/",
        views.audience_label_action,
        {"action": "add"},
        name="audience_add_label",
    ),
    path(
        "audiences/<int:audience_id>/actions/remove-label/",
        views.audience_label_action,
        {"action": "remove"},
        name="audience_remove_label",
    ),
    path("contacts/actions/", views.contacts_label_action, name="contacts_label_action"),
    path("audit/", views.label_changes, name="label_changes"),
    path("audit/undo/<int:job_id>/", views.undo, name="undo"),
    path("labels/", views.labels, name="labels"),
    path("labels/<str:key>/", views.label_detail, name="label_detail"),
    path("labels/<str:key>/edit/", views.label_edit, name="label_edit"),
]
