"""Command-line entry points: `flask --app membership <group> <command>`.

Commands call the same services as the web and end their own transaction, once, with
`membership.db.unit_of_work` (commit, or roll back on an error, then send what was queued).
"""

from __future__ import annotations

import gc
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from membership import catalogs, webhooks_out
from membership.config import patron_grace
from membership.db import current_session, db, unit_of_work, utcnow
from membership.email import Mailer, retry_due_emails, send_queued
from membership.giving import events, stripe_account
from membership.giving.services import currency_rules
from membership.giving.stripe_gateway import StripeRejected, StripeUnavailable, gateway
from membership.i18n import supported, supported_locales
from membership.imports.commands import import_cli
from membership.jobs import run_jobs
from membership.logs import log_context
from membership.queue import EMAILS, EXPORTS, STRIPE_EVENTS, WEBHOOKS, Handler, IdleWork, ItemId, run_worker
from membership.staff.accounts import services as staff_services
from membership.staff.accounts.models import Role, StaffUser
from membership.staff.reports import services as reports
from membership.staff.reports.files import ExportRun, record_export, write_export
from membership.staff.reports.models import ExportFormat, ExportKind
from membership.staff.reports.services import DEFAULT_EXPORT_LANGUAGE
from membership.staff.reports.worker import build_export, export_settings

stripe_cli = AppGroup("stripe", help="Stripe maintenance.")
translate_cli = AppGroup("translate", help="The gettext catalogs (run from a checkout).")


@translate_cli.command("extract")
def translate_extract_command() -> None:
    """Collect every marked string from membership/ and templates/ into messages.pot."""
    catalog = catalogs.extract(Path.cwd())
    click.echo(f"{len(catalog)} strings in {catalogs.TEMPLATE}")


@translate_cli.command("update")
@click.option("--locale", help="Start or update only this language's catalog (e.g. pl).")
def translate_update_command(locale: str | None) -> None:
    """Bring each language's messages.po up to messages.pot (new strings empty, changed ones fuzzy)."""
    for name in catalogs.update(locale):
        click.echo(f"updated {catalogs.po_path(name)}")


@translate_cli.command("compile")
def translate_compile_command() -> None:
    """Build the messages.mo files the app reads."""
    names = catalogs.compile_catalogs(force=True)
    click.echo(f"compiled {', '.join(names) or 'nothing'}")


@translate_cli.command("check")
def translate_check_command() -> None:
    """Fail when a catalog has an untranslated or fuzzy entry, or a translation loses a placeholder."""
    problems = [gap for name in catalogs.locales() for gap in catalogs.gaps(name)]
    for gap in problems:
        click.echo(f"{gap.locale}: {gap.problem}: {gap.msgid!r}", err=True)
    if problems:
        raise click.ClickException(f"{len(problems)} catalog entries need a translator.")
    click.echo("every catalog is complete")


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
    with unit_of_work(current_session()) as session:  # each event commits on its own; then send what they queued
        report = events.reconcile(session, gateway(), since=since)
    click.echo(
        f"Events listed: {report.seen}; processed now: {report.processed}; "
        f"already done: {report.already_done}; failed: {report.failed}."
    )
    failed, total = events.failed_events(current_session())
    if total:
        click.echo(f"Stripe events needing attention (failed after every attempt): {total}.")
        for event in failed:
            click.echo(f"  {event.id}  {event.type}  received {event.received_at:%Y-%m-%d %H:%M} UTC, "
                       f"{event.attempts} attempt(s): {event.last_error}")
    if report.failed:
        raise SystemExit(1)


def _require_usable_key() -> None:
    if gateway().livemode and not current_app.config["MEMBERSHIP_ALLOW_LIVE_KEYS"]:
        raise click.UsageError("STRIPE_SECRET_KEY is a live key: set MEMBERSHIP_ALLOW_LIVE_KEYS=1 to use it on "
                               "purpose.")
    if not gateway().configured:
        raise click.UsageError("STRIPE_SECRET_KEY is not set.")


