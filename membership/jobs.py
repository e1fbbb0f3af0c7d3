"""Periodic work: run every few minutes by cron (`flask --app membership jobs run`), and by `make run`.

Each job is safe to run at any time and any number of times: what is not due does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.orm import Session

from membership import ratelimit
from membership.email import retry_due_emails
from membership.giving.services import send_dunning_reminders


@dataclass(frozen=True)
class JobsReport:
    emails_sent: int
    emails_failed: int
    reminders_queued: int
    rate_limit_hits_pruned: int

    @property
    def idle(self) -> bool:
        return not (self.emails_sent or self.emails_failed or self.reminders_queued or self.rate_limit_hits_pruned)

    def __str__(self) -> str:
        return (
            f"Queued emails sent: {self.emails_sent}; failed: {self.emails_failed}. "
            f"Payment reminders queued: {self.reminders_queued}. "
            f"Old rate-limit records removed: {self.rate_limit_hits_pruned}."
        )


def run_jobs(session: Session, now: datetime) -> JobsReport:
    """Retry due emails, queue the dunning reminders that fall due at `now`, and forget old rate-limit hits.

    Retrying commits its own bookkeeping, one message at a time. The reminders and the pruning are left in
    the session's transaction: the caller commits once, then sends what was queued.
    """
    sent, failed = retry_due_emails(session)
    reminders = send_dunning_reminders(
        session, now, timedelta(days=int(current_app.config["DUNNING_REMINDER_DAYS"]))
    )
    pruned = ratelimit.prune(session)
    return JobsReport(emails_sent=sent, emails_failed=failed, reminders_queued=reminders,
                      rate_limit_hits_pruned=pruned)
