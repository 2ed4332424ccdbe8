"""Badge photos: decode one on the server, keep one on a capture, show a kept one to its owner."""

from flask import Blueprint, Response, jsonify, request
from flask_login import current_user, login_required
from sqlalchemy import select

from webapp.badges import BadgeError, parse_payload
from webapp.capture.ingest import CaptureData
from webapp.capture.models import CapturePhoto
from webapp.capture.photos import (
    EMPTY,
    MAX_PHOTO_BYTES,
    TOO_LARGE,
    Photo,
    PhotoError,
    check_photo,
    decode_photo,
    keep_photo,
)
from webapp.contacts.models import Encounter
from webapp.extensions import db, limiter, signed_in_user_or_address
from webapp.web import owned_or_404

bp = Blueprint("photos", __name__)

# Room for the multipart envelope around a photo of the largest allowed size.
ENVELOPE = 64 * 1024
#: Badge photos decoded or kept, per signed-in user (the phone's photo lane honours the
#: 429's Retry-After: static/js/outbox.js).
PHOTOS_PER_MINUTE = "60 per minute"


def _readable(text: str) -> bool:
    """Tell whether the badge parser accepts text."""
    try:
        parse_payload(text)
    except BadgeError:
        return False
    return True


def posted_photo() -> Photo | None:
    """Return the request's checked "photo" upload, None if there is none; raise PhotoError."""
    upload = request.files.get("photo")
    if upload is None or not upload.filename:
        return None
    data = upload.stream.read(MAX_PHOTO_BYTES + 1)
    return check_photo(data)


def photo_for_capture(data: CaptureData) -> Photo | None:
    """Return the photo to keep with a capture being saved, reading its QR first.

    A photo whose code the server can read becomes the capture's raw text instead of being
    kept (unless something was scanned already); one that cannot be read is kept for later.
    """
    photo = posted_photo()
    if photo is None or data.raw:
        return photo
    text = decode_photo(photo)
    if text is not None and _readable(text):
        data.raw = text
        return None
    return photo


def _posted_photo_or_refusal():
    """Return (photo, None) for an acceptable posted badge photo, else (None, JSON refusal)."""
    if (request.content_length or 0) > MAX_PHOTO_BYTES + ENVELOPE:
        return None, (jsonify(error=TOO_LARGE), 413)
    try:
        photo = posted_photo()
    except PhotoError as error:
        return None, (jsonify(error=str(error)), 413 if str(error) == TOO_LARGE else 415)
    if photo is None:
        return None, (jsonify(error=EMPTY), 400)
    return photo, None


@bp.post("/captures/decode-photo")
@login_required
@limiter.limit(PHOTOS_PER_MINUTE, key_func=signed_in_user_or_address)
def decode():
    """Read the QR code on an uploaded badge photo and answer with its text (or null)."""
    photo, refusal = _posted_photo_or_refusal()
    if refusal:
        return refusal
    return jsonify(text=decode_photo(photo))


@bp.post("/captures/photo")
@login_required
@limiter.limit(PHOTOS_PER_MINUTE, key_func=signed_in_user_or_address)
def attach():
    """Keep a badge photo on the user's capture named by capture_id (its client UUID).

    The phone's outbox saves captures without their photo; once the capture has reached the
    server the phone sends the photo here. Until then the answer is 404 and the phone retries.
    Sending the same photo again stores it once.
    """
    if (request.content_length or 0) > MAX_PHOTO_BYTES + ENVELOPE:
        return jsonify(error=TOO_LARGE), 413
    capture_id = request.form.get("capture_id", "")[:36]
    encounter = db.session.scalar(
        select(Encounter).where(Encounter.user_id == current_user.id, Encounter.uuid == capture_id)
    )
    if encounter is None:
        return jsonify(error="No such capture (yet)."), 404
    photo, refusal = _posted_photo_or_refusal()
    if refusal:
        return refusal
    row, created = keep_photo(current_user.id, encounter.id, photo)
    db.session.commit()
    return jsonify(id=row.id, stored=created), 201 if created else 200


@bp.get("/photos/<int:photo_id>")
@login_required
def show(photo_id: int):
    """Send a kept badge photo to its owner."""
    row = owned_or_404(CapturePhoto, photo_id)
    data = db.session.scalar(db.select(CapturePhoto.data).where(CapturePhoto.id == row.id))
    response = Response(data, mimetype=row.content_type)
    response.headers["Content-Disposition"] = f'inline; filename="badge-{row.id}"'
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
