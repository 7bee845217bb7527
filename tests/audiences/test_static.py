"""Static audiences (members kept, counted at once, dropped out when unsubscribed or erased;
frozen, refreshed, added and removed by every way in) and IN AUDIENCE between audiences."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audiences import services
from audiences.builder import builder_from_tree
from audiences.conditions import And, Condition, ConditionError, InAudience, Not, Op, parse
from audiences.models import Audience, StaticMember, resolve_audiences
from contacts.models import Contact, Label
from tests.factories import ContactFactory, label_contact
from trackly.models import Job


def url(name: str, *args) -> str:
    return reverse(f"audiences:{name}", args=args)


def _unsubscribe(contact):
    contact.status = Contact.Status.UNSUBSCRIBED
    contact.unsubscribed_at = timezone.now()
    contact.save()


@pytest.fixture
def shoppers(sending_list):
    """Five contacts; three are VIPs."""
    made = {}
    for number, (name, tier) in enumerate(
        [("ann", "vip"), ("bob", "vip"), ("cat", "vip"), ("dan", "regular"), ("eve", "")]
    ):
        contact = ContactFactory(sending_list=sending_list, phone_number=f"+1415555{number:04d}")
        made[name] = label_contact(contact, {"tier": tier} if tier else {})
    return made


@pytest.fixture
def vips(account, shoppers):
    return Audience.objects.create(account=account, name="VIPs", conditions="label:tier = vip")


def _set_tier(contact, tier):
    Label.objects.update_or_create(
        contact=contact, key="tier", defaults={"value": tier, "account_id": contact.account_id}
    )


def _static(account, name="Kept") -> Audience:
    return Audience.objects.create(account=account, name=name, kind=Audience.Kind.STATIC)


def _ids(contacts) -> set[int]:
    return set(contacts.values_list("pk", flat=True))


# ---------------------------------------------------------------------------------------------
# Members of a static audience
# ---------------------------------------------------------------------------------------------


def test_freezing_keeps_the_members_of_the_moment(account, editor_user, vips, shoppers):
    static = services.static_audience_create(
        account=account, user=editor_user, name="VIPs in March", frozen_from=vips
    )
    job = services.static_fill_start(
        audience=static,
        user=editor_user,
        selection=services.static_refresh_selection(static),
        replace=True,
    )
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED
    assert job.result == {"matching": 3, "added": 3, "members": 3, "removed": 0}
    static.refresh_from_db()
    assert static.kind == "static"
    assert static.conditions == "label:tier = vip"
    assert static.frozen_at is not None
    assert static.static_size == 3
    # A contact who becomes a VIP later does not join it.
    _set_tier(shoppers["dan"], "vip")
    assert _ids(static.members()) == {shoppers[name].pk for name in ("ann", "bob", "cat")}
    assert static.count_members() == 3
    assert vips.count_members() == 4


def test_unsubscribed_and_erased_contacts_drop_out(account, shoppers):
    static = _static(account)
    contacts = Contact.objects.filter(pk__in=[c.pk for c in shoppers.values()])
    assert services.static_members_add(audience=static, contacts=contacts) == 5
    _unsubscribe(shoppers["ann"])
    shoppers["bob"].delete()
    static.refresh_from_db()
    assert static.count_members() == 3
    assert static.dropped_out(3) == 2
    assert shoppers["ann"].pk not in _ids(static.members())
    # Resubscribed, a contact is a member again.
    Contact.objects.filter(pk=shoppers["ann"].pk).update(status="subscribed", unsubscribed_at=None)
    assert static.count_members() == 4


def test_adding_skips_unsubscribed_and_other_accounts_contacts(account, shoppers, other_contact):
    static = _static(account)
    _unsubscribe(shoppers["eve"])
    contacts = Contact.objects.filter(pk__in=[shoppers["ann"].pk, shoppers["eve"].pk])
    assert services.static_members_add(audience=static, contacts=contacts) == 1
    assert services.static_members_add(audience=static, contacts=contacts) == 0
    assert (
        services.static_members_add(
            audience=static, contacts=Contact.objects.filter(pk=other_contact.pk)
        )
        == 0
    )
    assert list(StaticMember.objects.values_list("contact_id", flat=True)) == [shoppers["ann"].pk]
    static.refresh_from_db()
    assert static.static_size == 1


def test_removing_members(account, shoppers):
    static = _static(account)
    services.static_members_add(
        audience=static, contacts=Contact.objects.filter(pk__in=[c.pk for c in shoppers.values()])
    )
    removed = services.static_members_remove(
        audience=static, contacts=Contact.objects.filter(pk=shoppers["ann"].pk)
    )
    assert removed == 1
    assert static.count_members() == 4
    assert static.static_size == 4


def test_a_dynamic_audience_has_no_members_to_add(vips, shoppers):
    with pytest.raises(ValidationError) as raised:
        services.static_members_add(audience=vips, contacts=Contact.objects.all())
    assert raised.value.code == "not_static"
    assert raised.value.messages == [
        '"VIPs" is a dynamic audience: its members are the contacts that match its conditions, '
        "and cannot be added or removed one by one."
    ]


def test_members_by_phone_report_numbers_not_found(account, shoppers):
    static = _static(account)
    result = services.static_members_add_phones(
        audience=static,
        phones=["+14155550000", "(415) 555-0001", "+14155550000", "+14155559876", "bad"],
    )
    assert result.added == 2
    assert result.found == 2
    assert result.not_found == 1
    assert result.not_found_examples == ["+14155559876"]
    assert result.invalid == 1
    assert result.invalid_examples == ["bad"]


def test_refresh_preview_counts_who_joins_and_leaves(account, editor_user, vips, shoppers):
    static = services.static_audience_create(
        account=account, user=editor_user, name="Frozen", frozen_from=vips
    )
    services.static_fill_start(
        audience=static,
        user=editor_user,
        selection=services.static_refresh_selection(static),
        replace=True,
    )
    _set_tier(shoppers["dan"], "vip")
    _set_tier(shoppers["ann"], "regular")
    assert services.static_refresh_preview(static) == services.RefreshPreview(
        members=3, after=3, joining=1, leaving=1
    )
    services.static_fill_start(
        audience=static,
        user=editor_user,
        selection=services.static_refresh_selection(static),
        replace=True,
    )
    assert _ids(static.members()) == {shoppers[name].pk for name in ("bob", "cat", "dan")}


def test_a_bulk_label_change_on_a_static_audience_changes_its_members(
    account, editor_user, shoppers
):
    static = _static(account)
    services.static_members_add(
        audience=static, contacts=Contact.objects.filter(pk=shoppers["dan"].pk)
    )
    change = services.label_change_start(
        account=account,
        user=editor_user,
        action="add",
        key="winback",
        value="yes",
        audience=static,
        target=static.name,
        selection=services.audience_selection(static),
    )
    assert change.selection == {"static_audience": {"id": static.pk}}
    change.refresh_from_db()
    assert change.counts["gained"] == 1
    assert shoppers["dan"].labels.get(key="winback").value == "yes"


# ---------------------------------------------------------------------------------------------
# IN AUDIENCE
# ---------------------------------------------------------------------------------------------


def test_in_audience_names_are_stored_as_ids_and_shown_by_name(account, vips, shoppers):
    tree = resolve_audiences(account, parse('NOT IN AUDIENCE "VIPs" AND tier EXISTS'))
    audience = Audience.objects.create(
        account=account,
        name="Regulars",
        conditions=f"NOT IN AUDIENCE #{vips.pk} AND label:tier EXISTS",
    )
    assert audience.tree == tree
    assert audience.conditions_text == 'NOT IN AUDIENCE "VIPs" AND label:tier EXISTS'
    assert _ids(audience.members()) == {shoppers["dan"].pk}
    vips.name = "Very important"
    vips.save()
    assert audience.conditions_text == 'NOT IN AUDIENCE "Very important" AND label:tier EXISTS'
    assert audience.count_members() == 1


def test_an_unknown_audience_is_invalid_conditions_naming_it(account, other_account):
    Audience.objects.create(account=other_account, name="Theirs")
    for text, message in [
        ('IN AUDIENCE "Nobody"', 'IN AUDIENCE: no audience is named "Nobody"'),
        ('IN AUDIENCE "Theirs"', 'IN AUDIENCE: no audience is named "Theirs"'),
        ("IN AUDIENCE #999999", "IN AUDIENCE: no audience has the id 999999"),
    ]:
        with pytest.raises(ConditionError) as raised:
            resolve_audiences(account, parse(text))
        assert raised.value.code == "invalid_conditions"
        assert raised.value.messages == [message]


def test_an_archived_audience_cannot_be_referred_to(account, vips):
    vips.status = Audience.Status.ARCHIVED
    vips.save()
    with pytest.raises(ConditionError) as raised:
        resolve_audiences(account, parse('IN AUDIENCE "VIPs"'))
    assert raised.value.messages == ['IN AUDIENCE: the audience "VIPs" is archived']


def test_loops_are_refused(account, vips):
    middle = Audience.objects.create(
        account=account, name="Middle", conditions=f"IN AUDIENCE #{vips.pk}"
    )
    with pytest.raises(ConditionError) as raised:
        resolve_audiences(account, parse('IN AUDIENCE "VIPs"'), audience=vips)
    assert raised.value.messages == ['IN AUDIENCE "VIPs" would make a loop: "VIPs" → "VIPs"']
    with pytest.raises(ConditionError) as raised:
        resolve_audiences(account, parse('tier = x OR IN AUDIENCE "Middle"'), audience=vips)
    assert raised.value.messages == [
        'IN AUDIENCE "Middle" would make a loop: "VIPs" → "Middle" → "VIPs"'
    ]
    assert resolve_audiences(account, parse('IN AUDIENCE "VIPs"'), audience=middle) == InAudience(
        vips.pk
    )


def test_an_audience_in_use_cannot_be_archived_or_deleted(account, vips):
    Audience.objects.create(account=account, name="Users B", conditions=f"IN AUDIENCE #{vips.pk}")
    Audience.objects.create(
        account=account, name="Users A", conditions=f"NOT IN AUDIENCE #{vips.pk}"
    )
    for call, doing in [
        (lambda: services.audience_archive(audience=vips), "archived"),
        (lambda: services.audience_delete(audience=vips), "deleted"),
    ]:
        with pytest.raises(ValidationError) as raised:
            call()
        assert raised.value.code == "audience_in_use"
        assert raised.value.messages == [
            f'"VIPs" cannot be {doing}: IN AUDIENCE refers to it in "Users A", "Users B".'
        ]
    vips.refresh_from_db()
    assert vips.status == "active"


def test_in_audience_of_a_static_audience(account, shoppers):
    static = _static(account)
    services.static_members_add(
        audience=static,
        contacts=Contact.objects.filter(pk__in=[shoppers["ann"].pk, shoppers["dan"].pk]),
    )
    outsiders = Audience.objects.create(
        account=account, name="Outsiders", conditions=f"NOT IN AUDIENCE #{static.pk}"
    )
    assert _ids(outsiders.members()) == {shoppers[name].pk for name in ("bob", "cat", "eve")}
    both = Audience.objects.create(
        account=account,
        name="Both",
        conditions=f"IN AUDIENCE #{static.pk} AND label:tier = vip",
    )
    assert _ids(both.members()) == {shoppers["ann"].pk}
    assert Not(InAudience(static.pk)) == outsiders.tree


# ---------------------------------------------------------------------------------------------
# Dashboard
# ---------------------------------------------------------------------------------------------


def test_save_as_static_in_the_dashboard(editor_client, account, vips, shoppers):
    page = editor_client.get(url("audience_freeze", "acme", vips.pk))
    assert page.status_code == 200
    assert page.context["name"] == "VIPs (static)"
    assert page.context["count"] == 3
    response = editor_client.post(url("audience_freeze", "acme", vips.pk), {"name": "Kept VIPs"})
    static = Audience.objects.get(name="Kept VIPs")
    job = Job.objects.get(kind=Job.Kind.FILL_STATIC)
    assert response.status_code == 302
    assert response.url == url("audience_detail", "acme", static.pk) + f"?job={job.pk}"
    detail = editor_client.get(response.url)
    assert detail.context["count"] == 3
    assert detail.context["dropped_out"] == 0
    assert b'data-testid="kind">Static' in detail.content


def test_save_as_static_refuses_a_taken_name(editor_client, vips):
    response = editor_client.post(url("audience_freeze", "acme", vips.pk), {"name": "VIPs"})
    assert response.status_code == 200
    assert response.context["error"] == "An audience with this name already exists."
    assert Audience.objects.count() == 1


def test_the_detail_page_says_how_many_dropped_out(editor_client, account, shoppers):
    static = _static(account)
    services.static_members_add(
        audience=static, contacts=Contact.objects.filter(pk__in=[c.pk for c in shoppers.values()])
    )
    _unsubscribe(shoppers["ann"])
    page = editor_client.get(url("audience_detail", "acme", static.pk))
    assert page.context["count"] == 4
    assert b"1 dropped out: unsubscribed or erased since" in page.content


def test_refresh_in_the_dashboard_shows_the_counts_then_runs(
    editor_client, account, editor_user, vips, shoppers
):
    static = services.static_audience_create(
        account=account, user=editor_user, name="Frozen", frozen_from=vips
    )
    services.static_fill_start(
        audience=static,
        user=editor_user,
        selection=services.static_refresh_selection(static),
        replace=True,
    )
    _set_tier(shoppers["dan"], "vip")
    review = editor_client.get(url("audience_refresh", "acme", static.pk))
    assert review.context["preview"] == services.RefreshPreview(3, 4, 1, 0)
    assert static.count_members() == 3
    response = editor_client.post(url("audience_refresh", "acme", static.pk), {"confirm": "1"})
    assert response.status_code == 302
    assert static.count_members() == 4


def test_members_from_a_file(editor_client, account, shoppers):
    static = _static(account)
    upload = SimpleUploadedFile(
        "numbers.csv", b"phone_number,name\n+14155550000,Ann\n+14155559999,Nobody\n"
    )
    response = editor_client.post(url("audience_upload", "acme", static.pk), {"file": upload})
    assert response.status_code == 200
    result = response.context["result"]
    assert (result.added, result.not_found, result.not_found_examples) == (
        1,
        1,
        ["+14155559999"],
    )
    assert _ids(static.members()) == {shoppers["ann"].pk}


def test_a_file_without_a_phone_column_is_refused(editor_client, account, shoppers):
    static = _static(account)
    upload = SimpleUploadedFile("numbers.csv", b"name\nAnn\n")
    response = editor_client.post(url("audience_upload", "acme", static.pk), {"file": upload})
    assert response.status_code == 200
    assert response.context["error"].startswith("The file has no phone column")
    assert StaticMember.objects.count() == 0


def test_ticked_contacts_go_into_a_new_static_audience(editor_client, shoppers, sending_list):
    ids = f"{shoppers['ann'].pk},{shoppers['bob'].pk}"
    data = {"action": "static", "scope": "ticked", "list_id": sending_list.pk, "ids": ids}
    step = editor_client.post(url("contacts_label_action", "acme"), data)
    assert step.status_code == 200
    assert step.context["target"] == "2 ticked contacts on Main"
    response = editor_client.post(
        url("contacts_label_action", "acme"), {**data, "name": "Picked", "confirm": "1"}
    )
    static = Audience.objects.get(name="Picked")
    assert response.status_code == 302
    assert static.kind == "static"
    assert _ids(static.members()) == {shoppers["ann"].pk, shoppers["bob"].pk}


def test_all_matching_contacts_go_into_a_static_audience_by_a_job(
    editor_client, account, shoppers, sending_list
):
    static = _static(account)
    data = {
        "action": "static",
        "scope": "all",
        "list_id": sending_list.pk,
        "filter_key": "tier",
        "filter_value": "vip",
        "audience": static.pk,
        "confirm": "1",
    }
    response = editor_client.post(url("contacts_label_action", "acme"), data)
    assert response.status_code == 302
    assert Job.objects.get().kind == Job.Kind.FILL_STATIC
    assert static.count_members() == 3


def test_removing_a_member_in_the_dashboard(editor_client, account, shoppers):
    static = _static(account)
    services.static_members_add(
        audience=static, contacts=Contact.objects.filter(pk=shoppers["ann"].pk)
    )
    response = editor_client.post(
        url("audience_remove_members", "acme", static.pk), {"ids": shoppers["ann"].pk}
    )
    assert response.status_code == 302
    assert static.count_members() == 0


def test_archiving_an_audience_in_use_says_who_uses_it(editor_client, account, vips):
    Audience.objects.create(account=account, name="Users", conditions=f"IN AUDIENCE #{vips.pk}")
    response = editor_client.post(url("audience_archive", "acme", vips.pk), follow=True)
    assert [str(m) for m in response.context["messages"]] == [
        '"VIPs" cannot be archived: IN AUDIENCE refers to it in "Users".'
    ]
    vips.refresh_from_db()
    assert vips.status == "active"


def test_saving_conditions_by_audience_name_stores_the_id(editor_client, account, vips):
    response = editor_client.post(
        url("audience_new", "acme"),
        {"name": "Not VIPs", "conditions": 'NOT IN AUDIENCE "VIPs"'},
    )
    assert response.status_code == 302
    audience = Audience.objects.get(name="Not VIPs")
    assert audience.conditions == f"NOT IN AUDIENCE #{vips.pk}"
    edit = editor_client.get(url("audience_edit", "acme", audience.pk))
    assert edit.context["form"].initial["conditions"] == 'NOT IN AUDIENCE "VIPs"'


def test_a_loop_is_refused_in_the_form(editor_client, account, vips):
    response = editor_client.post(
        url("audience_edit", "acme", vips.pk),
        {"name": "VIPs", "conditions": 'IN AUDIENCE "VIPs"'},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["conditions"] == [
        'IN AUDIENCE "VIPs" would make a loop: "VIPs" → "VIPs"'
    ]


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("audience_freeze", ()),
        ("audience_refresh", ()),
        ("audience_upload", ()),
        ("audience_remove_members", ()),
    ],
)
def test_outsiders_get_404_and_viewers_cannot_change(
    outsider_client, viewer_client, account, name, args
):
    static = Audience.objects.create(
        account=account, name="S", kind="static", frozen_at=timezone.now()
    )
    dynamic = Audience.objects.create(account=account, name="D")
    target = dynamic if name == "audience_freeze" else static
    assert outsider_client.post(url(name, "acme", target.pk)).status_code == 404
    assert viewer_client.post(url(name, "acme", target.pk)).status_code == 403
    assert Audience.objects.count() == 2


def test_a_dynamic_audience_has_no_refresh_or_upload(editor_client, vips):
    assert editor_client.get(url("audience_refresh", "acme", vips.pk)).status_code == 404
    assert editor_client.get(url("audience_upload", "acme", vips.pk)).status_code == 404


# ---------------------------------------------------------------------------------------------
# The builder's "Audience" rows
# ---------------------------------------------------------------------------------------------


def test_audience_rows_round_trip_with_the_tree():
    tree = And((Not(InAudience(4)), Condition("tier", Op.EXISTS), InAudience(5)))
    builder = builder_from_tree(tree)
    rows = [group.rows[0] for group in builder.groups]
    assert [(row.is_audience, row.audience, row.negated) for row in rows] == [
        (True, 4, True),
        (False, None, False),
        (True, 5, False),
    ]
    assert builder.tree() == tree


def test_the_builder_adds_an_audience_row_with_the_audiences_and_counts(
    editor_client, account, vips, shoppers
):
    static = _static(account)
    response = editor_client.post(
        url("audience_builder", "acme"), {"groups": "0", "action": "add_audience"}
    )
    assert response.status_code == 200
    assert response.context["saved_audiences"] == [(static, 0), (vips, 3)]
    assert b'name="g0-r0-type" value="audience"' in response.content
    assert b"VIPs (3)" in response.content
    chosen = editor_client.post(
        url("audience_builder", "acme"),
        {
            "groups": "1",
            "g0-rows": "1",
            "g0-r0-type": "audience",
            "g0-r0-aop": "NOT IN AUDIENCE",
            "g0-r0-audience": str(vips.pk),
        },
    )
    assert chosen.context["conditions_text"] == 'NOT IN AUDIENCE "VIPs"'
    assert chosen.context["count"] == 2


def test_a_builder_row_of_an_unknown_audience_says_so(editor_client, account):
    response = editor_client.post(
        url("audience_builder", "acme"),
        {"groups": "1", "g0-rows": "1", "g0-r0-type": "audience", "g0-r0-audience": "99999"},
    )
    assert response.status_code == 200
    assert response.context["text_error"] == "IN AUDIENCE: no audience has the id 99999"


@pytest.mark.parametrize("few_rows", [0, 5000])
def test_a_static_count_is_its_subscribed_members_from_either_side(
    account, shoppers, other_contact, few_rows, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr("audiences.models.FEW_STATIC_ROWS", few_rows)
    static = _static(account)
    services.static_members_add(
        audience=static, contacts=Contact.objects.filter(pk__in=[c.pk for c in shoppers.values()])
    )
    _unsubscribe(shoppers["ann"])
    _unsubscribe(other_contact)
    with django_assert_max_num_queries(2):
        assert static.count_members() == 4
    assert static.members().count() == 4
    assert _static(account, "Empty").count_members() == 0


def test_saving_an_audience_refuses_control_characters_whatever_face_calls(account, admin_user):
    # The service checks names and descriptions itself: a caller that skips the forms and the
    # API (a command, a script) gets the same refusal, and nothing is saved.
    with pytest.raises(ValidationError) as named:
        services.static_audience_create(account=account, user=admin_user, name="VIP\x07")
    with pytest.raises(ValidationError) as described:
        services.static_audience_create(
            account=account, user=admin_user, name="VIP", description="Line\x00two"
        )
    assert (named.value.code, named.value.messages) == (
        "control_character",
        ["The text contains the control character U+0007."],
    )
    assert (described.value.code, described.value.messages) == (
        "control_character",
        ["The text contains the control character U+0000."],
    )
    # A description keeps its line breaks.
    audience = services.static_audience_create(
        account=account, user=admin_user, name="VIP", description="Line one\nLine two"
    )
    assert list(Audience.objects.for_account(account).values_list("name", flat=True)) == ["VIP"]
    assert audience.description == "Line one\nLine two"


# ---------------------------------------------------------------------------------------------
# Editing a static audience
# ---------------------------------------------------------------------------------------------


def test_a_static_audience_is_renamed_and_described_keeping_its_members(
    editor_client, account, shoppers
):
    static = _static(account)
    services.static_members_add(audience=static, contacts=Contact.objects.all())
    page = editor_client.get(url("audience_edit", "acme", static.pk))
    assert page.status_code == 200
    assert page.context["step"] == "edit"
    assert page.context["form"].initial == {"name": "Kept", "description": ""}
    # The builder is not on the page: a static audience's members are not conditions.
    assert b'id="builder-rows"' not in page.content
    response = editor_client.post(
        url("audience_edit", "acme", static.pk),
        {"name": " Kept for spring ", "description": "Picked by hand\nin March"},
    )
    assert response.status_code == 302
    assert response["Location"] == url("audience_detail", "acme", static.pk)
    static.refresh_from_db()
    assert (static.name, static.description, static.kind) == (
        "Kept for spring",
        "Picked by hand\nin March",
        "static",
    )
    assert static.count_members() == 5


def test_editing_a_frozen_static_audience_keeps_the_conditions_it_was_frozen_from(
    editor_client, account, editor_user, vips, shoppers
):
    static = services.static_audience_create(
        account=account, user=editor_user, name="Frozen", frozen_from=vips
    )
    editor_client.post(
        url("audience_edit", "acme", static.pk),
        {"name": "Frozen VIPs", "description": "", "conditions": "label:tier = regular"},
    )
    static.refresh_from_db()
    assert (static.name, static.conditions) == ("Frozen VIPs", "label:tier = vip")


def test_a_static_audience_cannot_take_a_name_in_use(editor_client, account, vips):
    static = _static(account)
    response = editor_client.post(
        url("audience_edit", "acme", static.pk), {"name": "VIPs", "description": "x"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["name"] == ["An audience with this name already exists."]
    assert b"<title>Edit Kept" in response.content
    static.refresh_from_db()
    assert (static.name, static.description) == ("Kept", "")


def test_a_static_audience_description_is_checked(editor_client, account):
    static = _static(account)
    response = editor_client.post(
        url("audience_edit", "acme", static.pk), {"name": "Kept", "description": "a\x00b"}
    )
    assert response.status_code == 200
    assert "description" in response.context["form"].errors
    assert b'aria-describedby="description-error"' in response.content


def test_editing_a_static_audience_needs_an_editor_of_the_account(
    editor_client, viewer_client, outsider_client, account
):
    static = _static(account)
    edit = url("audience_edit", "acme", static.pk)
    assert viewer_client.get(edit).status_code == 403
    assert viewer_client.post(edit, {"name": "New"}).status_code == 403
    assert outsider_client.post(edit, {"name": "New"}).status_code == 404
    assert editor_client.delete(edit).status_code == 405
    static.refresh_from_db()
    assert static.name == "Kept"


def test_the_page_of_a_static_audience_offers_edit_and_says_why_there_is_no_refresh(
    editor_client, account, editor_user, vips
):
    picked = _static(account)
    page = editor_client.get(url("audience_detail", "acme", picked.pk)).content.decode()
    assert f'href="{url("audience_edit", "acme", picked.pk)}"' in page
    assert url("audience_refresh", "acme", picked.pk) not in page
    assert (
        "It was not frozen from conditions, so there is nothing to refresh it from: add or "
        "remove members instead." in page
    )
    assert editor_client.get(url("audience_refresh", "acme", picked.pk)).status_code == 404

    frozen = services.static_audience_create(
        account=account, user=editor_user, name="Frozen", frozen_from=vips
    )
    services.static_fill_start(
        audience=frozen,
        user=editor_user,
        selection=services.static_refresh_selection(frozen),
        replace=True,
    )
    page = editor_client.get(url("audience_detail", "acme", frozen.pk)).content.decode()
    assert f'href="{url("audience_edit", "acme", frozen.pk)}"' in page
    assert f'href="{url("audience_refresh", "acme", frozen.pk)}"' in page
    assert 'data-testid="no-refresh"' not in page
