"""Periodic work: run every few minutes by cron (`flask --app membership jobs run`), and by `make run`.

Each job is safe to run at any time and any number of times: what is not due does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.orm import Session

from membership import ratelimit, webhooks_out
from membership.ballots.closing import announce_closed_ballots
from membership.config import patron_grace
from membership.db import db, unit_of_work
from membership.email import delete_old_bodies, retry_due_emails
from membership.giving import events
from membership.giving.services import send_dunning_reminders
from membership.giving.stored_events import delete_old_payloads
from membership.giving.stripe_gateway import gateway
from membership.patrons.statements import send_yearly_statements
from membership.staff.dashboard.rollups import refresh_closed_months
from membership.staff.reports.worker import build_due_exports, expire_exports, export_settings


@dataclass(frozen=True)
class JobsReport:
    emails_sent: int
    emails_failed: int
    exports_ready: int
    exports_failed: int
    exports_expired: int
    reminders_queued: int
    rate_limit_hits_pruned: int
    webhooks_delivered: int = 0
    webhooks_failed: int = 0
    ballots_announced: int = 0
    stripe_events_requeued: int = 0
    event_payloads_deleted: int = 0
    email_bodies_deleted: int = 0
    statements_queued: int = 0
    dashboard_months_rolled_up: int = 0

    @property
    def idle(self) -> bool:
        return not (self.emails_sent or self.emails_failed or self.exports_ready or self.exports_failed
                    or self.exports_expired or self.reminders_queued or self.rate_limit_hits_pruned
                    or self.stripe_events_requeued or self.event_payloads_deleted or self.email_bodies_deleted
                    or self.webhooks_delivered or self.webhooks_failed or self.ballots_announced
                    or self.statements_queued or self.dashboard_months_rolled_up)

    @property
    def failed(self) -> bool:
        """Whether a send or an export failed (the command then exits 1, so cron says so)."""
        return bool(self.emails_failed or self.exports_failed)

    def __str__(self) -> str:
        return (
            f"Stripe events due again (re-queued, or processed without a queue): {self.stripe_events_requeued}. "
            f"Queued emails sent: {self.emails_sent}; failed: {self.emails_failed}. "
            f"Queued exports written: {self.exports_ready}; failed: {self.exports_failed}. "
            f"Expired exports deleted (file, then row): {self.exports_expired}. "
            f"Payment reminders queued: {self.reminders_queued}. "
            f"Old rate-limit records removed: {self.rate_limit_hits_pruned}. "
            f"Stripe event payloads deleted: {self.event_payloads_deleted}; "
            f"email bodies deleted: {self.email_bodies_deleted}. "
            f"Webhooks delivered: {self.webhooks_delivered}; failed (retried later): {self.webhooks_failed}. "
            f"Closed ballots announced: {self.ballots_announced}. "
            f"Yearly statement emails queued: {self.statements_queued}. "
            f"Dashboard months rolled up (ended, or changed since): {self.dashboard_months_rolled_up}."
        )


def run_jobs(session: Session, now: datetime) -> JobsReport:
    """Hand Stripe events due again to the worker (retries, expired leases, pushes lost with Redis), retry due
    emails, write the queued exports that are due (a worker never got them, or a retry), delete exports whose
    time is up (file, then row), apply the retention periods (Stripe events' payloads, sent emails' bodies), queue
    the dunning reminders that fall due at `now` and, in January, the emails with last year's statements (a batch
    a run), forget old rate-limit hits, and roll up the dashboard's ended months that are not yet (or changed).

    Retrying and writing exports commit their own bookkeeping, one message or export at a time; deletions
    commit a batch at a time, so no transaction grows with the tables. The rest is left in the session's
    transaction: the caller's unit of work commits it once, then sends what was queued.
    """
    requeued = events.requeue_due_events(session, gateway(), now)
    sent, failed = retry_due_emails(session)
    exports = export_settings()
    exports_ready, exports_failed = build_due_exports(session, db.engine, exports, now)
    config = current_app.config
    expired = in_batches(session, lambda limit: expire_exports(session, exports.storage, now, exports.keep, limit))
    payloads = in_batches(session, lambda limit: delete_old_payloads(
        session, now - timedelta(days=int(config["STRIPE_EVENT_RETENTION_DAYS"])), limit))
    bodies = in_batches(session, lambda limit: delete_old_bodies(
        session, now - timedelta(days=int(config["EMAIL_BODY_RETENTION_DAYS"])), limit))
    reminders = send_dunning_reminders(
        session, now, timedelta(days=int(current_app.config["DUNNING_REMINDER_DAYS"]))
    )
    statements = send_yearly_statements(session, now)
    pruned = ratelimit.prune(session)
    announced = announce_closed_ballots(session, now, patron_grace())
    rolled_up = refresh_closed_months(session, now)
    session.commit()  # the announcements' deliveries, before they are sent just below
    delivered, undelivered = webhooks_out.deliver_due(session, now)
    return JobsReport(emails_sent=sent, emails_failed=failed, exports_ready=exports_ready,
                      exports_failed=exports_failed, exports_expired=expired, reminders_queued=reminders,
                      rate_limit_hits_pruned=pruned, stripe_events_requeued=requeued,
                      event_payloads_deleted=payloads, email_bodies_deleted=bodies, webhooks_delivered=delivered,
                      webhooks_failed=undelivered, ballots_announced=announced, statements_queued=statements,
                      dashboard_months_rolled_up=rolled_up)


RETENTION_BATCH = 500


def in_batches(session: Session, step: Callable[[int], int]) -> int:
    """Call `step(RETENTION_BATCH)` (one batch of deletions, flushed) in a unit of work of its own, again while it
    did a whole batch; returns how many it did in all."""
    total, limit = 0, RETENTION_BATCH
    while True:
        with unit_of_work(session):
            done = step(limit)
        total += done
        if done < limit:
            return total
