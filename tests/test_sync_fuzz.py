"""Whatever JSON a phone sends, the sync API answers per change (or refuses the batch with
a 4xx): never a 500, which would leave the batch stuck in the phone's outbox for good."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_sync_api import DEVICE, new_id, token_for

# Characters that have broken storage or parsing somewhere: NUL (PostgreSQL refuses it),
# lone surrogates (UTF-8 refuses them), and the punctuation the formats split on.
TRICKY = list("aZ@.:/ ;,+-09\n\t\x00\ud800\udc00\u200bé💡")
QR_TEXTS = [
    "BEGIN:VCARD\nFN:Ada\nEMAIL:a@b.co\nEND:VCARD",
    "MECARD:N:Doe,Jo;EMAIL:j@d.io;;",
    '{"name": "Ada\\u0000", "email": "ada\\ud800@b.co"}',
    "https://www.linkedin.com/in/ada",
    "ID::Doe::Jo::Acme::jo@acme.io",
]
tricky = st.text(alphabet=st.sampled_from(TRICKY), max_size=20)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    tricky,
    st.sampled_from(QR_TEXTS),
    st.sampled_from(["hot", "meet", "custom", "me", "them", "", "a@b.co", "https://x.io"]),
    st.sampled_from(["01a2336e-c188-7bd8-89d5-6e2d7064cc9e"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["type", "detail", "owed_by", "x"]), inner, max_size=4),
    ),
    max_leaves=8,
)
hook = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["meet", "custom", "introduce"]), values),
        "detail": st.one_of(tricky, values),
        "owed_by": st.one_of(st.sampled_from(["me", "them"]), values),
    },
)
# Each field mostly well-formed or free text, so that most changes get past the types and
# reach the later checks and the storage; now and then anything at all.
free_text = st.one_of(tricky, tricky, values)
data = st.fixed_dictionaries(
    {},
    optional={
        **dict.fromkeys(["name", "org", "title", "note", "offer", "ask"], free_text),
        "raw": st.one_of(st.sampled_from(QR_TEXTS), tricky, values),
        "email": st.one_of(st.just("ada@example.com"), st.emails(), values),
        "phone": st.one_of(st.just("+49 170 1234567"), values),
        "url": st.one_of(st.just("linkedin.com/in/ada"), values),
        "rating": st.one_of(st.sampled_from(["hot", "warm", "cold", None]), values),
        "event_id": st.one_of(st.none(), values),
        "capture_id": st.one_of(st.none(), st.uuids().map(str), values),
        "hooks": st.one_of(st.lists(hook, max_size=3), values),
    },
)
change = st.fixed_dictionaries(
    {"data": st.one_of(data, data, data, values)},
    optional={
        "id": st.one_of(st.uuids().map(str), values),
        "seq": values,
        "kind": st.one_of(st.just("capture"), values),
        "op": st.one_of(st.sampled_from(["upsert", "delete"]), values),
        "at": st.one_of(st.just("2026-11-21T16:04:05+01:00"), values),
    },
)


@pytest.fixture
def phone(app, alice):
    token = token_for(app, alice)
    return app.test_client(), {"Authorization": f"Bearer {token}"}


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(changes=st.lists(change, max_size=5), well_formed=st.lists(st.integers(0, 3), min_size=5))
def test_any_json_in_any_field_gets_an_answer_per_change_never_a_500(phone, changes, well_formed):
    client, headers = phone
    for item, complete in zip(changes, well_formed, strict=False):
        if complete:  # mostly well-formed envelopes, so that the fields' checks are reached
            item.update(id=new_id(), seq=1, kind="capture", at="2026-11-21T16:04:05+01:00")
            item["op"] = item.get("op") if item.get("op") in ("upsert", "delete") else "upsert"
    body = json.dumps({"device_id": DEVICE, "changes": changes})
    for _ in range(2):  # and the replay
        response = client.post(
            "/api/v1/sync", data=body, headers=headers, content_type="application/json"
        )
        assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
        if response.status_code == 200:
            results = response.get_json()["results"]
            assert len(results) == len(changes)
            assert {r["status"] for r in results} <= {"applied", "duplicate", "rejected"}
