"""Due-time rules: first morning after a capture, nudges, snoozes and proposed chat slots."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webapp.outreach.schedule import (
    at_local,
    event_day,
    first_morning_after,
    format_slot,
    local_day,
    nudge_due,
    propose_slots,
    snooze_until,
)

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
LA = ZoneInfo("America/Los_Angeles")

# 2026-04-15 is a Wednesday; 2026-03-08 is US spring-forward; 2026-10-25 is EU fall-back.
WED = date(2026, 4, 15)


def berlin(day: date, hour: int, minute: int = 0) -> datetime:
    """Return a Berlin wall-clock time on day."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def test_the_calendar_facts_the_tests_rely_on_hold() -> None:
    assert WED.weekday() == 2
    assert date(2026, 3, 8).weekday() == 6
    assert date(2026, 10, 25).weekday() == 6


def test_it_queues_a_draft_for_tomorrow_morning() -> None:
    due = first_morning_after(berlin(WED, 14), "Europe/Berlin")
    assert due == berlin(WED + timedelta(days=1), 9)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 4, 16, 7, 0, tzinfo=UTC)


def test_it_counts_an_after_midnight_capture_as_the_evening_before() -> None:
    assert first_morning_after(berlin(WED, 0, 30), "Europe/Berlin") == berlin(WED, 9)
    assert first_morning_after(berlin(WED, 4, 59), "Europe/Berlin") == berlin(WED, 9)


def test_it_starts_a_new_event_day_at_five_sharp() -> None:
    assert first_morning_after(berlin(WED, 5), "Europe/Berlin") == berlin(date(2026, 4, 16), 9)


def test_it_queues_an_early_morning_capture_for_the_next_morning() -> None:
    assert first_morning_after(berlin(WED, 8), "Europe/Berlin") == berlin(date(2026, 4, 16), 9)


def test_it_uses_the_users_zone_not_the_captures_offset() -> None:
    # 06:00 UTC on 16 April is still 23:00 on the 15th in Los Angeles.
    happened = datetime(2026, 4, 16, 6, 0, tzinfo=UTC)
    due = first_morning_after(happened, "America/Los_Angeles")
    assert due == datetime(2026, 4, 16, 9, 0, tzinfo=LA)
    assert due == datetime(2026, 4, 16, 16, 0, tzinfo=UTC)


def test_it_handles_half_hour_zones() -> None:
    due = first_morning_after(datetime(2026, 4, 15, 22, 0, tzinfo=KOLKATA), "Asia/Kolkata")
    assert due == datetime(2026, 4, 16, 3, 30, tzinfo=UTC)


def test_it_moves_a_skipped_morning_hour_to_when_the_clocks_jump() -> None:
    # 02:00 does not exist on 8 March 2026 in Los Angeles; 03:00 PDT is the first real moment.
    due = first_morning_after(datetime(2026, 3, 7, 20, 0, tzinfo=LA), "America/Los_Angeles", 2)
    assert due == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
    assert due.astimezone(LA).hour == 3


def test_it_keeps_an_after_midnight_capture_on_spring_forward_day_in_the_future() -> None:
    happened = datetime(2026, 3, 8, 1, 30, tzinfo=LA)  # PST, 09:30 UTC
    due = first_morning_after(happened, "America/Los_Angeles", 2)
    assert due == datetime(2026, 3, 8, 10, 0, tzinfo=UTC)
    assert due > happened


def test_it_picks_the_first_of_a_repeated_morning_hour() -> None:
    # 02:00 happens twice on 25 October 2026 in Berlin (CEST, then CET); take the first.
    due = first_morning_after(berlin(date(2026, 10, 24), 20), "Europe/Berlin", 2)
    assert due == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)


def test_it_uses_winter_time_after_fall_back() -> None:
    due = first_morning_after(berlin(date(2026, 10, 24), 20), "Europe/Berlin")
    assert due == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def test_it_never_queues_a_draft_before_its_capture_with_a_midnight_morning() -> None:
    assert first_morning_after(berlin(WED, 22), "Europe/Berlin", 0) == berlin(date(2026, 4, 16), 0)
    # Midnight of the event day's morning is already past at 00:30, so the next one.
    assert first_morning_after(berlin(WED, 0, 30), "Europe/Berlin", 0) == berlin(
        date(2026, 4, 16), 0
    )


def test_it_queues_for_the_same_morning_when_the_hour_is_still_ahead() -> None:
    assert first_morning_after(berlin(WED, 3), "Europe/Berlin", 4) == berlin(WED, 4)


def test_it_supports_a_late_evening_hour() -> None:
    assert first_morning_after(berlin(WED, 1), "Europe/Berlin", 23) == berlin(WED, 23)
    assert first_morning_after(berlin(WED, 23, 30), "Europe/Berlin", 23) == berlin(
        date(2026, 4, 16), 23
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: first_morning_after(datetime(2026, 4, 15, 14), "Europe/Berlin"),
        lambda: nudge_due(datetime(2026, 4, 15, 14), "Europe/Berlin"),
        lambda: snooze_until("tomorrow", datetime(2026, 4, 15, 14), "Europe/Berlin"),
        lambda: local_day(datetime(2026, 4, 15, 14), "Europe/Berlin"),
    ],
)
def test_it_refuses_naive_datetimes(call) -> None:
    with pytest.raises(ValueError, match="aware"):
        call()


@pytest.mark.parametrize("tz", ["Mars/Olympus", "", "../etc/passwd", "Europe/"])
def test_it_names_an_unknown_time_zone(tz: str) -> None:
    with pytest.raises(ValueError, match="time zone"):
        first_morning_after(berlin(WED, 14), tz)


