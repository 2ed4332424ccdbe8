"""An event the user attends."""

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from webapp.db_types import UTCDateTime, new_uuid, utcnow
from webapp.extensions import db


class Event(db.Model):
    """A conference, meetup or dinner where the user meets people."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("user_id", "uuid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), default=new_uuid)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date | None] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    place: Mapped[str] = mapped_column(String(200), default="")
    goal: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def dates_label(self) -> str:
        """Return the dates as a short human label."""
        if not self.starts_on:
            return ""
        start = self.starts_on.strftime("%-d %b %Y")
        if not self.ends_on or self.ends_on == self.starts_on:
            return start
        return f"{self.starts_on.strftime('%-d %b')} – {self.ends_on.strftime('%-d %b %Y')}"