@stripe_cli.command("setup")
def setup_command() -> None:
    """Create or update what the app needs on the Stripe account: the Billing Portal configuration and the
    webhook endpoint for PUBLIC_URL/stripe/webhook. Running it again changes nothing."""
    _require_usable_key()
    try:
        report = stripe_account.set_up_account(gateway(), current_app.config["PUBLIC_URL"])
    except (StripeRejected, StripeUnavailable) as exc:
        raise click.ClickException(f"Stripe refused: {exc}") from None
    for line in report.lines:
        click.echo(line)
    if report.secret:
        click.echo(f"Signing secret (shown once; set STRIPE_WEBHOOK_SECRET to it): {report.secret}")
    click.echo("Done." if report.changed else "Nothing to change: the account was already set up.")


@stripe_cli.command("check")
@click.option("--live", is_flag=True, help="Expect a live-mode key (production) instead of a test-mode one.")
def check_command(live: bool) -> None:
    """Read the Stripe account and report each problem with its fix. Exits 1 if there is any."""
    _require_usable_key()
    config = current_app.config
    try:
        report = stripe_account.check_account(gateway(), public_url=config["PUBLIC_URL"],
                                              currencies=currency_rules(), expect_live=live,
                                              key=config["STRIPE_SECRET_KEY"])
    except StripeUnavailable as exc:
        raise click.ClickException(f"Stripe can't be reached or refused the key: {exc}") from None
    for fact in report.facts:
        click.echo(f"ok       {fact}")
    for problem in report.problems:
        click.echo(f"PROBLEM  {problem.what}\n         Fix: {problem.fix}")
    if report.problems:
        click.echo(f"{len(report.problems)} problem(s) found.")
        raise SystemExit(1)
    click.echo("No problems found.")


@click.command("seed-demo")
@click.option("--history", is_flag=True,
              help="Also add a few hundred demo supporters with 14 months of gifts, memberships and checkouts "
                   "(development only; fake Stripe ids that never reach Stripe).")
@click.option("--admin-email", default="", help="Also create this demo admin account if missing (development only).")
@click.option("--admin-password-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The demo admin's password, read from this file.")
def seed_demo_command(history: bool, admin_email: str, admin_password_file: Path | None) -> None:
    """Load demo data (tiers and amount presets). Safe to run again: nothing is duplicated."""
    from membership.demo import seed_demo, seed_demo_admin

    if (history or admin_email) and current_app.config["MEMBERSHIP_ENV"] == "production":
        raise click.UsageError("Demo supporters and the demo admin are for development only.")
    if admin_email and admin_password_file is None:
        raise click.UsageError("--admin-email needs --admin-password-file.")
    fees = {code: rules.fee for code, rules in currency_rules().items()}
    with unit_of_work(current_session()) as session:
        summary = seed_demo(session, utcnow(), fees) if history else seed_demo(session)
        if admin_email and admin_password_file is not None:
            try:
                created = seed_demo_admin(session, admin_email, admin_password_file.read_text().strip())
            except staff_services.StaffError as exc:
                raise click.ClickException(str(exc)) from None
            summary += f" Demo admin {admin_email}: {'created' if created else 'already there'}."
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
        with unit_of_work(current_session()) as session:
            user, generated = staff_services.create_staff(session, email, Role(role), name, password=password)
    except staff_services.StaffError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created {user.role.value} {user.email}.")
    if generated:
        click.echo(f"One-time password (shown once; to be changed at first sign-in): {generated}")


def _existing_staff(email: str) -> StaffUser:
    user = staff_services.find_staff(current_session(), email)
    if user is None:
        raise click.BadParameter(f"no staff account has the address {email!r}; nothing was changed.",
                                 param_hint="EMAIL")
    return user


@staff_cli.command("reset-two-factor")
@click.argument("email")
def reset_two_factor_command(email: str) -> None:
    """Turn off EMAIL's two-factor sign-in, delete their recovery codes and end their sessions.

    For the server's operator when nobody who can do it at /staff/users can sign in.
    """
    user = _existing_staff(email)
    if not user.totp_enabled:
        raise click.ClickException(f"Two-factor sign-in is already off for {user.email}; nothing was changed.")
    with unit_of_work(current_session()) as session:
        staff_services.reset_two_factor(session, None, user)
    click.echo(f"Two-factor sign-in is off for {user.email}: their recovery codes are deleted and their sessions "
               "ended. They sign in with their password and set it up again.")


