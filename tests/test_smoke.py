def test_it_redirects_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")


def test_it_shows_the_capture_screen_after_login(as_alice):
    response = as_alice.get("/capture")
    assert response.status_code == 200
    assert b"Save contact" in response.data


STRICT = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


def test_every_answer_carries_the_strict_headers_once_and_a_view_keeps_its_cache_policy(
    client, as_alice
):
    page, api, card = (
        as_alice.get("/capture"),
        client.get("/api/v1/ping"),
        as_alice.get("/card.png"),
    )
    login = client.get("/login")
    for response in (page, api, card, login):
        for name in (*STRICT, "Permissions-Policy"):
            assert len(response.headers.getlist(name)) == 1, (response.request.path, name)
    assert page.headers["Cache-Control"] == "private, no-store"  # a signed-in page
    assert api.headers["Cache-Control"] == "private, no-store"
    assert card.headers.getlist("Cache-Control") == ["private, max-age=86400"]  # the view's own
