"""Per-field history of a capture: what each edit replaced, who made it and when.

Every edit path (the laptop's form through update_capture, the phone's sync) records a
CaptureRevision per changed field. The newest applied revision of a field is that field's
change time, which the sync merge compares with a device's edit time.
"""

import json
from datetime import datetime

import orjson
from sqlalchemy import func, select

from webapp.contacts.models import HOOK_TYPES, Encounter
from webapp.db_types import UTCDateTime
from webapp.extensions import db
from webapp.sync.models import CaptureRevision

TEXT_FIELDS = ("name", "org", "title", "email", "phone", "url", "note", "offer", "ask")
FIELDS = (*TEXT_FIELDS, "rating")
HOOK_FIELDS = tuple(f"hook:{kind}" for kind in HOOK_TYPES)


#: json.dumps(value, ensure_ascii=False) without making an encoder for every call.
_encode = json.JSONEncoder(ensure_ascii=False).encode


def hook_value(detail: str, owed_by: str) -> str:
    """Return the comparable value of one hook (its type is the field name).

    It is json.dumps([owed_by, detail], ensure_ascii=False), the form stored values have:
    orjson writes each string exactly as that does (tests/test_sync_api.py), and the
    list's ", " is written here; JSONEncoder made a C encoder for every call, a sixth of
    a new capture's values. What orjson refuses (a lone surrogate) goes through _encode.
    """
    detail = detail.strip()
    try:
        return f"[{orjson.dumps(owed_by).decode()}, {orjson.dumps(detail).decode()}]"
    except orjson.JSONEncodeError:
        return _encode([owed_by, detail])


def snapshot(encounter: Encounter) -> dict[str, str | None]:
    """Return the encounter's mergeable fields as comparable values."""
    values: dict[str, str | None] = {name: getattr(encounter, name) for name in FIELDS}
    values.update(dict.fromkeys(HOOK_FIELDS))
    for hook in encounter.hooks:
        values[f"hook:{hook.type}"] = hook_value(hook.detail, hook.owed_by)
    return values


def add_revision(
    encounter: Encounter,
    field: str,
    old: str | None,
    new: str | None,
    source: str,
    at: datetime,
    outcome: str = "applied",
) -> None:
    """Keep one field change (or a value that lost to a newer edit) in the history."""
    db.session.add(
        CaptureRevision(
            encounter_id=encounter.id,
            field=field,
            old_value=old,
            new_value=new,
            outcome=outcome,
            source=(source or "unknown")[:40],
            at=at,
        )
    )


def record_revisions(
    encounter: Encounter, before: dict[str, str | None], source: str, at: datetime
) -> list[str]:
    """Record a revision for every field that differs from before; return their names."""
    after = snapshot(encounter)
    changed = [name for name, value in after.items() if before.get(name) != value]
    for name in changed:
        add_revision(encounter, name, before.get(name), after[name], source, at)
    return changed


def field_clocks(encounter_id: int) -> dict[str, datetime]:
    """Return when each field of the encounter last changed (fields never edited are absent)."""
    rows = db.session.execute(
        select(CaptureRevision.field, func.max(CaptureRevision.at, type_=UTCDateTime))
        .where(
            CaptureRevision.encounter_id == encounter_id,
            CaptureRevision.outcome != "kept",
        )
        .group_by(CaptureRevision.field)
    )
    return dict(rows.all())


def history(encounter_id: int) -> list[CaptureRevision]:
    """Return the encounter's revisions, oldest first."""
    query = (
        select(CaptureRevision)
        .where(CaptureRevision.encounter_id == encounter_id)
        .order_by(CaptureRevision.id)
    )
    return list(db.session.scalars(query))