@staff_cli.command("reset-password")
@click.argument("email")
def reset_password_command(email: str) -> None:
    """Print a one-time password for EMAIL (to be changed at their next sign-in); lifts a lock-out, ends their
    sessions. Two-factor sign-in, if on, is still asked for."""
    user = _existing_staff(email)
    with unit_of_work(current_session()) as session:
        password = staff_services.reset_password(session, None, user)
    click.echo(f"One-time password for {user.email} (shown once; to be changed at their next sign-in): {password}")


email_cli = AppGroup("email", help="Outgoing email.")


@email_cli.command("retry")
def email_retry_command() -> None:
    """Send every queued email whose next attempt is due. Exits 1 if any still fails."""
    with unit_of_work(current_session()) as session:
        sent, failed = retry_due_emails(session)
    click.echo(f"Emails sent: {sent}; failed (left queued for a later retry): {failed}.")
    if failed:
        raise SystemExit(1)


def _email_sender() -> tuple[Handler, IdleWork]:
    """The email queue's handler and its idle hook: one SMTP connection for each run of messages, closed when
    the queue is found empty."""
    mailer = Mailer()

    def send(email_id: ItemId) -> bool | None:
        with log_context(email_id=email_id):
            return send_queued(current_session(), int(email_id), mailer)

    return send, mailer.close


def _write_queued_export(job_id: ItemId) -> bool | None:
    # Its units of work send "your export is ready" (or failed) onto the email queue as each commits.
    with log_context(job_id=job_id):
        return build_export(current_session(), db.engine, int(job_id), export_settings())


def _deliver_webhook(delivery_id: ItemId) -> bool | None:
    return webhooks_out.deliver(current_session(), int(delivery_id))


def _process_queued_event(event_id: ItemId) -> bool | None:
    # Its unit of work queues the receipts it writes onto the email queue as it commits.
    return events.process_queued_event(current_session(), gateway(), str(event_id), events.retry_policy())


def _requeue_due_events() -> None:
    """When the event queue stands empty: push the events due again (retries, leases run out, lost pushes)."""
    try:
        events.requeue_due_events(current_session(), gateway(), utcnow())
    except Exception:  # the database away for a moment must not stop the worker; the next idle spell retries
        current_app.logger.exception("Re-queueing due Stripe events failed.")


def _work(handlers: dict[str, Handler], drain: bool, idle: dict[str, IdleWork] | None = None) -> None:
    if not current_app.config.get("REDIS_URL"):
        raise click.UsageError("REDIS_URL is not set: without a queue, requests process their own webhooks, send "
                               "their own email and stream their own exports.")
    if not drain:
        # As gunicorn's workers do (gunicorn_config.post_worker_init): what start-up loaded stays for the life of a
        # running worker, so full garbage collections needn't walk it (each took 140-180 ms mid-event). Not for a
        # drain, which ends soon (and runs inside tests' processes).
        gc.collect()
        gc.freeze()
    try:
        tallies = run_worker(handlers, drain=drain, idle=idle)
    except KeyboardInterrupt:
        return
    if (stripe_events := tallies.get(STRIPE_EVENTS)) is not None:
        click.echo(f"Stripe events processed: {stripe_events.done}; failed attempts (retried later): "
                   f"{stripe_events.failed}.")
    if (exports := tallies.get(EXPORTS)) is not None:
        click.echo(f"Exports written: {exports.done}; failed (tried again by `jobs run`): {exports.failed}.")
    if (hooks := tallies.get(WEBHOOKS)) is not None:
        click.echo(f"Webhooks delivered: {hooks.done}; failed (retried by `jobs run`): {hooks.failed}.")
    emails = tallies[EMAILS]
    click.echo(f"Emails sent: {emails.done}; failed (left queued for a later retry): {emails.failed}.")


