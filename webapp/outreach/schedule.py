"""Due-time rules for follow-up drafts, nudges and snoozes, in the user's own time zone.

Every function takes aware datetimes and an IANA zone name and returns aware UTC datetimes,
so callers can store and compare the results directly. Local wall-clock rules (the morning
hour, "next Monday") are resolved in the user's zone; see docs/outreach.md for the rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: Local captures before this hour still belong to the previous evening's event day,
#: because people keep meeting people at the after-party well past midnight.
EVENT_DAY_ROLLOVER_HOUR = 5

#: Days between the first-morning draft and the nudge about something they owe.
NUDGE_AFTER_DAYS = 3

SNOOZE_CHOICES = ("tomorrow", "next_week", "date")

#: Local hours offered for a chat: one morning and one afternoon slot, alternating by day.
DEFAULT_SLOT_HOURS = (10, 14)


def zone(tz: str) -> ZoneInfo:
    """Return the ZoneInfo for an IANA name, or raise ValueError naming the bad value."""
    if not isinstance(tz, str) or not tz.strip():
        raise ValueError("A time zone is required, e.g. 'Europe/Berlin'.")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        # ZoneInfo raises ValueError for path-like keys such as "../etc"; report both the same.
        raise ValueError(
            f"Unknown time zone {tz!r}; use an IANA name such as 'Europe/Berlin'."
        ) from exc


def _require_aware(dt: datetime, what: str = "datetime") -> None:
    """Raise ValueError unless dt carries a UTC offset."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"The {what} must be time-zone aware, got naive {dt.isoformat()}.")


def _require_hour(morning_hour: int) -> None:
    """Raise ValueError unless morning_hour is a wall-clock hour 0-23."""
    if isinstance(morning_hour, bool) or not isinstance(morning_hour, int):
        raise ValueError(f"The morning hour must be a whole hour 0-23, got {morning_hour!r}.")
    if not 0 <= morning_hour <= 23:
        raise ValueError(f"The morning hour must be between 0 and 23, got {morning_hour}.")


def local_day(dt: datetime, tz: str) -> date:
    """Return the calendar date of an aware datetime in the given zone."""
    _require_aware(dt)
    return dt.astimezone(zone(tz)).date()


def event_day(dt: datetime, tz: str) -> date:
    """Return the event day of a moment: its local date, or the day before if before 05:00."""
    _require_aware(dt)
    local = dt.astimezone(zone(tz))
    if local.hour < EVENT_DAY_ROLLOVER_HOUR:
        return local.date() - timedelta(days=1)
    return local.date()


def at_local(day: date, hour: int, tz: str, minute: int = 0) -> datetime:
    """Return the UTC instant of a local wall-clock time, resolving DST gaps and overlaps.

    A time skipped by spring-forward maps to the moment the clocks jump (02:00 -> 03:00 local);
    a time repeated by fall-back maps to its first occurrence, so the result is always one instant.
    """
    local = datetime.combine(day, time(hour, minute), tzinfo=zone(tz))
    # fold=0 already means "the earlier one" for repeated times, and "read with the offset in
    # force before the jump" for skipped ones, which lands exactly on the transition instant.
    return local.replace(fold=0).astimezone(UTC)


def first_morning_after(happened_at: datetime, tz: str, morning_hour: int = 9) -> datetime:
    """Return when a capture's draft is due: the morning after its event day, never before it."""
    _require_aware(happened_at, "capture time")
    _require_hour(morning_hour)
    due = at_local(event_day(happened_at, tz) + timedelta(days=1), morning_hour, tz)
    # With an early morning hour (0-4) an after-midnight capture can sit after "that morning";
    # the draft then waits for the next one rather than being due in the past.
    while due <= happened_at:
        due = at_local(local_day(due, tz) + timedelta(days=1), morning_hour, tz)
    return due


def nudge_due(happened_at: datetime, tz: str, morning_hour: int = 9) -> datetime:
    """Return when to remind the user about a hook the other person owes: 3 mornings later."""
    first = first_morning_after(happened_at, tz, morning_hour)
    # Counted in local days, not 72 hours, so a DST change cannot shift the nudge off the hour.
    return at_local(local_day(first, tz) + timedelta(days=NUDGE_AFTER_DAYS), morning_hour, tz)


def snooze_until(
    choice: str,
    now: datetime,
    tz: str,
    morning_hour: int = 9,
    date: date | None = None,
) -> datetime:
    """Return when a snoozed draft returns: tomorrow, next Monday or a date, at morning hour."""
    _require_aware(now, "current time")
    _require_hour(morning_hour)
    if choice == "tomorrow":
        # Same rule as a capture: at 01:00 after the party, "tomorrow" means this morning.
        return first_morning_after(now, tz, morning_hour)
    if choice == "next_week":
        today = event_day(now, tz)
        monday = today + timedelta(days=7 - today.weekday())
        due = at_local(monday, morning_hour, tz)
        return due if due > now else at_local(monday + timedelta(days=7), morning_hour, tz)
    if choice == "date":
        if date is None:
            raise ValueError("Pick a date to snooze until.")
        due = at_local(date, morning_hour, tz)
        if due <= now:
            raise ValueError(
                f"Snooze date {date.isoformat()} at {morning_hour:02d}:00 is not in the future."
            )
        return due
    raise ValueError(f"Unknown snooze choice {choice!r}; use one of {', '.join(SNOOZE_CHOICES)}.")


def propose_slots(
    after: datetime, tz: str, count: int = 3, hours: Sequence[int] = DEFAULT_SLOT_HOURS
) -> list[datetime]:
    """Return count weekday chat slots from the next local day on, alternating morning/afternoon."""
    _require_aware(after)
    if count < 0:
        raise ValueError(f"The number of slots must not be negative, got {count}.")
    if not hours:
        raise ValueError("At least one slot hour is needed.")
    for hour in hours:
        _require_hour(hour)
    slots: list[datetime] = []
    day = local_day(after, tz)
    while len(slots) < count:
        day += timedelta(days=1)
        if day.weekday() >= 5:
            continue
        slots.append(at_local(day, hours[len(slots) % len(hours)], tz))
    return slots


def format_slot(slot: datetime, tz: str) -> str:
    """Return a slot as 'Tuesday 14 April, 10:00 (Europe/Berlin)' in the user's zone."""
    local = slot.astimezone(zone(tz))
    # Built by hand rather than strftime so the words do not depend on the server's locale.
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    months = (
        *("January", "February", "March", "April", "May", "June"),
        *("July", "August", "September", "October", "November", "December"),
    )
    return (
        f"{days[local.weekday()]} {local.day} {months[local.month - 1]}, "
        f"{local.hour:02d}:{local.minute:02d} ({tz})"
    )
