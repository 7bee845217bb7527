import csv
import io

import pytest
from django.urls import reverse
from django.utils.html import escape

from audiences.models import Audience
from tests.factories import ContactFactory, SendingListFactory, label_contact

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, *args) -> str:
    return reverse(f"audiences:{name}", args=args)


@pytest.fixture
def shop(account, sending_list):
    """Five contacts after the seed's e-commerce strategy, one of them unsubscribed."""
    people = {
        "vip90": {"ltv_tier": "vip", "last_purchase_days": "90", "source": "facebook"},
        "vip30": {"ltv_tier": "vip", "last_purchase_days": "30", "source": "Facebook"},
        "promo": {"promo_responsive": "true", "buyer_status": "once", "note": "=HYPERLINK(1)"},
        "new": {"cohort": "2024-Q1", "engagement_level": "high", "buyer_status": "never"},
    }
    contacts = {}
    for index, (name, labels) in enumerate(people.items()):
        phone = f"+1415555{3000 + index:04d}"
        contacts[name] = label_contact(
            ContactFactory(sending_list=sending_list, phone_number=phone), labels
        )
    gone = ContactFactory(
        sending_list=sending_list,
        phone_number="+14155553999",
        status="unsubscribed",
        unsubscribed_at="2024-01-01T00:00:00Z",
    )
    contacts["gone"] = label_contact(gone, {"ltv_tier": "vip", "last_purchase_days": "90"})
    return contacts


@pytest.fixture
def winback(account, shop, admin_user):
    return Audience.objects.create(
        account=account,
        name="VIP Winback",
        conditions="label:ltv_tier = vip AND label:last_purchase_days = 90",
        created_by=admin_user,
    )


