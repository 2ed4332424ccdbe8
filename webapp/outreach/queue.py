"""What the review screen shows: due drafts, hottest first, grouped by event, with counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from webapp.contacts.models import HOOK_TYPES, Encounter, Hook
from webapp.events.models import Event
from webapp.extensions import db
from webapp.outreach import schedule
from webapp.outreach.models import RATING_RANK, Draft, Target


@dataclass
class Item:
    """One draft with the captures it came from."""

    draft: Draft
    encounters: list[EncounterView] = field(default_factory=list)
    at_target: bool = False


@dataclass
class Group:
    """The due drafts from one event."""

    event: Event | None
    items: list[Item] = field(default_factory=list)


@dataclass
class Counts:
    """The numbers at the top of the review screen."""

    due: int = 0
    done_today: int = 0
    snoozed: int = 0


def targets_of(user_id: int) -> list[str]:
    """Return the user's target companies, lower-cased, for matching."""
    rows = db.session.scalars(select(Target.name).where(Target.user_id == user_id))
    return [name.lower().strip() for name in rows if name.strip()]


def at_target(org: str, title: str, targets: list[str]) -> bool:
    """Tell whether someone's company or role names one of the targets."""
    text = f"{org} {title}".lower()
    return any(target in text for target in targets)


def counts(user_id: int, tz: str, moment: datetime) -> Counts:
    """Count due drafts, drafts sent or skipped since local midnight, and snoozed ones."""
    midnight = schedule.at_local(schedule.local_day(moment, tz), 0, tz)
    mine = Draft.user_id == user_id
    due = db.session.scalar(
        select(func.count(Draft.id)).where(
            mine, Draft.status.in_(("queued", "snoozed")), Draft.due_at <= moment
        )
    )
    done = db.session.scalar(
        select(func.count(Draft.id)).where(
            mine, Draft.status.in_(("sent", "skipped")), Draft.closed_at >= midnight
        )
    )
    snoozed = db.session.scalar(
        select(func.count(Draft.id)).where(mine, Draft.status == "snoozed", Draft.due_at > moment)
    )
    return Counts(due=due or 0, done_today=done or 0, snoozed=snoozed or 0)


@dataclass(frozen=True)
class Later:
    """The drafts queued for later: how many, and when the first of them is due."""

    count: int
    first_due: datetime


#: How far ahead Upcoming lists queued drafts.
UPCOMING_DAYS = 14


def _coming(moment: datetime, days: int = UPCOMING_DAYS):
    """The queued or snoozed drafts not due yet but due within days: Upcoming's own."""
    return (
        Draft.status.in_(("queued", "snoozed"))
        & (Draft.due_at > moment)
        & (Draft.due_at <= moment + timedelta(days=days))
    )


def later(user_id: int, moment: datetime) -> Later | None:
    """Return the queued drafts Upcoming lists (scheduled ones aside), or None if none."""
    count, first_due = db.session.execute(
        select(func.count(Draft.id), func.min(Draft.due_at)).where(
            Draft.user_id == user_id, _coming(moment)
        )
    ).one()
    return Later(count, first_due) if count else None


@dataclass(frozen=True)
class HookView:
    """A hook as shown beside a draft."""

    type: str
    detail: str
    owed_by: str

    @property
    def label(self) -> str:
        """Return the hook's human name."""
        return HOOK_TYPES.get(self.type, self.type)


@dataclass
class EncounterView:
    """The part of a capture shown beside a draft: its note and hooks."""

    note: str
    hooks: list[HookView] = field(default_factory=list)


def _attach_encounters(user_id: int, items: list[Item]) -> None:
    """Give each item the notes and hooks of its person at its event, in two plain queries.

    Plain rows rather than ORM objects: the review screen shows hundreds of drafts at once.
    """
    contact_ids = sorted({item.draft.contact_id for item in items})
    by_key: dict[tuple[int, int | None], list[EncounterView]] = {}
    by_id: dict[int, EncounterView] = {}
    for chunk in _chunks(contact_ids, 500):
        rows = db.session.execute(
            select(Encounter.id, Encounter.contact_id, Encounter.event_id, Encounter.note)
            .where(Encounter.user_id == user_id, Encounter.contact_id.in_(chunk))
            .order_by(Encounter.happened_at, Encounter.id)
        )
        for ident, contact_id, event_id, note in rows:
            view = by_id[ident] = EncounterView(note)
            by_key.setdefault((contact_id, event_id), []).append(view)
        hooks = db.session.execute(
            select(Hook.encounter_id, Hook.type, Hook.detail, Hook.owed_by)
            .join(Encounter, Encounter.id == Hook.encounter_id)
            .where(Encounter.user_id == user_id, Encounter.contact_id.in_(chunk))
            .order_by(Hook.id)
        )
        for encounter_id, kind, detail, owed_by in hooks:
            by_id[encounter_id].hooks.append(HookView(kind, detail, owed_by))
    for item in items:
        if item.draft.kind in ("email", "nudge"):
            item.encounters = by_key.get((item.draft.contact_id, item.draft.event_id), [])


def _chunks(values: list[int], size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _rank(item: Item) -> tuple:
    rating = item.draft.contact.rating
    return (RATING_RANK.get(rating or "", 3), not item.at_target, item.draft.due_at, item.draft.id)


def due_groups(user_id: int, moment: datetime) -> list[Group]:
    """Return the user's due drafts, hottest first, grouped by event (hottest group first)."""
    drafts = db.session.scalars(
        select(Draft)
        .where(
            Draft.user_id == user_id,
            Draft.status.in_(("queued", "snoozed")),
            Draft.due_at <= moment,
        )
        .options(selectinload(Draft.contact), selectinload(Draft.event))
    ).all()
    return _grouped(user_id, drafts)


def upcoming_groups(user_id: int, moment: datetime, days: int = UPCOMING_DAYS) -> list[Group]:
    """Return queued drafts not yet due (the next two weeks) and every scheduled one."""
    drafts = db.session.scalars(
        select(Draft)
        .where(Draft.user_id == user_id, _coming(moment, days) | (Draft.status == "scheduled"))
        .options(selectinload(Draft.contact), selectinload(Draft.event))
    ).all()
    return _grouped(user_id, drafts)


def stuck_drafts(user_id: int) -> list[Draft]:
    """Return drafts left in 'sending' (a sender died mid-send): the user decides."""
    return list(
        db.session.scalars(select(Draft).where(Draft.user_id == user_id, Draft.status == "sending"))
    )


def _grouped(user_id: int, drafts) -> list[Group]:
    targets = targets_of(user_id)
    items = [
        Item(d, at_target=bool(targets) and at_target(d.contact.org, d.contact.title, targets))
        for d in drafts
    ]
    _attach_encounters(user_id, items)
    items.sort(key=_rank)
    groups: dict[int | None, Group] = {}
    for item in items:
        groups.setdefault(item.draft.event_id, Group(item.draft.event)).items.append(item)
    return list(groups.values())
