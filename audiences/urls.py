from django.urls import path

from audiences import explain_views, insights_views, views

app_name = "audiences"

urlpatterns = [
    path("", insights_views.overview, name="overview"),
    path("overview/lists/", insights_views.overview_lists, name="overview_lists"),
    path("overview/added/", insights_views.overview_added, name="overview_added"),
    path("overview/hygiene/", insights_views.overview_hygiene, name="overview_hygiene"),
    path(
        "audiences/<int:audience_id>/breakdown/",
        insights_views.audience_breakdown,
        name="audience_breakdown",
    ),
    path(
        "audiences/<int:audience_id>/why-empty/",
        insights_views.audience_why_empty,
        name="audience_why_empty",
    ),
    path(
        "audiences/<int:audience_id>/explain/",
        explain_views.audience_explain,
        name="audience_explain",
    ),
    path(
        "contacts/<int:contact_id>/explain/", explain_views.contact_explain, name="contact_explain"
    ),
    path("audiences/", views.audiences, name="audiences"),
    path("audiences/new/", views.audience_new, name="audience_new"),
    path("audiences/builder/", views.audience_builder, name="audience_builder"),
    path(
        "audiences/builder/values/", views.audience_builder_values, name="audience_builder_values"
    ),
    path("audiences/<int:audience_id>/", views.audience_detail, name="audience_detail"),
    path("audiences/<int:audience_id>/edit/", views.audience_edit, name="audience_edit"),
    path("audiences/<int:audience_id>/count/", views.audience_count, name="audience_count"),
    path("audiences/<int:audience_id>/archive/", views.audience_archive, name="audience_archive"),
    path("audiences/<int:audience_id>/freeze/", views.audience_freeze, name="audience_freeze"),
    path("audiences/<int:audience_id>/refresh/", views.audience_refresh, name="audience_refresh"),
    path("audiences/<int:audience_id>/upload/", views.audience_upload, name="audience_upload"),
    path(
        "audiences/<int:audience_id>/remove-members/",
        views.audience_remove_members,
        name="audience_remove_members",
    ),
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
