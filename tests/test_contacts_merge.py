"""Same person, one contact: matching captures to contacts, and merging two contacts by hand."""

import pytest
from sqlalchemy import func, select

from tests.helpers import add_capture, add_event
from webapp.capture.ingest import CaptureData, HookData
from webapp.capture.photos import check_photo, keep_photo
from webapp.capture.store import record_capture
from webapp.contacts.merge import MergeError, contact_references, merge_contacts
from webapp.contacts.models import Contact, ContactHandle, Encounter, Hook
from webapp.extensions import db

HX = {"HX-Request": "true"}


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


# -- matching: a capture that names a known person attaches to them ---------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"email": "Ana@Example.com"}, {"email": "ana@example.com"}),
        ({"phone": "+49 30 1234567"}, {"phone": "0049 (30) 123-4567"}),
        (
            {"url": "https://www.linkedin.com/in/ana-ortiz"},
            {"url": "https://linkedin.com/in/Ana-Ortiz/?utm_source=share&trk=public"},
        ),
        ({"url": "https://www.linkedin.com/in/ana-ortiz"}, {"url": "linkedin://in/ana-ortiz"}),
        (
            {"url": "https://de.linkedin.com/in/ana-ortiz/"},
            {"url": "http://linkedin.com/in/ana-ortiz"},
        ),
        ({"raw": "MECARD:N:Ortiz,Ana;EMAIL:ana@example.com;;"}, {"email": "ANA@example.com"}),
    ],
)
def test_a_capture_naming_a_known_person_becomes_a_new_encounter(app, alice, first, second):
    _, contact_id = add_capture(app, alice, name="Ana Ortiz", **first)
    _, again = add_capture(app, alice, note="second chat", **second)
    assert again == contact_id
    assert _count(app, Contact) == 1
    assert _count(app, Encounter, Encounter.contact_id == contact_id) == 2


def test_the_contact_page_shows_every_encounter(app, as_alice, alice):
    add_event(app, alice, name="PyCon")
    _, contact_id = add_capture(app, alice, name="Ana", email="ana@example.com", note="first chat")
    add_capture(app, alice, email="ana@example.com", note="second chat at the party")
    page = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "first chat" in page and "second chat at the party" in page
    assert page.count('class="encounter"') == 2


def test_the_same_handle_of_another_user_does_not_match(app, alice, bob):
    _, alices = add_capture(app, alice, name="Ana", email="ana@example.com")
    _, bobs = add_capture(app, bob, name="Ana", email="ana@example.com")
    assert alices != bobs


# -- merge_contacts: the domain function ---------------------------------------------------


def _two_people(app, user_id):
    """Two contacts that are one person: Ana by email at one event, A. Ortiz by phone."""
    event = add_event(app, user_id, name="PyCon")
    with app.app_context():
        a = record_capture(
            user_id,
            CaptureData(
                name="Ana Ortiz",
                email="ana@example.com",
                note="talked pricing",
                event_id=event,
                hooks=[HookData("send_resource", "pricing deck")],
            ),
        )
        b = record_capture(
            user_id,
            CaptureData(
                org="Northwind",
                title="CTO",
                phone="+1 555 0100",
                url="https://www.linkedin.com/in/ana-ortiz",
                note="at the party",
                rating="hot",
                event_id=event,
                hooks=[HookData("meet", "next week", "them")],
            ),
        )
        db.session.commit()
        return a.contact_id, b.contact_id, a.id, b.id


def test_merging_keeps_every_encounter_hook_and_identifier(app, alice, bob):
    keep_id, other_id, enc_a, enc_b = _two_people(app, alice)
    add_capture(app, bob, name="Bob's contact", email="x@example.com")
    with app.app_context():
        merged = merge_contacts(alice, keep_id, other_id)
        db.session.commit()
        assert merged.id == keep_id
        assert db.session.get(Contact, other_id) is None
        keep = db.session.get(Contact, keep_id)
        assert (keep.name, keep.org, keep.title, keep.rating) == (
            "Ana Ortiz",
            "Northwind",
            "CTO",
            "hot",
        )
        assert keep.emails == ["ana@example.com"]
        assert keep.phones == ["+1 555 0100"]
        assert keep.urls == ["https://www.linkedin.com/in/ana-ortiz"]
        assert {e.id for e in keep.encounters} == {enc_a, enc_b}
        hooks = db.session.scalars(
            select(Hook).join(Encounter).where(Encounter.contact_id == keep_id)
        )
        assert {h.type for h in hooks} == {"send_resource", "meet"}
        handles = db.session.scalars(
            select(ContactHandle.kind).where(ContactHandle.contact_id == keep_id)
        )
        assert sorted(handles) == ["email", "linkedin", "phone"]
    # The merged person is found again by any of both identifiers.
    _, by_phone = add_capture(app, alice, phone="+15550100")
    _, by_email = add_capture(app, alice, email="ana@example.com")
    assert by_phone == by_email == keep_id


def test_merging_moves_drafts_and_keeps_both_when_they_clash(app, alice):
    keep_id, other_id, _, _ = _two_people(app, alice)
    from webapp.outreach.models import Draft

    with app.app_context():
        before = {(d.id, d.contact_id) for d in db.session.scalars(select(Draft))}
    assert {c for _, c in before} == {keep_id, other_id}  # the planner queued one per person
    with app.app_context():
        merge_contacts(alice, keep_id, other_id)
        db.session.commit()
        after = {(d.id, d.contact_id) for d in db.session.scalars(select(Draft))}
    assert {d for d, _ in after} == {d for d, _ in before}  # nothing lost
    assert {c for _, c in after} == {keep_id}


