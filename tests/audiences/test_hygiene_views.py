"""The dashboard's label edits (from the catalogue's hints) and undo (from the audit log)."""

import re

import pytest
from django.urls import reverse

from audiences import services
from audiences.models import Audience, LabelChange
from contacts.importing import import_file
from contacts.models import Contact, Label
from tests.factories import ContactFactory, label_contact
from trackly.models import Job


def labels_of(contact) -> dict[str, str]:
    return dict(Label.objects.filter(contact=contact).values_list("key", "value"))


@pytest.fixture
def sources(sending_list):
    make = lambda labels: label_contact(ContactFactory(sending_list=sending_list), labels)  # noqa: E731
    return {
        "big": make({"source": "Facebook", "Source": "x"}),
        "small": make({"source": "facebook"}),
        "other": make({"source": "tv"}),
    }


def edit_url(key="source", slug="acme"):
    return reverse("audiences:label_edit", args=[slug, key])


def test_value_hint_offers_merge_into_each_value(editor_client, sources):
    html = editor_client.get(reverse("audiences:label_detail", args=["acme", "source"])).content
    assert (
        b'href="/a/acme/labels/source/edit/?action=merge_values&amp;value=facebook'
        b'&amp;values=Facebook&amp;review=1">Merge into facebook</a>' in html
    )
    # One click opens the review with its counts, changing nothing.
    asked = {"action": "merge_values", "value": "facebook", "values": "Facebook", "review": "1"}
    review = editor_client.get(edit_url(), asked)
    assert '<dd data-testid="review-contacts">1</dd>' in review.content.decode()
    assert labels_of(sources["big"])["source"] == "Facebook"
    assert not LabelChange.objects.exists()


def test_key_hint_offers_merge_into_each_key(editor_client, sources):
    html = editor_client.get(reverse("audiences:labels", args=["acme"])).content
    assert (
        b'href="/a/acme/labels/Source/edit/?action=rename_key&amp;new_key=source&amp;review=1"'
        in html
    )
    assert b"Merge into source</a>" in html
    review = editor_client.get(
        edit_url("Source"), {"action": "rename_key", "new_key": "source", "review": "1"}
    )
    assert review.context["review"].contacts == 1
    assert '<dd data-testid="review-kept">1</dd>' in review.content.decode()
    assert not LabelChange.objects.exists()


def test_viewers_see_no_merge_buttons_and_cannot_edit_or_undo(viewer_client, account, sources):
    html = viewer_client.get(reverse("audiences:label_detail", args=["acme", "source"])).content
    assert b"Merge into" not in html
    assert b"Rename key" not in html
    assert viewer_client.get(edit_url()).status_code == 403
    data = {"action": "delete_key", "confirm": "1"}
    assert viewer_client.post(edit_url(), data).status_code == 403
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="succeeded")
    assert viewer_client.post(reverse("audiences:undo", args=["acme", job.pk])).status_code == 403
    assert labels_of(sources["small"]) == {"source": "facebook"}


def test_outsiders_get_404(outsider_client, account, sources):
    assert outsider_client.get(edit_url()).status_code == 404
    assert outsider_client.get(edit_url(slug="globex")).status_code == 404
    job = Job.objects.create(account=account, kind=Job.Kind.ADD_LABEL, status="succeeded")
    undo = reverse("audiences:undo", args=["globex", job.pk])
    assert outsider_client.post(undo).status_code == 404


def test_merge_review_shows_exact_counts_and_audiences_then_runs(editor_client, account, sources):
    Audience.objects.create(account=account, name="Social", conditions="label:source = Facebook")
    data = {"action": "merge_values", "values": ["Facebook"], "value": "facebook", "review": "1"}
    response = editor_client.post(edit_url(), data)
    assert response.status_code == 200
    assert response.context["review"].contacts == 1
    html = response.content.decode()
    assert '<dd data-testid="review-contacts">1</dd>' in html
    assert "label:source = Facebook</code> → <code>label:source = facebook</code>" in html
    assert labels_of(sources["big"])["source"] == "Facebook"
    social = Audience.objects.get(name="Social")
    response = editor_client.post(edit_url(), {**data, "confirm": "1", "rewrite": [social.pk]})
    change = LabelChange.objects.get(action="merge_values")
    assert response.status_code == 302
    assert response["Location"] == reverse("job_detail", args=["acme", change.job_id])
    assert change.counts == {
        "contacts": 1,
        "kept_target": 0,
        "skipped": 0,
        "audiences_rewritten": 1,
    }
    assert labels_of(sources["big"]) == {"source": "facebook", "Source": "x"}
    social.refresh_from_db()
    assert social.conditions == "label:source = facebook"


