"""The first event-day journey on a phone: sign up, create an event, capture two people."""

import re

from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import screenshot, sign_up
from webapp.contacts.models import Encounter
from webapp.extensions import db


def test_sign_up_create_an_event_capture_two_people_and_see_them(phone, live_server):
    page = phone.new_page()
    sign_up(page)

    expect(page.get_by_role("heading", name="New event")).to_be_visible()
    page.get_by_label("Event name").fill("PGConf Europe")
    page.get_by_label("Place").fill("Riga")
    page.get_by_label("Goal (optional)").fill("Meet 3 platform leads")
    page.get_by_role("button", name="Create event").click()

    expect(page.get_by_role("button", name="Save contact")).to_be_visible()
    expect(page.get_by_text("Meet 3 platform leads")).to_be_visible()

    page.get_by_label("Name", exact=True).fill("Maria Keller")
    page.get_by_label("Company").fill("Northwind")
    page.get_by_label("Email").fill("maria@northwind.example")
    page.get_by_label("Note").fill("Moving to logical replication")
    page.get_by_text("Send a resource", exact=True).click()
    page.get_by_label("Send a resource: detail").fill("the migration write-up")
    page.get_by_text("Set up a chat", exact=True).click()
    page.get_by_label("Set up a chat: detail").fill("next week")
    page.get_by_text("Hot", exact=True).click()
    screenshot(page, "phone-capture-filled")
    page.get_by_role("button", name="Save contact").click()

    expect(page.locator(".saved")).to_contain_text("Saved Maria Keller")
    expect(page.get_by_label("Name", exact=True)).to_have_value("")
    expect(page.get_by_label("Name", exact=True)).to_be_focused()

    page.get_by_label("Name", exact=True).fill("Tomás Ruiz")
    page.get_by_label("Company").fill("Lumen Robotics")
    page.get_by_text("Share a lead", exact=True).click()
    page.get_by_text("Custom promise", exact=True).click()
    page.get_by_label("Custom promise: detail").fill("send me his deck")
    page.locator(".hook", has_text="Custom promise").get_by_text("They promised").click()
    page.get_by_role("button", name="Save contact").click()
    expect(page.locator(".saved")).to_contain_text("Saved Tomás Ruiz")
    screenshot(page, "phone-capture")

    page.get_by_role("link", name="Today").click()
    expect(page.get_by_role("heading", name="Today at PGConf Europe")).to_be_visible()
    rows = page.locator(".people .row-title")
    expect(rows).to_have_text(["Tomás Ruiz", "Maria Keller"])
    expect(page.get_by_text("Custom promise: send me his deck (they owe)")).to_be_visible()
    screenshot(page, "phone-today")

    page.get_by_role("link", name="Contacts").click()
    expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
    expect(page.locator("#contact-list .row-title")).to_have_text(["Maria Keller", "Tomás Ruiz"])
    screenshot(page, "phone-contacts")

    page.get_by_role("link", name="Maria Keller", exact=True).click()
    expect(page.get_by_role("heading", name="Maria Keller")).to_be_visible()
    expect(page.get_by_text("the migration write-up")).to_be_visible()

    with live_server.app.app_context():
        encounters = db.session.scalars(select(Encounter).order_by(Encounter.id)).all()
        assert [e.name for e in encounters] == ["Maria Keller", "Tomás Ruiz"]
        assert {h.type for h in encounters[0].hooks} == {"send_resource", "meet"}


def test_a_missing_name_keeps_the_note_and_explains(phone, live_server):
    from tests.conftest import PASSWORD, add_user

    add_user(live_server.app, "amy@example.com", "Amy")
    page = phone.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill("amy@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_label("Note").fill("Great talk on CRDTs")
    page.get_by_role("button", name="Save contact").click()
    expect(page.get_by_text("Add a name, an email, a phone or a link")).to_be_visible()
    expect(page.get_by_label("Note")).to_have_value("Great talk on CRDTs")


def test_show_my_card_is_one_tap_away_and_fills_the_screen(phone, live_server):
    from tests.conftest import PASSWORD, add_user

    add_user(live_server.app, "amy@example.com", "Amy Adams", headline="Staff engineer")
    page = phone.new_page()
    page.goto("/login")
    page.get_by_label("Email").fill("amy@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Show my card").click()
    qr = page.get_by_role("img", name=re.compile("QR code of my contact card"))
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box["width"] >= 0.85 * page.viewport_size["width"]
    screenshot(page, "phone-card")
