def test_it_redirects_anonymous_visitors_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")


def test_it_shows_the_capture_screen_after_login(as_alice):
    response = as_alice.get("/capture")
    assert response.status_code == 200
    assert b"Save contact" in response.data
