"""vCard 2.1 / 3.0 / 4.0: vobject where it copes, a tolerant line reader where it does not."""

from __future__ import annotations

import codecs
import quopri
import re
import warnings
from dataclasses import dataclass

import vobject
from vobject.base import ContentLine

from .fields import Card, compose_name, drop_controls

_PROPERTY = re.compile(r"(?:[A-Za-z0-9-]+\.)?[A-Za-z0-9-]+(?:;[^:]*)?:")
_SIMPLE_ESCAPES = {"n": "\n", "N": "\n"}
# Charsets seen on real cards; anything else is read as UTF-8 so an odd label cannot pick a
# codec that is not a text encoding.
_CHARSETS = frozenset(
    codecs.lookup(name).name
    for name in (
        "utf-8", "us-ascii", "iso-8859-1", "iso-8859-2", "iso-8859-15", "windows-1250",
        "windows-1251", "windows-1252", "koi8-r", "shift_jis", "euc-jp", "iso-2022-jp",
        "gb2312", "gbk", "gb18030", "big5", "euc-kr",
    )
)  # fmt: skip


@dataclass
class Prop:
    """One content line: upper-case name and parameter names, decoded but still escaped value."""

    name: str
    params: dict[str, list[str]]
    value: str


def split_escaped(value: str, sep: str) -> list[str]:
    """Split on sep where it is not escaped by a backslash; escapes stay in place."""
    parts, current, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """Undo vCard/MECARD backslash escapes (\\n is a newline, \\x is x)."""
    return re.sub(r"\\(.)", lambda m: _SIMPLE_ESCAPES.get(m.group(1), m.group(1)), value)


def components(value: str, sep: str = ";") -> list[str]:
    """Split a structured value (N, ORG, ADR) and unescape each part."""
    return [unescape(part).strip() for part in split_escaped(value, sep)]


def decode_bytes(data: bytes, charset: str) -> str:
    """Decode with the declared charset, then UTF-8, then Latin-1 (which always works)."""
    try:
        declared = codecs.lookup(charset).name
    except LookupError:
        declared = "utf-8"
    for name in (declared if declared in _CHARSETS else "utf-8", "utf-8"):
        try:
            return data.decode(name)
        except UnicodeError:
            continue
    return data.decode("latin-1")


def decode_qp(value: str, charset: str) -> str:
    """Decode a quoted-printable value in its declared charset."""
    return drop_controls(decode_bytes(quopri.decodestring(value.encode("utf-8")), charset))


def _vobject_props(text: str) -> list[Prop] | None:
    """Read the card with vobject, or return None if vobject gives up on it."""
    try:
        # vobject may warn on odd input; stay quiet, since warnings are errors under pytest.
        # (catch_warnings is process-wide, but the window is one short parse.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            card = vobject.readOne(text, transform=False)
            lines = [c for c in card.getChildren() if isinstance(c, ContentLine)]
    except Exception:  # noqa: BLE001 - any failure in a third-party parser means "use ours"
        return None
    if card.name.upper() != "VCARD":
        return None
    return [
        Prop(line.name.upper(), {k.upper(): list(v) for k, v in line.params.items()}, line.value)
        for line in lines
        # vobject has decoded quoted-printable and dropped its ENCODING; what is left is binary.
        if isinstance(line.value, str) and "ENCODING" not in line.params
    ]


def _logical_lines(text: str) -> list[str]:
    """Unfold lines, tolerating quoted-printable soft breaks and folds that lost their space."""
    lines: list[str] = []
    for line in re.split(r"\r\n|\r|\n", text):
        if lines and lines[-1].endswith("=") and _is_qp(lines[-1]):
            lines[-1] = lines[-1][:-1] + line.lstrip(" \t")
        elif lines and (line[:1] in (" ", "\t") or (line.strip() and not _PROPERTY.match(line))):
            lines[-1] += line[1:] if line[:1] in (" ", "\t") else line
        elif line.strip():
            lines.append(line)
    return lines


def _is_qp(line: str) -> bool:
    """Tell whether a content line declares quoted-printable encoding."""
    head = line.split(":", 1)[0].upper()
    return "QUOTED-PRINTABLE" in head


def _parse_params(raw: list[str]) -> dict[str, list[str]]:
    """Read ;-separated parameters, including vCard 2.1 bare ones (;CELL, ;QUOTED-PRINTABLE)."""
    params: dict[str, list[str]] = {}
    for item in raw:
        key, eq, val = item.partition("=")
        if not eq:
            bare_encoding = item.strip().upper() in ("QUOTED-PRINTABLE", "BASE64")
            key, val = ("ENCODING" if bare_encoding else "TYPE"), item
        values = [v.strip().strip('"') for v in val.split(",")]
        params.setdefault(key.strip().upper(), []).extend(values)
    return params


def _line_props(text: str) -> list[Prop]:
    """Read content lines with our own tolerant reader."""
    props: list[Prop] = []
    for line in _logical_lines(text):
        head, _, value = line.partition(":")
        name, *raw_params = head.split(";")
        name = name.rsplit(".", 1)[-1].upper()  # drop the itemN. group
        if name == "END" and value.strip().upper() == "VCARD" and props:
            break
        params = _parse_params(raw_params)
        encoding = [e.upper() for e in params.get("ENCODING", [])]
        if "QUOTED-PRINTABLE" in encoding:
            value = decode_qp(value, (params.get("CHARSET") or ["utf-8"])[0])
        elif encoding:
            continue  # base64 photos and sounds carry no contact text
        props.append(Prop(name, params, value))
    return props


def read_props(text: str) -> list[Prop]:
    """Return the content lines of the first card in text."""
    props = _vobject_props(text)
    return props if props is not None else _line_props(text)


def parse_vcard(text: str) -> Card:
    """Map vCard properties to contact fields."""
    card = Card()
    fn = role = ""
    for prop in read_props(text):
        if prop.name == "FN":
            fn = fn or unescape(prop.value).strip()
        elif prop.name == "ROLE":
            role = role or unescape(prop.value).strip()  # only used when there is no TITLE
        else:
            _apply(card, prop)
    card.name = fn or card.name
    card.title = card.title or role
    return card


def _apply(card: Card, prop: Prop) -> None:
    """Copy one property into the card."""
    value = prop.value
    if prop.name == "N":
        family, given, middle, prefix, suffix = (components(value) + [""] * 5)[:5]
        card.given_name, card.family_name = card.given_name or given, card.family_name or family
        card.name = card.name or compose_name(given, family, middle, prefix, suffix)
    elif prop.name == "ORG":
        card.org = card.org or components(value)[0]
    elif prop.name == "TITLE":
        card.title = card.title or unescape(value).strip()
    elif prop.name == "EMAIL":
        card.add_email(unescape(value))
    elif prop.name == "TEL":
        card.add_phone(unescape(value))
    elif prop.name == "URL":
        card.add_url(unescape(value))
    elif prop.name == "X-SOCIALPROFILE":
        _social(card, prop)
    elif prop.name == "ADR":
        card.add_address(components(value))
    elif prop.name == "NOTE":
        card.add_note(unescape(value))


def _social(card: Card, prop: Prop) -> None:
    """Keep a social profile link; iOS may give only x-user for LinkedIn."""
    before = len(card.urls)
    card.add_url(unescape(prop.value))
    kinds = [t.lower() for t in prop.params.get("TYPE", [])]
    users = prop.params.get("X-USER", [])
    if len(card.urls) == before and "linkedin" in kinds and users:
        card.add_url("https://www.linkedin.com/in/" + users[0].strip())