def test_audiences_page_lists_audiences_and_loads_counts_after(viewer_client, winback):
    response = viewer_client.get(url("audiences", "acme"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "VIP Winback" in html
    assert f'hx-get="{url("audience_count", "acme", winback.pk)}"' in html
    assert "New audience" not in html


def test_count_fragment_counts_subscribed_members_only(viewer_client, winback):
    response = viewer_client.get(url("audience_count", "acme", winback.pk), **HTMX)
    assert response.content.decode().strip() == (
        '<span class="count" data-testid="member-count">1</span>'
    )


def test_outsider_gets_404_on_every_audience_url(outsider_client, winback):
    for name in ("audience_detail", "audience_count", "audience_edit", "audience_export"):
        assert outsider_client.get(url(name, "acme", winback.pk)).status_code == 404
        assert outsider_client.get(url(name, "globex", winback.pk)).status_code == 404
    assert outsider_client.post(url("audience_archive", "globex", winback.pk)).status_code == 404
    assert outsider_client.get(url("audiences", "acme")).status_code == 404
    assert outsider_client.get(url("labels", "acme")).status_code == 404
    winback.refresh_from_db()
    assert winback.status == "active"


def test_viewer_reads_but_cannot_write(viewer_client, winback):
    assert viewer_client.get(url("audience_detail", "acme", winback.pk)).status_code == 200
    assert viewer_client.get(url("audience_new", "acme")).status_code == 403
    assert viewer_client.post(url("audience_new", "acme"), {"name": "x"}).status_code == 403
    assert viewer_client.get(url("audience_edit", "acme", winback.pk)).status_code == 403
    assert viewer_client.post(url("audience_builder", "acme")).status_code == 403
    assert viewer_client.post(url("audience_archive", "acme", winback.pk)).status_code == 403
    assert viewer_client.get(url("audience_export", "acme", winback.pk)).status_code == 403
    assert Audience.objects.count() == 1


def test_wrong_methods_are_refused(editor_client, winback):
    assert editor_client.post(url("audiences", "acme")).status_code == 405
    assert editor_client.get(url("audience_builder", "acme")).status_code == 405
    assert editor_client.get(url("audience_archive", "acme", winback.pk)).status_code == 405
    assert editor_client.post(url("audience_detail", "acme", winback.pk)).status_code == 405
    assert editor_client.post(url("audience_export", "acme", winback.pk)).status_code == 405


def test_editor_saves_an_audience_with_canonical_conditions(
    editor_client, account, shop, sending_list
):
    response = editor_client.post(
        url("audience_new", "acme"),
        {
            "name": "Promo Candidates",
            "conditions": "promo_responsive=true and buyer_status=once",
            "sending_lists": [sending_list.pk],
        },
    )
    audience = Audience.objects.get(account=account, name="Promo Candidates")
    assert response["Location"] == url("audience_detail", "acme", audience.pk)
    assert audience.conditions == "label:promo_responsive = true AND label:buyer_status = once"
    assert audience.list_ids() == [sending_list.pk]
    assert [c.pk for c in audience.members()] == [shop["promo"].pk]


def test_invalid_conditions_are_shown_and_nothing_is_saved(editor_client, shop):
    response = editor_client.post(
        url("audience_new", "acme"), {"name": "Broken", "conditions": "tier IN [gold"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["conditions"] == ["expected ',' or ']' at column 14"]
    assert not Audience.objects.exists()


def test_names_are_unique_in_the_account(editor_client, winback):
    response = editor_client.post(url("audience_new", "acme"), {"name": "VIP Winback"})
    assert response.context["form"].errors["name"] == ["An audience with this name already exists."]


def test_another_accounts_list_cannot_be_chosen(editor_client, other_account, shop):
    theirs = SendingListFactory(account=other_account, name="Theirs")
    response = editor_client.post(
        url("audience_new", "acme"), {"name": "Sneaky", "sending_lists": [theirs.pk]}
    )
    assert "sending_lists" in response.context["form"].errors
    assert not Audience.objects.exists()


def test_edit_page_shows_rows_and_the_live_count(editor_client, winback):
    response = editor_client.get(url("audience_edit", "acme", winback.pk))
    rows = [
        (row.key, row.op.value, row.values)
        for group in response.context["builder"].groups
        for row in group.rows
    ]
    assert rows == [("ltv_tier", "=", ["vip"]), ("last_purchase_days", "=", ["90"])]
    assert response.context["count"] == 1
    html = response.content.decode()
    assert '<option value="vip" selected>vip (3)</option>' in html


def test_catalogue_link_prefills_the_builder(editor_client, shop):
    response = editor_client.get(url("audience_new", "acme"), {"conditions": "source = facebook"})
    assert response.context["conditions_text"] == "label:source = facebook"
    assert response.context["count"] == 1


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        (
            "x",
            "expected an operator (=, !=, IN, EXISTS, <, >, BETWEEN, WITHIN LAST, CONTAINS, ...)"
            " at column 2",
        ),
        ("((tier = ", "expected a value after '=' at column 10"),
        ("tier IN [gold", "expected ',' or ']' at column 14"),
    ],
)
def test_a_link_with_unreadable_conditions_shows_the_page_with_the_error(
    editor_client, shop, conditions, message
):
    response = editor_client.get(url("audience_new", "acme"), {"conditions": conditions})
    assert response.status_code == 200
    assert response.context["text_error"] == message
    assert response.context["conditions_text"] == conditions
    assert response.context["count"] is None
    assert f'data-testid="text-error">{escape(message)}</p>' in response.content.decode()


def builder_post(client, data):
    return client.post(url("audience_builder", "acme"), data, **HTMX)


def test_builder_adds_a_label_row_with_the_key_dropdown(editor_client, shop):
    response = builder_post(editor_client, {"groups": "0", "action": "add_group"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="builder-rows"')
    assert '<option value="ltv_tier">ltv_tier (3)</option>' in html
    assert '<option value="source">source (2)</option>' in html


def test_builder_picking_a_key_loads_its_values_and_updates_text_and_count(editor_client, shop):
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "ltv_tier", "g0-r0-op": "="}
    response = builder_post(editor_client, data)
    html = response.content.decode()
    assert '<option value="vip">vip (3)</option>' in html
    data["g0-r0-value"] = "vip"
    response = builder_post(editor_client, data)
    html = response.content.decode()
    assert response.context["conditions_text"] == "label:ltv_tier = vip"
    assert response.context["count"] == 2
    assert 'id="id_conditions"' in html
    assert 'hx-swap-oob="true"' in html
    assert '<strong data-testid="builder-count">2</strong>' in html


def test_builder_scope_follows_the_ticked_lists(editor_client, shop, account):
    other_list = SendingListFactory(account=account, name="Other", phone_number="+14155550150")
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "ltv_tier", "g0-r0-op": "EXISTS"}
    assert builder_post(editor_client, data).context["count"] == 2
    data["sending_lists"] = [other_list.pk]
    assert builder_post(editor_client, data).context["count"] == 0


def test_builder_text_edit_rebuilds_rows_without_rewriting_the_text(editor_client, shop):
    response = builder_post(
        editor_client, {"source": "text", "conditions": "ltv_tier=vip AND source != Facebook"}
    )
    html = response.content.decode()
    rows = [
        (r.key, r.op.value, r.values) for g in response.context["builder"].groups for r in g.rows
    ]
    assert rows == [("ltv_tier", "=", ["vip"]), ("source", "!=", ["Facebook"])]
    assert response.context["count"] == 1
    assert 'id="id_conditions"' not in html
    assert "Also matches contacts that have no “source” label." in html


def test_builder_text_error_names_the_column(editor_client, shop):
    response = builder_post(editor_client, {"source": "text", "conditions": "tier = "})
    html = response.content.decode()
    assert response.context["text_error"] == "expected a value after '=' at column 8"
    assert '<strong data-testid="builder-count">—</strong>' in html


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            {"g0-r0-key": "bad key!", "g0-r0-op": "EXISTS"},
            "Label key 'bad key!' may only contain letters, digits, '_' and '-'.",
        ),
        (
            {"g0-r0-key": "ltv_tier", "g0-r0-op": "=", "g0-r0-value": "vip\nx"},
            "Label value contains the control character U+000A.",
        ),
    ],
)
def test_builder_row_refused_by_the_label_validator_shows_its_message_and_no_count(
    editor_client, shop, row, message
):
    response = builder_post(editor_client, {"groups": "1", "g0-rows": "1", **row})
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["text_error"] == message
    assert response.context["count"] is None
    assert f'data-testid="text-error" hx-swap-oob="true">{escape(message)}</p>' in html
    assert '<strong data-testid="builder-count">—</strong>' in html
    # The text keeps the last valid conditions the user had.
    assert 'id="id_conditions"' not in html


