"""Command-line tools: flask --app webapp user|demo|export|badge."""

import json
import sys

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from webapp.extensions import db


def _user_or_exit(email: str):
    from webapp.auth.service import find_user

    user = find_user(email)
    if user is None:
        raise click.ClickException(f"No user with email {email}.")
    return user


@click.group("user", cls=AppGroup)
def user_cli() -> None:
    """Manage users."""


@user_cli.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default="", help="Display name.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone name.")
@click.option("--morning-hour", default=9, show_default=True, type=click.IntRange(0, 23))
def create_user_command(
    email: str, password: str, name: str, timezone: str, morning_hour: int
) -> None:
    """Create a user who can log in with EMAIL and the password."""
    from webapp.auth.service import AccountError, create_user

    try:
        create_user(email, password, name=name, timezone=timezone, morning_hour=morning_hour)
    except (AccountError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"Created {email.strip().lower()}.")


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Create the demo account with an event and contacts."""
    from webapp.demo import DEMO_EMAIL, DEMO_PASSWORD, seed_demo

    seed_demo()
    db.session.commit()
    click.echo(f"Demo account ready: {DEMO_EMAIL} / {DEMO_PASSWORD}")


@click.command("export")
@with_appcontext
@click.option("--user", "email", required=True, help="Whose data to export.")
def export_command(email: str) -> None:
    """Print all of a user's data as one JSON object."""
    from webapp.exchange.export import export_user

    json.dump(export_user(_user_or_exit(email)), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


@click.group("badge", cls=AppGroup)
def badge_cli() -> None:
    """Work with badge and business-card QR payloads."""


@badge_cli.command("parse")
def badge_parse_command() -> None:
    """Parse payloads from stdin (one JSON string per line) into JSON objects."""
    from webapp.badges import parse_lines

    for line in parse_lines(sys.stdin):
        click.echo(line)


def init_app(app: Flask) -> None:
    """Register the commands on app."""
    for command in (user_cli, demo_command, export_command, badge_cli):
        app.cli.add_command(command)
