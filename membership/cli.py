"""Command-line entry points: `flask --app membership <group> <command>`.

Commands call the same services as the web and end their own transaction, once.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from membership.db import current_session, db
from membership.giving import events
from membership.staff import services as staff_services
from membership.staff.models import Role
from membership.web import gateway

stripe_cli = AppGroup("stripe", help="Stripe maintenance.")


def _parse_date(_: click.Context, __: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS] (UTC).")


@stripe_cli.command("reconcile")
@click.option("--since", callback=_parse_date, help="Only events created on or after this UTC date.")
def reconcile_command(since: datetime | None) -> None:
    """Process every event Stripe lists that was missed or failed here."""
    if since is not None and since > datetime.now(UTC):
        raise click.BadParameter("--since is in the future.", param_hint="--since")
    report = events.reconcile(current_session(), gateway(), since=since)
    click.echo(
        f"Events listed: {report.seen}; processed now: {report.processed}; "
        f"already done: {report.already_done}; failed: {report.failed}."
    )
    if report.failed:
        raise SystemExit(1)


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Load demo data (tiers and amount presets). Safe to run again: nothing is duplicated."""
    from membership.demo import seed_demo

    summary = seed_demo(current_session())
    db.session.commit()
    click.echo(summary)


staff_cli = AppGroup("staff", help="Staff accounts.")


@staff_cli.command("create")
@click.option("--email", required=True, help="The staff member's email address (their sign-in name).")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]), help="What they may do.")
@click.option("--name", default="", help="Their name, shown in the audit log.")
@click.option("--one-time-password", "one_time", is_flag=True,
              help="Print a one-time password instead of prompting (they must change it at first sign-in).")
def create_staff_command(email: str, role: str, name: str, one_time: bool) -> None:
    """Create a staff account: prompts for a password, or prints a one-time one."""
    password = None
    if not one_time and sys.stdin.isatty():
        password = click.prompt("Password (at least 12 characters)", hide_input=True, confirmation_prompt=True)
    try:
        user, generated = staff_services.create_staff(current_session(), email, Role(role), name, password=password)
    except staff_services.StaffError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email}.")
    if generated:
        click.echo(f"One-time password (shown once; to be changed at first sign-in): {generated}")


def init_app(app: Flask) -> None:
    app.cli.add_command(staff_cli)
    app.cli.add_command(stripe_cli)
    app.cli.add_command(seed_demo_command)
