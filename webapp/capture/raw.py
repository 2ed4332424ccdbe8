"""Fill a capture's empty fields from its raw QR text, never overwriting what was typed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from webapp.badges import linkedin_handle, parse_payload

if TYPE_CHECKING:
    from webapp.capture.ingest import CaptureData

# Column widths of the encounter fields a payload can fill (PostgreSQL enforces them).
LIMITS = {"name": 200, "org": 200, "title": 200, "email": 254, "phone": 60, "url": 300}


def _first(values: list[str], limit: int) -> str:
    """Return the first value that fits in limit characters, or ""."""
    return next((v for v in values if v and len(v) <= limit), "")


def fill_from_raw(data: CaptureData) -> None:
    """Fill data's empty fields from data.raw; raise BadgeError if the parser refuses raw.

    A payload that is not about a person (kind "ignored") fills nothing; plain text goes to
    the note when the note is empty.
    """
    if not data.raw:
        return
    badge = parse_payload(data.raw)
    if badge["kind"] == "ignored":
        return
    found = {
        "name": badge["name"][: LIMITS["name"]],
        "org": badge["org"][: LIMITS["org"]],
        "title": badge["title"][: LIMITS["title"]],
        "email": _first(badge["emails"], LIMITS["email"]).lower(),
        "phone": _first(badge["phones"], LIMITS["phone"]),
        # A LinkedIn link names the person (and matches them again); prefer it.
        "url": _first([u for u in badge["urls"] if linkedin_handle(u)], LIMITS["url"])
        or _first(badge["urls"], LIMITS["url"]),
    }
    for name, value in found.items():
        if value and not getattr(data, name).strip():
            setattr(data, name, value.strip())
    if badge["kind"] == "text" and badge["note"] and not data.note.strip():
        data.note = badge["note"]
