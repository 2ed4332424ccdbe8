"""Personal API tokens: issued by the CLI, stored hashed, revocable."""

from sqlalchemy import select

from webapp.auth.tokens import ApiToken, hash_token, issue_token, revoke_tokens, user_for_token
from webapp.extensions import db

DEVICE = "0b9d3f4e-4a52-4d8e-9f57-1f0d2c3b4a50"


def _sync(client, token: str):
    return client.post(
        "/api/v1/sync",
        json={"device_id": DEVICE, "changes": []},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_the_cli_prints_a_token_once_and_stores_only_its_hash(app, runner, client, alice):
    result = runner.invoke(args=["user", "token", "alice@example.com", "--name", "Pixel"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("hl_")
    assert len(token) > 40
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert row.token_hash == hash_token(token)
        assert token not in (row.token_hash, row.hint, row.name)
        assert row.name == "Pixel"
    assert _sync(client, token).status_code == 200


def test_the_cli_refuses_an_unknown_user(runner):
    result = runner.invoke(args=["user", "token", "nobody@example.com"])
    assert result.exit_code != 0
    assert "No user with email" in result.output


def test_revoking_a_token_locks_it_out_and_leaves_the_others(app, runner, client, alice):
    first = runner.invoke(args=["user", "token", "alice@example.com"]).stdout.strip()
    second = runner.invoke(args=["user", "token", "alice@example.com"]).stdout.strip()
    listing = runner.invoke(args=["user", "revoke-token", "alice@example.com"]).output
    assert listing.count("live") == 2
    with app.app_context():
        first_id = db.session.scalar(
            select(ApiToken.id).where(ApiToken.token_hash == hash_token(first))
        )
    result = runner.invoke(args=["user", "revoke-token", "alice@example.com", str(first_id)])
    assert result.exit_code == 0
    assert "Revoked 1" in result.output
    response = _sync(client, first)
    assert response.status_code == 401
    assert response.get_json() == {"error": "invalid or revoked token"}
    assert _sync(client, second).status_code == 200
    again = runner.invoke(args=["user", "revoke-token", "alice@example.com", str(first_id)])
    assert again.exit_code != 0
    runner.invoke(args=["user", "revoke-token", "alice@example.com", "--all"])
    assert _sync(client, second).status_code == 401


def test_a_user_cannot_revoke_another_users_token(app, alice, bob):
    with app.app_context():
        row, token = issue_token(alice)
        db.session.commit()
        assert revoke_tokens(bob, row.id) == 0
        db.session.commit()
        assert user_for_token(token) == alice


def test_lookalike_tokens_are_refused(app, alice):
    with app.app_context():
        _row, token = issue_token(alice)
        db.session.commit()
        assert user_for_token(token) == alice
        for wrong in (token[:-1], token + "x", token.upper(), "", "hl_", "x" * 1000):
            assert user_for_token(wrong) is None