def test_builder_join_toggle_and_remove(editor_client, shop):
    data = {
        "groups": "2",
        "g0-rows": "1",
        "g0-r0-key": "ltv_tier",
        "g0-r0-op": "EXISTS",
        "g1-rows": "1",
        "g1-r0-key": "cohort",
        "g1-r0-op": "EXISTS",
    }
    toggled = builder_post(editor_client, {**data, "action": "join"})
    assert toggled.context["conditions_text"] == "label:ltv_tier EXISTS OR label:cohort EXISTS"
    assert toggled.context["count"] == 3
    removed = builder_post(editor_client, {**data, "action": "remove_row:1:0"})
    assert removed.context["conditions_text"] == "label:ltv_tier EXISTS"


def test_builder_join_between_groups_keeps_the_groups_own_join(editor_client, shop):
    # (ltv_tier = vip OR source = facebook) AND last_purchase_days = 30
    data = {
        "join": "AND",
        "groups": "2",
        "g0-rows": "2",
        "g0-join": "OR",
        "g0-r0-key": "ltv_tier",
        "g0-r0-op": "=",
        "g0-r0-value": "vip",
        "g0-r1-key": "source",
        "g0-r1-op": "=",
        "g0-r1-value": "facebook",
        "g1-rows": "1",
        "g1-join": "OR",
        "g1-r0-key": "last_purchase_days",
        "g1-r0-op": "=",
        "g1-r0-value": "30",
    }
    before = builder_post(editor_client, data)
    assert before.context["conditions_text"] == (
        "(label:ltv_tier = vip OR label:source = facebook) AND label:last_purchase_days = 30"
    )
    assert before.context["count"] == 1
    toggled = builder_post(editor_client, {**data, "action": "join"})
    assert toggled.context["conditions_text"] == (
        "label:ltv_tier = vip OR label:source = facebook OR label:last_purchase_days = 30"
    )
    assert toggled.context["count"] == 2
    html = toggled.content.decode()
    assert '<input type="hidden" name="g0-join" value="OR">' in html
    assert '<input type="hidden" name="g1-join" value="AND">' in html
    inside = builder_post(editor_client, {**data, "action": "group_join:0"})
    assert inside.context["conditions_text"] == (
        "label:ltv_tier = vip AND label:source = facebook AND label:last_purchase_days = 30"
    )


