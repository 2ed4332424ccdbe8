"""The contact list, the contact page and editing a contact."""

from tests.helpers import add_capture
from webapp.contacts.models import Contact
from webapp.extensions import db


def test_it_lists_and_searches_contacts(as_alice, app, alice):
    add_capture(app, alice, name="Dana Diaz", org="Northwind")
    add_capture(app, alice, name="Evan Eng", org="Contoso")
    page = as_alice.get("/contacts")
    assert b"Dana Diaz" in page.data and b"Evan Eng" in page.data and b"<html" in page.data
    fragment = as_alice.get("/contacts?q=north", headers={"HX-Request": "true"})
    assert b"Dana Diaz" in fragment.data and b"Evan Eng" not in fragment.data
    assert b"<html" not in fragment.data


def test_the_contact_page_shows_every_encounter_and_hook(as_alice, app, alice):
    add_capture(
        app, alice, name="Dana Diaz", email="dana@x.example", note="first", hooks=[("meet", "soon")]
    )
    _, contact_id = add_capture(
        app,
        alice,
        email="dana@x.example",
        note="second",
        hooks=[("custom", "deck", "them")],
        raw="MECARD:N:Diaz,Dana;;",
    )
    body = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    for text in ("first", "second", "Set up a chat", "soon", "deck", "They promised", "MECARD:N"):
        assert text in body
    fragment = as_alice.get(f"/contacts/{contact_id}", headers={"HX-Request": "true"})
    assert b"<html" not in fragment.data and b"second" in fragment.data


def test_only_safe_links_are_clickable(as_alice, app, alice):
    _, contact_id = add_capture(app, alice, name="Dana", url="https://dana.example")
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        contact.urls = [*contact.urls, "javascript:alert(1)"]
        db.session.commit()
    body = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert 'href="https://dana.example"' in body
    assert 'href="javascript:' not in body


def test_it_edits_a_contact(as_alice, app, alice):
    _, contact_id = add_capture(app, alice, name="Dana")
    assert as_alice.get(f"/contacts/{contact_id}/edit").status_code == 200
    response = as_alice.post(
        f"/contacts/{contact_id}/edit",
        data={
            "name": "Dana Diaz",
            "org": "Northwind",
            "title": "",
            "emails": "Dana@X.example\n\ndana@x.example",
            "phones": "+1 555 0100",
            "urls": "https://dana.example",
            "rating": "warm",
        },
    )
    assert response.status_code == 303
    assert response.headers["Location"] == f"/contacts/{contact_id}"
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        assert contact.emails == ["dana@x.example"]
        assert contact.rating == "warm"


def test_an_htmx_contact_save_loads_the_whole_contact_page(as_alice, app, alice):
    _, contact_id = add_capture(app, alice, name="Dana")
    response = as_alice.post(
        f"/contacts/{contact_id}/edit",
        data={"name": "Dana Diaz", "org": "", "title": "", "emails": "", "phones": "", "urls": ""},
        headers={"HX-Request": "true"},
    )
    # Not a redirect htmx would follow inside its request and swap into the form.
    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/contacts/{contact_id}"
    page = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "Contact saved." in page and page.count("<h1>Dana Diaz</h1>") == 1


def test_contact_edit_refuses_unsafe_links(as_alice, app, alice):
    _, contact_id = add_capture(app, alice, name="Dana")
    response = as_alice.post(
        f"/contacts/{contact_id}/edit", data={"name": "Dana", "urls": "javascript:alert(1)"}
    )
    assert response.status_code == 422


def test_another_users_contact_is_not_found(as_alice, app, bob):
    _, contact_id = add_capture(app, bob, name="Bob's friend")
    assert as_alice.get(f"/contacts/{contact_id}").status_code == 404
    assert as_alice.get(f"/contacts/{contact_id}/edit").status_code == 404
    assert as_alice.post(f"/contacts/{contact_id}/edit", data={"name": "x"}).status_code == 404
    assert b"Bob&#39;s friend" not in as_alice.get("/contacts").data


def test_contact_routes_refuse_wrong_methods(as_alice, app, alice):
    _, contact_id = add_capture(app, alice, name="Dana")
    assert as_alice.post("/contacts").status_code == 405
    assert as_alice.post(f"/contacts/{contact_id}").status_code == 405
    assert as_alice.delete(f"/contacts/{contact_id}/edit").status_code == 405


def test_contact_edit_refuses_a_bad_email(as_alice, app, alice):
    _, contact_id = add_capture(app, alice, name="Dana")
    response = as_alice.post(
        f"/contacts/{contact_id}/edit", data={"name": "Dana", "emails": "nope"}
    )
    assert response.status_code == 422
