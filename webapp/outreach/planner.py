"""Turn hooks into drafts: one per person per event, due the next morning, idempotent.

plan_encounter is called at the end of every capture path (record_capture and
update_capture), however often a capture is synced or edited: it finds the existing draft
for (user, contact, event, kind) and brings it up to date instead of adding another.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from webapp.auth.models import User
from webapp.bulk import insert_rows, select_rows
from webapp.contacts.models import HOOK_TYPES, Contact, Encounter, Hook
from webapp.db_types import utcnow
from webapp.extensions import db
from webapp.outreach import compose, schedule
from webapp.outreach.models import OPEN_STATUSES, Draft, Introduction, Resource, UserTemplate

#: A nudge's reminder paragraph and the message it suggests are split at this line.
NUDGE_SPLIT = "A nudge you could send:\n\n"
CHAT_SLOTS = 3


class IntroError(ValueError):
    """An introduction step that its current state does not allow."""


def now() -> datetime:
    """Return the current time; tests may set app.config["CLOCK"] to a function."""
    if has_app_context():
        clock = current_app.config.get("CLOCK")
        if clock is not None:
            return clock()
    return utcnow()


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def match_resource(resources: Iterable[Resource], detail: str) -> Resource | None:
    """Return the resource whose title best matches a hook's detail, or None."""
    wanted = " ".join(detail.lower().split())
    if not wanted:
        return None
    best: tuple[float, Resource] | None = None
    for resource in resources:
        title = " ".join(resource.title.lower().split())
        if not title:
            continue
        if title == wanted:
            score = 3.0
        elif title in wanted or wanted in title:
            score = 2.0 + min(len(title), len(wanted)) / max(len(title), len(wanted))
        else:
            a, b = _words(title), _words(wanted)
            score = len(a & b) / len(a | b) if a and b else 0.0
            if score < 0.34:
                continue
        if best is None or score > best[0]:
            best = (score, resource)
    return best[1] if best else None


def match_contact(user_id: int, detail: str, exclude: int | None = None) -> Contact | None:
    """Return the user's contact a hook's detail names ("Sam Lee at Acme"), if exactly clear."""
    text = " ".join(detail.lower().split())
    if not text:
        return None
    rows = db.session.execute(
        select(Contact.id, Contact.name, Contact.org).where(
            Contact.user_id == user_id, Contact.name != ""
        )
    ).all()
    full: list[tuple[int, int]] = []
    partial: list[int] = []
    words = _words(text)
    for ident, name, org in rows:
        if ident == exclude:
            continue
        name = " ".join(name.lower().split())
        if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text):
            full.append((len(name), ident))
        elif name.split()[0] in words and org and org.lower() in text:
            partial.append(ident)
    if full:
        full.sort(reverse=True)
        if len(full) == 1 or full[0][0] > full[1][0]:
            return db.session.get(Contact, full[0][1])
        return None
    return db.session.get(Contact, partial[0]) if len(partial) == 1 else None


def _me(user: User) -> compose.Me:
    return compose.Me(
        name=user.name or user.email,
        email=user.email,
        headline=user.headline,
        company=user.company,
    )


def _person(contact: Contact) -> compose.Person:
    return compose.Person(name=contact.name or contact.label, email=_email_of(contact))


def _email_of(contact: Contact) -> str:
    return contact.emails[0] if contact.emails else ""


def user_templates(user_id: int) -> dict[str, str]:
    """Return the user's own templates by key."""
    rows = db.session.execute(
        select(UserTemplate.key, UserTemplate.text).where(UserTemplate.user_id == user_id)
    )
    return {key: text for key, text in rows}


def _scope(event_id: int | None) -> str:
    return f"event:{event_id}" if event_id else "event:none"


def _joined(values: Iterable[str]) -> str:
    seen: list[str] = []
    for value in values:
        value = value.strip()
        if value and value not in seen:
            seen.append(value)
    return "; ".join(seen)


