"""Check one change from a device and turn it into capture data, or say what is wrong.

The limits are the capture form's (webapp/capture/forms.py), so a capture the form would
refuse is refused here too, with an error that names the field.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from webapp.badges.fields import SURROGATE
from webapp.capture.forms import normalize_url
from webapp.capture.ingest import CaptureData, HookData
from webapp.config import MAX_FIELD, MAX_NOTE
from webapp.contacts.models import HOOK_TYPES, OWED_BY, RATINGS
from webapp.sync.history import HOOK_FIELDS, TEXT_FIELDS, hook_value

KINDS = {"capture": ("upsert", "delete")}
LIMITS = {
    "name": MAX_FIELD,
    "org": MAX_FIELD,
    "title": MAX_FIELD,
    "email": 254,
    "phone": 60,
    "url": 300,
    "note": MAX_NOTE,
    "offer": 1000,
    "ask": 1000,
    "raw": 4096,
}
HOOK_DETAIL_MAX = 500
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE_CHARS = set("0123456789+()-./ ")


class Rejected(ValueError):
    """A change that cannot be applied; str() says why."""


@dataclass
class Change:
    """One valid change, ready to apply."""

    id: str
    op: str
    at: datetime
    capture_id: str
    payload_hash: str
    data: CaptureData | None = None
    event_uuid: str | None = None
    values: dict[str, str | None] = field(default_factory=dict)
    #: the change as the phone sent it (for same_payload)
    raw: dict | None = field(default=None, repr=False)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def as_uuid(value: Any, what: str) -> str:
    """Return value as a canonical lower-case UUID string, or raise Rejected."""
    if not isinstance(value, str) or len(value) > 36:
        raise Rejected(f"{what} must be a UUID string")
    if _CANONICAL_UUID.fullmatch(value):
        return value  # as the phone writes them: already what str(uuid.UUID(value)) gives
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Rejected(f"{what} must be a UUID string") from None


#: json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False), without
#: making an encoder for every call as json.dumps does when given options.
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
HASHED = ("kind", "op", "at", "data")


def payload_hash(change: dict) -> str:
    """Return the hash that tells a replay of this change from a different change.

    It is the SHA-256 of the canonical JSON of its kind, op, at and data: sorted keys, no
    spaces, UTF-8. orjson writes exactly the bytes of _canonical for every value without a
    float (checked in tests/test_sync_api.py), at a fifth of the cost; what it refuses
    (integers beyond 64 bits, lone surrogates) goes through _canonical. A float it writes
    in its own way (1e-05 as 0.00001): see same_payload.
    """
    content = {key: change.get(key) for key in HASHED}
    try:
        text = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _standard_hash(change)
    return hashlib.sha256(text).hexdigest()


def _standard_hash(change: dict) -> str:
    """Return the hash as releases before orjson made it (_canonical only)."""
    content = {key: change.get(key) for key in HASHED}
    return hashlib.sha256(_canonical(content).encode("utf-8", "surrogatepass")).hexdigest()


def same_payload(stored_hash: str, change: "Change") -> bool:
    """Tell whether a stored record's hash is this change's, whichever release stored it.

    The two hashes differ only for content with a float (no phone sends one, but data may
    carry keys the server ignores), so the standard hash is worked out only when the
    record does not match the fast one: a replay of such a change, or a reused change id.
    """
    if stored_hash == change.payload_hash:
        return True
    return change.raw is not None and stored_hash == _standard_hash(change.raw)


def parse_at(value: Any) -> datetime:
    """Return the device's time as an aware datetime; refuse a time without an offset."""
    if not isinstance(value, str) or len(value) > 40:
        raise Rejected("at must be an ISO 8601 time string")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected("at must be an ISO 8601 time string") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise Rejected("at must include a UTC offset (e.g. +01:00 or Z)")
    return at


def parse_change(raw: Any) -> Change:
    """Check one change and return it parsed; raise Rejected naming the problem."""
    if not isinstance(raw, dict):
        raise Rejected("a change must be a JSON object")
    change_id = as_uuid(raw.get("id"), "id")
    kind, op = raw.get("kind"), raw.get("op")
    if not isinstance(kind, str) or kind not in KINDS:
        raise Rejected(f"unknown kind {kind!r}")
    if not isinstance(op, str) or op not in KINDS[kind]:
        raise Rejected(f"unknown op {op!r} for kind {kind!r}")
    seq = raw.get("seq")
    if seq is not None and (not isinstance(seq, int) or isinstance(seq, bool) or seq < 0):
        raise Rejected("seq must be a non-negative integer")
    at = parse_at(raw.get("at"))
    data = raw.get("data")
    if not isinstance(data, dict):
        raise Rejected("data must be a JSON object")
    digest = payload_hash(raw)
    if op == "delete":
        capture_id = as_uuid(data.get("capture_id"), "data.capture_id")
        return Change(change_id, op, at, capture_id, digest, raw=raw)
    capture_id = change_id
    if data.get("capture_id") is not None:
        capture_id = as_uuid(data["capture_id"], "data.capture_id")
    capture, values = _capture_data(data)
    event_uuid = None
    if data.get("event_id") is not None:
        event_uuid = as_uuid(data["event_id"], "data.event_id")
    capture.happened_at = at
    capture.uuid = capture_id
    return Change(change_id, op, at, capture_id, digest, capture, event_uuid, values, raw)