def test_every_reference_to_a_contact_is_moved(app):
    with app.app_context():
        found = {(table.name, column) for table, column in contact_references()}
    assert {("encounters", "contact_id"), ("contact_handles", "contact_id")} <= found
    assert ("drafts", "contact_id") in found
    assert {("introductions", "a_id"), ("introductions", "b_id")} <= found


def test_merging_keeps_kept_badge_photos(app, alice):
    keep_id, other_id, _, enc_b = _two_people(app, alice)
    import io

    from tests.fakecam import blank_frame

    out = io.BytesIO()
    blank_frame(64, 48).save(out, "PNG")
    with app.app_context():
        keep_photo(alice, enc_b, check_photo(out.getvalue()))
        merge_contacts(alice, keep_id, other_id)
        db.session.commit()
        keep = db.session.get(Contact, keep_id)
        assert [len(e.photos) for e in keep.encounters if e.id == enc_b] == [1]


def test_merging_refuses_another_users_contact_and_itself(app, alice, bob):
    _, alices = add_capture(app, alice, name="Ana")
    _, bobs = add_capture(app, bob, name="Bo")
    with app.app_context():
        with pytest.raises(LookupError):
            merge_contacts(alice, alices, bobs)
        with pytest.raises(LookupError):
            merge_contacts(bob, alices, bobs)
        with pytest.raises(MergeError):
            merge_contacts(alice, alices, alices)
    assert _count(app, Contact) == 2


# -- the merge screens ----------------------------------------------------------------------


def test_the_contact_page_links_to_merging(app, as_alice, alice):
    _, contact_id = add_capture(app, alice, name="Ana")
    page = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert f'href="/contacts/{contact_id}/merge"' in page
    assert "Merge with…" in page


def test_choosing_lists_and_searches_the_users_other_contacts(app, as_alice, alice, bob):
    _, ana = add_capture(app, alice, name="Ana Ortiz")
    _, ann = add_capture(app, alice, name="A. Ortiz", email="ann@example.com")
    _, zed = add_capture(app, alice, name="Zed")
    add_capture(app, bob, name="Ortiz of Bob")
    page = as_alice.get(f"/contacts/{ana}/merge").get_data(as_text=True)
    assert "<html" in page
    assert f"/contacts/{ana}/merge/{ann}" in page and f"/contacts/{ana}/merge/{zed}" in page
    assert f"/contacts/{ana}/merge/{ana}" not in page
    assert "Ortiz of Bob" not in page
    fragment = as_alice.get(f"/contacts/{ana}/merge?q=ortiz", headers=HX)
    body = fragment.get_data(as_text=True)
    assert "<html" not in body
    assert f"/merge/{ann}" in body and f"/merge/{zed}" not in body
    assert "Vary" in fragment.headers and "HX-Request" in fragment.headers["Vary"]


def test_confirming_shows_both_people_then_merges(app, as_alice, alice):
    keep_id, other_id, enc_a, enc_b = _two_people(app, alice)
    page = as_alice.get(f"/contacts/{keep_id}/merge/{other_id}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "<html" in body
    assert "Keeps everything" in body and "Northwind" in body and "Merge into Ana Ortiz" in body
    fragment = as_alice.get(f"/contacts/{keep_id}/merge/{other_id}", headers=HX)
    assert "<html" not in fragment.get_data(as_text=True)
    assert _count(app, Contact) == 2  # looking does not merge

    done = as_alice.post(f"/contacts/{keep_id}/merge/{other_id}")
    assert done.status_code == 302
    assert done.headers["Location"].endswith(f"/contacts/{keep_id}")
    shown = as_alice.get(f"/contacts/{keep_id}").get_data(as_text=True)
    assert "talked pricing" in shown and "at the party" in shown
    assert "Merged" in shown
    assert as_alice.get(f"/contacts/{other_id}").status_code == 404


def test_merging_with_another_users_contact_is_404(app, as_alice, alice, bob):
    _, mine = add_capture(app, alice, name="Ana")
    _, theirs = add_capture(app, bob, name="Bo")
    assert as_alice.get(f"/contacts/{theirs}/merge").status_code == 404
    assert as_alice.get(f"/contacts/{mine}/merge/{theirs}").status_code == 404
    assert as_alice.post(f"/contacts/{mine}/merge/{theirs}").status_code == 404
    assert as_alice.post(f"/contacts/{theirs}/merge/{mine}").status_code == 404
    assert as_alice.post(f"/contacts/{mine}/merge/{mine}").status_code == 404
    assert _count(app, Contact) == 2


def test_merge_screens_refuse_wrong_methods_and_need_a_login(app, client, as_alice, alice):
    _, a = add_capture(app, alice, name="Ana")
    _, b = add_capture(app, alice, name="Bea")
    assert as_alice.post(f"/contacts/{a}/merge").status_code == 405
    assert as_alice.delete(f"/contacts/{a}/merge/{b}").status_code == 405
    as_alice.post("/logout")
    assert client.post(f"/contacts/{a}/merge/{b}").status_code == 302
    assert _count(app, Contact) == 2


@pytest.mark.csrf
def test_merging_needs_the_csrf_token(app, as_alice, alice):
    _, a = add_capture(app, alice, name="Ana")
    _, b = add_capture(app, alice, name="Bea")
    assert as_alice.post(f"/contacts/{a}/merge/{b}").status_code == 400
    page = as_alice.get(f"/contacts/{a}/merge/{b}").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert as_alice.post(f"/contacts/{a}/merge/{b}", data={"csrf_token": token}).status_code == 302
    assert _count(app, Contact) == 1