def test_builder_rows_change_refused_while_the_text_is_not_valid(editor_client, shop):
    typed = "label:ltv_tier = vip AND ("
    data = {
        "conditions": typed,
        "groups": "1",
        "g0-rows": "1",
        "g0-r0-key": "ltv_tier",
        "g0-r0-op": "=",
        "g0-r0-value": "standard",
    }
    response = builder_post(editor_client, {**data, "action": "add_group"})
    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["text_error"] == "expected a condition at column 27"
    assert response.context["count"] is None
    # The typed text is not replaced, and the rows are not changed but marked as out of date.
    assert 'id="id_conditions"' not in html
    assert len(response.context["builder"].groups) == 1
    assert 'data-testid="rows-stale"' in html
    assert '<div class="builder-body stale" inert>' in html


def test_builder_text_that_does_not_parse_marks_the_rows_out_of_date(editor_client, shop):
    response = builder_post(editor_client, {"source": "text", "conditions": "tier = "})
    assert response.context["text_invalid"] is True
    assert "The conditions text below is not valid" in response.content.decode()
    valid = builder_post(editor_client, {"source": "text", "conditions": "tier = gold"})
    assert valid.context["text_invalid"] is False
    assert 'data-testid="rows-stale"' not in valid.content.decode()


def test_builder_in_values_are_checkboxes(editor_client, shop):
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "source", "g0-r0-op": "IN"}
    data["g0-r0-value"] = ["Facebook"]
    html = builder_post(editor_client, data).content.decode()
    assert (
        '<input type="checkbox" name="g0-r0-value" value="Facebook" checked> '
        '<span class="value-text">Facebook</span> <span class="muted">1</span>'
    ) in html
    assert '<input type="checkbox" name="g0-r0-value" value="facebook">' in html
    assert "multiple" not in html


def values_get(client, params):
    return client.get(url("audience_builder_values", "acme"), params, **HTMX)


def test_builder_value_search_answers_the_rows_choices(editor_client, shop):
    params = {"row": "g1-r0", "g1-r0-key": "source", "g1-r0-op": "IN", "g1-r0-q": "Face"}
    params["g1-r0-value"] = ["google"]
    response = values_get(editor_client, params)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="g1-r0-values" class="value-choices"')
    # The chosen value stays first, then the prefix match, then the other case.
    assert response.context["row"].options == [
        ("google", None, True),
        ("Facebook", 1, False),
        ("facebook", 1, False),
    ]
    single = values_get(editor_client, {**params, "g1-r0-op": "=", "g1-r0-value": ""})
    assert '<select name="g1-r0-value" aria-label="Value">' in single.content.decode()
    nothing = values_get(editor_client, {**params, "g1-r0-q": "zzz", "g1-r0-value": []})
    assert "No source value contains “zzz”." in nothing.content.decode()


