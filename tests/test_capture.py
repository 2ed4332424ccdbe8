"""The capture form, today's list and editing a capture."""

import json
import re
import sqlite3

import pytest
from sqlalchemy import func, select

from tests.helpers import add_capture, add_event
from webapp.contacts.models import Contact, Encounter, Hook
from webapp.extensions import db

PERSON = {
    "name": "Dana Diaz",
    "org": "Northwind",
    "title": "CTO",
    "email": "Dana@Northwind.example",
    "phone": "+1 555 0100",
    "url": "linkedin.com/in/danadiaz",
    "note": "Wants our migration guide",
    "offer": "Intro to our DBA",
    "ask": "Hiring manager contact",
    "rating": "hot",
    "hook_send_resource": "y",
    "detail_send_resource": "migration guide",
    "owed_send_resource": "me",
    "hook_meet": "y",
    "detail_meet": "next week",
    "owed_meet": "them",
}


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_it_saves_a_capture_with_hooks_into_the_current_event(as_alice, app, alice):
    event = add_event(app, alice)
    response = as_alice.post("/capture", data=PERSON)
    assert response.status_code == 302
    with app.app_context():
        encounter = db.session.scalar(select(Encounter))
        assert encounter.event_id == event
        assert encounter.contact.emails == ["dana@northwind.example"]
        assert encounter.url == "https://linkedin.com/in/danadiaz"
        assert encounter.rating == "hot"
        hooks = {(h.type, h.detail, h.owed_by) for h in encounter.hooks}
        assert hooks == {("send_resource", "migration guide", "me"), ("meet", "next week", "them")}


