"""`flask --app membership import stripe|csv`: the command line of the imports (see the package's docstring)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from membership.db import current_session, unit_of_work
from membership.giving.services import currency_rules
from membership.giving.stripe_gateway import StripeRejected, StripeUnavailable, gateway
from membership.imports.csv_import import FORMATS, ImportRefused, import_rows, read_rows
from membership.imports.stripe_adoption import adopt_stripe_account

import_cli = AppGroup("import", help="Bring in supporters a newsroom already has (Stripe, Patreon, a CSV file).")


@import_cli.command("stripe")
@click.option("--dry-run", is_flag=True, help="Report what would be adopted, and change nothing.")
def import_stripe_command(dry_run: bool) -> None:
    """Adopt the Stripe account's customers, running subscriptions and their payment history. Safe to repeat."""
    session = current_session()
    try:
        if dry_run:
            try:
                report = adopt_stripe_account(session, gateway())
            finally:
                session.rollback()
        else:
            with unit_of_work(session):
                report = adopt_stripe_account(session, gateway())
    except (StripeUnavailable, StripeRejected) as exc:
        raise click.ClickException(f"Stripe refused or couldn't be reached: {exc}. Nothing was imported.") from exc
    if dry_run:
        click.echo("Dry run: nothing was changed. It would have done this:")
    for line in report.lines():
        click.echo(line)


@import_cli.command("csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="patreon: Patreon's members export; generic: see docs/imports.md.")
@click.option("--invite/--no-invite", default=True, show_default=True,
              help="Email patrons from another platform an invitation to re-join, their amount filled in.")
@click.option("--dry-run", is_flag=True, help="Check the file and report what would happen; change nothing.")
def import_csv_command(file: Path, fmt: str, invite: bool, dry_run: bool) -> None:
    """Import supporters and their consent from FILE. Never charges anyone. A file with a bad row imports
    nothing: each problem is listed with its line number."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{file} is not UTF-8 text ({exc}); save it as UTF-8 CSV.") from None
    config = current_app.config
    try:
        rows = read_rows(text, fmt, list(currency_rules()), list(config["SUPPORTED_LOCALES"]),
                         str(config["MEMBERSHIP_DEFAULT_CURRENCY"]))
    except ImportRefused as exc:
        for problem in exc.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s) in {file}: nothing was imported.") from None
    session = current_session()
    if dry_run:
        try:
            report = import_rows(session, rows, fmt, invite=invite, public_url=str(config["PUBLIC_URL"]))
        finally:
            session.rollback()
        click.echo("Dry run: nothing was changed. It would have done this:")
    else:
        with unit_of_work(session):
            report = import_rows(session, rows, fmt, invite=invite, public_url=str(config["PUBLIC_URL"]))
    for line in report.lines():
        click.echo(line)
