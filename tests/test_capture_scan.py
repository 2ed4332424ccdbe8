"""Scanning on the capture screen, server side: decode-photo, kept photos, raw QR text."""

import io

import pytest
from sqlalchemy import func, select

from tests import fakecam
from tests.conftest import Auth
from tests.helpers import add_capture
from webapp.badges import BadgeError
from webapp.capture.ingest import CaptureData
from webapp.capture.models import CapturePhoto
from webapp.capture.photos import MAX_PHOTO_BYTES, PhotoError, check_photo
from webapp.capture.store import record_capture
from webapp.contacts.models import Contact, Encounter
from webapp.extensions import db

HX = {"HX-Request": "true"}
WIFI = "WIFI:T:WPA;S:ConfGuest;P:hunter22;;"


def _png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def qr_bytes(tmp_path_factory) -> bytes:
    path = fakecam.qr_png(fakecam.SAMPLE_VCARD, tmp_path_factory.mktemp("qr") / "badge.png")
    return path.read_bytes()


@pytest.fixture(scope="module")
def wall_bytes() -> bytes:
    return _png(fakecam.blank_frame(320, 240))


def _upload(data: bytes, name: str = "badge.png"):
    return (io.BytesIO(data), name)


def _count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _only_encounter(app) -> Encounter:
    return db.session.scalar(select(Encounter))


# -- the capture screen ---------------------------------------------------------------------


def test_the_capture_page_offers_scanning_and_a_photo_field(as_alice):
    body = as_alice.get("/capture").get_data(as_text=True)
    assert ">Scan badge</button>" in body
    assert 'enctype="multipart/form-data"' in body
    assert 'type="file" name="photo" accept="image/*" capture="environment"' in body
    assert "Take a photo of the badge" in body
    assert "js/capture-scan.js" in body
    assert "<script>" not in body  # no inline script: the CSP forbids it
    assert "Save contact" in body


def test_the_capture_fragment_keeps_the_photo_field_but_not_the_page(as_alice):
    body = as_alice.get("/capture", headers=HX).get_data(as_text=True)
    assert "<html" not in body
    assert 'name="photo"' in body
    assert 'enctype="multipart/form-data"' in body


# -- POST /captures/decode-photo --------------------------------------------------------------


def test_decode_photo_reads_the_qr_code_on_a_photo(as_alice, qr_bytes):
    response = as_alice.post("/captures/decode-photo", data={"photo": _upload(qr_bytes)})
    assert response.status_code == 200
    assert response.get_json() == {"text": fakecam.SAMPLE_VCARD}


def test_decode_photo_reads_a_large_jpeg(as_alice):
    out = io.BytesIO()
    fakecam.qr_frame(fakecam.SAMPLE_VCARD, 4000, 3000, fraction=0.25).save(out, "JPEG", quality=90)
    response = as_alice.post(
        "/captures/decode-photo", data={"photo": _upload(out.getvalue(), "IMG_0001.jpg")}
    )
    assert response.get_json() == {"text": fakecam.SAMPLE_VCARD}


def test_decode_photo_answers_null_when_there_is_no_code(as_alice, wall_bytes):
    response = as_alice.post("/captures/decode-photo", data={"photo": _upload(wall_bytes)})
    assert response.status_code == 200
    assert response.get_json() == {"text": None}


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7 not a photo",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\x89PNG\r\n\x1a\nbroken",
    ],
)
def test_decode_photo_refuses_what_is_not_an_image(as_alice, data):
    response = as_alice.post("/captures/decode-photo", data={"photo": _upload(data, "x.png")})
    assert response.status_code == 415
    assert "not a photo" in response.get_json()["error"]


