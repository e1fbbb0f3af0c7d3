"""Email: one module renders, queues and sends every message.

A message is rendered from `templates/email/<message>/{subject.txt,body.txt,body.html}` and stored as
an `outbound_emails` row in the same transaction as the work that caused it (a transactional outbox).
Only after that transaction commits is it sent, over SMTP when MAIL_URL is set or into the development
outbox otherwise. The row is written already claimed by the request that queued it (its first attempt,
leased for SEND_LEASE), so that request sends it straight after the commit without another round trip,
and no other sender touches it meanwhile; if the request dies before sending, the lease runs out and
`email retry` takes it. A failed send is logged and left queued for `flask --app membership email retry`;
it never undoes the payment or sign-in that queued it.

With REDIS_URL set, the request doesn't send: it pushes the committed messages' ids onto a Redis list
(`membership.queue`) and answers at once, and `flask --app membership worker` (or `email worker`) sends
them, so a slow mail server, or whether a message was sent at all, never shows in a response's timing. If
Redis can't be reached, the request sends them itself, as without Redis.
"""

from __future__ import annotations

import enum
import logging
import smtplib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import redis
from flask import current_app, render_template
from sqlalchemy import ForeignKey, Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from membership.config import parse_mail_url
from membership.db import Base, UTCDateTime, after_commit, committed, db, rows_affected, utcnow
from membership.queue import EMAILS, push, redis_queue

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A sender claims a message for this long before handing it to SMTP, so a concurrent sender (a request's
# flush, `email retry`, `jobs run`) skips it; if the sender dies meanwhile, a later retry picks it up.
SEND_LEASE = timedelta(minutes=5)
AFTER_COMMIT_NAME = "emails"  # what `queue_email` keeps for after the commit (membership.db.after_commit)


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # gave up after MAX_ATTEMPTS


class OutboundEmail(Base):
    """One rendered message, kept so sends can be retried and (in development) read in the outbox."""

    __tablename__ = "outbound_emails"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(60), index=True)
    to_address: Mapped[str] = mapped_column(String(320))
    supporter_id: Mapped[int | None] = mapped_column(ForeignKey("supporters.id", ondelete="SET NULL"), index=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=EmailStatus.QUEUED.value, index=True)
    transport: Mapped[str] = mapped_column(String(10), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def queue_email(session: Session, message: str, to: str, supporter_id: int | None = None, *,
                send_after_commit: bool = True, **context: Any) -> None:
    """Render `message` for `to` and queue it to be sent once the current transaction commits.

    `send_after_commit=False` leaves a message (one of many, like a ballot's "what your vote
    commissioned") to the periodic `email retry` / `jobs run`, so a bulk send never holds up the request.
    """
    context = {
        "newsroom_name": current_app.config["NEWSROOM_NAME"],
        "newsroom_address": current_app.config["NEWSROOM_ADDRESS"],
        "public_url": current_app.config["PUBLIC_URL"],
        **context,
    }
    subject = " ".join(render_template(f"email/{message}/subject.txt", **context).split())
    email = OutboundEmail(
        message=message,
        to_address=to,
        supporter_id=supporter_id,
        subject=subject,
        body_text=render_template(f"email/{message}/body.txt", **context),
        body_html=render_template(f"email/{message}/body.html", subject=subject, **context),
    )
    if send_after_commit:  # claimed by this request: its first attempt, leased until it has been sent
        email.attempts = 1
        email.next_attempt_at = utcnow() + SEND_LEASE
    session.add(email)
    session.flush()
    if send_after_commit:
        after_commit(session, AFTER_COMMIT_NAME, Claimed(
            email.id, email.message, email.to_address, email.subject, email.body_text, email.body_html))


@dataclass(frozen=True)
class Claimed:
    """A message this process has claimed, as queued: enough to send it without reading it back."""

    id: int
    message: str
    to_address: str
    subject: str
    body_text: str
    body_html: str
    attempts: int = 1


Sendable = OutboundEmail | Claimed


def _build(email: Sendable, sender: str) -> EmailMessage:
    mime = EmailMessage()
    mime["Subject"] = email.subject
    mime["From"] = sender
    mime["To"] = email.to_address
    mime["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip("> ") or "localhost")
    mime.set_content(email.body_text)
    mime.add_alternative(email.body_html, subtype="html")
    return mime


def _deliver(email: Sendable) -> str:
    """Hand one message to SMTP (or the development outbox); return the transport used."""
    mail_url = current_app.config.get("MAIL_URL") or ""
    if not mail_url:
        return "outbox"
    server = parse_mail_url(mail_url)
    smtp_class = smtplib.SMTP_SSL if server.use_ssl else smtplib.SMTP
    with smtp_class(server.host, server.port, timeout=10) as smtp:
        if server.use_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if server.username:
            smtp.login(server.username, server.password)
        smtp.send_message(_build(email, current_app.config["MAIL_FROM"]))
    return "smtp"


def _claim(session: Session, email_id: int) -> OutboundEmail | None:
    """Take one queued, due message for this sender (committed), or None if it isn't there to take."""
    now = utcnow()
    claimed = session.execute(
        update(OutboundEmail)
        .where(OutboundEmail.id == email_id, OutboundEmail.status == EmailStatus.QUEUED.value,
               OutboundEmail.next_attempt_at <= now)
        .values(attempts=OutboundEmail.attempts + 1, next_attempt_at=now + SEND_LEASE)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if rows_affected(claimed) != 1:
        return None
    return session.get(OutboundEmail, email_id)


def _attempt(email: Sendable) -> dict[str, Any]:
    """Hand one claimed message over; the columns that record how it went."""
    try:
        transport = _deliver(email)
    except (OSError, smtplib.SMTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        log.warning("Sending %s to %s failed (attempt %s): %s", email.message, email.to_address,
                    email.attempts, error)
        # Back off 1, 2, 4 … minutes; give up (status failed) after MAX_ATTEMPTS.
        failed = {"last_error": error, "next_attempt_at": utcnow() + timedelta(minutes=2 ** (email.attempts - 1))}
        if email.attempts >= MAX_ATTEMPTS:
            failed["status"] = EmailStatus.FAILED.value
        return failed
    return {"status": EmailStatus.SENT.value, "transport": transport, "sent_at": utcnow(), "last_error": ""}


def _record(session: Session, email_id: int, outcome: dict[str, Any]) -> bool:
    """Store how a send went (committed); True if it was sent."""
    session.execute(update(OutboundEmail).where(OutboundEmail.id == email_id).values(**outcome)
                    .execution_options(synchronize_session=False))
    session.commit()
    return outcome.get("status") == EmailStatus.SENT.value


def send_emails(session: Session, email_ids: Iterable[int]) -> tuple[int, int]:
    """Try to send the given queued messages now. Returns (sent, failed); commits its own bookkeeping."""
    claimed = (email for email in (_claim(session, email_id) for email_id in email_ids) if email is not None)
    return send_claimed(session, claimed)


def send_claimed(session: Session, claimed: Iterable[Sendable]) -> tuple[int, int]:
    """Send messages this process has claimed (their rows are committed), one at a time. (sent, failed)."""
    sent = failed = 0
    for email in claimed:
        if _record(session, email.id, _attempt(email)):
            sent += 1
        else:
            failed += 1
    return sent, failed


def retry_due_emails(session: Session) -> tuple[int, int]:
    """Send every queued message whose next attempt is due (the `email retry` command)."""
    due = list(session.scalars(
        select(OutboundEmail.id).where(OutboundEmail.status == EmailStatus.QUEUED.value,
                                       OutboundEmail.next_attempt_at <= utcnow()).order_by(OutboundEmail.id)
    ))
    return send_emails(session, due)


def flush_committed_emails() -> None:
    """Send what the just-committed transaction queued (or hand it to the queue's worker). Called after
    each commit point, never inside one."""
    session = db.session()
    claimed: list[Claimed] = committed(session, AFTER_COMMIT_NAME)
    if claimed:
        if redis_queue() is not None:
            try:
                push(EMAILS, (email.id for email in claimed))
                return
            except redis.RedisError as exc:
                log.warning("The email queue is unreachable (%s); sending %d email(s) from the request instead.",
                            exc, len(claimed))
        try:
            send_claimed(session, claimed)
        except Exception:  # the work is committed; a mail problem must not turn it into an error page
            session.rollback()
            log.exception("Sending emails after commit failed; they stay queued for `email retry`.")


def send_queued(session: Session, email_id: int) -> bool | None:
    """Send one message the queue handed over: True if sent, False if the attempt failed (it stays queued for
    `email retry`), None if it isn't waiting any more (sent meanwhile by a retry, or deleted by an erasure)."""
    email = session.get(OutboundEmail, email_id, populate_existing=True)
    if email is None or email.status != EmailStatus.QUEUED.value:
        session.rollback()
        return None
    claimed = Claimed(email.id, email.message, email.to_address, email.subject, email.body_text, email.body_html,
                      email.attempts)
    session.rollback()  # nothing held open while the mail server answers
    return _record(session, email_id, _attempt(claimed))
