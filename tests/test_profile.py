"""Editing the profile."""

from webapp.auth.models import User
from webapp.extensions import db

PROFILE = {
    "name": "Alice Adams",
    "headline": "Platform engineer",
    "company": "Acme",
    "email": "alice@example.com",
    "phone": "+49 30 123456",
    "linkedin": "https://www.linkedin.com/in/alice",
    "website": "https://alice.example",
    "pitch": "I make databases boring.",
    "timezone": "America/New_York",
    "morning_hour": "8",
}


def test_it_shows_the_profile_page_and_fragment(as_alice):
    page = as_alice.get("/profile")
    assert page.status_code == 200
    assert b"<html" in page.data and b"Two-minute pitch" in page.data
    fragment = as_alice.get("/profile", headers={"HX-Request": "true"})
    assert b"<html" not in fragment.data and b"Two-minute pitch" in fragment.data
    assert "HX-Request" in fragment.headers["Vary"]


def test_it_saves_the_profile(as_alice, app, alice):
    response = as_alice.post("/profile", data=PROFILE)
    assert response.status_code == 302
    with app.app_context():
        user = db.session.get(User, alice)
        assert user.timezone == "America/New_York"
        assert user.morning_hour == 8
        assert user.pitch == "I make databases boring."


def test_it_defaults_the_morning_hour_to_nine(as_alice):
    assert b'<option selected value="9">09:00</option>' in as_alice.get("/profile").data


def test_it_refuses_an_unknown_time_zone(as_alice):
    response = as_alice.post("/profile", data=PROFILE | {"timezone": "Mars/Olympus"})
    assert response.status_code == 422


def test_it_refuses_over_long_fields_with_a_message(as_alice):
    response = as_alice.post("/profile", data=PROFILE | {"headline": "x" * 201})
    assert response.status_code == 422
    assert b"Headline is too long" in response.data


def test_it_refuses_another_users_email(as_alice, bob):
    response = as_alice.post("/profile", data=PROFILE | {"email": "bob@example.com"})
    assert response.status_code == 422
    assert b"Another account uses this email" in response.data


def test_profile_refuses_wrong_method(as_alice):
    assert as_alice.delete("/profile").status_code == 405
