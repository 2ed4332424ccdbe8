"""Contacts, their identifying handles, encounters and follow-up hooks."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.db_types import UTCDateTime, new_uuid, utcnow
from webapp.extensions import db

HOOK_TYPES: dict[str, str] = {
    "send_resource": "Send a resource",
    "meet": "Set up a chat",
    "introduce": "Introduce them",
    "share_lead": "Share a lead",
    "ask_advice": "Ask for advice",
    "stay_in_touch": "Stay in touch",
    "custom": "Custom promise",
}
OWED_BY = {"me": "I promised", "them": "They promised"}
RATINGS = {"hot": "Hot", "warm": "Warm", "cold": "Cold"}
HANDLE_KINDS = ("email", "phone", "linkedin")


class Contact(db.Model):
    """A person, owned by one user; never duplicated (see matching)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    org: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    emails: Mapped[list] = mapped_column(db.JSON, default=list)
    phones: Mapped[list] = mapped_column(db.JSON, default=list)
    urls: Mapped[list] = mapped_column(db.JSON, default=list)
    rating: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Set by outreach whenever a message to this person is sent or marked as sent.
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    encounters: Mapped[list["Encounter"]] = relationship(
        back_populates="contact", order_by="Encounter.happened_at.desc()"
    )

    @property
    def first_name(self) -> str:
        """Return the first word of the name, for greetings."""
        return self.name.split()[0] if self.name.strip() else ""

    @property
    def label(self) -> str:
        """Return something to call this contact by, even with no name."""
        return self.name or (self.emails[0] if self.emails else "") or self.org or "Unnamed"


class ContactHandle(db.Model):
    """A normalized identifier (email, phone, LinkedIn handle) that names one contact."""

    __tablename__ = "contact_handles"
    __table_args__ = (UniqueConstraint("user_id", "kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(300))


class Encounter(db.Model):
    """One meeting with a contact: what was captured, said and promised."""

    __tablename__ = "encounters"
    __table_args__ = (
        UniqueConstraint("user_id", "uuid"),
        Index("ix_encounters_user_event_happened", "user_id", "event_id", "happened_at"),
        Index("ix_encounters_user_log", "user_id", "log_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid, insert_sentinel=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    raw: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(200), default="")
    org: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    phone: Mapped[str] = mapped_column(String(60), default="")
    url: Mapped[str] = mapped_column(String(300), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    offer: Mapped[str] = mapped_column(Text, default="")
    ask: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[str | None] = mapped_column(String(8))
    device_id: Mapped[str | None] = mapped_column(String(36))
    happened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Its place in the owner's change log: the position of its latest change (the feed's
    # order, webapp/sync/models.py); 0 for a capture never logged.
    log_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    contact: Mapped[Contact] = relationship(back_populates="encounters")
    event = relationship("Event")
    hooks: Mapped[list["Hook"]] = relationship(
        back_populates="encounter", cascade="all, delete-orphan", order_by="Hook.id"
    )


class Hook(db.Model):
    """A reason to follow up, and who owes it."""

    __tablename__ = "hooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    encounter_id: Mapped[int] = mapped_column(
        ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    type: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str] = mapped_column(String(500), default="")
    owed_by: Mapped[str] = mapped_column(String(4), default="me")
    done: Mapped[bool] = mapped_column(default=False)

    encounter: Mapped[Encounter] = relationship(back_populates="hooks")

    @property
    def label(self) -> str:
        """Return the hook's human name."""
        return HOOK_TYPES.get(self.type, self.type)