def test_undo_sets_back_the_audiences_a_merge_rewrote_unless_edited_since(
    editor_client, account, sources
):
    social = Audience.objects.create(
        account=account, name="Social", conditions="label:source = Facebook"
    )
    paid = Audience.objects.create(
        account=account, name="Paid", conditions="label:source IN [Facebook, tv]"
    )
    data = {"action": "merge_values", "values": ["Facebook"], "value": "facebook"}
    editor_client.post(edit_url(), {**data, "confirm": "1", "rewrite": [social.pk, paid.pk]})
    change = LabelChange.objects.get(action="merge_values")
    assert change.rewrites == [
        [paid.pk, "label:source IN [Facebook, tv]", "label:source IN [facebook, tv]"],
        [social.pk, "label:source = Facebook", "label:source = facebook"],
    ]
    # Someone edits one of them after the merge.
    paid.conditions = "label:source = facebook"
    paid.save()

    url = reverse("audiences:undo", args=["acme", change.job_id])
    html = editor_client.get(url).content.decode()
    rewrites = re.findall(r'<li data-unchanged="(\w+)"><strong>(\w+)</strong>', html)
    assert rewrites == [("false", "Paid"), ("true", "Social")]
    assert (
        "set back from <code>label:source = facebook</code> to "
        "<code>label:source = Facebook</code>" in html
    )
    assert "edited since, left as it is: <code>label:source = facebook</code>" in html
    done = editor_client.post(url)
    undo = LabelChange.objects.get(action="undo")
    # The job's page names each count in words.
    page = editor_client.get(done["Location"]).content.decode()
    result = page.split('data-testid="job-result">')[1].split("</dl>")[0]
    facts = re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", result)
    assert facts == [
        ("Labels restored", "1"),
        ("Contacts changed", "1"),
        ("Contacts erased", "0"),
        ("Changed since: left alone", "0"),
        ("Skipped: at the label limit", "0"),
        ("Saved audiences set back", "1"),
        ("Saved audiences edited since: left alone", "1"),
    ]
    assert undo.counts["audiences_restored"] == 1
    assert undo.counts["audiences_changed_since"] == 1
    assert undo.rewrites == [[social.pk, "label:source = facebook", "label:source = Facebook"]]
    assert labels_of(sources["big"])["source"] == "Facebook"
    social.refresh_from_db()
    paid.refresh_from_db()
    assert (social.conditions, paid.conditions) == (
        "label:source = Facebook",
        "label:source = facebook",
    )


def test_a_bad_edit_shows_the_problem_and_changes_nothing(editor_client, sources):
    data = {"action": "rename_key", "new_key": "bad key", "confirm": "1"}
    response = editor_client.post(edit_url(), data)
    assert response.status_code == 200
    assert response.context["error"] == (
        "Label key 'bad key' may only contain letters, digits, '_' and '-'."
    )
    assert not LabelChange.objects.exists()


def test_rename_review_counts_contacts_that_have_the_new_key(editor_client, sources):
    data = {"action": "rename_key", "new_key": "source", "review": "1"}
    response = editor_client.post(edit_url("Source"), data)
    assert response.context["review"].contacts == 1
    assert response.context["review"].kept_target == 1
    assert b'<dd data-testid="review-kept">1</dd>' in response.content


def test_undo_from_the_audit_log(editor_client, account, sources):
    data = {"action": "delete_value", "value": "tv", "confirm": "1"}
    editor_client.post(edit_url(), data)
    change = LabelChange.objects.get()
    log = editor_client.get(reverse("audiences:label_changes", args=["acme"]))
    assert f'href="/a/acme/audit/undo/{change.job_id}/"'.encode() in log.content
    assert b"A change can be undone for 30 days." in log.content
    review = editor_client.get(reverse("audiences:undo", args=["acme", change.job_id]))
    assert review.context["review"].labels == 1
    assert b'<dd data-testid="undo-changed">0</dd>' in review.content
    response = editor_client.post(reverse("audiences:undo", args=["acme", change.job_id]))
    assert response.status_code == 302
    assert labels_of(sources["other"]) == {"source": "tv"}
    log = editor_client.get(reverse("audiences:label_changes", args=["acme"]))
    assert log.context["changes"][1].undone
    again = editor_client.get(reverse("audiences:undo", args=["acme", change.job_id]))
    assert again.context["error"].startswith("This change was undone already")


def test_undoing_an_import_undo_says_the_erased_contacts_do_not_come_back(
    editor_client, account, editor_user, sending_list, tmp_path
):
    path = tmp_path / "file.csv"
    path.write_text("phone,label_tier\n+14155550101,gold\n+14155550102,gold\n")
    job = Job.objects.create(account=account, kind=Job.Kind.IMPORT, status="succeeded")
    import_file(path, sending_list=sending_list, job_id=job.pk)
    # The import's own undo erases contacts; it warns of nothing.
    first = editor_client.get(reverse("audiences:undo", args=["acme", job.pk])).content
    assert b'<dd data-testid="undo-erased">2</dd>' in first
    assert b"undo-not-recreated" not in first
    undo = services.undo_start(account=account, user=editor_user, job=job)
    assert not Contact.objects.filter(sending_list=sending_list).exists()
    html = editor_client.get(reverse("audiences:undo", args=["acme", undo.job_id])).content
    assert (
        '<p class="muted" data-testid="undo-not-recreated">The 2 contacts this undo erased are '
        "not brought back: their labels are restored only on contacts that still exist.</p>"
    ) in html.decode()