@pytest.mark.parametrize("row", ["", "x", "g1-r0-key", "g100-r0"])
def test_builder_value_search_without_a_row_is_a_bad_request(editor_client, shop, row):
    response = values_get(editor_client, {"row": row})
    assert response.status_code == 400
    assert response.content.decode() == "The row to search values for is missing."


def test_builder_value_search_is_for_editors_of_the_account(
    editor_client, viewer_client, outsider_client, shop
):
    params = {"row": "g0-r0", "g0-r0-key": "source", "g0-r0-op": "IN"}
    assert values_get(viewer_client, params).status_code == 403
    assert values_get(outsider_client, params).status_code == 404
    assert editor_client.post(url("audience_builder_values", "acme")).status_code == 405


def test_builder_takes_a_bounded_number_of_queries(
    editor_client, shop, django_assert_max_num_queries
):
    data = {
        "groups": "2",
        "g0-rows": "1",
        "g0-r0-key": "ltv_tier",
        "g0-r0-op": "=",
        "g0-r0-value": "vip",
        "g1-rows": "1",
        "g1-r0-key": "source",
        "g1-r0-op": "IN",
    }
    with django_assert_max_num_queries(9):
        builder_post(editor_client, data)


def test_detail_shows_conditions_and_members_with_labels(viewer_client, winback, shop):
    response = viewer_client.get(url("audience_detail", "acme", winback.pk))
    assert [c.pk for c in response.context["members"]] == [shop["vip90"].pk]
    html = response.content.decode()
    assert "label:ltv_tier = vip AND label:last_purchase_days = 90" in html
    assert '<span class="chip-key">source</span>' in html


def test_detail_members_are_keyset_paged_with_an_htmx_fragment(
    viewer_client, account, sending_list, admin_user, django_assert_max_num_queries
):
    contacts = [
        label_contact(ContactFactory(sending_list=sending_list), {"vip": "true"}) for _ in range(60)
    ]
    everyone = Audience.objects.create(account=account, name="All", conditions="")
    with django_assert_max_num_queries(9):
        first = viewer_client.get(url("audience_detail", "acme", everyone.pk))
    assert [c.pk for c in first.context["members"]] == [c.pk for c in contacts[:50]]
    cursor = first.context["page"].next_cursor
    assert f'rel="next" href="/a/acme/audiences/{everyone.pk}/?cursor=' in first.content.decode()
    second = viewer_client.get(
        url("audience_detail", "acme", everyone.pk), {"cursor": cursor, "job": "1"}, **HTMX
    )
    assert [c.pk for c in second.context["members"]] == [c.pk for c in contacts[50:]]
    html = second.content.decode()
    assert html.lstrip().startswith('<section id="members-table">')
    # The job's progress is shown once, after it starts: page links do not carry it.
    assert f'<a href="/a/acme/audiences/{everyone.pk}/">← First page</a>' in html
    assert second.context["page"].next_cursor == ""


def test_archive_and_restore(editor_client, winback):
    asked = editor_client.post(url("audience_archive", "acme", winback.pk), {"archive": "1"})
    assert asked.context["title"] == f"Archive “{winback.name}”?"
    winback.refresh_from_db()
    assert winback.status == "active"
    editor_client.post(
        url("audience_archive", "acme", winback.pk), {"archive": "1", "confirmed": "1"}
    )
    winback.refresh_from_db()
    assert winback.status == "archived"
    editor_client.post(url("audience_archive", "acme", winback.pk), {"archive": "0"})
    winback.refresh_from_db()
    assert winback.status == "active"


def test_export_streams_members_with_label_columns_neutralised(editor_client, account, shop):
    audience = Audience.objects.create(
        account=account, name="Buyers", conditions="label:buyer_status EXISTS"
    )
    response = editor_client.get(url("audience_export", "acme", audience.pk))
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="buyers.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        [
            "phone_number",
            "label_buyer_status",
            "label_cohort",
            "label_engagement_level",
            "label_note",
            "label_promo_responsive",
        ],
        ["+14155553002", "once", "", "", "'=HYPERLINK(1)", "true"],
        ["+14155553003", "never", "2024-Q1", "high", "", ""],
    ]


