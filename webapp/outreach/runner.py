"""What happens to a draft after review: send, mark sent, snooze, skip, schedule; the runner.

Sending claims the row first (status -> 'sending' in one conditional UPDATE, committed before
any mail leaves), so two senders, e.g. two overlapping cron runs or a click during a run,
can never send the same draft twice. A process that dies mid-send leaves the row in
'sending': it is reported by the runner and on the review screen, and never resent blindly.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from webapp.auth.models import User
from webapp.contacts.models import Hook
from webapp.db_types import new_uuid
from webapp.extensions import db
from webapp.mail import (
    MailError,
    MailSettings,
    build_message,
    check_address,
    one_line,
    send,
    settings_from,
)
from webapp.outreach import schedule
from webapp.outreach.invite import INVITE_FILENAME, INVITE_MIMETYPE, chat_invitation
from webapp.outreach.models import OPEN_STATUSES, DigestLog, Draft, Interaction
from webapp.outreach.pending import plan_pending_now
from webapp.outreach.planner import now

log = logging.getLogger(__name__)

#: A 'sending' row older than this is reported as stuck: its sender probably died.
STUCK_AFTER = timedelta(minutes=10)
CHAT_MINUTES = 30
DEFAULT_BASE_URL = "http://127.0.0.1:5000"


class NotClaimed(Exception):
    """Someone else is sending, or has sent, this draft."""


def mail_settings() -> MailSettings | None:
    """Return the SMTP settings (app.config["MAIL_SETTINGS"] in tests, else the environment)."""
    if "MAIL_SETTINGS" in current_app.config:
        return current_app.config["MAIL_SETTINGS"]
    return settings_from(os.environ)


def mail_status() -> tuple[MailSettings | None, str]:
    """Return the settings and, when the environment is wrong, the reason mail is off."""
    try:
        return mail_settings(), ""
    except MailError as error:
        return None, str(error)


def base_url() -> str:
    """Return the absolute address of the app for links in mail (HOOKLINE_BASE_URL)."""
    return (current_app.config.get("BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def invitation(draft: Draft, user: User) -> bytes:
    """Return the .ics invitation for a chat draft's proposed slot."""
    if draft.slot_at is None:
        raise MailError("This draft has no proposed time to invite to.")
    return chat_invitation(
        user.email,
        user.name,
        draft.to_email,
        draft.to_name,
        draft.slot_at,
        CHAT_MINUTES,
        summary=f"Chat: {user.display_name} and {draft.to_name or draft.to_email}",
        description=draft.subject,
        uid=f"draft-{draft.id}@hookline",
        stamp=now(),
    )


def build(draft: Draft, user: User, settings: MailSettings | None) -> EmailMessage:
    """Build the email for a draft as it stands, invitation and Cc included."""
    attachments = []
    if draft.attach_invite and draft.kind == "email" and draft.slot_at is not None:
        attachments.append((INVITE_FILENAME, INVITE_MIMETYPE, invitation(draft, user)))
    message = build_message(
        user.name,
        user.email,
        draft.to_name,
        draft.to_email,
        draft.subject,
        draft.body,
        sender=settings.sender if settings else None,
        attachments=attachments,
        now=now(),
    )
    if draft.cc_email:
        username, domain = check_address(draft.cc_email, "The Cc address").rsplit("@", 1)
        message["Cc"] = Address(one_line(draft.cc_name), username, domain)
    return message


