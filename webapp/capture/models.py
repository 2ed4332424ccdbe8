"""Badge photos that could not be read yet, kept on their capture for later."""

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from webapp.db_types import UTCDateTime, utcnow
from webapp.extensions import db


class CapturePhoto(db.Model):
    """A photo of a badge on an encounter; the same bytes are stored once per encounter."""

    __tablename__ = "capture_photos"
    __table_args__ = (UniqueConstraint("encounter_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    encounter_id: Mapped[int] = mapped_column(
        ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    content_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(default=0)
    width: Mapped[int] = mapped_column(default=0)
    height: Mapped[int] = mapped_column(default=0)
    # Deferred so listing a contact's photos never loads megabytes of image data.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary, nullable=False))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    encounter = relationship(
        "Encounter",
        backref=db.backref(
            "photos",
            order_by="CapturePhoto.id",
            cascade="all, delete-orphan",
            passive_deletes=True,
        ),
    )