def plan_encounter(encounter: Encounter) -> None:
    """Queue or update the drafts for the person and event of one stored capture."""
    plan_contact_event(encounter.user_id, encounter.contact_id, encounter.event_id)


@dataclass(frozen=True)
class Profile:
    """What composing and scheduling drafts reads of the user (a User has the same names)."""

    id: int
    name: str
    email: str
    headline: str
    company: str
    timezone: str
    morning_hour: int


class ResourceRow(NamedTuple):
    """A resource as planning reads it (a Resource has the same names)."""

    id: int
    title: str
    url: str
    why: str


@dataclass(frozen=True)
class Inputs:
    """What composing a user's drafts reads besides the captures: profile, templates, resources."""

    user: Profile
    templates: dict[str, str]
    resources: tuple[ResourceRow, ...]

    def still_current(self) -> bool:
        """Tell whether the templates and resources are still those composed with.

        For drafts composed before the write transaction (compose_new): saving a template
        or a resource re-plans every waiting draft (replan_open), so drafts composed from
        the previous text must not be queued after that has run.
        """
        return _templates_and_resources(self.user.id) == (self.templates, self.resources)


def _templates_and_resources(user_id: int) -> tuple[dict[str, str], tuple[ResourceRow, ...]]:
    """Return the user's templates and resources (by id), with one plain statement."""
    rows = select_rows(
        db.session.connection(),
        "SELECT 'resource', id, title, url, why FROM resources WHERE user_id = ?"
        " UNION ALL SELECT 'template', NULL, \"key\", text, NULL FROM user_templates"
        " WHERE user_id = ?",
        [user_id, user_id],
    )
    templates = {key: text for kind, _id, key, text, _why in rows if kind == "template"}
    resources = sorted(ResourceRow(*row[1:]) for row in rows if row[0] == "resource")
    return templates, tuple(resources)


def planning_inputs(user_id: int) -> Inputs:
    """Load what composing the user's drafts reads, with two plain statements."""
    (profile,) = select_rows(
        db.session.connection(),
        "SELECT id, name, email, headline, company, timezone, morning_hour FROM users WHERE id = ?",
        [user_id],
    )
    templates, resources = _templates_and_resources(user_id)
    return Inputs(user=Profile(*profile), templates=templates, resources=resources)


def compose_new(inputs: Inputs, encounters: Sequence) -> list[dict]:
    """Return the new drafts for a person first met in these captures, without a query.

    The captures need what _plan_loaded reads (happened_at, note, offer, contact, event,
    hooks); an introduction hook needs the database (finding the other person), so a
    person with one must be planned by plan_many instead. The rows carry the ids found on
    the contact and hooks given (capture/store.py fills in the real ones, converts the rows
    with bulk.driver_row and hands them to plan_many(ready=...)).
    """
    ctx = _Context(inputs.user.id, bulk=True, inputs=inputs)
    _plan_loaded(ctx, sorted(encounters, key=lambda e: (e.happened_at, e.id)), [])
    return ctx.pending


