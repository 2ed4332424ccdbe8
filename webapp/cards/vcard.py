"""Build the user's vCard 3.0 and its QR image."""

import hashlib
import io
from dataclasses import dataclass

import qrcode
import vobject
from qrcode.constants import ERROR_CORRECT_M


@dataclass(frozen=True)
class CardDetails:
    """What the card says about its owner."""

    name: str
    email: str
    headline: str = ""
    company: str = ""
    phone: str = ""
    linkedin: str = ""
    website: str = ""


def card_from_user(user) -> CardDetails:
    """Return the card details of a user row."""
    return CardDetails(
        name=user.name or user.email,
        email=user.email,
        headline=user.headline,
        company=user.company,
        phone=user.phone,
        linkedin=user.linkedin,
        website=user.website,
    )


def build_vcard(card: CardDetails) -> str:
    """Return the card as vCard 3.0 text with CRLF line endings."""
    vcard = vobject.vCard()
    vcard.add("fn").value = card.name
    parts = card.name.rsplit(" ", 1)
    family, given = (parts[1], parts[0]) if len(parts) == 2 else (parts[0], "")
    vcard.add("n").value = vobject.vcard.Name(family=family, given=given)
    if card.company:
        vcard.add("org").value = [card.company]
    if card.headline:
        vcard.add("title").value = card.headline
    email = vcard.add("email")
    email.value = card.email
    email.type_param = "INTERNET"
    if card.phone:
        tel = vcard.add("tel")
        tel.value = card.phone
        tel.type_param = "CELL"
    for link in (card.linkedin, card.website):
        if link:
            vcard.add("url").value = link
    return vcard.serialize()


def card_version(text: str) -> str:
    """Return a short fingerprint of the card text, for cache validation."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def qr_png(text: str) -> bytes:
    """Render text as a high-contrast QR PNG with a full quiet zone.

    Medium error correction survives glare on a phone screen while keeping modules
    large enough to read at arm's length.
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=12, border=4)
    code.add_data(text.encode("utf-8"))
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