def claim(draft_id: int, statuses: tuple[str, ...], claimer: str) -> bool:
    """Atomically move a draft to 'sending' if it is in one of statuses; commit; say if won."""
    result = db.session.execute(
        update(Draft)
        .where(Draft.id == draft_id, Draft.status.in_(statuses))
        .values(status="sending", claimed_by=claimer, claimed_at=now())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def record_sent(draft: Draft, via: str) -> None:
    """Mark a draft sent and log the touch on its contact (and the other side of an intro)."""
    moment = now()
    draft.status, draft.sent_at, draft.sent_via = "sent", moment, via
    draft.closed_at = moment
    draft.claimed_by, draft.send_error = None, ""
    people = [draft.contact]
    if draft.kind == "introduction" and draft.introduction is not None:
        draft.introduction.state = "introduced"
        if draft.introduction.b is not None:
            people.append(draft.introduction.b)
    for contact in people:
        db.session.add(
            Interaction(
                user_id=draft.user_id,
                contact_id=contact.id,
                draft_id=draft.id,
                kind=f"{draft.kind}_{via}",
                summary=one_line(draft.subject)[:300],
                happened_at=moment,
            )
        )
        if contact.last_interaction_at is None or contact.last_interaction_at < moment:
            contact.last_interaction_at = moment
    if draft.kind == "email" and draft.hook_ids:
        for hook in db.session.scalars(select(Hook).where(Hook.id.in_(draft.hook_ids))):
            hook.done = True


def send_draft(draft: Draft, settings: MailSettings, statuses: tuple[str, ...]) -> None:
    """Claim, send over SMTP and record one draft; raise NotClaimed or MailError."""
    ident, user = draft.id, db.session.get(User, draft.user_id)
    previous = draft.status
    if not claim(ident, statuses, new_uuid()):
        raise NotClaimed("This draft is already being sent or was handled.")
    draft = db.session.get(Draft, ident)
    db.session.refresh(draft)
    try:
        send(settings, build(draft, user, settings))
    except MailError as error:
        # Nothing left: put it back (a failed scheduled send waits for the user) and say why.
        draft.status = "queued" if previous == "scheduled" else previous
        draft.claimed_by, draft.send_error = None, str(error)
        db.session.commit()
        raise
    record_sent(draft, "smtp")
    db.session.commit()


def mark_sent(draft: Draft) -> None:
    """Record that the user sent this draft themselves (mail app, LinkedIn, ...)."""
    if draft.status not in (*OPEN_STATUSES, "sending"):
        raise NotClaimed("This draft was already handled.")
    record_sent(draft, "manual")


def snooze(draft: Draft, choice: str, user: User, day: date | None = None) -> None:
    """Hide a draft until tomorrow, next Monday or a date, at the user's morning hour."""
    draft.due_at = schedule.snooze_until(choice, now(), user.timezone, user.morning_hour, day)
    draft.status = "snoozed"


def skip(draft: Draft, reason: str = "") -> None:
    """Drop a draft from the queue, keeping the optional reason."""
    draft.status, draft.skip_reason = "skipped", one_line(reason)[:300]
    draft.closed_at = now()


@dataclass
class Report:
    """What one runner pass did, for the command's output and for tests."""

    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    stuck: list[int] = field(default_factory=list)
    digests: list[str] = field(default_factory=list)
    digest_errors: list[tuple[str, str]] = field(default_factory=list)


def send_due(settings: MailSettings | None = None) -> Report:
    """Send every scheduled draft whose time has come, then the morning digests."""
    settings = settings or mail_settings()
    report = Report()
    moment = now()
    if settings is None:
        return report
    due_ids = db.session.scalars(
        select(Draft.id)
        .where(Draft.status == "scheduled", Draft.due_at <= moment)
        .order_by(Draft.due_at, Draft.id)
    ).all()
    for ident in due_ids:
        draft = db.session.get(Draft, ident)
        try:
            send_draft(draft, settings, ("scheduled",))
        except NotClaimed:
            continue  # another runner has it
        except MailError as error:
            report.failed.append((ident, str(error)))
            continue
        report.sent.append(ident)
    report.stuck = list(
        db.session.scalars(
            select(Draft.id).where(
                Draft.status == "sending", Draft.claimed_at < moment - STUCK_AFTER
            )
        )
    )
    for user_id in db.session.scalars(select(User.id).order_by(User.id)).all():
        plan_pending_now(user_id)  # what the phone synced since, before the digest counts
        _digest(db.session.get(User, user_id), settings, moment, report)
    return report


def due_drafts_query(user_id: int, moment: datetime):
    """Return the select for a user's drafts that are due for review at moment."""
    return select(Draft).where(
        Draft.user_id == user_id, Draft.status.in_(("queued", "snoozed")), Draft.due_at <= moment
    )


def _digest(user: User, settings: MailSettings, moment: datetime, report: Report) -> None:
    """Send user's morning digest once per local day, after their morning hour, if any are due."""
    local = moment.astimezone(schedule.zone(user.timezone))
    if local.hour < user.morning_hour:
        return
    day = local.date()
    if db.session.scalar(
        select(DigestLog.id).where(DigestLog.user_id == user.id, DigestLog.day == day)
    ):
        return
    drafts = db.session.scalars(due_drafts_query(user.id, moment).order_by(Draft.due_at)).all()
    if not drafts:
        return
    entry = DigestLog(user_id=user.id, day=day)
    try:
        db.session.add(entry)
        db.session.commit()  # the unique (user, day) row is the claim
    except IntegrityError:
        db.session.rollback()
        return
    lines = [
        f"- {d.to_name or d.contact.label}"
        + (f" ({d.event.name})" if d.event else "")
        + f": {one_line(d.subject)}"
        for d in drafts
    ]
    count = len(drafts)
    body = (
        f"Good morning {user.name or user.email},\n\n"
        f"{count} follow-up{'s are' if count != 1 else ' is'} waiting for you:\n\n"
        + "\n".join(lines)
        + f"\n\nReview them: {base_url()}/followups\n"
    )
    try:
        message = build_message(
            "Hookline",
            settings.sender or user.email,
            user.name,
            user.email,
            f"Your follow-ups for today: {count} due",
            body,
            now=moment,
        )
        send(settings, message)
    except MailError as error:
        # Not retried every minute: the review screen still lists everything.
        entry.error = str(error)
        report.digest_errors.append((user.email, str(error)))
    else:
        entry.sent_at = moment
        report.digests.append(user.email)
    db.session.commit()
