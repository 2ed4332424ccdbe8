"""My card: full-screen QR, the PNG, the .vcf."""

import io

import vobject
import zxingcpp
from PIL import Image

from webapp.auth.models import User
from webapp.extensions import db


def _fill_profile(app, user_id):
    with app.app_context():
        user = db.session.get(User, user_id)
        user.headline = "Platform engineer"
        user.company = "Acme; Inc"
        user.phone = "+49 30 123456"
        user.linkedin = "https://www.linkedin.com/in/alice"
        db.session.commit()


def test_the_card_page_shows_the_qr_full_screen(as_alice):
    response = as_alice.get("/card")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert '<img src="/card.png?v=' in body
    assert "Download .vcf" in body


def test_the_card_png_is_a_readable_qr_of_my_vcard(as_alice, app, alice):
    _fill_profile(app, alice)
    response = as_alice.get("/card.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert "max-age" in response.headers["Cache-Control"]
    assert "private" in response.headers["Cache-Control"]
    image = Image.open(io.BytesIO(response.data))
    assert image.width >= 400
    assert image.getpixel((5, 5)) in (255, (255, 255, 255), 1)  # quiet zone is white
    decoded = zxingcpp.read_barcodes(image)
    assert decoded, "the QR must decode"
    card = vobject.readOne(decoded[0].text)
    assert card.fn.value == "Alice Adams"
    assert card.email.value == "alice@example.com"
    assert card.org.value == ["Acme; Inc"]
    assert card.version.value == "3.0"


def test_the_card_png_answers_304_when_unchanged(as_alice):
    first = as_alice.get("/card.png")
    again = as_alice.get("/card.png", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_the_card_changes_when_the_profile_does(as_alice, app, alice):
    before = as_alice.get("/card.png").headers["ETag"]
    _fill_profile(app, alice)
    assert as_alice.get("/card.png").headers["ETag"] != before


def test_the_vcf_download(as_alice, app, alice):
    _fill_profile(app, alice)
    response = as_alice.get("/card.vcf")
    assert response.mimetype == "text/vcard"
    assert 'filename="Alice Adams.vcf"' in response.headers["Content-Disposition"]
    card = vobject.readOne(response.get_data(as_text=True))
    assert card.tel.value == "+49 30 123456"
    assert card.title.value == "Platform engineer"
    assert card.url.value == "https://www.linkedin.com/in/alice"


def test_show_my_card_is_one_tap_from_every_page(as_alice):
    for path in ("/capture", "/today", "/contacts", "/events", "/profile"):
        body = as_alice.get(path).get_data(as_text=True)
        assert '<a class="button button-card" href="/card">Show my card</a>' in body, path


def test_card_routes_refuse_wrong_methods(as_alice):
    for path in ("/card", "/card.png", "/card.vcf"):
        assert as_alice.post(path).status_code == 405
