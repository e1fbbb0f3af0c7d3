"""Periodic work: run every few minutes by cron (`flask --app membership jobs run`), and by `make run`.

Each job is safe to run at any time and any number of times: what is not due does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.orm import Session

from membership import ratelimit
from membership.db import db
from membership.email import retry_due_emails
from membership.giving import events
from membership.giving.services import send_dunning_reminders
from membership.giving.stripe_gateway import gateway
from membership.patrons.statements import send_yearly_statements
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
    stripe_events_requeued: int = 0
    statements_queued: int = 0

    @property
    def idle(self) -> bool:
        return not (self.emails_sent or self.emails_failed or self.exports_ready or self.exports_failed
                    or self.exports_expired or self.reminders_queued or self.rate_limit_hits_pruned
                    or self.stripe_events_requeued or self.statements_queued)

    @property
    def failed(self) -> bool:
        """Whether a send or an export failed (the command then exits 1, so cron says so)."""
        return bool(self.emails_failed or self.exports_failed)

    def __str__(self) -> str:
        return (
            f"Stripe events due again (re-queued, or processed without a queue): {self.stripe_events_requeued}. "
            f"Queued emails sent: {self.emails_sent}; failed: {self.emails_failed}. "
            f"Queued exports written: {self.exports_ready}; failed: {self.exports_failed}. "
            f"Expired export files deleted: {self.exports_expired}. "
            f"Payment reminders queued: {self.reminders_queued}. "
            f"Yearly statement emails queued: {self.statements_queued}. "
            f"Old rate-limit records removed: {self.rate_limit_hits_pruned}."
        )


def run_jobs(session: Session, now: datetime) -> JobsReport:
    """Hand Stripe events due again to the worker (retries, expired leases, pushes lost with Redis), retry due
    emails, write the queued exports that are due (a worker never got them, or a retry), delete
    export files whose time is up, queue the dunning reminders that fall due at `now` and, in January, the emails
    with last year's statements (a batch a run), and forget old rate-limit hits.

    Retrying and writing exports commit their own bookkeeping, one message or export at a time. The rest is
    left in the session's transaction: the caller's unit of work commits it once, then sends what was queued.
    """
    requeued = events.requeue_due_events(session, gateway(), now)
    sent, failed = retry_due_emails(session)
    exports = export_settings()
    exports_ready, exports_failed = build_due_exports(session, db.engine, exports, now)
    expired = expire_exports(session, exports.directory, now)
    reminders = send_dunning_reminders(
        session, now, timedelta(days=int(current_app.config["DUNNING_REMINDER_DAYS"]))
    )
    statements = send_yearly_statements(session, now)
    pruned = ratelimit.prune(session)
    return JobsReport(emails_sent=sent, emails_failed=failed, exports_ready=exports_ready,
                      exports_failed=exports_failed, exports_expired=expired, reminders_queued=reminders,
                      rate_limit_hits_pruned=pruned, stripe_events_requeued=requeued,
                      statements_queued=statements)
