"""The laptop's layout: the outbox line stands in the page's own column, wide pages too."""

from playwright.sync_api import expect


def test_the_outbox_status_lines_up_with_the_page(laptop, live_server):
    page = laptop.new_page()
    page.goto("/signup")
    page.get_by_label("Your name").fill("Sam Rivera")
    page.get_by_label("Email").fill("sam@example.com")
    page.get_by_label("Password", exact=True).fill("a long passphrase")
    page.get_by_label("Repeat password").fill("a long passphrase")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="New event")).to_be_visible()
    for path in ("/today", "/followups"):  # a page of the usual width, and a wide one
        page.goto(path)
        status = page.locator("#outbox-status")
        expect(status).to_have_text("All captures uploaded")
        line, main = status.bounding_box(), page.locator("main").bounding_box()
        assert line and main
        assert abs(line["x"] - main["x"]) < 1, path
        assert abs(line["width"] - main["width"]) < 1, path