class _Context:
    """What planning needs of a user, loaded once per call however many people it covers."""

    def __init__(self, user_id: int, bulk: bool = False, inputs: Inputs | None = None) -> None:
        self.user_id = user_id
        #: bulk: new drafts wait in `pending` and are inserted with one statement (flush()).
        self.bulk = bulk
        self.pending: list[dict] = []
        self._user: User | Profile | None = inputs.user if inputs else None
        self._templates: dict[str, str] | None = inputs.templates if inputs else None
        self._resources: list | None = list(inputs.resources) if inputs else None

    @property
    def user(self) -> User | Profile:
        if self._user is None:
            self._user = db.session.get(User, self.user_id)
        return self._user

    @property
    def templates(self) -> dict[str, str]:
        if self._templates is None:
            self._templates = user_templates(self.user_id)
        return self._templates

    @property
    def resources(self) -> list[Resource | ResourceRow]:
        if self._resources is None:
            query = select(Resource).where(Resource.user_id == self.user_id)
            self._resources = list(db.session.scalars(query))
        return self._resources

    def add_new(self, contact_id: int, event_id: int | None, kind: str, due, values: dict) -> None:
        """Queue a new draft of kind for a person at an event (None: no event), due at due.

        The unique constraint is the last word on duplicates, and there is no savepoint
        (it would cost a flush per capture): if two requests plan the same new draft at
        the same instant, the loser's statement fails with IntegrityError; the sync
        endpoint retries its batch once, and the retry finds and updates the winner's row.
        """
        row = {
            "user_id": self.user_id,
            "contact_id": contact_id,
            "event_id": event_id,
            "scope": _scope(event_id),
            "kind": kind,
            "due_at": due,
            "status": "queued",
            **values,
        }
        if self.bulk:
            self.pending.append(row)
        else:
            db.session.add(Draft(**row))

    def flush(self) -> None:
        """Insert the pending new drafts, one statement per set of columns given."""
        groups: dict[tuple[str, ...], list[dict]] = {}
        for row in self.pending:
            groups.setdefault(tuple(row), []).append(row)
        self.pending = []
        for rows in groups.values():
            insert_rows(db.session.connection(), Draft.__table__, rows)


def plan_contact_event(user_id: int, contact_id: int, event_id: int | None) -> None:
    """Bring the email, nudge and introduction drafts for a person at an event up to date."""
    where = [Encounter.user_id == user_id, Encounter.contact_id == contact_id]
    where.append(Encounter.event_id == event_id if event_id else Encounter.event_id.is_(None))
    encounters = db.session.scalars(
        select(Encounter)
        .where(*where)
        .options(selectinload(Encounter.hooks))
        .order_by(Encounter.happened_at, Encounter.id)
    ).all()
    existing = db.session.scalars(
        select(Draft).where(
            Draft.user_id == user_id,
            Draft.contact_id == contact_id,
            Draft.scope == _scope(event_id),
        )
    ).all()
    _plan_loaded(_Context(user_id), encounters, existing)


def plan_many(
    user_id: int,
    keys: Iterable[tuple[int, int | None]],
    chunk: int = 500,
    *,
    complete: dict[tuple[int, int | None], list[Encounter]] | None = None,
    ready: Sequence[dict] = (),
) -> None:
    """Plan many (contact, event) pairs at once, e.g. after an import: a few queries per chunk.

    complete: pairs whose every capture the caller holds (with hooks, contact and event
    loaded) and that have no drafts yet, e.g. people created by the same batch; they are
    planned without reloading anything. ready: new drafts composed in advance
    (compose_new), as bulk.driver_row made them. New drafts are inserted with one statement.
    """
    ctx = _Context(user_id, bulk=True)
    insert_rows(db.session.connection(), Draft.__table__, ready, ready=True)
    complete = complete or {}
    for encounters in complete.values():
        _plan_loaded(ctx, sorted(encounters, key=lambda e: (e.happened_at, e.id)), [])
    wanted = sorted(set(keys) - complete.keys(), key=lambda key: (key[0], key[1] or 0))
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        contact_ids = sorted({contact_id for contact_id, _ in part})
        encounters: dict[tuple[int, int | None], list[Encounter]] = {}
        for encounter in db.session.scalars(
            select(Encounter)
            .where(Encounter.user_id == user_id, Encounter.contact_id.in_(contact_ids))
            .options(
                selectinload(Encounter.hooks),
                selectinload(Encounter.contact),
                selectinload(Encounter.event),
            )
            .order_by(Encounter.happened_at, Encounter.id)
        ):
            encounters.setdefault((encounter.contact_id, encounter.event_id), []).append(encounter)
        drafts: dict[tuple[int, str], list[Draft]] = {}
        for draft in db.session.scalars(
            select(Draft).where(Draft.user_id == user_id, Draft.contact_id.in_(contact_ids))
        ):
            drafts.setdefault((draft.contact_id, draft.scope), []).append(draft)
        for contact_id, event_id in part:
            _plan_loaded(
                ctx,
                encounters.get((contact_id, event_id), []),
                drafts.get((contact_id, _scope(event_id)), []),
            )
    ctx.flush()


