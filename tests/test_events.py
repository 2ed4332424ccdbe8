"""Creating events and choosing the current one."""

from tests.helpers import add_capture, add_event
from webapp.auth.models import User
from webapp.events.models import Event
from webapp.extensions import db


def test_it_creates_an_event_and_makes_it_current(as_alice, app, alice):
    response = as_alice.post(
        "/events/new",
        data={
            "name": "PGConf",
            "starts_on": "2026-11-20",
            "ends_on": "2026-11-22",
            "place": "Riga",
            "goal": "meet 3 people from my target companies",
            "make_current": "y",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/capture")
    with app.app_context():
        user = db.session.get(User, alice)
        assert user.current_event.name == "PGConf"
        assert user.current_event.goal.startswith("meet 3")


def test_it_refuses_an_event_that_ends_before_it_starts(as_alice):
    response = as_alice.post(
        "/events/new", data={"name": "X", "starts_on": "2026-11-22", "ends_on": "2026-11-20"}
    )
    assert response.status_code == 422
    assert b"before the first day" in response.data


def test_it_requires_a_name(as_alice):
    response = as_alice.post("/events/new", data={"name": ""})
    assert response.status_code == 422


def test_it_lists_events_as_page_and_fragment(as_alice, app, alice):
    add_event(app, alice, "PGConf")
    page = as_alice.get("/events")
    assert b"<html" in page.data and b"PGConf" in page.data
    fragment = as_alice.get("/events", headers={"HX-Request": "true"})
    assert b"<html" not in fragment.data and b"PGConf" in fragment.data


def test_it_switches_the_current_event(as_alice, app, alice):
    first = add_event(app, alice, "First")
    add_event(app, alice, "Second")
    response = as_alice.post(f"/events/{first}/current", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b"<html" not in response.data
    with app.app_context():
        assert db.session.get(User, alice).current_event_id == first


def test_make_current_refuses_get(as_alice, app, alice):
    event = add_event(app, alice)
    assert as_alice.get(f"/events/{event}/current").status_code == 405


def test_it_edits_an_event(as_alice, app, alice):
    event = add_event(app, alice, "Old name")
    assert as_alice.get(f"/events/{event}/edit").status_code == 200
    response = as_alice.post(f"/events/{event}/edit", data={"name": "New name"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Event, event).name == "New name"


def test_it_shows_who_was_met_at_an_event(as_alice, app, alice):
    event = add_event(app, alice)
    add_capture(app, alice, name="Dana Diaz", event_id=event)
    page = as_alice.get(f"/events/{event}")
    assert b"Dana Diaz" in page.data and b"<html" in page.data
    fragment = as_alice.get(f"/events/{event}", headers={"HX-Request": "true"})
    assert b"Dana Diaz" in fragment.data and b"<html" not in fragment.data


def test_another_users_event_is_not_found(as_alice, app, bob):
    event = add_event(app, bob, "Bob's event")
    assert as_alice.get(f"/events/{event}").status_code == 404
    assert as_alice.get(f"/events/{event}/edit").status_code == 404
    assert as_alice.post(f"/events/{event}/edit", data={"name": "Mine"}).status_code == 404
    assert as_alice.post(f"/events/{event}/current").status_code == 404
    with app.app_context():
        assert db.session.get(Event, event).name == "Bob's event"
