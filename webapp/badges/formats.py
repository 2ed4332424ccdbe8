"""The one-line formats: MECARD, BIZCARD, MATMSG, mailto:, tel:, URLs, ID:: badges, JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from .fields import SURROGATE, Card, clean_email, clean_url, drop_controls
from .vcard import components, split_escaped, unescape

_ID_PREFIX = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAMED_EMAIL = re.compile(r'"?([^"<>]*?)"?\s*<([^<>\s]+)>')
_PHONEISH = re.compile(r"\+?[\d\s().\-/]{6,}")


def _fields(body: str) -> list[tuple[str, str]]:
    """Split "KEY:value;KEY:value;;" into (KEY, escaped value) pairs."""
    pairs = []
    for part in split_escaped(body, ";"):
        key, sep, value = part.partition(":")
        if sep:
            pairs.append((key.strip().upper(), value))
    return pairs


def parse_mecard(body: str) -> Card:
    """Read the fields after "MECARD:" (N is "Last,First")."""
    card = Card()
    for key, value in _fields(body):
        text = unescape(value).strip()
        if key == "N" and not (card.name or card.family_name):
            names = components(value, ",")
            if len(names) > 1:
                card.family_name, card.given_name = names[0], names[1]
            else:
                card.name = text
        elif key == "ORG":
            card.org = card.org or text
        elif key == "TITLE":
            card.title = card.title or text
        elif key == "EMAIL":
            card.add_email(text)
        elif key in ("TEL", "TEL-AV"):
            card.add_phone(text)
        elif key == "URL":
            card.add_url(text)
        elif key == "ADR":
            card.add_address([text])
        elif key == "NOTE":
            card.add_note(text)
    return card


def parse_bizcard(body: str) -> Card:
    """Read the fields after "BIZCARD:" (N first name, X last name, C company, T title)."""
    card = Card()
    for key, value in _fields(body):
        text = unescape(value).strip()
        if key == "N":
            card.given_name = card.given_name or text
        elif key == "X":
            card.family_name = card.family_name or text
        elif key == "C":
            card.org = card.org or text
        elif key == "T":
            card.title = card.title or text
        elif key == "E":
            card.add_email(text)
        elif key in ("B", "M"):  # F is a fax number, not one to call back
            card.add_phone(text)
        elif key == "A":
            card.add_address([text])
    return card


def parse_matmsg(body: str) -> Card:
    """Take the recipient of a "MATMSG:TO:..;SUB:..;BODY:..;;" e-mail."""
    card = Card()
    for key, value in _fields(body):
        if key == "TO":
            for address in unescape(value).split(","):
                card.add_email(address)
    return card


def parse_mailto(text: str) -> Card:
    """Take the recipients of a mailto: URI (path and to= query)."""
    card = Card()
    path, _, query = text[len("mailto:") :].partition("?")
    recipients = unquote(path).split(",")
    for key, values in parse_qs(query).items():
        if key.lower() == "to":
            recipients += [a for v in values for a in v.split(",")]
    for address in recipients:
        card.add_email(address)
    return card


def parse_tel(text: str) -> Card:
    """Take the number of a tel: URI."""
    card = Card()
    card.add_phone(unquote(text[len("tel:") :]).split("?", 1)[0])
    return card


def parse_url(text: str) -> Card | None:
    """Keep a single http(s) or LinkedIn link, or return None if it is not a usable one."""
    url = clean_url(text)
    if url is None:
        return None
    card = Card()
    card.urls.append(url)
    return card


def parse_named_email(text: str) -> Card | None:
    """Read a bare address or "Name <address>", or return None."""
    name, address = "", text
    match = _NAMED_EMAIL.fullmatch(text)
    if match:
        name, address = match.group(1).strip(), match.group(2)
    if clean_email(address) is None or address.lower().startswith("mailto:"):
        return None
    card = Card(name=name)
    card.add_email(address)
    return card


def parse_id_badge(text: str) -> Card | None:
    """Read "ID::last::first::company::email[::more]", or return None if it is not that layout."""
    if "\n" in text:
        return None
    parts = [p.strip() for p in text.split("::")]
    # A name with no letter at all is more likely an IPv6-ish string than a person.
    has_name = any(ch.isalpha() for ch in parts[1] + parts[2]) if len(parts) > 2 else False
    if len(parts) < 4 or not _ID_PREFIX.fullmatch(parts[0]) or not has_name:
        return None
    card = Card(family_name=parts[1], given_name=parts[2], org=parts[3])
    for extra in parts[4:]:
        _add_guessed(card, extra)
    return card


def _add_guessed(card: Card, value: str) -> None:
    """File a trailing badge field by its shape: address, number or link (else drop it)."""
    if "@" in value:
        card.add_email(value)
    elif _PHONEISH.fullmatch(value):
        card.add_phone(value)
    else:
        card.add_url(value, bare_host=False)


# JSON keys, lower-cased with everything but letters and digits removed.
_SCALAR_KEYS: dict[str, str] = {
    **dict.fromkeys(("name", "fullname", "displayname", "fn", "attendeename"), "name"),
    **dict.fromkeys(("firstname", "givenname", "first", "fname", "forename"), "given_name"),
    **dict.fromkeys(("lastname", "familyname", "surname", "last", "lname"), "family_name"),
    **dict.fromkeys(
        ("company", "companyname", "organization", "organisation", "org", "employer"), "org"
    ),
    # Not "role": badge apps use it for "Speaker" or "Sponsor", which is no job title.
    **dict.fromkeys(("title", "jobtitle", "position", "job"), "title"),
}
_ADDERS: dict[str, Callable[[Card, str], None]] = {
    **dict.fromkeys(("email", "emails", "emailaddress", "mail", "workemail"), Card.add_email),
    **dict.fromkeys(
        (
            "phone",
            "phones",
            "tel",
            "telephone",
            "mobile",
            "cell",
            "phonenumber",
            "mobilephone",
            "cellphone",
            "workphone",
        ),
        Card.add_phone,
    ),
    **dict.fromkeys(
        ("url", "urls", "website", "web", "homepage", "linkedin", "linkedinurl", "twitter"),
        Card.add_url,
    ),
    **dict.fromkeys(("note", "notes", "bio"), Card.add_note),
    **dict.fromkeys(("address", "addr"), lambda card, v: card.add_address([v])),
}
# Badge apps often wrap the person in one of these.
_WRAPPERS = ("attendee", "profile", "contact", "person", "user", "data", "badge")


def _scalars(value: Any, *, numbers: bool) -> list[str]:
    """Return the text of a JSON string (or number, if allowed), or of a list of them.

    JSON's escapes can spell what the QR text itself may not hold (control characters,
    lone surrogates, which no database column takes): they are dropped, as decoding's
    leftovers are in the other formats (fields.drop_controls).
    """
    items = value if isinstance(value, list) else [value]
    # Numbers only where a phone number may be one; a name or company is always a string.
    return [
        SURROGATE.sub("", drop_controls(v)) if isinstance(v, str) else str(v)
        for v in items
        if isinstance(v, str) or (numbers and isinstance(v, int) and not isinstance(v, bool))
    ]


def _read_object(card: Card, obj: dict[str, Any], depth: int = 0) -> None:
    """Copy the known keys of one JSON object, then those of wrapper objects inside it."""
    inner: list[dict[str, Any]] = []
    for key, value in obj.items():
        norm = re.sub(r"[^a-z0-9]", "", str(key).lower())
        if isinstance(value, dict) and (norm in _WRAPPERS or norm == "name"):
            inner.append(value)  # {"attendee": {...}} or {"name": {"first": ..., "last": ...}}
        elif norm in _SCALAR_KEYS:
            texts = _scalars(value, numbers=False)
            attr = _SCALAR_KEYS[norm]
            if texts and not getattr(card, attr):
                setattr(card, attr, texts[0].strip())
        elif norm in _ADDERS:
            for text in _scalars(value, numbers=True):
                _ADDERS[norm](card, text)
    if depth < 2:
        for value in inner:
            _read_object(card, value, depth + 1)


def _no_constant(name: str) -> None:
    """Refuse NaN and Infinity, which are not JSON (browsers reject them too)."""
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Card | None:
    """Read a JSON badge object, or return None if the text is not a JSON object."""
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    card = Card()
    _read_object(card, data)
    return card
