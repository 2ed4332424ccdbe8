"""Field cleaners shared by every payload format: emails, phones, links, names."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypedDict
from urllib.parse import quote, unquote, urlsplit


class Badge(TypedDict):
    """The contact fields parsed from one QR payload."""

    kind: str
    name: str
    given_name: str
    family_name: str
    org: str
    title: str
    emails: list[str]
    phones: list[str]
    urls: list[str]
    addresses: list[str]
    note: str
    raw: str


KINDS = ("vcard", "mecard", "bizcard", "email", "tel", "url", "id_badge", "json", "text", "ignored")
LINK_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

# Loose on purpose: we only want to drop things that cannot be an address, not to judge mailboxes.
_EMAIL = re.compile(
    r"[\w.!#$%&'*+/=?^`{|}~-]+@(?:[^\W_](?:[\w-]*[^\W_])?\.)+(?:xn--[\w-]+|[^\W\d_]{2,})"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
# A scheme-less "host.tld/path" in a field that is meant to hold a web address.
_BARE_HOST = re.compile(r"[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}(?::\d+)?(?:[/?#]\S*)?")
_LINKEDIN_PATH = re.compile(r"/(?:mwlite/)?in/([^/?#]+)")
_HANDLE = re.compile(r"[\w-]{1,100}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: a surrogate code point: in a Python str only ever a lone one (broken Unicode, which no
#: UTF-8 encoder and so no database column takes); json.loads pairs the others up
SURROGATE = re.compile(r"[\ud800-\udfff]")
# Han, kana and Hangul names are written family name first.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def one_line(value: str) -> str:
    """Collapse all whitespace, newlines included, to single spaces."""
    return " ".join(value.split())


def drop_controls(value: str) -> str:
    """Remove control characters that decoding (quoted-printable, charsets) let in."""
    return _CONTROL.sub("", value)


def compose_name(
    given: str, family: str, middle: str = "", prefix: str = "", suffix: str = ""
) -> str:
    """Build a display name from name parts, family name first for CJK names."""
    if _CJK.search(given + family):
        parts = [prefix, family, given, middle, suffix]
    else:
        parts = [prefix, given, middle, family, suffix]
    return one_line(" ".join(parts))


def clean_email(value: str) -> str | None:
    """Return the address with a lower-cased domain, or None if it does not look like one."""
    value = value.strip()
    if value[:7].lower() == "mailto:":
        value = unquote(value[7:]).split("?", 1)[0].strip()
    value = value.strip("<>").strip()
    if not _EMAIL.fullmatch(value):
        return None
    local, domain = value.rsplit("@", 1)
    return f"{local}@{domain.lower()}"


def clean_phone(value: str) -> str | None:
    """Return the number as written but trimmed, or None if it has no digit at all."""
    value = value.strip()
    if value[:4].lower() == "tel:":
        value = unquote(value[4:]).strip()
    value = one_line(value)
    return value if any(ch.isdigit() for ch in value) else None


def linkedin_handle(url: str) -> str | None:
    """Return the lower-cased handle of a LinkedIn profile URL, else None."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    low = url.lower()
    if low.startswith("linkedin://in/"):
        url = "https://www.linkedin.com/in/" + url[len("linkedin://in/") :]
    elif low.startswith(("linkedin.com/", "www.linkedin.com/")) or re.match(
        r"[a-z]{2,3}\.linkedin\.com/", low
    ):
        url = "https://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() not in ("http", "https"):
        return None
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return None
    match = _LINKEDIN_PATH.match(parts.path)
    if not match:
        return None
    handle = unquote(match.group(1)).strip().lower()
    return handle if _HANDLE.fullmatch(handle) else None


def clean_url(value: str, *, bare_host: bool = False) -> str | None:
    """Return an http(s) URL (LinkedIn profiles canonical), or None for anything else.

    With bare_host, "acme.com/team" in a field meant for a web address gets https://.
    """
    value = value.strip()
    if not value or _CONTROL.search(value) or any(ch.isspace() for ch in value):
        return None
    handle = linkedin_handle(value)
    if handle:
        return "https://www.linkedin.com/in/" + quote(handle, safe="-_")
    www = value[:4].lower() == "www."
    if www or (bare_host and not _SCHEME.match(value) and _BARE_HOST.fullmatch(value)):
        value = "https://" + value
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return value


def safe_link(url: str) -> str | None:
    """Return the URL if its scheme is http, https, mailto or tel, else None."""
    if not isinstance(url, str):
        return None
    url = url.strip()
    match = _SCHEME.match(url)
    # Browsers silently drop tabs and newlines inside a URL, so none may hide in a link.
    if not match or match.group(1).lower() not in LINK_SCHEMES or _ANY_CONTROL.search(url):
        return None
    return url


def _add_unique(items: list[str], value: str | None, *, fold_case: bool = False) -> None:
    """Append value unless it is empty or already present."""
    if not value:
        return
    key = value.lower() if fold_case else value
    if any((item.lower() if fold_case else item) == key for item in items):
        return
    items.append(value)


@dataclass
class Card:
    """Fields collected while reading a payload, turned into a Badge at the end."""

    name: str = ""
    given_name: str = ""
    family_name: str = ""
    org: str = ""
    title: str = ""
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add_email(self, value: str) -> None:
        """Keep the address if it looks like one (the same mailbox only once)."""
        _add_unique(self.emails, clean_email(value), fold_case=True)

    def add_phone(self, value: str) -> None:
        """Keep the number if it has digits."""
        _add_unique(self.phones, clean_phone(value))

    def add_url(self, value: str, *, bare_host: bool = True) -> None:
        """Keep the link if it is http(s)."""
        _add_unique(self.urls, clean_url(value, bare_host=bare_host))

    def add_address(self, parts: list[str]) -> None:
        """Keep a postal address as one line of its non-empty parts."""
        line = ", ".join(one_line(p) for p in parts if p.strip())
        _add_unique(self.addresses, line)

    def add_note(self, value: str) -> None:
        """Keep a note, trimmed."""
        _add_unique(self.notes, value.strip())

    def badge(self, kind: str, raw: str) -> Badge:
        """Return the finished fields, composing a name from its parts when none was given."""
        given, family = one_line(self.given_name), one_line(self.family_name)
        name = one_line(self.name) or compose_name(given, family)
        return Badge(
            kind=kind,
            name=name,
            given_name=given,
            family_name=family,
            org=one_line(self.org),
            title=one_line(self.title),
            emails=list(self.emails),
            phones=list(self.phones),
            urls=list(self.urls),
            addresses=list(self.addresses),
            note="\n".join(self.notes),
            raw=raw,
        )