#: (field, its limit, its name in errors), in the order the fields are checked
_TEXTS = tuple((name, LIMITS[name], f"data.{name}") for name in TEXT_FIELDS)


def _texts(data: dict) -> dict[str, str]:
    """Return the capture's text fields, stripped ("" for null); raise Rejected for the
    first that is not a string, too long, or not storable. One loop, not a call a field:
    this runs for every capture of every batch."""
    values: dict[str, str] = {}
    for name, limit, where in _TEXTS:
        value = data.get(name)
        if value is None:
            values[name] = ""
            continue
        if not isinstance(value, str):
            raise Rejected(f"{where} must be a string or null")
        value = value.strip()
        if len(value) > limit:
            raise Rejected(f"{where} is too long: keep it under {limit:,} characters")
        if not value.isascii() or "\x00" in value:
            _refuse_unstorable(value, where)
        values[name] = value
    return values


def _refuse_unstorable(value: str, where: str) -> None:
    r"""Refuse a text that no text column can hold, naming the field.

    JSON can spell both refused kinds ("\u0000", "\ud800"): PostgreSQL refuses a NUL in
    text, and no UTF-8 encoder takes a lone surrogate.
    """
    if "\x00" in value:
        raise Rejected(f"{where} contains a NUL character")
    if not value.isascii() and SURROGATE.search(value):
        raise Rejected(f"{where} contains characters that are not valid Unicode")


def _capture_data(data: dict) -> tuple[CaptureData, dict[str, str | None]]:
    """Check the capture fields the way the capture form does; return the capture and its
    comparable values (values_of)."""
    values = _texts(data)
    values["email"] = values["email"].lower()
    if values["email"] and not _EMAIL.fullmatch(values["email"]):
        raise Rejected("data.email is not a valid email address")
    phone = values["phone"]
    if phone and (set(phone) - _PHONE_CHARS or sum(c.isdigit() for c in phone) < 3):
        raise Rejected("data.phone does not look like a phone number")
    if values["url"]:
        link = values["url"] = normalize_url(values["url"])
        host = link.split("://", 1)[-1].split("/", 1)[0]
        if not link.lower().startswith(("http://", "https://")) or "." not in host:
            raise Rejected("data.url must be an http or https link")
        if len(link) > LIMITS["url"]:
            raise Rejected("data.url is too long: keep it under 300 characters")
    rating = data.get("rating")
    if rating is not None and (not isinstance(rating, str) or rating not in RATINGS):
        raise Rejected("data.rating must be hot, warm, cold or null")
    raw = data.get("raw")
    if raw is not None:
        if not isinstance(raw, str):
            raise Rejected("data.raw must be a string or null")
        if len(raw) > LIMITS["raw"]:
            raise Rejected("data.raw is too long: keep it under 4,096 characters")
    hooks = _hooks(data.get("hooks"))
    capture = CaptureData(**values, rating=rating, raw=raw or None, hooks=hooks)
    if not capture.identifies_someone():
        raise Rejected("data needs a name, an email, a phone, a link or the scanned text")
    return capture, values_of(values, rating, hooks)


def _hooks(value: Any) -> list[HookData]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > len(HOOK_TYPES):
        raise Rejected("data.hooks must be a list of at most one hook per type")
    hooks: list[HookData] = []
    for index, item in enumerate(value):
        where = f"data.hooks[{index}]"
        if not isinstance(item, dict):
            raise Rejected(f"{where} must be an object")
        kind, detail, owed = item.get("type"), item.get("detail"), item.get("owed_by", "me")
        if not isinstance(kind, str) or kind not in HOOK_TYPES:
            raise Rejected(f"{where}.type {kind!r} is not a known hook type")
        if any(h.type == kind for h in hooks):
            raise Rejected(f"{where}.type {kind!r} is listed twice")
        if detail is None:
            detail = ""
        if not isinstance(detail, str):
            raise Rejected(f"{where}.detail must be a string or null")
        if len(detail.strip()) > HOOK_DETAIL_MAX:
            raise Rejected(f"{where}.detail is too long: keep it under 500 characters")
        _refuse_unstorable(detail, f"{where}.detail")
        if kind == "custom" and not detail.strip():
            raise Rejected(f"{where}.detail must say what the custom promise is")
        if owed is None:
            owed = "me"
        if not isinstance(owed, str) or owed not in OWED_BY:
            raise Rejected(f"{where}.owed_by must be me or them")
        hooks.append(HookData(type=kind, detail=detail.strip(), owed_by=owed))
    return hooks


_NO_HOOKS = dict.fromkeys(HOOK_FIELDS)


def values_of(texts: dict[str, str], rating: str | None, hooks: list[HookData]) -> dict:
    """Return a capture's mergeable fields as comparable values (see history.snapshot), from
    its checked text fields (in TEXT_FIELDS order), rating and hooks."""
    values: dict[str, str | None] = {**texts, "rating": rating, **_NO_HOOKS}
    for hook in hooks:
        values[f"hook:{hook.type}"] = hook_value(hook.detail, hook.owed_by)
    return values
