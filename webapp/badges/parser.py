"""Recognise the format of a QR payload, refuse what must not be read, and parse the rest."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator

from . import formats
from .fields import SURROGATE, Badge, Card
from .vcard import parse_vcard

MAX_BYTES = 4096
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Payloads that are about a network, a place, an event, a message or money, not a person.
_IGNORED_PREFIXES = (
    "WIFI:", "GEO:", "BEGIN:VEVENT", "BEGIN:VCALENDAR", "BEGIN:VTODO", "SMSTO:", "SMS:",
    "MMSTO:", "MMS:", "MEBKM:", "MARKET:", "BITCOIN:", "ETHEREUM:", "LIGHTNING:", "OTPAUTH:",
    "FACETIME:", "SPOTIFY:", "JAVASCRIPT:", "VBSCRIPT:", "DATA:", "FILE:", "BLOB:", "ABOUT:",
    "INTENT:", "BCD\n", "BCD\r\n",
)  # fmt: skip
# Any other "scheme://" is an app link or a download, never a contact (a broken web link stays
# text so the person can still read it).
_OTHER_SCHEME = re.compile(r"(?!https?://)[A-Za-z][A-Za-z0-9+.-]*://", re.IGNORECASE)


class BadgeError(ValueError):
    """A payload the parser refuses to read; str() is a reason fit to show a person."""


def check_payload(text: object) -> str:
    """Return text if it may be parsed, else raise BadgeError saying why not."""
    if not isinstance(text, str):
        raise BadgeError("The QR text must be a string.")
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise BadgeError(f"The QR text is longer than 4 KB ({size:,} bytes).")
    if _CONTROL.search(text):
        raise BadgeError("The QR text contains control characters.")
    if SURROGATE.search(text):
        raise BadgeError("The QR text contains characters that are not valid Unicode.")
    return text


def parse_payload(text: str) -> Badge:
    """Parse a QR payload into contact fields; raise BadgeError only for refused payloads."""
    raw = check_payload(text)
    body = raw.lstrip("\ufeff").strip()
    kind, card = _recognise(body)
    return card.badge(kind, raw)


def _prefixed(body: str) -> tuple[str, Card] | None:
    """Parse the formats that announce themselves with a prefix."""
    upper = body[:16].upper()
    readers: tuple[tuple[str, str, Callable[[str], Card]], ...] = (
        ("BEGIN:VCARD", "vcard", parse_vcard),
        ("MECARD:", "mecard", lambda b: formats.parse_mecard(b[7:])),
        ("BIZCARD:", "bizcard", lambda b: formats.parse_bizcard(b[8:])),
        ("MATMSG:", "email", lambda b: formats.parse_matmsg(b[7:])),
        ("MAILTO:", "email", formats.parse_mailto),
        ("TEL:", "tel", formats.parse_tel),
    )
    for prefix, kind, reader in readers:
        if upper.startswith(prefix):
            return kind, reader(body)
    return None


def _recognise(body: str) -> tuple[str, Card]:
    """Pick the format of a stripped payload and read it."""
    upper = body[:16].upper()
    if upper.startswith(_IGNORED_PREFIXES):
        return "ignored", Card()
    found = _prefixed(body)
    if found:
        return found
    guesses: tuple[tuple[str, Callable[[str], Card | None]], ...] = (
        ("json", lambda b: formats.parse_json(b) if b.startswith("{") else None),
        ("url", formats.parse_url),
        ("id_badge", formats.parse_id_badge),
        ("email", formats.parse_named_email),
    )
    for kind, guess in guesses:
        card = guess(body)
        if card is not None:
            return kind, card
    if _OTHER_SCHEME.match(body):
        return "ignored", Card()
    return "text", Card(notes=[body] if body else [])


def parse_lines(lines: Iterable[str]) -> Iterator[str]:
    """Yield one compact JSON result (or {"error": ...}) per non-blank line of JSON strings."""
    for line in lines:
        if not line.strip():
            continue
        yield json.dumps(_parse_line(line), ensure_ascii=False, separators=(",", ":"))


def _parse_line(line: str) -> Badge | dict[str, str]:
    """Parse one line holding a JSON string."""
    try:
        text = json.loads(line)
    except ValueError as exc:
        return {"error": f"The line is not valid JSON: {exc}."}
    except RecursionError:
        return {"error": "The line is not valid JSON: it is nested too deeply."}
    if not isinstance(text, str):
        return {"error": "The line is not a JSON string; put the QR text in double quotes."}
    try:
        return parse_payload(text)
    except BadgeError as exc:
        return {"error": str(exc)}
