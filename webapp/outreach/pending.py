"""Follow-ups that the phone's sync leaves to plan until the user next looks at drafts.

A sync batch of new people (almost every batch from an event) stores their captures and
one pending_plans row naming them; composing their drafts waits until the user next
opens a page that can show drafts (plan_before_page), or the morning run's digest needs
them (runner.send_due), or the account is exported. Planning then is what it would have
been at sync time: the same planner, from what is stored, and it is idempotent, so a
capture that an edit or a later sync has planned meanwhile is simply planned again. At
an event the phone's batches stay short, and the drafts are written with the templates
and resources of the morning they are read (docs/outreach.md, docs/performance.md).
"""

import logging

from flask import Flask, request
from flask_login import current_user
from sqlalchemy import delete
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, OperationalError

from webapp.bulk import insert_rows, select_rows
from webapp.database import Busy, write_transaction, write_wait_ms
from webapp.extensions import db
from webapp.outreach.models import PendingPlan
from webapp.outreach.planner import plan_many

logger = logging.getLogger(__name__)

#: Blueprints whose pages show no drafts: the phone's screens and API, login, the card.
NO_DRAFTS_SHOWN = frozenset({"sync", "pwa", "auth", "cards", "capture", "photos"})
_CHUNK = 500


def leave_for_later(connection: Connection, user_id: int, encounter_ids: list[int]) -> None:
    """Note in the caller's transaction that these new captures still need their drafts."""
    if encounter_ids:
        insert_rows(
            connection,
            PendingPlan.__table__,
            [{"user_id": user_id, "encounter_ids": sorted(encounter_ids)}],
        )


def has_pending(user_id: int) -> bool:
    """Say whether any capture of user_id still waits for its drafts (one index lookup)."""
    return bool(
        select_rows(
            db.session.connection(),
            "SELECT 1 FROM pending_plans WHERE user_id = ? LIMIT 1",
            [user_id],
        )
    )


def plan_pending(user_id: int) -> int:
    """Plan the drafts of every capture of user_id left for later; return how many captures.

    Runs in the caller's transaction and removes the rows it plans, so a rollback leaves
    them for the next time. The people and events are read from the captures now: a
    person merged or an event deleted since the sync is planned as they are now, and a
    capture deleted since is simply gone.
    """
    connection = db.session.connection()
    claimed = connection.execute(
        delete(PendingPlan.__table__)
        .where(PendingPlan.user_id == user_id)
        .returning(PendingPlan.__table__.c.encounter_ids)
    ).all()
    ids = sorted({ident for (encounter_ids,) in claimed for ident in encounter_ids})
    keys: set[tuple[int, int | None]] = set()
    for start in range(0, len(ids), _CHUNK):
        keys.update(
            select_rows(
                connection,
                "SELECT contact_id, event_id FROM encounters WHERE user_id = ? AND id IN ?",
                [user_id, ids[start : start + _CHUNK]],
            )
        )
    if keys:
        plan_many(user_id, keys)
        db.session.flush()
    return len(ids)


def plan_pending_now(user_id: int) -> int:
    """Plan what is pending for user_id in a write transaction of its own, and commit.

    Does nothing (no write, no lock) when nothing is pending. If the database stays busy,
    or a concurrent writer planned the same person first, it rolls back and logs: the rows
    stay, and the next page or the morning run plans them. Returns how many captures it
    planned.
    """
    if not has_pending(user_id):
        return 0
    try:
        with write_transaction(write_wait_ms()):
            planned = plan_pending(user_id)
            db.session.commit()
    except (Busy, OperationalError, IntegrityError):
        logger.warning("follow-ups of user %s left for the next page", user_id, exc_info=True)
        return 0
    return planned


def plan_before_page() -> None:
    """Before a signed-in page that can show drafts: plan what the phone's sync left."""
    if request.endpoint in (None, "static") or request.blueprint in NO_DRAFTS_SHOWN:
        return
    if current_user.is_authenticated:
        plan_pending_now(current_user.id)


def init_app(app: Flask) -> None:
    app.before_request(plan_before_page)
