"""Command-line entry points: `flask --app membership <group> <command>`.

Commands call the same services as the web and end their own transaction, once.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask
from flask.cli import AppGroup

from membership.db import current_session, db
from membership.giving import events
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


def init_app(app: Flask) -> None:
    app.cli.add_command(stripe_cli)
    app.cli.add_command(seed_demo_command)
