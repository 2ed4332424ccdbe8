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


@user_cli.command("token")
@click.argument("email")
@click.option("--name", default="", help="A label, e.g. the phone's name.")
def token_command(email: str, name: str) -> None:
    """Print a new personal API token for EMAIL (shown once; stored hashed)."""
    from webapp.auth.tokens import issue_token

    row, token = issue_token(_user_or_exit(email).id, name=name)
    db.session.commit()
    click.echo(token)
    click.echo(f"Token {row.id} for {email}: keep it secret; it is not shown again.", err=True)


@user_cli.command("revoke-token")
@click.argument("email")
@click.argument("token_id", required=False, type=int)
@click.option("--all", "revoke_all", is_flag=True, help="Revoke every token of EMAIL.")
def revoke_token_command(email: str, token_id: int | None, revoke_all: bool) -> None:
    """Revoke token TOKEN_ID of EMAIL (or --all); list the tokens when neither is given."""
    from webapp.auth.tokens import list_tokens, revoke_tokens

    user = _user_or_exit(email)
    if token_id is None and not revoke_all:
        for row in list_tokens(user.id):
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "live"
            click.echo(f"{row.id}\t{row.hint}...\t{row.created_at:%Y-%m-%d}\t{state}\t{row.name}")
        return
    count = revoke_tokens(user.id, None if revoke_all else token_id)
    db.session.commit()
    if count == 0:
        raise click.ClickException("No live token to revoke.")
    click.echo(f"Revoked {count} token(s).")


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
    from webapp.outreach.pending import plan_pending_now

    user = _user_or_exit(email)
    plan_pending_now(user.id)  # the drafts of what the phone synced, as the review shows them
    json.dump(export_user(user), sys.stdout, ensure_ascii=False, indent=2)
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


@click.group("outreach", cls=AppGroup)
def outreach_cli() -> None:
    """Send follow-ups."""


@outreach_cli.command("send-due")
def outreach_send_due_command() -> None:
    """Send due scheduled drafts and morning digests; safe to run every minute."""
    from webapp.outreach.runner import mail_status, send_due

    settings, error = mail_status()
    if settings is None:
        raise click.ClickException(error or "Mail is not set up: set SMTP_HOST (docs/outreach.md).")
    report = send_due(settings)
    click.echo(f"Sent {len(report.sent)} scheduled drafts, {len(report.digests)} digests.")
    for ident, reason in report.failed:
        click.echo(f"Draft {ident} not sent: {reason}", err=True)
    for email, reason in report.digest_errors:
        click.echo(f"Digest for {email} not sent: {reason}", err=True)
    if report.stuck:
        ids = ", ".join(str(i) for i in report.stuck)
        click.echo(f"Interrupted mid-send, check by hand on the review screen: {ids}", err=True)


def init_app(app: Flask) -> None:
    """Register the commands on app."""
    for command in (user_cli, demo_command, export_command, badge_cli, outreach_cli):
        app.cli.add_command(command)
