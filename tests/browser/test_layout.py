"""The laptop's layout: the outbox line stands in the page's own column, wide pages too."""

from playwright.sync_api import expect

from tests.browser.conftest import sign_up


def test_the_outbox_status_lines_up_with_the_page(laptop, live_server):
    page = laptop.new_page()
    sign_up(page)
    expect(page.get_by_role("heading", name="New event")).to_be_visible()
    for path in ("/today", "/followups"):  # a page of the usual width, and a wide one
        page.goto(path)
        status = page.locator("#outbox-status")
        expect(status).to_have_text("All captures uploaded")
        line, main = status.bounding_box(), page.locator("main").bounding_box()
        assert line and main
        assert abs(line["x"] - main["x"]) < 1, path
        assert abs(line["width"] - main["width"]) < 1, path
