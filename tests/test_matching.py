"""Matching a capture to an existing contact."""

import pytest
from sqlalchemy import func, select

from tests.helpers import add_capture
from webapp.contacts.matching import handles_for, normalize_phone
from webapp.contacts.models import Contact
from webapp.extensions import db


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+49 30 123-456", "+4930123456"),
        ("0049 30 123456", "+4930123456"),
        ("(030) 123456", "030123456"),
    ],
)
def test_it_normalizes_phones(raw, expected):
    assert normalize_phone(raw) == expected


def test_handles_put_email_first_and_skip_short_phones():
    handles = handles_for(["A@B.example"], ["12"], ["https://www.linkedin.com/in/Dana/?trk=x"])
    assert handles == [("email", "a@b.example"), ("linkedin", "dana")]


@pytest.mark.parametrize(
    "second",
    [
        {"email": "DANA@x.example"},
        {"phone": "0049 30 123456"},
        {"url": "linkedin://in/dana"},
    ],
)
def test_a_matching_handle_attaches_to_the_same_contact(app, alice, second):
    add_capture(
        app,
        alice,
        name="Dana",
        email="dana@x.example",
        phone="+49 30 123456",
        url="https://www.linkedin.com/in/dana",
    )
    add_capture(app, alice, name="D.", **second)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
        contact = db.session.scalar(select(Contact))
        assert contact.name == "Dana"
        assert len(contact.encounters) == 2


def test_the_same_email_at_two_users_is_two_contacts(app, alice, bob):
    add_capture(app, alice, name="Dana", email="dana@x.example")
    add_capture(app, bob, name="Dana", email="dana@x.example")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 2


def test_names_alone_never_merge(app, alice):
    add_capture(app, alice, name="Alex Kim")
    add_capture(app, alice, name="Alex Kim")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 2
