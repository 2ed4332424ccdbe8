"""Calendar invitations parse back with icalendar and carry what a calendar app needs."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from webapp.mail import MailError
from webapp.outreach.invite import PRODID, chat_invitation

START = datetime(2026, 4, 20, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
STAMP = datetime(2026, 4, 16, 7, 0, tzinfo=UTC)


def invite(**overrides) -> Calendar:
    """Build Ann's invitation to Maria and parse it back."""
    args = {
        "organizer_email": "ann@example.com",
        "organizer_name": "Ann Lee",
        "attendee_email": "maria@example.org",
        "attendee_name": "María García",
        "start": START,
        "minutes": 30,
        "summary": "Chat: Ann and Maria",
        "description": "Following up from PyCon DE.\nTalk about pricing.",
        "uid": "chat-42@hookline",
        "stamp": STAMP,
    }
    args.update(overrides)
    return Calendar.from_ical(chat_invitation(**args))


def test_it_invites_the_attendee_to_a_chat() -> None:
    calendar = invite()
    assert calendar["METHOD"] == "REQUEST"
    assert calendar["PRODID"] == PRODID
    assert calendar["VERSION"] == "2.0"
    [event] = calendar.walk("VEVENT")
    assert event["UID"] == "chat-42@hookline"
    assert event.decoded("DTSTART") == datetime(2026, 4, 20, 8, 0, tzinfo=UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=30)
    assert event.decoded("DTSTAMP") == STAMP
    assert event["SUMMARY"] == "Chat: Ann and Maria"
    assert event["DESCRIPTION"] == "Following up from PyCon DE.\nTalk about pricing."
    assert event["ORGANIZER"] == "mailto:ann@example.com"
    assert event["ORGANIZER"].params["CN"] == "Ann Lee"
    attendee = event["ATTENDEE"]
    assert attendee == "mailto:maria@example.org"
    assert attendee.params["CN"] == "María García"
    assert attendee.params["RSVP"] == "TRUE"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"


def test_it_writes_times_in_utc() -> None:
    raw = chat_invitation(
        "ann@example.com",
        "Ann",
        "maria@example.org",
        "Maria",
        START,
        45,
        "Chat",
        "",
        "u@h",
        stamp=STAMP,
    )
    assert b"DTSTART:20260420T080000Z" in raw
    assert b"DTEND:20260420T084500Z" in raw
    assert b"\r\n" in raw


def test_it_keeps_hostile_text_inside_its_properties() -> None:
    calendar = invite(
        organizer_name='Ann "A" Lee\r\nATTENDEE:mailto:evil@example.com',
        summary="Chat\r\nATTENDEE:mailto:evil@example.com",
        description="Hi; there, {name}\r\nEND:VEVENT",
    )
    [event] = calendar.walk("VEVENT")
    assert not isinstance(event["ATTENDEE"], list)
    assert event["ATTENDEE"] == "mailto:maria@example.org"
    assert event["ORGANIZER"].params["CN"] == 'Ann "A" Lee ATTENDEE:mailto:evil@example.com'
    assert event["SUMMARY"] == "Chat ATTENDEE:mailto:evil@example.com"
    assert event["DESCRIPTION"] == "Hi; there, {name}\nEND:VEVENT"


def test_it_refuses_a_naive_start() -> None:
    with pytest.raises(ValueError, match="aware"):
        invite(start=datetime(2026, 4, 20, 10, 0))


@pytest.mark.parametrize("minutes", [0, -15, True])
def test_it_refuses_a_chat_without_length(minutes) -> None:
    with pytest.raises(ValueError, match="minutes"):
        invite(minutes=minutes)


@pytest.mark.parametrize("uid", ["", "a\r\nb"])
def test_it_refuses_a_bad_uid(uid: str) -> None:
    with pytest.raises(ValueError, match="UID"):
        invite(uid=uid)


def test_it_refuses_an_invalid_address() -> None:
    with pytest.raises(MailError, match="attendee"):
        invite(attendee_email="maria@example.org\r\nATTENDEE:x")