def _plan_loaded(ctx: _Context, encounters: Sequence[Encounter], drafts: Sequence[Draft]) -> None:
    """Plan one person at one event from their loaded captures and existing drafts."""
    hooks = [hook for e in encounters for hook in e.hooks]
    existing = {d.kind: d for d in drafts}
    mine = [h for h in hooks if h.owed_by == "me"]
    theirs = [h for h in hooks if h.owed_by == "them"]
    if not mine and not theirs and not existing:
        return
    if not encounters:
        # Every capture of this person at this event was deleted: an untouched draft about
        # them goes too; a draft the user edited, or one already sent or skipped, stays.
        for draft in existing.values():
            if draft.status in OPEN_STATUSES and not draft.edited:
                db.session.delete(draft)
        return
    user = ctx.user
    first = encounters[0].happened_at
    _plan_email(ctx, encounters, mine, existing.get("email"), first)
    _plan_nudge(ctx, encounters, theirs, existing.get("nudge"), first)
    for hook in mine:
        if hook.type == "introduce":
            _plan_introduction(user, encounters, hook, first)


def _insert(draft: Draft) -> Draft:
    """Add a new draft to the session (the introduction steps, which return it)."""
    db.session.add(draft)
    return draft


def _plan_email(
    ctx: _Context,
    encounters: Sequence[Encounter],
    mine: list[Hook],
    draft: Draft | None,
    first: datetime,
) -> None:
    """Create or refresh the follow-up email that delivers every hook I owe this person."""
    user = ctx.user
    if not mine:
        if draft is not None and draft.status in OPEN_STATUSES and not draft.edited:
            # The hooks were edited away: an untouched draft about nothing should go too.
            db.session.delete(draft)
        return
    if draft is not None and draft.status not in OPEN_STATUSES:
        return  # sent, skipped or being sent: never written again
    if draft is not None and draft.edited:
        new = [h for h in mine if h.id not in set(draft.hook_ids or [])]
        note = "; ".join(h.label + (f": {h.detail}" if h.detail else "") for h in new)
        draft.side_note = f"Added after you edited this draft: {note}" if note else ""
        return
    contact = encounters[0].contact
    event = encounters[0].event
    if draft is None:
        due = schedule.first_morning_after(first, user.timezone, user.morning_hour)
    else:
        due = draft.due_at
    refs: dict[str, compose.Resource] = {}
    has_meet = False
    for hook in mine:
        if hook.type == "send_resource":
            found = match_resource(ctx.resources, hook.detail)
            if found is not None:
                refs[str(hook.id)] = compose.Resource(found.title, found.url, found.why)
        has_meet = has_meet or hook.type == "meet"
    slots = schedule.propose_slots(due, user.timezone, CHAT_SLOTS) if has_meet else []
    text = compose.compose_draft(
        _person(contact),
        _me(user),
        event.name if event else "",
        _joined(e.note for e in encounters),
        _joined(e.offer for e in encounters),
        [compose.HookIn(h.type, h.detail, h.owed_by, str(h.id)) for h in mine],
        resources=refs,
        templates=ctx.templates,
        first_message=contact.last_interaction_at is None,
        slots=slots,
        tz=user.timezone,
    )
    values = {
        "to_name": contact.name,
        "to_email": _email_of(contact),
        "subject": text.subject,
        "body": text.body,
        "missing": list(text.missing),
        "hook_ids": sorted(h.id for h in mine),
        "side_note": "",
        "slot_at": slots[0] if slots else None,
    }
    _write(ctx, draft, contact.id, event, "email", due, values)


