"""Profile rules that do not depend on HTTP."""

from functools import cache
from zoneinfo import available_timezones


@cache
def timezone_names() -> list[str]:
    """Return the IANA time zone names, sorted."""
    return sorted(available_timezones() | {"UTC"})


def check_timezone(name: str) -> str:
    """Return name if it is a known IANA time zone, else raise ValueError."""
    name = (name or "").strip()
    if name not in timezone_names():
        raise ValueError(f"Unknown time zone {name!r}: use an IANA name such as Europe/Berlin.")
    return name
