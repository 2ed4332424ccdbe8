"""Read badge photos: check that an upload is an image, decode its QR, keep it on a capture.

Plain functions, no Flask: the decode-photo view and the capture form's save call these.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from webapp.capture.models import CapturePhoto
from webapp.extensions import db

MAX_PHOTO_BYTES = 10 * 1024 * 1024
# A 12-megapixel phone photo is ~4000x3000; refuse images that would take gigabytes to decode.
MAX_PIXELS = 50_000_000
# Longest side the server scales a photo down to before a second decoding attempt.
DECODE_SIDE = 1600
CONTENT_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}

NOT_AN_IMAGE = "That file is not a photo. Take a photo of the badge (JPEG, PNG, WebP or GIF)."
TOO_LARGE = "That photo is larger than 10 MB. Take it again at a lower resolution."
EMPTY = "No photo was sent."


class PhotoError(ValueError):
    """An upload that is not a photo we can keep; str() is fit to show a person."""


@dataclass(frozen=True)
class Photo:
    """An uploaded image that Pillow has checked."""

    data: bytes
    content_type: str
    width: int
    height: int

    @property
    def sha256(self) -> str:
        """Return the hex SHA-256 of the bytes, used to store a photo once."""
        return hashlib.sha256(self.data).hexdigest()


def check_photo(data: bytes) -> Photo:
    """Return data as a Photo if it is a JPEG, PNG, WebP or GIF image; raise PhotoError if not."""
    if not data:
        raise PhotoError(EMPTY)
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoError(TOO_LARGE)
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format or ""
            width, height = image.size
            if kind not in CONTENT_TYPES or width * height > MAX_PIXELS:
                raise PhotoError(NOT_AN_IMAGE)
            image.verify()  # reads the whole file: catches truncated or corrupt images
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        if isinstance(error, PhotoError):
            raise
        raise PhotoError(NOT_AN_IMAGE) from error
    except Image.DecompressionBombError as error:
        raise PhotoError(NOT_AN_IMAGE) from error
    return Photo(data=data, content_type=CONTENT_TYPES[kind], width=width, height=height)


def decode_photo(photo: Photo) -> str | None:
    """Return the text of the first QR code in the photo, or None if none can be read."""
    import zxingcpp

    try:
        with Image.open(io.BytesIO(photo.data)) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    candidates = [image]
    if max(image.size) > DECODE_SIDE:
        smaller = image.copy()
        smaller.thumbnail((DECODE_SIDE, DECODE_SIDE))
        candidates.insert(0, smaller)
    for candidate in candidates:
        for result in zxingcpp.read_barcodes(candidate, formats=zxingcpp.BarcodeFormat.QRCode):
            if result.valid and result.text:
                return result.text
    return None


def keep_photo(user_id: int, encounter_id: int, photo: Photo) -> tuple[CapturePhoto, bool]:
    """Store photo on the encounter: (row, True), or (the stored copy, False) if already kept."""
    digest = photo.sha256
    existing = db.session.scalar(
        select(CapturePhoto).where(
            CapturePhoto.user_id == user_id,
            CapturePhoto.encounter_id == encounter_id,
            CapturePhoto.sha256 == digest,
        )
    )
    if existing is not None:
        return existing, False
    row = CapturePhoto(
        user_id=user_id,
        encounter_id=encounter_id,
        content_type=photo.content_type,
        sha256=digest,
        size=len(photo.data),
        width=photo.width,
        height=photo.height,
        data=photo.data,
    )
    db.session.add(row)
    db.session.flush()
    return row, True
