"""Calendar invitations (iCalendar METHOD:REQUEST) for a proposed chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event, vCalAddress, vText

from webapp.mail import check_address, one_line

PRODID = "-//Hookline//EN"
#: Pass this as the attachment type so mail apps offer Accept / Decline buttons.
INVITE_MIMETYPE = "text/calendar; method=REQUEST"
INVITE_FILENAME = "invite.ics"


def _party(email: str, name: str, what: str) -> vCalAddress:
    """Return a mailto: calendar address with a one-line common name."""
    party = vCalAddress("mailto:" + check_address(email, what))
    if one_line(name):
        # icalendar quotes the parameter (and encodes any '"' per RFC 6868); folding keeps
        # line breaks in a name from splitting the content line.
        party.params["CN"] = one_line(name)
    return party


def chat_invitation(
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str,
    start: datetime,
    minutes: int,
    summary: str,
    description: str,
    uid: str,
    *,
    stamp: datetime | None = None,
    sequence: int = 0,
) -> bytes:
    """Return an .ics invitation from organizer to attendee for one chat, in UTC."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError(f"The start time must be time-zone aware, got {start.isoformat()}.")
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise ValueError(f"The length must be a positive number of minutes, got {minutes!r}.")
    if not one_line(uid) or one_line(uid) != uid:
        raise ValueError("The invitation needs a UID on one line, e.g. 'chat-42@hookline'.")
    begin = start.astimezone(UTC)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "REQUEST")

    event = Event()
    # Reuse the same UID (with a higher sequence) to update an invitation instead of adding one.
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", (stamp or datetime.now(UTC)).astimezone(UTC))
    event.add("dtstart", begin)
    event.add("dtend", begin + timedelta(minutes=minutes))
    event.add("summary", vText(one_line(summary)))
    event.add("description", vText(description.replace("\r\n", "\n")))
    event.add("organizer", _party(organizer_email, organizer_name, "The organizer's address"))
    attendee = _party(attendee_email, attendee_name, "The attendee's address")
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
    attendee.params["RSVP"] = "TRUE"
    event.add("attendee", attendee)
    event.add("status", "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()