def test_decode_photo_refuses_a_truncated_image(as_alice, qr_bytes):
    response = as_alice.post(
        "/captures/decode-photo", data={"photo": _upload(qr_bytes[: len(qr_bytes) // 2])}
    )
    assert response.status_code == 415


def test_decode_photo_refuses_more_than_ten_megabytes(as_alice):
    # A raw body (not the test client's multipart encoder, which spools big files to disk).
    body = b"--x\r\n" + b"\0" * (MAX_PHOTO_BYTES + 100_000)
    response = as_alice.post(
        "/captures/decode-photo", data=body, content_type="multipart/form-data; boundary=x"
    )
    assert response.status_code == 413
    assert "10 MB" in response.get_json()["error"]


@pytest.mark.parametrize("csrf", [False, True])
def test_a_capture_form_over_the_body_limit_says_how_large_a_photo_may_be(csrf, as_alice, app):
    app.config["WTF_CSRF_ENABLED"] = csrf  # its check reads the form first
    body = b"--x\r\n" + b"\0" * (16 * 1024 * 1024 + 1)
    response = as_alice.post("/capture", data=body, content_type="multipart/form-data; boundary=x")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "That upload is larger than 16 MB, so nothing was saved." in page
    assert "A badge photo can be at most 10 MB" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Encounter)) == 0


def test_a_photo_over_ten_megabytes_is_refused_however_it_arrives():
    with pytest.raises(PhotoError, match="10 MB"):
        check_photo(b"\xff\xd8" + b"\0" * MAX_PHOTO_BYTES)


def test_decode_photo_without_a_photo_is_a_bad_request(as_alice):
    response = as_alice.post("/captures/decode-photo", data={})
    assert response.status_code == 400
    assert response.get_json() == {"error": "No photo was sent."}


def test_decode_photo_needs_a_login(client, qr_bytes):
    response = client.post("/captures/decode-photo", data={"photo": _upload(qr_bytes)})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_decode_photo_only_takes_posts(as_alice):
    assert as_alice.get("/captures/decode-photo").status_code == 405
    assert as_alice.put("/captures/decode-photo").status_code == 405


@pytest.mark.csrf
def test_decode_photo_needs_the_csrf_header(as_alice, qr_bytes):
    refused = as_alice.post("/captures/decode-photo", data={"photo": _upload(qr_bytes)})
    assert refused.status_code == 400
    page = as_alice.get("/capture").get_data(as_text=True)
    token = page.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
    accepted = as_alice.post(
        "/captures/decode-photo",
        data={"photo": _upload(qr_bytes)},
        headers={"X-CSRFToken": token},
    )
    assert accepted.get_json() == {"text": fakecam.SAMPLE_VCARD}


# -- photos kept on a capture -----------------------------------------------------------------


def test_a_photo_nothing_can_read_is_kept_on_the_capture_and_shown_to_its_owner(
    app, as_alice, auth, wall_bytes, bob
):
    response = as_alice.post(
        "/capture", data={"name": "Pat Photo", "photo": _upload(wall_bytes, "wall.png")}
    )
    assert response.status_code == 302
    with app.app_context():
        photo = db.session.scalar(select(CapturePhoto))
        encounter = _only_encounter(app)
        assert photo.encounter_id == encounter.id
        assert (photo.content_type, photo.width, photo.height) == ("image/png", 320, 240)
        assert photo.data == wall_bytes
        photo_id, contact_id = photo.id, encounter.contact_id
    page = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "Badge photo — couldn&#39;t be read yet" in page or "couldn't be read yet" in page
    assert f'src="/photos/{photo_id}"' in page
    served = as_alice.get(f"/photos/{photo_id}")
    assert served.status_code == 200
    assert served.mimetype == "image/png"
    assert served.data == wall_bytes
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    auth.logout()
    auth.login("bob@example.com")
    assert as_alice.get(f"/photos/{photo_id}").status_code == 404


def test_photos_need_a_login_and_only_answer_get(app, client, alice, wall_bytes):
    encounter_id, _ = add_capture(app, alice, name="Pat")
    with app.app_context():
        from webapp.capture.photos import check_photo, keep_photo

        row, _ = keep_photo(alice, encounter_id, check_photo(wall_bytes))
        db.session.commit()
        photo_id = row.id
    assert client.get(f"/photos/{photo_id}").status_code == 302
    assert client.post(f"/photos/{photo_id}").status_code == 405


def test_a_photo_alone_is_enough_to_save_a_capture(app, as_alice, wall_bytes):
    response = as_alice.post("/capture", data={"photo": _upload(wall_bytes)}, headers=HX)
    assert response.status_code == 200
    assert "Badge photo kept for later" in response.get_data(as_text=True)
    assert _count(app, CapturePhoto) == 1


def test_a_photo_the_server_can_read_fills_the_capture_instead_of_being_kept(
    app, as_alice, qr_bytes
):
    response = as_alice.post("/capture", data={"photo": _upload(qr_bytes)})
    assert response.status_code == 302
    assert _count(app, CapturePhoto) == 0
    with app.app_context():
        encounter = _only_encounter(app)
        assert encounter.raw == fakecam.SAMPLE_VCARD
        assert (encounter.name, encounter.org) == ("Ada Lovelace", "Analytical Engines Ltd")
        assert encounter.email == "ada@example.com"


def test_a_non_image_on_the_capture_form_is_refused_and_keeps_what_was_typed(app, as_alice):
    response = as_alice.post(
        "/capture",
        data={"name": "Kim Keep", "note": "met at lunch", "photo": _upload(b"MZ\x90 exe", "a.exe")},
        headers=HX,
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "That file is not a photo" in body
    assert 'value="Kim Keep"' in body and "met at lunch" in body
    assert _count(app, Encounter) == 0


def test_sending_the_same_photo_twice_for_a_capture_stores_it_once(
    app, as_alice, wall_bytes, alice
):
    add_capture(app, alice, name="Dup", uuid="7b7d6f1e-2c39-4c55-9a3e-0d3c7e0b8a11")
    form = {"capture_id": "7b7d6f1e-2c39-4c55-9a3e-0d3c7e0b8a11"}
    first = as_alice.post("/captures/photo", data={**form, "photo": _upload(wall_bytes)})
    again = as_alice.post("/captures/photo", data={**form, "photo": _upload(wall_bytes)})
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert again.get_json()["stored"] is False
    assert _count(app, CapturePhoto) == 1


def test_attaching_a_photo_to_an_unknown_or_other_users_capture_is_404(
    app, as_alice, wall_bytes, bob
):
    add_capture(app, bob, name="Bob's", uuid="11111111-2222-4333-8444-555555555555")
    for capture_id in ("11111111-2222-4333-8444-555555555555", "not-synced-yet"):
        response = as_alice.post(
            "/captures/photo", data={"capture_id": capture_id, "photo": _upload(wall_bytes)}
        )
        assert response.status_code == 404
    assert _count(app, CapturePhoto) == 0


def test_photo_uploads_past_the_rate_limit_say_when_to_come_back(app, as_alice, bob):
    """The limit is per signed-in user, not per address (a venue's Wi-Fi gives every phone
    one), and its 429 says when to come back: the phone's photo lane waits that long
    (static/js/outbox.js)."""
    form = {"capture_id": "not-synced-yet"}
    answers = [as_alice.post("/captures/photo", data=form).status_code for _ in range(60)]
    assert set(answers) == {404}
    refused = as_alice.post("/captures/photo", data=form)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    as_bob = app.test_client()  # the same address
    assert Auth(as_bob).login("bob@example.com").status_code == 302
    assert as_bob.post("/captures/photo", data=form).status_code == 404


def test_attaching_a_photo_only_takes_posts(as_alice):
    assert as_alice.get("/captures/photo").status_code == 405


def test_a_kept_photo_goes_when_its_capture_is_deleted(app, alice, wall_bytes):
    encounter_id, _ = add_capture(app, alice, name="Gone")
    with app.app_context():
        from webapp.capture.photos import check_photo, keep_photo

        keep_photo(alice, encounter_id, check_photo(wall_bytes))
        db.session.commit()
        db.session.delete(db.session.get(Encounter, encounter_id))
        db.session.commit()
    assert _count(app, CapturePhoto) == 0


# -- the raw QR text --------------------------------------------------------------------------


def test_raw_text_fills_the_empty_fields_on_the_server(app, as_alice):
    response = as_alice.post("/capture", data={"raw": fakecam.SAMPLE_VCARD, "note": "ML ops"})
    assert response.status_code == 302
    with app.app_context():
        e = _only_encounter(app)
        assert e.raw == fakecam.SAMPLE_VCARD
        assert (e.name, e.org, e.title) == (
            "Ada Lovelace",
            "Analytical Engines Ltd",
            "Head of Computing",
        )
        assert (e.email, e.phone, e.note) == ("ada@example.com", "+44 20 7946 0000", "ML ops")
        assert e.contact.emails == ["ada@example.com"]


def test_raw_text_never_overwrites_what_was_typed(app, as_alice):
    as_alice.post(
        "/capture",
        data={"raw": fakecam.SAMPLE_VCARD, "name": "Ada King", "email": "ada@typed.example"},
    )
    with app.app_context():
        e = _only_encounter(app)
        assert (e.name, e.email) == ("Ada King", "ada@typed.example")
        assert e.org == "Analytical Engines Ltd"  # empty, so filled


def test_raw_plain_text_goes_to_the_note_and_a_wifi_code_fills_nothing(app, alice):
    with app.app_context():
        text = record_capture(alice, CaptureData(raw="Booth 12, ask for Sam"))
        wifi = record_capture(alice, CaptureData(raw=WIFI, name="Guest"))
        db.session.commit()
        assert text.note == "Booth 12, ask for Sam"
        assert (wifi.name, wifi.email, wifi.note, wifi.raw) == ("Guest", "", "", WIFI)


def test_raw_linkedin_link_is_kept_as_the_url_and_matches_the_person_again(app, alice):
    with app.app_context():
        first = record_capture(alice, CaptureData(raw="https://www.linkedin.com/in/ada-l?trk=x"))
        second = record_capture(alice, CaptureData(name="Ada", url="linkedin.com/in/Ada-L/"))
        db.session.commit()
        assert first.url == "https://www.linkedin.com/in/ada-l"
        assert first.contact_id == second.contact_id


def test_record_capture_refuses_raw_text_the_parser_refuses(app, alice):
    with app.app_context(), pytest.raises(BadgeError, match="control characters"):
        record_capture(alice, CaptureData(name="X", raw="BEGIN:VCARD\x07"))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("FN:Ada\x01Lovelace", "The QR text contains control characters."),
        ("x" * 5000, "The QR text is longer than 4 KB (5,000 bytes)."),
        ("é" * 2100, "The QR text is longer than 4 KB (4,200 bytes)."),
    ],
)
@pytest.mark.parametrize("headers", [{}, HX])
def test_a_refused_scan_is_explained_inline_and_keeps_what_was_typed(
    app, as_alice, raw, reason, headers
):
    response = as_alice.post(
        "/capture",
        data={"raw": raw, "name": "Typed Person", "note": "keep me"},
        headers=headers,
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f"The scanned code was not kept: {reason}" in body
    assert 'value="Typed Person"' in body and "keep me" in body
    assert ("<html" in body) == (headers == {})
    assert 'name="raw" type="hidden" value=""' in body  # saving again drops the refused scan
    assert _count(app, Encounter) == 0
    again = as_alice.post("/capture", data={"raw": "", "name": "Typed Person"})
    assert again.status_code == 302
    assert _count(app, Contact) == 1


def test_the_contact_page_shows_raw_text_as_text_never_as_markup(app, as_alice, alice):
    raw = "MECARD:N:<script>alert(1)</script>;URL:javascript:alert(2);;"
    _, contact_id = add_capture(app, alice, raw=raw)
    page = as_alice.get(f"/contacts/{contact_id}").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;" in page
    assert 'href="javascript:' not in page


@pytest.mark.csrf
def test_logging_in_mints_the_csrf_token_so_parallel_pages_agree(client, auth, alice):
    auth.login()
    with client.session_transaction() as session:
        minted = session.get("csrf_token")
    assert minted  # set by the login response itself, not by whichever page loads first
    client.get("/capture")
    client.get("/today")
    with client.session_transaction() as session:
        assert session["csrf_token"] == minted
