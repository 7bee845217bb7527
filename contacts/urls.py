from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("lists/", views.sending_lists, name="sending_lists"),
    path("lists/<int:list_id>/", views.list_contacts, name="list_contacts"),
    path("lists/<int:list_id>/rename/", views.sending_list_rename, name="sending_list_rename"),
    path("lists/<int:list_id>/archive/", views.sending_list_archive, name="sending_list_archive"),
    path("lists/<int:list_id>/contacts/new/", views.contact_new, name="contact_new"),
    path("contacts/", views.all_contacts, name="all_contacts"),
    path("contacts/<int:contact_id>/", views.contact_detail, name="contact_detail"),
    path("contacts/<int:contact_id>/labels/", views.contact_labels_edit, name="contact_labels"),
    path(
        "contacts/<int:contact_id>/labels/rows/",
        views.contact_labels_rows,
        name="contact_label_rows",
    ),
    path(
        "contacts/<int:contact_id>/subscription/",
        views.contact_subscription,
        name="contact_subscription",
    ),
    path("contacts/<int:contact_id>/erase/", views.contact_erase, name="contact_erase"),
]
