"""Command-line tools: user create, demo, export."""

import json

from sqlalchemy import select

from tests.helpers import add_capture, add_event
from webapp.auth.models import User
from webapp.extensions import db


def test_user_create(runner, app):
    result = runner.invoke(
        args=[
            "user",
            "create",
            "Carol@Example.com",
            "--password",
            "a long passphrase",
            "--timezone",
            "Asia/Kolkata",
            "--morning-hour",
            "7",
        ]
    )
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "carol@example.com"))
        assert user.timezone == "Asia/Kolkata" and user.morning_hour == 7
        assert user.check_password("a long passphrase")


def test_user_create_refuses_a_bad_time_zone_and_a_taken_email(runner, alice):
    result = runner.invoke(
        args=["user", "create", "x@example.com", "--password", "p" * 12, "--timezone", "Nowhere"]
    )
    assert result.exit_code != 0 and "Unknown time zone" in result.output
    result = runner.invoke(args=["user", "create", "alice@example.com", "--password", "p" * 12])
    assert result.exit_code != 0 and "already exists" in result.output


def test_demo_creates_a_living_account_once(runner, app):
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert runner.invoke(args=["demo"]).exit_code == 0
    result = runner.invoke(args=["export", "--user", "demo@hookline.test"])
    data = json.loads(result.output)
    assert len(data["events"]) == 1
    assert len(data["contacts"]) == 5
    assert any(c["encounters"][0]["hooks"] for c in data["contacts"])


def test_export_prints_all_of_a_users_data(runner, app, alice, bob):
    event = add_event(app, alice, "PGConf")
    add_capture(
        app,
        alice,
        name="Dana Diaz",
        email="dana@x.example",
        phone="+1 555 0100",
        org="Northwind",
        title="CTO",
        url="https://www.linkedin.com/in/dana",
        note="talked pricing",
        raw="MECARD:N:Diaz,Dana;EMAIL:dana@x.example;;",
        event_id=event,
        hooks=[("send_resource", "pricing deck", "me")],
    )
    add_capture(app, bob, name="Bob's contact")
    result = runner.invoke(args=["export", "--user", "alice@example.com"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert set(data) >= {"profile", "events", "contacts"}
    assert data["profile"]["email"] == "alice@example.com"
    assert [e["name"] for e in data["events"]] == ["PGConf"]
    (contact,) = data["contacts"]
    assert contact["name"] == "Dana Diaz"
    assert contact["emails"] == ["dana@x.example"]
    assert contact["phones"] == ["+1 555 0100"]
    assert contact["org"] == "Northwind" and contact["title"] == "CTO"
    assert contact["urls"] == ["https://www.linkedin.com/in/dana"]
    (encounter,) = contact["encounters"]
    assert encounter["note"] == "talked pricing"
    assert encounter["raw"].startswith("MECARD:")
    assert encounter["hooks"] == [
        {"type": "send_resource", "detail": "pricing deck", "owed_by": "me", "done": False}
    ]


def test_export_of_an_unknown_user_fails_clearly(runner, app):
    result = runner.invoke(args=["export", "--user", "nobody@example.com"])
    assert result.exit_code != 0
    assert "No user with email nobody@example.com" in result.output
