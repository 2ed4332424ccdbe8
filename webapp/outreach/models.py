"""Follow-up drafts, introductions, resources, targets, templates and logged interactions."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.contacts.models import Contact
from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db

#: What a draft is: the follow-up email, a reminder about what they owe, or one of the two
#: messages of a double opt-in introduction.
DRAFT_KINDS = {
    "email": "Follow-up",
    "nudge": "Nudge reminder",
    "intro_ask": "Introduction: ask first",
    "introduction": "Introduction",
}
#: queued/snoozed wait for the user; scheduled waits for the runner; sending is claimed by a
#: sender (a crash leaves it there, reported, never resent blindly); sent and skipped are done.
DRAFT_STATUSES = ("queued", "snoozed", "scheduled", "sending", "sent", "skipped")
OPEN_STATUSES = ("queued", "snoozed", "scheduled")
INTRO_STATES = ("asked", "agreed", "introduced", "declined")
RATING_RANK = {"hot": 0, "warm": 1, "cold": 2}


class Draft(db.Model):
    """One message waiting for the user: to, subject, body, when it is due, what became of it."""

    __tablename__ = "drafts"
    __table_args__ = (
        # One draft per person per event (scope) and kind: planning twice finds this row.
        UniqueConstraint("user_id", "contact_id", "scope", "kind", name="uq_drafts_once"),
        Index("ix_drafts_user_status_due", "user_id", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    introduction_id: Mapped[int | None] = mapped_column(
        ForeignKey("introductions.id", ondelete="CASCADE")
    )
    # "event:<id>", "event:none" or "intro:<id>": never NULL, so the unique constraint holds.
    scope: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16), default="email")
    to_name: Mapped[str] = mapped_column(String(200), default="")
    to_email: Mapped[str] = mapped_column(String(254), default="")
    cc_name: Mapped[str] = mapped_column(String(200), default="")
    cc_email: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    body: Mapped[str] = mapped_column(Text, default="")
    side_note: Mapped[str] = mapped_column(Text, default="")
    missing: Mapped[list] = mapped_column(db.JSON, default=list)
    hook_ids: Mapped[list] = mapped_column(db.JSON, default=list)
    edited: Mapped[bool] = mapped_column(default=False)
    attach_invite: Mapped[bool] = mapped_column(default=False)
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    skip_reason: Mapped[str] = mapped_column(String(300), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_via: Mapped[str] = mapped_column(String(12), default="")
    # When it was sent or skipped: "done today" counts these.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(36))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship()
    event = relationship("Event")
    introduction: Mapped["Introduction | None"] = relationship(foreign_keys=[introduction_id])

    @property
    def kind_label(self) -> str:
        """Return the kind's human name."""
        return DRAFT_KINDS.get(self.kind, self.kind)


class Introduction(db.Model):
    """A double opt-in introduction of contact a (met at an event) to contact b."""

    __tablename__ = "introductions"
    __table_args__ = (UniqueConstraint("user_id", "hook_id", name="uq_introductions_hook"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    hook_id: Mapped[int | None] = mapped_column(ForeignKey("hooks.id", ondelete="SET NULL"))
    a_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # None until the hook's detail matched a contact or the user picked one.
    b_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(12), default="asked")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    a: Mapped[Contact] = relationship(foreign_keys=[a_id])
    b: Mapped[Contact | None] = relationship(foreign_keys=[b_id])
    event = relationship("Event")


class Resource(db.Model):
    """Something the user often shares: a title, a link and one line on why it helps."""

    __tablename__ = "resources"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(500), default="")
    why: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Target(db.Model):
    """A company the user most wants to follow up with; its people sort first."""

    __tablename__ = "targets"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_targets_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))


class UserTemplate(db.Model):
    """The user's own text for one template key (see compose.DEFAULT_TEMPLATES)."""

    __tablename__ = "user_templates"
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_user_templates_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)


class Interaction(db.Model):
    """Any logged touch with a contact: an email sent, marked as sent, an introduction made."""

    __tablename__ = "interactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    draft_id: Mapped[int | None] = mapped_column(ForeignKey("drafts.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(String(300), default="")
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DigestLog(db.Model):
    """One morning digest per user per local day; inserting the row claims the day."""

    __tablename__ = "digest_log"
    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_digest_log_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(Text, default="")


class PendingPlan(db.Model):
    """New captures from one sync batch whose follow-ups are still to plan (outreach/pending.py).

    Their drafts are planned the next time the user opens a page that shows drafts, or the
    morning run's digest needs them, whichever comes first; the row goes with the planning.
    encounter_ids: the captures (not their people or events, which a merge or a deleted
    event may change meanwhile).
    """

    __tablename__ = "pending_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    encounter_ids: Mapped[list] = mapped_column(db.JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
