"""flask --app webapp badge parse: one JSON string per line in, one JSON object per line out."""

import json

from tests import fakecam

FIELDS = {
    "kind", "name", "given_name", "family_name", "org", "title", "emails", "phones", "urls",
    "addresses", "note", "raw",
}  # fmt: skip


def _run(runner, text: str) -> list[dict]:
    result = runner.invoke(args=["badge", "parse"], input=text)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_it_parses_one_payload_per_line(runner):
    lines = [
        json.dumps(fakecam.SAMPLE_VCARD),
        json.dumps("MECARD:N:Ortiz,Ana;EMAIL:ana@example.com;;"),
        json.dumps("https://www.linkedin.com/in/ana-ortiz?trk=public_profile"),
        json.dumps("WIFI:T:WPA;S:Guest;P:secret;;"),
    ]
    out = _run(runner, "\n".join(lines) + "\n")
    assert len(out) == 4
    assert all(set(item) == FIELDS for item in out)
    assert (out[0]["kind"], out[0]["name"], out[0]["emails"]) == (
        "vcard",
        "Ada Lovelace",
        ["ada@example.com"],
    )
    assert out[0]["raw"] == fakecam.SAMPLE_VCARD
    assert (out[1]["kind"], out[1]["name"]) == ("mecard", "Ana Ortiz")
    assert out[2]["urls"] == ["https://www.linkedin.com/in/ana-ortiz"]
    assert (out[3]["kind"], out[3]["name"], out[3]["emails"]) == ("ignored", "", [])


def test_a_line_that_is_not_json_gets_an_error_and_the_rest_still_parse(runner):
    out = _run(runner, '{"not closed\n' + json.dumps("ana@example.com") + "\n")
    assert set(out[0]) == {"error"}
    assert out[0]["error"].startswith("The line is not valid JSON")
    assert out[1]["emails"] == ["ana@example.com"]


def test_a_json_value_that_is_not_a_string_is_an_error(runner):
    out = _run(runner, '{"name": "Ana"}\n42\n')
    assert [set(item) for item in out] == [{"error"}, {"error"}]
    assert "JSON string" in out[0]["error"]


def test_refused_payloads_say_why(runner):
    out = _run(runner, json.dumps("x" * 5000) + "\n" + json.dumps("FN:A\u0007da") + "\n")
    assert out == [
        {"error": "The QR text is longer than 4 KB (5,000 bytes)."},
        {"error": "The QR text contains control characters."},
    ]


def test_blank_lines_are_skipped(runner):
    out = _run(runner, "\n   \n" + json.dumps("Booth 12") + "\n\n")
    assert len(out) == 1
    assert (out[0]["kind"], out[0]["note"]) == ("text", "Booth 12")


def test_empty_input_writes_nothing(runner):
    assert _run(runner, "") == []
