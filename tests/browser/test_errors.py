"""What a refused htmx request shows: the server's reason, with the form kept as typed."""

import sqlite3

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import screenshot, sign_up
from tests.helpers import add_capture
from webapp.auth.models import User
from webapp.contacts.models import Encounter
from webapp.extensions import db


def _editing(context, live_server, note: str):
    """Sign up, make a capture and open its edit page with note typed in; return the page,
    the app and the capture's encounter id."""
    page = context.new_page()
    sign_up(page)
    app = live_server.app
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.email == "sam@example.com"))
    encounter_id, _ = add_capture(app, user_id, name="Dana", note="before")
    page.goto(f"/captures/{encounter_id}/edit")
    page.get_by_label("Note").fill(note)
    return page, app, encounter_id


def test_a_save_while_the_database_is_busy_says_so_and_keeps_what_was_typed(laptop, live_server):
    page, app, encounter_id = _editing(laptop, live_server, "Typed while the database was busy")
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer, past the 5 s busy timeout
        page.get_by_role("button", name="Save changes").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text(
            "The database was busy, and nothing was saved.", timeout=15000
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    expect(page.get_by_label("Note")).to_have_value("Typed while the database was busy")
    expect(page.get_by_role("alert")).to_be_in_viewport()  # seen where the button was
    expect(page.get_by_role("button", name="Save changes")).to_be_in_viewport()
    screenshot(page, "laptop-save-database-busy")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Capture saved.")).to_be_visible()
    expect(page.get_by_text("Typed while the database was busy")).to_be_visible()


def test_saving_a_capture_deleted_meanwhile_says_there_is_nothing_there(phone, live_server):
    page, app, encounter_id = _editing(phone, live_server, "Typed after it was deleted elsewhere")
    with app.app_context():
        db.session.delete(db.session.get(Encounter, encounter_id))
        db.session.commit()
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_have_text(
        "This capture was deleted, on this device or another, so nothing was saved. "
        "Copy what you typed if you still need it."
    )
    expect(page.get_by_label("Note")).to_have_value("Typed after it was deleted elsewhere")
    screenshot(page, "phone-save-capture-gone")


def test_a_save_with_no_network_says_nothing_was_sent_and_keeps_the_form(laptop, live_server):
    page, app, encounter_id = _editing(laptop, live_server, "Typed on the train")
    laptop.set_offline(True)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("No connection, and nothing was sent.")
    expect(page.get_by_label("Note")).to_have_value("Typed on the train")
    laptop.set_offline(False)
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Capture saved.")).to_be_visible()
    with app.app_context():
        assert db.session.get(Encounter, encounter_id).note == "Typed on the train"
