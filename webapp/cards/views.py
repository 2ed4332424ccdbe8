"""Show my card full screen, as a QR image and as a .vcf download."""

from flask import Blueprint, Response, render_template, request
from flask_login import current_user, login_required

from webapp.cards.vcard import build_vcard, card_from_user, card_version, qr_png

bp = Blueprint("cards", __name__)


def _card_text() -> tuple[str, str]:
    text = build_vcard(card_from_user(current_user))
    return text, card_version(text)


@bp.get("/card")
@login_required
def show():
    """Show the user's card QR full screen."""
    _text, version = _card_text()
    return render_template("cards/show.html", version=version)


@bp.get("/card.png")
@login_required
def png():
    """Serve the card as a QR PNG, cacheable until the card changes."""
    text, version = _card_text()
    if version in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(qr_png(text), mimetype="image/png")
    response.set_etag(version)
    # The URL carries ?v=<version>, so a changed card is a new URL;
    # private keeps it off shared caches.
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response


@bp.get("/card.vcf")
@login_required
def vcf():
    """Download the user's card as a vCard file."""
    text, version = _card_text()
    response = Response(text, mimetype="text/vcard")
    filename = "".join(c for c in current_user.display_name if c.isalnum() or c in " -_")[:60]
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{filename.strip() or "card"}.vcf"'
    )
    response.set_etag(version)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response
