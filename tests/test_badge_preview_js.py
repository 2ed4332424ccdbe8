"""The phone's preview extractor (static/js/badge-preview.js) agrees with the server's parser."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from webapp.badges import BadgeError, parse_payload

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "static" / "js" / "badge-preview.js"
VECTORS_PATH = Path(__file__).parent / "vectors" / "badges.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
COMPARED = [v for v in VECTORS if not v.get("error") and v.get("js", True)]
NODE = shutil.which("node")

# Reads the payloads as JSON on stdin and prints one preview per payload.
SCRIPT = """
import { previewPayload } from %s;
let input = "";
for await (const chunk of process.stdin) input += chunk;
const payloads = JSON.parse(input);
const odd = [undefined, null, 42, {}, ["x"], "\\ud800", "{\\"name\\":" + "[".repeat(100000)];
const survived = odd.every((x) => typeof previewPayload(x).kind === "string");
process.stdout.write(JSON.stringify({ survived, previews: payloads.map(previewPayload) }));
"""

# `make test` installs Node when it is missing, so in CI a missing node is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    NODE is None and not os.environ.get("CI"),
    reason="node is not installed, so the JS preview cannot run (make test installs it)",
)


def _run_node(payloads: list[str]) -> dict[str, Any]:
    """Run the preview module under Node over payloads and return its JSON answer."""
    assert NODE is not None
    script = SCRIPT % json.dumps(MODULE.as_uri())
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        input=json.dumps(payloads),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def node_answer() -> dict[str, Any]:
    """Preview every payload of the vector file in one Node run."""
    return _run_node([v["payload"] for v in VECTORS])


@pytest.fixture(scope="module")
def previews(node_answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Map vector ids to their JS previews."""
    return {v["id"]: p for v, p in zip(VECTORS, node_answer["previews"], strict=True)}


def test_most_vectors_are_compared() -> None:
    skipped = [v["id"] for v in VECTORS if not v.get("error") and not v.get("js", True)]
    assert len(skipped) <= 3, skipped


@pytest.mark.parametrize("vector", [pytest.param(v, id=v["id"]) for v in COMPARED])
def test_preview_agrees_with_the_server_parser(
    vector: dict[str, Any], previews: dict[str, dict[str, Any]]
) -> None:
    server = parse_payload(vector["payload"])
    preview = previews[vector["id"]]
    assert set(preview) == {"kind", "name", "org", "emails"}
    assert {k: preview[k] for k in ("name", "org", "emails")} == {
        k: server[k] for k in ("name", "org", "emails")
    }


def test_preview_never_throws_on_odd_input(node_answer: dict[str, Any]) -> None:
    assert node_answer["survived"] is True


def test_preview_shows_nothing_for_refused_payloads(previews: dict[str, dict[str, Any]]) -> None:
    for vector in VECTORS:
        if vector.get("error"):
            preview = previews[vector["id"]]
            assert preview == {"kind": "ignored", "name": "", "org": "", "emails": []}, vector["id"]


def test_preview_names_a_linkedin_link_as_a_url_without_a_name(
    previews: dict[str, dict[str, Any]],
) -> None:
    assert previews["url-linkedin-trk"] == {"kind": "url", "name": "", "org": "", "emails": []}


# Pieces of every format, glued at random: a cheap differential check beyond the vectors.
PIECES = [
    "BEGIN:VCARD\n", "END:VCARD", "VERSION:2.1\n", "FN:", "N:", "ORG:", "EMAIL:", "item1.",
    ";CHARSET=UTF-8", ";CHARSET=ISO-8859-1", ";ENCODING=QUOTED-PRINTABLE", ";ENCODING=b", ":",
    "=C3=BC", "=FC", "=\n", "\\", "\\n", "\\;", "\\,", ";", ",", "::", "\r\n", "\n", " ",
    "\t", "MECARD:N:", "BIZCARD:", "MATMSG:TO:", "mailto:", "{", "}", '"name":', '"email":',
    '"company":', "https://", "www.", "linkedin.com/in/", "jane", "Doe", "@", "example.com",
    "Jane@Example.COM", "山田", "ü", "<b>", "ID", "=",
]  # fmt: skip


def test_preview_agrees_on_random_glued_payloads() -> None:
    rng = random.Random(20240612)
    payloads = ["".join(rng.choices(PIECES, k=rng.randint(1, 25))) for _ in range(600)]
    answer = _run_node(payloads)
    for payload, preview in zip(payloads, answer["previews"], strict=True):
        try:
            server = parse_payload(payload)
        except BadgeError:
            continue
        for key in ("name", "org", "emails"):
            assert preview[key] == server[key], (payload, key)
