"""Property tests: whatever the QR text, the parser answers documented fields or a BadgeError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.badges import BadgeError, linkedin_handle, parse_lines, parse_payload, safe_link
from webapp.badges.fields import KINDS

FAST = settings(max_examples=300, deadline=None)
STR_KEYS = ("kind", "name", "given_name", "family_name", "org", "title", "note", "raw")
LIST_KEYS = ("emails", "phones", "urls", "addresses")

# Text fragments that steer generated input into the interesting corners of each reader.
fragment = st.sampled_from(
    [
        "BEGIN:VCARD", "END:VCARD", "VERSION:2.1", "VERSION:3.0", "FN:", "N:", "ORG:", "EMAIL:",
        "TEL:", "URL:", "ADR:", "NOTE:", "TITLE:", "X-SOCIALPROFILE;type=linkedin:",
        "item1.", ";CHARSET=UTF-8", ";CHARSET=ISO-8859-1", ";CHARSET=rot13", ";CHARSET=idna",
        ";ENCODING=QUOTED-PRINTABLE", ";QUOTED-PRINTABLE", ";ENCODING=b", ";x-user=a", "=C3=BC",
        "=FC", "=", "=\n", "\\", "\\n", "\\;", "\\,", "\\:", ";", ",", ":", "::", "\r\n", "\n",
        "\r", " ", "\t", "MECARD:", "BIZCARD:", "MATMSG:TO:", "mailto:", "tel:", "{", "}", '"',
        "https://", "www.", "linkedin.com/in/", "linkedin://in/", "javascript:", "@", ".com",
        "<script>", "山田", "ü", "ID", "[", "]", "?trk=1",
    ]
)  # fmt: skip
text_piece = st.text(max_size=12)
constructed = st.lists(st.one_of(fragment, text_piece), max_size=40).map("".join)


def vcardish() -> st.SearchStrategy[str]:
    """Return vCard-shaped text built from plausible and broken content lines."""
    name = st.sampled_from(
        ["FN", "N", "ORG", "EMAIL", "TEL", "URL", "ADR", "NOTE", "X-SOCIALPROFILE"]
    )
    params = st.lists(fragment, max_size=3).map("".join)
    line = st.tuples(st.sampled_from(["", "item1."]), name, params, constructed).map(
        lambda t: f"{t[0]}{t[1]}{t[2]}:{t[3]}"
    )
    eol = st.sampled_from(["\r\n", "\n", "\r"])
    return st.tuples(st.lists(line, max_size=8), eol, st.booleans()).map(
        lambda t: t[1].join(["BEGIN:VCARD", "VERSION:3.0", *t[0]] + (["END:VCARD"] if t[2] else []))
    )


def mecardish() -> st.SearchStrategy[str]:
    """Return MECARD or BIZCARD text with arbitrary (often broken) fields."""
    key = st.sampled_from(["N", "ORG", "EMAIL", "TEL", "URL", "ADR", "NOTE", "X", "C", "E", "T"])
    field = st.tuples(key, constructed).map(lambda t: f"{t[0]}:{t[1]}")
    prefix = st.sampled_from(["MECARD:", "BIZCARD:", "MATMSG:"])
    return st.tuples(prefix, st.lists(field, max_size=8)).map(
        lambda t: t[0] + ";".join(t[1]) + ";;"
    )


def jsonish() -> st.SearchStrategy[str]:
    """Return JSON objects with badge-like keys and values of any JSON type."""
    key = st.sampled_from(["name", "first_name", "lastName", "company", "email", "emails",
                           "phone", "website", "profile", "attendee", "x"])  # fmt: skip
    value = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | fragment
        | text_piece,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(key, inner, max_size=3),
        max_leaves=6,
    )
    return st.dictionaries(key, value, max_size=6).map(json.dumps)


def _check(text: str) -> None:
    """Parse text and assert the documented shape, or accept a BadgeError."""
    try:
        result: Any = parse_payload(text)
    except BadgeError as exc:
        assert str(exc)
        return
    assert set(result) == set(STR_KEYS) | set(LIST_KEYS)
    assert result["kind"] in KINDS
    assert result["raw"] == text
    for key in STR_KEYS:
        assert isinstance(result[key], str), key
    for key in LIST_KEYS:
        assert isinstance(result[key], list), key
        assert all(isinstance(item, str) and item for item in result[key]), key
        assert len(set(result[key])) == len(result[key]), key
    for url in result["urls"]:
        assert url.split(":", 1)[0].lower() in ("http", "https"), url
        assert safe_link(url) == url
    for email in result["emails"]:
        assert "@" in email and not any(ch.isspace() for ch in email)
    for key in ("name", "org", "title", "given_name", "family_name"):
        assert "\n" not in result[key] and result[key] == result[key].strip()
    if result["kind"] == "ignored":
        assert not any(result[k] for k in STR_KEYS + LIST_KEYS if k not in ("kind", "raw"))


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_never_raises_anything_but_badge_error(text: str) -> None:
    _check(text)


@FAST
@given(constructed)
def test_fragment_soup_never_raises_anything_but_badge_error(text: str) -> None:
    _check(text)


@FAST
@given(vcardish())
def test_vcard_shaped_text_gives_documented_fields(text: str) -> None:
    _check(text)


@FAST
@given(mecardish())
def test_mecard_shaped_text_gives_documented_fields(text: str) -> None:
    _check(text)


@FAST
@given(jsonish())
def test_json_shaped_text_gives_documented_fields(text: str) -> None:
    _check(text)


@FAST
@given(st.one_of(st.text(max_size=60), constructed))
def test_link_helpers_never_raise(text: str) -> None:
    link = safe_link(text)
    assert link is None or link.split(":", 1)[0].lower() in ("http", "https", "mailto", "tel")
    handle = linkedin_handle(text)
    assert handle is None or (handle == handle.lower() and "/" not in handle)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=5))
def test_parse_lines_never_raises(lines: list[str]) -> None:
    for out in parse_lines(lines):
        assert isinstance(json.loads(out), dict)