def test_labels_page_lists_keys_with_counts_and_duplicate_hints(viewer_client, shop):
    response = viewer_client.get(url("labels", "acme"))
    keys = {item.key: item.contacts for item in response.context["label_keys"]}
    assert keys["ltv_tier"] == 3
    assert keys["source"] == 2
    assert response.context["similar_keys"] == []


def test_similar_keys_and_values_are_flagged(viewer_client, shop, sending_list):
    label_contact(
        ContactFactory(sending_list=sending_list),
        {"Source": "facebook", "buyer-status": "once", "LTV_tier": "vip"},
    )
    keys = viewer_client.get(url("labels", "acme")).context["similar_keys"]
    assert [group["names"] for group in keys] == [
        ["LTV_tier", "ltv_tier"],
        ["Source", "source"],
        ["buyer-status", "buyer_status"],
    ]
    assert keys[1]["merges"] == [("Source", "source"), ("source", "Source")]
    values = viewer_client.get(url("label_detail", "acme", "source")).context["similar_values"]
    assert values == [
        {
            "names": ["Facebook", "facebook"],
            "merges": [("Facebook", ["facebook"]), ("facebook", ["Facebook"])],
        }
    ]


def test_label_detail_shows_values_as_bars_with_links(viewer_client, shop):
    response = viewer_client.get(url("label_detail", "acme", "ltv_tier"))
    assert [(v.value, v.contacts) for v in response.context["label_values"]] == [("vip", 3)]
    html = response.content.decode()
    assert '<meter min="0" max="3" value="3">3</meter>' in html
    assert "/a/acme/contacts/?key=ltv_tier&amp;value=vip" in html


def test_unknown_label_key_is_404(viewer_client, shop, other_contact):
    assert viewer_client.get(url("label_detail", "acme", "nope")).status_code == 404
    # A key only another account uses is unknown here too.
    other_key = viewer_client.get(url("label_detail", "acme", "source"))
    assert [(v.value, v.contacts) for v in other_key.context["label_values"]] == [
        ("Facebook", 1),
        ("facebook", 1),
    ]


# Audit log


def test_the_audit_log_is_paged_newest_first(
    editor_client, account, monkeypatch, django_assert_max_num_queries
):
    from audiences.models import LabelChange

    monkeypatch.setattr("audiences.views.AUDIT_PER_PAGE", 2)
    changes = [
        LabelChange.objects.create(account=account, action="add", key=f"k{i}", target="t")
        for i in range(5)
    ]
    newest_first = [c.pk for c in reversed(changes)]
    with django_assert_max_num_queries(6):
        first = editor_client.get(url("label_changes", "acme"))
    assert [c.pk for c in first.context["changes"]] == newest_first[:2]
    html = first.content.decode()
    assert 'rel="next" href="/a/acme/audit/?cursor=' in html
    assert 'rel="prev"' not in html
    second = editor_client.get(
        url("label_changes", "acme"), {"cursor": first.context["page"].next_cursor}
    )
    assert [c.pk for c in second.context["changes"]] == newest_first[2:4]
    last = editor_client.get(
        url("label_changes", "acme"), {"cursor": second.context["page"].next_cursor}
    )
    assert [c.pk for c in last.context["changes"]] == newest_first[4:]
    assert 'rel="next"' not in last.content.decode()
    back = editor_client.get(
        url("label_changes", "acme"), {"cursor": last.context["page"].previous_cursor}
    )
    assert [c.pk for c in back.context["changes"]] == newest_first[2:4]


def test_a_broken_audit_log_link_shows_the_first_page(editor_client, account):
    response = editor_client.get(url("label_changes", "acme"), {"cursor": "12"})
    assert response.status_code == 200
    assert "This page link is broken; here is the first page." in response.content.decode()


# Numbers, dates and text in the builder and the catalogue