def _write(ctx: _Context, draft: Draft | None, contact_id: int, event, kind, due, values) -> None:
    """Queue a new draft with values, or bring an existing one up to date with them."""
    if draft is None:
        ctx.add_new(contact_id, event.id if event else None, kind, due, values)
        return
    for name, value in values.items():
        # Assign only what changed, so planning an unchanged capture writes nothing.
        if getattr(draft, name) != value:
            setattr(draft, name, value)


def _plan_nudge(
    ctx: _Context,
    encounters: Sequence[Encounter],
    theirs: list[Hook],
    draft: Draft | None,
    first: datetime,
) -> None:
    """Create or refresh the reminder about what this person promised me, 3 mornings on."""
    if not theirs:
        if draft is not None and draft.status in OPEN_STATUSES and not draft.edited:
            db.session.delete(draft)
        return
    if draft is not None and (draft.status not in OPEN_STATUSES or draft.edited):
        return
    user = ctx.user
    contact = encounters[0].contact
    event = encounters[0].event
    person = _person(contact)
    reminders, messages, subject = [], [], ""
    for hook in theirs:
        text = compose.compose_nudge(
            person, compose.HookIn(hook.type, hook.detail, "them"), event.name if event else ""
        )
        reminder, _, message = text.body.partition(NUDGE_SPLIT)
        reminders.append(reminder.strip())
        messages.append(message.strip() or text.body)
        subject = subject or text.subject
    values = {
        "to_name": contact.name,
        "to_email": _email_of(contact),
        "subject": subject,
        # One message is enough even when they promised several things; the reminders list all.
        "body": messages[0],
        "side_note": "\n".join(reminders),
        "hook_ids": sorted(h.id for h in theirs),
    }
    due = schedule.nudge_due(first, user.timezone, user.morning_hour) if draft is None else None
    _write(ctx, draft, contact.id, event, "nudge", due, values)


def _describe(contact: Contact) -> str:
    """Return 'Sam Lee (CTO at Acme)' for the why lines of an introduction."""
    role = " at ".join(part for part in (contact.title, contact.org) if part)
    return f"{contact.label} ({role})" if role else contact.label


def _why(contact: Contact, extra: str) -> str:
    """Return 'Sam is CTO at Acme. <extra>' for one side of an introduction."""
    role = " at ".join(part for part in (contact.title, contact.org) if part)
    if not role:
        return extra
    role = role if contact.title else f"at {role}"
    return f"{contact.first_name or contact.label} is {role}. {extra}"


def _plan_introduction(
    user: User, encounters: Sequence[Encounter], hook: Hook, first: datetime
) -> None:
    """Record an introduction for an introduce hook and queue the ask to the other person."""
    intro = db.session.scalar(
        select(Introduction).where(Introduction.user_id == user.id, Introduction.hook_id == hook.id)
    )
    contact = encounters[0].contact
    if intro is None:
        event = encounters[0].event
        intro = Introduction(
            user_id=user.id,
            hook_id=hook.id,
            a_id=contact.id,
            detail=hook.detail,
            event_id=event.id if event else None,
            state="asked",
        )
        intro.b = match_contact(user.id, hook.detail, exclude=contact.id)
        db.session.add(intro)
        db.session.flush()
    elif intro.detail != hook.detail and intro.b_id is None:
        intro.detail = hook.detail
        intro.b = match_contact(user.id, hook.detail, exclude=contact.id)
    if intro.b is not None:
        queue_intro_ask(
            intro, schedule.first_morning_after(first, user.timezone, user.morning_hour)
        )