def test_an_htmx_save_answers_a_fresh_form_ready_for_the_next_person(as_alice, app, alice):
    add_event(app, alice)
    response = as_alice.post("/capture", data=PERSON, headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert "Saved" in body and "Dana Diaz" in body
    assert 'value="Dana Diaz"' not in body
    assert "Save contact" in body


def test_it_shows_the_capture_page_and_fragment(as_alice):
    page = as_alice.get("/capture")
    assert b"<html" in page.data and b"Save contact" in page.data
    fragment = as_alice.get("/capture", headers={"HX-Request": "true"})
    assert b"<html" not in fragment.data and b"Save contact" in fragment.data


def test_every_field_is_labelled_plainly(as_alice):
    body = as_alice.get("/capture").get_data(as_text=True)
    for label in ("Name", "Company", "Title", "Email", "Phone", "Link", "Note"):
        assert re.search(rf"<label for=\"\w+\">{label}</label>", body), label


def test_missing_identity_is_an_inline_error_that_keeps_the_note(as_alice, app):
    response = as_alice.post(
        "/capture",
        data={"note": "Met at the coffee line", "org": "Acme"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Add a name, an email, a phone or a link" in body
    assert "Met at the coffee line" in body
    assert _count(app, Encounter) == 0


def test_over_long_fields_are_refused_not_truncated(as_alice, app):
    response = as_alice.post("/capture", data={"name": "x" * 201, "note": "keep me"})
    assert response.status_code == 422
    assert b"Name is too long" in response.data
    assert b"keep me" in response.data
    assert _count(app, Encounter) == 0


def test_a_custom_hook_needs_its_promise(as_alice, app):
    response = as_alice.post("/capture", data={"name": "Eve", "hook_custom": "y"})
    assert response.status_code == 422
    assert b"Say what the custom promise is" in response.data


def test_only_web_links_are_accepted(as_alice, app):
    response = as_alice.post("/capture", data={"name": "Eve", "url": "javascript:alert(1)"})
    assert response.status_code == 422
    assert _count(app, Encounter) == 0


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/capture", {"name": "Eve\x00", "note": "hello"}),
        ("get", "/contacts?q=north%00", None),
    ],
)
def test_a_nul_character_in_a_form_or_query_is_a_400_that_stores_nothing(
    as_alice, app, method, path, data
):
    # PostgreSQL refuses a NUL in any text value: refused up front instead of a 500.
    response = getattr(as_alice, method)(path, data=data)
    assert response.status_code == 400
    assert b"NUL character" in response.data
    assert _count(app, Encounter) == 0


@pytest.mark.csrf
def test_a_stale_csrf_token_asks_to_retry_and_keeps_the_typed_data(as_alice, app):
    response = as_alice.post(
        "/capture",
        data=PERSON | {"csrf_token": "stale"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Tap Save contact again" in body
    assert 'value="Dana Diaz"' in body and "Wants our migration guide" in body
    assert _count(app, Encounter) == 0
    token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    retry = as_alice.post("/capture", data=PERSON | {"csrf_token": token})
    assert retry.status_code == 302
    assert _count(app, Encounter) == 1


def test_the_same_person_twice_is_one_contact_with_two_encounters(as_alice, app, alice):
    as_alice.post("/capture", data={"name": "Dana Diaz", "email": "dana@northwind.example"})
    as_alice.post("/capture", data={"name": "Dana D.", "email": "DANA@northwind.example"})
    assert _count(app, Contact) == 1
    assert _count(app, Encounter) == 2


def test_today_lists_captures_newest_first(as_alice, app, alice):
    event = add_event(app, alice)
    add_capture(app, alice, name="First Person", event_id=event)
    add_capture(app, alice, name="Second Person", event_id=event)
    add_capture(app, alice, name="Elsewhere", event_id=None)
    body = as_alice.get("/today").get_data(as_text=True)
    assert body.index("Second Person") < body.index("First Person")
    assert "Elsewhere" not in body
    fragment = as_alice.get("/today", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and "Second Person" in fragment


def test_today_never_shows_another_users_captures(as_alice, app, alice, bob):
    event = add_event(app, alice)
    add_capture(app, bob, name="Bobs Secret Contact", event_id=event)
    assert b"Bobs Secret Contact" not in as_alice.get("/today").data


def test_it_edits_a_capture_and_keeps_hook_rows(as_alice, app, alice):
    encounter_id, contact_id = add_capture(
        app, alice, name="Dana", hooks=[("send_resource", "guide"), ("meet", "soon")]
    )
    with app.app_context():
        kept_hook = db.session.scalar(select(Hook.id).where(Hook.type == "send_resource"))
    form = as_alice.get(f"/captures/{encounter_id}/edit")
    assert form.status_code == 200 and b'value="Dana"' in form.data
    response = as_alice.post(
        f"/captures/{encounter_id}/edit",
        data={
            "name": "Dana Diaz",
            "note": "edited",
            "hook_send_resource": "y",
            "detail_send_resource": "the guide",
            "owed_send_resource": "me",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/contacts/{contact_id}"
    with app.app_context():
        encounter = db.session.get(Encounter, encounter_id)
        assert encounter.note == "edited"
        assert [(h.id, h.detail) for h in encounter.hooks] == [(kept_hook, "the guide")]


def test_an_htmx_edit_save_sends_the_browser_to_the_whole_contact_page(as_alice, app, alice):
    encounter_id, contact_id = add_capture(app, alice, name="Dana")
    response = as_alice.post(
        f"/captures/{encounter_id}/edit",
        data={"name": "Dana Diaz", "note": "edited"},
        headers={"HX-Request": "true"},
    )
    # Not a redirect htmx would follow in its XHR and swap into the form: a full page load.
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/contacts/{contact_id}"
    assert "Location" not in response.headers
    assert response.get_data() == b""
    assert "HX-Request" in response.headers["Vary"]
    with app.app_context():
        assert db.session.get(Encounter, encounter_id).note == "edited"
    page = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "Capture saved." in page and page.count("<h1>Dana</h1>") == 1
    assert "Edit capture" not in page


def test_a_plain_edit_save_lands_on_the_contact_page(as_alice, app, alice):
    encounter_id, contact_id = add_capture(app, alice, name="Dana")
    response = as_alice.post(
        f"/captures/{encounter_id}/edit", data={"name": "Dana Diaz"}, follow_redirects=True
    )
    assert response.status_code == 200
    assert response.request.path == f"/contacts/{contact_id}"
    body = response.get_data(as_text=True)
    assert "<html" in body and body.count("<h1>Dana</h1>") == 1
    assert "Edit capture" not in body and "Capture saved." in body


def test_an_invalid_htmx_edit_answers_just_the_form_with_what_was_typed(as_alice, app, alice):
    encounter_id, _ = add_capture(app, alice, name="Dana")
    response = as_alice.post(
        f"/captures/{encounter_id}/edit",
        data={"name": "", "note": "Kept note"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "HX-Redirect" not in response.headers
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<h1>" not in body
    assert body.lstrip().startswith('<form class="capture-form"')
    assert "Kept note" in body and "Add a name, an email, a phone or a link" in body
    with app.app_context():
        assert db.session.get(Encounter, encounter_id).name == "Dana"


def test_edit_fragment_has_no_page_chrome(as_alice, app, alice):
    encounter_id, _ = add_capture(app, alice, name="Dana")
    fragment = as_alice.get(f"/captures/{encounter_id}/edit", headers={"HX-Request": "true"})
    assert b"<html" not in fragment.data and b"Save changes" in fragment.data


def test_another_users_capture_is_not_found(as_alice, app, bob):
    encounter_id, _ = add_capture(app, bob, name="Bob's contact")
    assert as_alice.get(f"/captures/{encounter_id}/edit").status_code == 404
    response = as_alice.post(f"/captures/{encounter_id}/edit", data={"name": "Stolen"})
    assert response.status_code == 404
    with app.app_context():
        assert db.session.get(Encounter, encounter_id).name == "Bob's contact"


def test_a_deleted_capture_says_so_and_other_pages_keep_the_plain_not_found(as_alice, app, alice):
    encounter_id, _ = add_capture(app, alice, name="Dana")
    with app.app_context():
        db.session.delete(db.session.get(Encounter, encounter_id))
        db.session.commit()
    page = as_alice.get(f"/captures/{encounter_id}/edit")
    assert page.status_code == 404
    assert "This capture is not here any more: it was deleted" in page.get_data(as_text=True)
    saved = as_alice.post(
        f"/captures/{encounter_id}/edit", data={"name": "Dana"}, headers={"HX-Request": "true"}
    )
    assert saved.status_code == 404
    assert "so nothing was saved. Copy what you typed" in saved.get_data(as_text=True)
    other = as_alice.get("/contacts/999999")
    assert other.status_code == 404
    assert "There is nothing here." in other.get_data(as_text=True)
    assert "not here any more" not in other.get_data(as_text=True)
    assert as_alice.get("/no-such-page").status_code == 404


def test_capture_routes_refuse_wrong_methods(as_alice, app, alice):
    encounter_id, _ = add_capture(app, alice, name="Dana")
    assert as_alice.delete("/capture").status_code == 405
    assert as_alice.post("/today").status_code == 405
    assert as_alice.put(f"/captures/{encounter_id}/edit").status_code == 405


def test_captured_text_is_never_markup(as_alice, app, alice):
    event = add_event(app, alice)
    add_capture(app, alice, name="<script>alert(1)</script>", note="<b>x</b>", event_id=event)
    body = as_alice.get("/today").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body
    assert "script-src 'self'" in as_alice.get("/today").headers["Content-Security-Policy"]


def _row_data(body: str) -> dict[str, dict]:
    """Return the capture JSON each Today row carries, by capture id."""
    found = re.findall(r"data-capture-id=\"([^\"]+)\" data-capture='([^']*)'", body)
    return {capture_id: json.loads(blob) for capture_id, blob in found}


def test_today_rows_carry_their_capture_for_the_phone_editor(as_alice, app, alice):
    event = add_event(app, alice)
    add_capture(
        app,
        alice,
        name="Dana Diaz",
        email="dana@northwind.example",
        note="Wants the guide",
        rating="warm",
        raw="MECARD:N:Diaz,Dana;;",
        event_id=event,
        hooks=[("meet", "next week", "them")],
    )
    with app.app_context():
        encounter = db.session.scalar(select(Encounter))
        uuid, event_uuid = encounter.uuid, encounter.event.uuid
    for headers in ({}, {"HX-Request": "true"}):  # the page and its list fragment
        data = _row_data(as_alice.get("/today", headers=headers).get_data(as_text=True))
        assert data == {
            uuid: {
                "capture_id": uuid,
                "event_id": event_uuid,
                "raw": "MECARD:N:Diaz,Dana;;",
                "name": "Dana Diaz",
                "org": "",
                "title": "",
                "email": "dana@northwind.example",
                "phone": "",
                "url": "",
                "note": "Wants the guide",
                "offer": "",
                "ask": "",
                "rating": "warm",
                "hooks": [{"type": "meet", "detail": "next week", "owed_by": "them"}],
            }
        }


def test_today_capture_data_cannot_break_out_of_its_attribute(as_alice, app, alice):
    event = add_event(app, alice)
    name = "O'Brien\"><script>alert(1)</script> & co"
    add_capture(app, alice, name=name, note="</li><b>x</b>", event_id=event)
    body = as_alice.get("/today").get_data(as_text=True)
    assert "<script>alert(1)" not in body and "<b>x</b>" not in body
    [data] = _row_data(body).values()
    assert (data["name"], data["note"]) == (name, "</li><b>x</b>")


def test_today_carries_only_the_owners_captures(as_alice, app, alice, bob):
    event = add_event(app, alice)
    add_capture(app, alice, name="Mine", event_id=event)
    add_capture(app, bob, name="Bobs Secret Contact", event_id=event)
    with app.app_context():
        bobs = db.session.scalar(select(Encounter.uuid).where(Encounter.user_id == bob))
    body = as_alice.get("/today").get_data(as_text=True)
    assert [d["name"] for d in _row_data(body).values()] == ["Mine"]
    assert bobs not in body


def test_today_has_the_phone_editor_hidden_until_its_script_runs(as_alice, app, alice):
    body = as_alice.get("/today").get_data(as_text=True)
    editor = re.search(r"<section class=\"phone-editor\"[^>]*>", body)
    assert editor and " hidden" in editor.group(0)
    for name in ("name", "org", "title", "email", "phone", "url", "note", "offer", "ask", "raw"):
        assert f'name="{name}"' in body
    assert 'name="hook_meet"' in body and 'name="rating"' in body
    assert "Delete this capture" in body


def test_an_edit_sent_while_the_database_is_locked_says_nothing_was_saved(as_alice, app, alice):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("the SQLite write lock is what this test holds")
    encounter_id, contact_id = add_capture(app, alice, name="Dana", note="before")
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer, for longer than the busy timeout
        response = as_alice.post(
            f"/captures/{encounter_id}/edit", data={"name": "Dana Diaz", "note": "after"}
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    page = response.get_data(as_text=True)
    assert "The database was busy, and nothing was saved. Go back" in page and "<html" in page
    with app.app_context():
        assert db.session.get(Encounter, encounter_id).note == "before"
    # Sent again, it saves.
    again = as_alice.post(
        f"/captures/{encounter_id}/edit", data={"name": "Dana Diaz", "note": "after"}
    )
    assert again.status_code == 303 and again.headers["Location"] == f"/contacts/{contact_id}"
    with app.app_context():
        assert db.session.get(Encounter, encounter_id).note == "after"


def test_a_database_error_that_is_not_a_busy_database_stays_a_server_error(app):
    from sqlalchemy import text

    def broken():
        db.session.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    app.add_url_rule("/broken-for-test", view_func=broken)
    with pytest.raises(Exception, match="no_such_table|no such table|does not exist"):
        app.test_client().get("/broken-for-test")


def test_a_server_error_is_the_apps_own_page_once_exceptions_are_not_propagated(
    app, client, auth, alice
):
    from sqlalchemy import text

    def broken():
        db.session.execute(text("SELECT * FROM no_such_table"))
        return "unreachable"

    app.add_url_rule("/broken-for-test-page", view_func=broken)
    assert auth.login().status_code == 302  # the page is drawn for a signed-in user
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production
    response = client.get("/broken-for-test-page")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert '<p class="error-message">' in page and "<html" in page