@pytest.mark.parametrize("hour", [-1, 24, 9.5, True])
def test_it_refuses_a_morning_hour_outside_the_day(hour) -> None:
    with pytest.raises(ValueError, match="morning hour"):
        first_morning_after(berlin(WED, 14), "Europe/Berlin", hour)


ZONES = ["Europe/Berlin", "Asia/Kolkata", "America/Los_Angeles", "Pacific/Auckland", "UTC"]


@given(
    happened=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
    tz=st.sampled_from(ZONES),
    hour=st.integers(0, 23),
)
def test_it_always_gives_one_future_instant_within_two_days(
    happened: datetime, tz: str, hour: int
) -> None:
    due = first_morning_after(happened, tz, hour)
    assert due.tzinfo is UTC
    assert happened < due <= happened + timedelta(days=2, hours=1)
    local = due.astimezone(ZoneInfo(tz))
    # Either the morning hour itself, or the first hour after a skipped one.
    assert local.hour == hour or at_local(local.date(), hour, tz) == due
    assert local.minute == 0


def test_it_nudges_three_mornings_after_the_draft() -> None:
    due = nudge_due(berlin(WED, 19), "Europe/Berlin")
    assert due == berlin(date(2026, 4, 19), 9)


def test_it_keeps_the_nudge_on_the_morning_hour_across_a_dst_change() -> None:
    due = nudge_due(datetime(2026, 3, 6, 20, 0, tzinfo=LA), "America/Los_Angeles")
    assert due.astimezone(LA) == datetime(2026, 3, 10, 9, 0, tzinfo=LA)
    assert due == datetime(2026, 3, 10, 16, 0, tzinfo=UTC)


def test_it_snoozes_until_tomorrow_morning() -> None:
    assert snooze_until("tomorrow", berlin(WED, 15), "Europe/Berlin") == berlin(
        date(2026, 4, 16), 9
    )


def test_it_treats_tomorrow_after_midnight_as_this_morning() -> None:
    assert snooze_until("tomorrow", berlin(WED, 1), "Europe/Berlin") == berlin(WED, 9)


def test_it_snoozes_until_next_monday() -> None:
    assert snooze_until("next_week", berlin(WED, 15), "Europe/Berlin", 8) == berlin(
        date(2026, 4, 20), 8
    )


def test_it_snoozes_from_a_monday_to_the_following_monday() -> None:
    monday = date(2026, 4, 20)
    assert snooze_until("next_week", berlin(monday, 7), "Europe/Berlin") == berlin(
        date(2026, 4, 27), 9
    )


def test_it_snoozes_until_a_chosen_date() -> None:
    due = snooze_until("date", berlin(WED, 15), "Asia/Kolkata", 9, date=date(2026, 5, 1))
    assert due == datetime(2026, 5, 1, 9, 0, tzinfo=KOLKATA)


@pytest.mark.parametrize("day", [date(2026, 4, 14), date(2026, 4, 15)])
def test_it_refuses_to_snooze_into_the_past(day: date) -> None:
    with pytest.raises(ValueError, match="not in the future"):
        snooze_until("date", berlin(WED, 15), "Europe/Berlin", date=day)


def test_it_needs_a_date_to_snooze_until_a_date() -> None:
    with pytest.raises(ValueError, match="Pick a date"):
        snooze_until("date", berlin(WED, 15), "Europe/Berlin")


def test_it_refuses_an_unknown_snooze_choice() -> None:
    with pytest.raises(ValueError, match="next_week"):
        snooze_until("someday", berlin(WED, 15), "Europe/Berlin")


def test_it_tells_the_local_and_event_day_apart() -> None:
    late = datetime(2026, 4, 15, 23, 30, tzinfo=UTC)  # 01:30 on the 16th in Berlin
    assert local_day(late, "Europe/Berlin") == date(2026, 4, 16)
    assert event_day(late, "Europe/Berlin") == WED
    assert local_day(late, "America/Los_Angeles") == WED


def test_it_proposes_weekday_slots_alternating_morning_and_afternoon() -> None:
    friday = date(2026, 4, 17)
    slots = propose_slots(berlin(friday, 9), "Europe/Berlin")
    assert [slot.astimezone(BERLIN) for slot in slots] == [
        berlin(date(2026, 4, 20), 10),
        berlin(date(2026, 4, 21), 14),
        berlin(date(2026, 4, 22), 10),
    ]
    assert all(slot.tzinfo is UTC for slot in slots)


def test_it_proposes_as_many_slots_as_asked() -> None:
    assert propose_slots(berlin(WED, 9), "Europe/Berlin", count=0) == []
    assert len(propose_slots(berlin(WED, 9), "Europe/Berlin", count=7)) == 7


def test_next_week_after_a_sunday_night_party_means_this_monday_morning() -> None:
    monday = date(2026, 4, 20)
    assert snooze_until("next_week", berlin(monday, 1), "Europe/Berlin") == berlin(monday, 9)


def test_it_writes_a_slot_in_the_users_zone_whatever_the_server_locale() -> None:
    slot = datetime(2026, 4, 20, 4, 30, tzinfo=UTC)
    assert format_slot(slot, "Asia/Kolkata") == "Monday 20 April, 10:00 (Asia/Kolkata)"
    assert format_slot(slot, "America/Los_Angeles") == (
        "Sunday 19 April, 21:30 (America/Los_Angeles)"
    )