def queue_intro_ask(intro: Introduction, due: datetime) -> Draft | None:
    """Queue the short note asking contact b whether an introduction to a is welcome."""
    if intro.state != "asked" or intro.b is None:
        return None
    scope = f"intro:{intro.id}"
    found = db.session.scalar(
        select(Draft).where(
            Draft.user_id == intro.user_id, Draft.scope == scope, Draft.kind == "intro_ask"
        )
    )
    if found is not None:
        return found
    user = db.session.get(User, intro.user_id)
    event = intro.event.name if intro.event else "an event"
    why = f"I met {_describe(intro.a)} at {event} and I think you two would get on."
    text = compose.compose_intro_ask(_me(user), _person(intro.b), _person(intro.a), why)
    draft = Draft(
        user_id=intro.user_id,
        contact_id=intro.b.id,
        event_id=intro.event_id,
        scope=scope,
        kind="intro_ask",
        introduction_id=intro.id,
        to_name=intro.b.name,
        to_email=_email_of(intro.b),
        subject=text.subject,
        body=text.body,
        due_at=due,
    )
    return _insert(draft)


def pick_other(intro: Introduction, other: Contact) -> Draft | None:
    """Name the person to introduce to (when the hook's detail did not), and queue the ask."""
    if intro.state != "asked":
        raise IntroError("This introduction is already decided.")
    if intro.b_id is not None:
        raise IntroError("This introduction already has its other person.")
    if other.id == intro.a_id or other.user_id != intro.user_id:
        raise IntroError("Pick someone other than the person being introduced.")
    intro.b = other
    db.session.flush()
    return queue_intro_ask(intro, now())


def _open_ask(intro: Introduction) -> Draft | None:
    return db.session.scalar(
        select(Draft).where(
            Draft.introduction_id == intro.id,
            Draft.kind == "intro_ask",
            Draft.status.in_(OPEN_STATUSES),
        )
    )


def agree(intro: Introduction) -> Draft:
    """Record that b said yes and queue the introduction email to both, due now."""
    if intro.state != "asked" or intro.b is None:
        raise IntroError("Only an asked introduction with both people can be agreed.")
    moment = now()
    ask = _open_ask(intro)
    if ask is not None:
        # They answered before the ask went out (in person, say): it no longer needs sending.
        ask.status, ask.skip_reason = "skipped", "They already said yes."
    intro.state, intro.decided_at = "agreed", moment
    user = db.session.get(User, intro.user_id)
    a, b = intro.a, intro.b
    event = intro.event.name if intro.event else "an event"
    text = compose.compose_introduction(
        _me(user),
        _person(a),
        _person(b),
        why_a=_why(b, "I think you two should know each other."),
        why_b=_why(a, f"We met at {event}."),
    )
    draft = Draft(
        user_id=intro.user_id,
        contact_id=a.id,
        event_id=intro.event_id,
        scope=f"intro:{intro.id}",
        kind="introduction",
        introduction_id=intro.id,
        to_name=a.name,
        to_email=_email_of(a),
        cc_name=b.name,
        cc_email=_email_of(b),
        subject=text.subject,
        body=text.body,
        due_at=moment,
    )
    return _insert(draft)


def decline(intro: Introduction) -> None:
    """Record that b declined: the introduction ends and an unsent ask is skipped."""
    if intro.state != "asked":
        raise IntroError("Only an introduction still waiting for an answer can be declined.")
    intro.state, intro.decided_at = "declined", now()
    ask = _open_ask(intro)
    if ask is not None:
        ask.status, ask.skip_reason = "skipped", "They declined."


def hook_label(hook: Hook) -> str:
    """Return 'Send a resource: the pricing article' for notes shown beside a draft."""
    label = HOOK_TYPES.get(hook.type, hook.type)
    return f"{label}: {hook.detail}" if hook.detail else label


def replan_open(user_id: int) -> None:
    """Rewrite every waiting, unedited follow-up of a user (after templates or resources change)."""
    keys = db.session.execute(
        select(Draft.contact_id, Draft.event_id)
        .where(
            Draft.user_id == user_id,
            Draft.kind == "email",
            Draft.edited.is_(False),
            Draft.status.in_(OPEN_STATUSES),
        )
        .distinct()
    ).all()
    for contact_id, event_id in keys:
        plan_contact_event(user_id, contact_id, event_id)
