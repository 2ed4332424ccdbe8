"""Table-driven tests of the QR payload parser over tests/vectors/badges.json, plus its helpers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from webapp.badges import BadgeError, linkedin_handle, parse_lines, parse_payload, safe_link

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors" / "badges.json").read_text(encoding="utf-8")
)
KEYS = {
    "kind", "name", "given_name", "family_name", "org", "title", "emails", "phones", "urls",
    "addresses", "note", "raw",
}  # fmt: skip


def _cases(refused: bool) -> list[Any]:
    """Return the vectors that are (or are not) refusals, as pytest params with ids."""
    return [pytest.param(v, id=v["id"]) for v in VECTORS if bool(v.get("error")) is refused]


def test_the_vector_file_is_big_and_well_formed() -> None:
    ids = [v["id"] for v in VECTORS]
    assert len(ids) > 100
    assert len(ids) == len(set(ids))
    for vector in VECTORS:
        assert isinstance(vector["payload"], str)
        assert ("expect" in vector) != bool(vector.get("error")), vector["id"]
        assert set(vector.get("expect", {})) <= KEYS, vector["id"]


@pytest.mark.parametrize("vector", _cases(refused=False))
def test_it_parses_each_vector_as_expected(vector: dict[str, Any]) -> None:
    result = parse_payload(vector["payload"])
    assert set(result) == KEYS
    assert result["raw"] == vector["payload"]
    for key, expected in vector["expect"].items():
        assert result[key] == expected, f"{vector['id']}: {key}"


@pytest.mark.parametrize("vector", _cases(refused=True))
def test_it_refuses_each_hostile_vector(vector: dict[str, Any]) -> None:
    with pytest.raises(BadgeError):
        parse_payload(vector["payload"])


def test_it_refuses_a_megabyte_with_the_size_in_the_reason() -> None:
    with pytest.raises(BadgeError) as info:
        parse_payload("x" * 1_048_576)
    assert str(info.value) == "The QR text is longer than 4 KB (1,048,576 bytes)."


def test_it_counts_utf8_bytes_not_characters() -> None:
    with pytest.raises(BadgeError, match=r"\(4,098 bytes\)"):
        parse_payload("ü" * 2049)
    assert parse_payload("ü" * 2048)["kind"] == "text"


def test_it_names_control_characters_as_the_reason() -> None:
    with pytest.raises(BadgeError) as info:
        parse_payload("Jane\x00Doe")
    assert str(info.value) == "The QR text contains control characters."


@pytest.mark.parametrize("value", [None, b"BEGIN:VCARD", 42, ["a"]])
def test_it_refuses_what_is_not_a_string(value: Any) -> None:
    with pytest.raises(BadgeError, match="must be a string"):
        parse_payload(value)


def test_it_refuses_lone_surrogates() -> None:
    with pytest.raises(BadgeError, match="not valid Unicode"):
        parse_payload("Jane \ud800 Doe")


def test_badge_error_is_a_value_error() -> None:
    assert issubclass(BadgeError, ValueError)


def test_it_keeps_only_web_links_whatever_the_format() -> None:
    for vector in _cases(refused=False):
        for url in parse_payload(vector.values[0]["payload"])["urls"]:
            assert url.startswith(("http://", "https://")), url


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "http://example.com/a?b=c",
        "HTTPS://EXAMPLE.COM",
        "mailto:jane@example.com",
        "MailTo:jane@example.com",
        "tel:+14155550100",
    ],
)
def test_safe_link_allows_web_mail_and_phone_links(url: str) -> None:
    assert safe_link(url) == url


def test_safe_link_strips_surrounding_whitespace() -> None:
    assert safe_link("  https://example.com \n") == "https://example.com"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "\x00javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://example.com",
        "sms:+1555",
        "//evil.example/",
        "/relative/path",
        "example.com",
        "",
        "https://example.com/\x00",
        "https://example.com/\njavascript:alert(1)",
    ],
)
def test_safe_link_refuses_everything_else(url: str) -> None:
    assert safe_link(url) is None


def test_safe_link_refuses_non_strings() -> None:
    assert safe_link(None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "handle"),
    [
        ("https://www.linkedin.com/in/janedoe", "janedoe"),
        ("https://www.linkedin.com/in/JaneDoe/", "janedoe"),
        ("http://linkedin.com/in/jane-doe-123?trk=abc", "jane-doe-123"),
        ("https://de.linkedin.com/in/juergen/?originalSubdomain=de", "juergen"),
        ("https://www.linkedin.com/in/jane?utm_source=share&utm_medium=ios_app", "jane"),
        ("https://www.linkedin.com/mwlite/in/jane", "jane"),
        ("linkedin.com/in/jane", "jane"),
        ("www.linkedin.com/in/jane", "jane"),
        ("linkedin://in/Jane", "jane"),
        ("  https://www.linkedin.com/in/jane  ", "jane"),
        ("https://www.linkedin.com/in/j%C3%BCrgen", "jürgen"),
    ],
)
def test_linkedin_handle_reads_every_profile_form(url: str, handle: str) -> None:
    assert linkedin_handle(url) == handle


@pytest.mark.parametrize(
    "url",
    [
        "https://www.linkedin.com/company/acme",
        "https://www.linkedin.com/in/",
        "https://www.linkedin.com/",
        "https://linkedin.com.evil.example/in/jane",
        "https://evil-linkedin.com/in/jane",
        "javascript://www.linkedin.com/in/jane",
        "https://lnkd.in/abc",
        "https://www.linkedin.com/in/jane%2F..%2Fx",
        "jane",
        "",
    ],
)
def test_linkedin_handle_refuses_anything_else(url: str) -> None:
    assert linkedin_handle(url) is None


def test_parse_lines_yields_one_compact_object_per_line() -> None:
    lines = ['"BEGIN:VCARD\\nFN:Ann\\nEND:VCARD"\n', "\n", '"mailto:ann@example.com"']
    out = list(parse_lines(lines))
    assert len(out) == 2
    first = json.loads(out[0])
    assert set(first) == KEYS
    assert first["kind"] == "vcard"
    assert first["name"] == "Ann"
    assert json.loads(out[1])["emails"] == ["ann@example.com"]
    assert ": " not in out[0] and ", " not in out[0]


def test_parse_lines_keeps_unicode_readable() -> None:
    (line,) = parse_lines(['"MECARD:N:山田,太郎;;"'])
    assert "山田 太郎" in line


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("BEGIN:VCARD", "not valid JSON"),
        ('{"text": "x"}', "not a JSON string"),
        ("42", "not a JSON string"),
        ('"Jane\\u0000Doe"', "control characters"),
        (json.dumps("x" * 5000), "longer than 4 KB (5,000 bytes)"),
        ("[" * 100_000, "not valid JSON"),
    ],
)
def test_parse_lines_answers_an_error_object_for_bad_lines(line: str, reason: str) -> None:
    (out,) = parse_lines([line])
    result = json.loads(out)
    assert list(result) == ["error"]
    assert reason in result["error"]


def test_parse_lines_goes_on_after_a_bad_line() -> None:
    out = [json.loads(x) for x in parse_lines(["nope", '"tel:+1555"'])]
    assert "error" in out[0]
    assert out[1]["phones"] == ["+1555"]


def test_parse_lines_skips_blank_lines_only() -> None:
    assert list(parse_lines(["", "   ", "\n"])) == []