@click.command("worker")
@click.option("--drain", is_flag=True, help="Stop once the queues are empty, instead of waiting for more.")
def worker_command(drain: bool) -> None:
    """Process the Stripe events webhooks acknowledged, write the exports, send the emails requests put on the
    Redis queue (REDIS_URL) and deliver the newsroom's webhooks, each queue in a thread of its own. Runs until
    stopped (Ctrl-C)."""
    send_email, close_mailer = _email_sender()
    # Events and exports first when draining: they queue emails.
    idle = {EMAILS: close_mailer}
    if not drain:  # a drain ends when the queues are empty; re-queueing what is due is for a running worker
        idle[STRIPE_EVENTS] = _requeue_due_events
    _work({STRIPE_EVENTS: _process_queued_event, EXPORTS: _write_queued_export, EMAILS: send_email,
           WEBHOOKS: _deliver_webhook}, drain, idle)


@email_cli.command("worker")
@click.option("--drain", is_flag=True, help="Stop once the queue is empty, instead of waiting for more.")
def email_worker_command(drain: bool) -> None:
    """Send the emails requests put on the Redis queue (REDIS_URL), and nothing else. Runs until stopped (Ctrl-C)."""
    send_email, idle = _email_sender()
    _work({EMAILS: send_email}, drain, {EMAILS: idle})


jobs_cli = AppGroup("jobs", help="Periodic work; run every few minutes from cron.")


@jobs_cli.command("run")
@click.option("--quiet", is_flag=True, help="Print nothing when there was nothing to do (for cron).")
def jobs_run_command(quiet: bool) -> None:
    """Retry due emails, write due queued exports and delete expired ones, send due payment reminders (and in
    January last year's statements), prune old rate-limit records. Exits 1 if a send or an export failed."""
    with unit_of_work(current_session()) as session:
        report = run_jobs(session, utcnow())
    if not (quiet and report.idle):
        click.echo(str(report))
    if report.failed:
        raise SystemExit(1)


export_cli = AppGroup("export", help="Exports for accounting and analysis: the same files as /staff/reports.")


def _parse_day(_: click.Context, __: click.Parameter, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC).date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; use YYYY-MM-DD.") from None


def _export_command(kind: str) -> None:
    @export_cli.command(kind, help=f"Write the {kind} export to a file (audited as the command line).")
    @click.option("--from", "first", required=True, callback=_parse_day, help="First day, YYYY-MM-DD (UTC).")
    @click.option("--to", "last", required=True, callback=_parse_day, help="Last day, included, YYYY-MM-DD (UTC).")
    @click.option("--format", "fmt", type=click.Choice([f.value for f in ExportFormat]), default="csv",
                  show_default=True)
    @click.option("--currency", default="", help="Only this currency (default: all).")
    @click.option("--status", default="", help="Only this status (default: all).")
    @click.option("--language", default=DEFAULT_EXPORT_LANGUAGE, show_default=True,
                  help="The language of the column headers: one of SUPPORTED_LOCALES.")
    @click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
                  help="The file to write (default: the dated name, e.g. payments-2026-01-01-to-2026-01-31.csv).")
    def command(first: date, last: date, fmt: str, currency: str, status: str, language: str,
                output: Path | None) -> None:
        try:
            filters = reports.make_filters(kind, first, last, currency, status, list(currency_rules()))
        except reports.FilterError as exc:
            raise click.UsageError(str(exc)) from None
        chosen = supported(language)
        if chosen is None:
            raise click.UsageError(f"Unknown --language {language!r}; choose one of "
                                   f"{', '.join(supported_locales())}.")
        run = ExportRun(filters, ExportFormat(fmt), chosen)
        path = output or Path(filters.filename(run.fmt))
        spec = reports.export_query(filters, now=utcnow(), grace=patron_grace(), currencies=list(currency_rules()))
        try:
            write_export(db.engine, spec, run, path)  # the file appears whole or not at all
        finally:  # audited even when the writing failed, in a unit of work of its own
            with unit_of_work(current_session()) as session:
                record_export(session, None, run, actor_label="command line")
        click.echo(f"Wrote {run.rows} rows to {path}.")


for _kind in ExportKind:
    _export_command(_kind.value)


def init_app(app: Flask) -> None:
    app.cli.add_command(export_cli)
    app.cli.add_command(email_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(staff_cli)
    app.cli.add_command(stripe_cli)
    app.cli.add_command(translate_cli)
    app.cli.add_command(import_cli)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(worker_command)