@pytest.fixture
def dated(account, sending_list):
    """Signup dates, one of them not a date, and an order count."""
    for value in ["2024-01-15", "2024-03-20", "Jan 15, 2024"]:
        label_contact(
            ContactFactory(sending_list=sending_list), {"signup_date": value, "orders": "3"}
        )


def test_builder_offers_typed_operators_for_a_date_key_with_a_date_input(editor_client, dated):
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "signup_date", "g0-r0-op": "<"}
    html = builder_post(editor_client, data).content.decode()
    assert '<option value="&lt;" selected>&lt;</option>' in html
    assert '<option value="WITHIN LAST DAYS">within the last … days</option>' in html
    assert '<option value="CONTAINS">contains</option>' in html
    assert 'type="date"' in html
    assert (
        "1 value of <code>signup_date</code> is not a date: that contact is never matched." in html
    )
    data["g0-r0-value"] = "2024-02-01"
    response = builder_post(editor_client, data)
    assert response.context["conditions_text"] == "label:signup_date < 2024-02-01"
    assert response.context["count"] == 1


def test_builder_offers_no_days_operators_for_a_number_key(editor_client, dated):
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "orders", "g0-r0-op": "BETWEEN"}
    data["g0-r0-value"] = ["2", "5"]
    response = builder_post(editor_client, data)
    html = response.content.decode()
    assert '<option value="BETWEEN" selected>between</option>' in html
    assert "WITHIN LAST DAYS" not in html
    assert html.count('type="number" step="any"') == 2
    assert response.context["conditions_text"] == "label:orders BETWEEN 2 AND 5"
    assert response.context["count"] == 3


def test_builder_offers_only_text_operators_beyond_the_usual_for_a_text_key(editor_client, shop):
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "source", "g0-r0-op": "CONTAINS"}
    data["g0-r0-value"] = "BOOK"
    response = builder_post(editor_client, data)
    html = response.content.decode()
    assert '<option value="&lt;">' not in html
    assert '<option value="CONTAINS" selected>contains</option>' in html
    assert response.context["conditions_text"] == "label:source CONTAINS BOOK"
    assert response.context["count"] == 2


def test_builder_row_with_a_bad_number_shows_why_and_no_count(editor_client, dated):
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "orders", "g0-r0-op": ">"}
    data["g0-r0-value"] = "1,000"
    response = builder_post(editor_client, data)
    assert response.context["text_error"] == (
        "'1,000' is not a number (like 90 or -2.5) or a date (like 2024-03-20)."
    )
    assert response.context["count"] is None


def test_label_detail_counts_value_types_and_lists_the_values_that_are_not_dates(
    viewer_client, dated
):
    response = viewer_client.get(url("label_detail", "acme", "signup_date"))
    assert response.context["value_types"] == (3, 0, 2)
    assert response.context["main_type"] == "date"
    assert [tuple(item) for item in response.context["breaking_values"]] == [("Jan 15, 2024", 1)]
    html = response.content.decode()
    assert "Value types: 0 numbers, 2 dates, 1 other" in html
    assert '1 value of <span class="mono">signup_date</span> is not a date' in html
    assert "<code>Jan 15, 2024</code>" in html
    numbers = viewer_client.get(url("label_detail", "acme", "orders"))
    assert numbers.context["main_type"] == "number"
    assert numbers.context["breaking_values"] == []


def test_builder_says_what_its_numbers_count(editor_client, shop):
    # The unsubscribed contact has ltv_tier=vip: the key counts 3 contacts, the count below 2.
    data = {"groups": "1", "g0-rows": "1", "g0-r0-key": "ltv_tier", "g0-r0-op": "EXISTS"}
    response = builder_post(editor_client, data)
    html = response.content.decode()
    assert '<option value="ltv_tier" selected>ltv_tier (3)</option>' in html
    assert response.context["count"] == 2
    assert (
        "Numbers beside keys and values count every contact with that label, unsubscribed ones "
        "included; “Matching now” counts subscribed contacts only."
    ) in html
