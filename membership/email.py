"""Email: one module renders, queues and sends every message.

A message is rendered from `templates/email/<message>/{subject.txt,body.txt,body.html}` and stored as
an `outbound_emails` row in the same transaction as the work that caused it (a transactional outbox).
Only after that transaction commits is it sent, over SMTP when MAIL_URL is set or into the development
outbox otherwise. Every other sender takes a message with one conditional update (`claim_email`) before
handing it over, so of two senders reaching the same message at once only one sends it. A failed send is
logged and left queued for `flask --app membership email retry`; it never undoes the payment or sign-in
that queued it.

Without REDIS_URL the row is written already claimed by the request that queued it (its first attempt,
leased for SEND_LEASE), so that request sends it straight after the commit without another round trip,
and no other sender touches it meanwhile; if the request dies before sending, the lease runs out and
`email retry` takes it.

With REDIS_URL set, the request doesn't send: the row is written unclaimed, the request pushes the committed
messages' ids onto a Redis list (`membership.queue`) and answers at once, and `flask --app membership
worker` (or `email worker`) claims and sends them, so a slow mail server, or whether a message was sent at
all, never shows in a response's timing. However far behind the worker is, a message `email retry` took
meanwhile is not sent again. If Redis can't be reached, the request claims and sends them itself.

Sign-in and fix-card links (`PRIORITY_MESSAGES`) go on the queue's priority list, which the worker always takes
from first, so ten thousand renewal receipts queued before a sign-in link don't delay it. A sender sends a
batch (a request's messages, `email retry`'s, a worker's run until its queue is empty) over one SMTP connection
(`Mailer`). Messages a reader can opt out of (`UNSUBSCRIBE_LISTS`) carry `List-Unsubscribe` with a one-click
(RFC 8058) link that works without signing in, its token signed with SECRET_KEY.
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
from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import ForeignKey, Index, Integer, String, Text, insert, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from membership.branding import accent_color, logo_url
from membership.config import parse_mail_url, signing_keys
from membership.db import (
    Base,
    UTCDateTime,
    after_commit,
    committed,
    rows_affected,
    sends_after_commit,
    unit_of_work,
    utcnow,
)
from membership.i18n import default_locale, in_locale, localized_setting, supported, template_gettext
from membership.logs import log_context, scrub
from membership.metrics import EMAILS_FAILED, EMAILS_QUEUED, EMAILS_SENT, count_after_commit
from membership.queue import EMAILS, push, redis_queue

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
# A reader is waiting on these (a link that expires in minutes, a card to fix): they go before any bulk mail.
PRIORITY_MESSAGES = frozenset({"sign_in_link", "payment_failed", "payment_failed_reminder"})
# Messages a reader may opt out of, and the preference unsubscribing switches off. Everything else is
# transactional (receipts, sign-in links, account changes) and carries no List-Unsubscribe.
UNSUBSCRIBE_LISTS = {"ballot_commissioned": "ballot_emails"}
# A connection carries at most this many messages before the sender opens a fresh one (servers limit it too).
MESSAGES_PER_CONNECTION = 100
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
    # Set when the body was deleted, EMAIL_BODY_RETENTION_DAYS after sending (`delete_old_bodies`).
    body_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    # `jobs run` finds the next bodies to delete: those still kept (NULL), sent longest ago first.
    __table_args__ = (Index("ix_outbound_emails_body_deleted_at_sent_at", "body_deleted_at", "sent_at"),)


def queue_email(session: Session, message: str, to: str, supporter_id: int | None = None, *,
                locale: str | None = None, send_after_commit: bool = True, **context: Any) -> None:
    """Render `message` for `to` and queue it to be sent once the current transaction commits.

    It is written in `locale`, the recipient's stored language (DEFAULT_LOCALE when they have none), never in the
    language of whatever request, worker or job happens to send it. Values the caller formats itself (amounts,
    dates) must be formatted in the same language: inside `membership.i18n.in_locale(locale)`.

    `send_after_commit=False` leaves a message (one of many, like a ballot's "what your vote
    commissioned") to the periodic `email retry` / `jobs run`, so a bulk send never holds up the request.
    """
    context = {
        # The newsroom's name and address as written for the recipient's language (NEWSROOM_NAME_UK…).
        "newsroom_name": localized_setting("NEWSROOM_NAME", supported(locale) or default_locale()),
        "newsroom_address": localized_setting("NEWSROOM_ADDRESS", supported(locale) or default_locale()),
        "public_url": current_app.config["PUBLIC_URL"],
        "newsroom_logo_url": logo_url(current_app.config, absolute=True),
        "accent_color": accent_color(current_app.config),
        "unsubscribe_url": unsubscribe_url(message, supporter_id),
        **context,
    }
    with in_locale(locale):
        subject, body_text, body_html = _render_message(message, context)
    now = utcnow()
    # Claimed by this request (its first attempt, leased until sent) when it will send the message itself; with
    # a queue the worker it is handed to claims it, as any other sender would.
    claimed = send_after_commit and redis_queue() is None
    # One Core INSERT … RETURNING id (built once), not an ORM object and a flush: nothing reads the row back. Nor
    # does it need the caller's pending changes, which its next statement or its commit flushes, all at once.
    with session.no_autoflush:
        email_id = session.execute(_INSERT_EMAIL, {
            "message": message, "to_address": to, "supporter_id": supporter_id, "subject": subject,
            "body_text": body_text, "body_html": body_html, "status": EmailStatus.QUEUED.value, "transport": "",
            "attempts": 1 if claimed else 0, "last_error": "", "created_at": now,
            "next_attempt_at": now + SEND_LEASE if claimed else now,
        }).scalar_one()
    count_after_commit(session, EMAILS_QUEUED, message)
    if send_after_commit:
        after_commit(session, AFTER_COMMIT_NAME, Claimed(
            email_id, message, to, subject, body_text, body_html, supporter_id=supporter_id))


def _render_message(message: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """A message's subject, text and HTML in the active language. What `render_template` would do for each of the
    three templates, with the work they share done once: the app's context processors (the caller's values win
    over theirs, as there) and the catalog's lookup (`template_gettext`)."""
    context = {**context, **template_gettext()}
    current_app.update_template_context(context)
    environment = current_app.jinja_env
    subject = " ".join(environment.get_template(f"email/{message}/subject.txt").render(context).split())
    body_text = environment.get_template(f"email/{message}/body.txt").render(context)
    body_html = environment.get_template(f"email/{message}/body.html").render({**context, "subject": subject})
    return subject, body_text, body_html


_INSERT_EMAIL = insert(OutboundEmail.__table__).returning(OutboundEmail.__table__.c.id)  # type: ignore[arg-type]


# Unsubscribing ----------------------------------------------------------------------------------------------


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(signing_keys(current_app.config), salt="list-unsubscribe")


def unsubscribe_url(message: str, supporter_id: int | None) -> str | None:
    """The one-click unsubscribe link of a message a reader may opt out of (None for transactional ones). It
    names the supporter and the preference, signed; it doesn't expire (an old email's link still works)."""
    preference = UNSUBSCRIBE_LISTS.get(message)
    if preference is None or supporter_id is None:
        return None
    token = _unsubscribe_serializer().dumps([supporter_id, preference])
    return f"{current_app.config['PUBLIC_URL']}/account/unsubscribe/{token}"


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(supporter id, preference) from an unsubscribe link's token, or None if it isn't one we signed."""
    try:
        supporter_id, preference = _unsubscribe_serializer().loads(token)
    except (BadSignature, TypeError, ValueError):
        return None
    if not isinstance(supporter_id, int) or preference not in UNSUBSCRIBE_LISTS.values():
        return None
    return supporter_id, str(preference)


@dataclass(frozen=True)
class Claimed:
    """A queued message as its request wrote it, or as a sender claimed it: enough to send it without reading it
    back."""

    id: int
    message: str
    to_address: str
    subject: str
    body_text: str
    body_html: str
    attempts: int = 1
    supporter_id: int | None = None


def _build(email: Claimed, sender: str) -> EmailMessage:
    mime = EmailMessage()
    mime["Subject"] = email.subject
    mime["From"] = sender
    mime["To"] = email.to_address
    mime["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1].strip("> ") or "localhost")
    if (link := unsubscribe_url(email.message, email.supporter_id)) is not None:
        mime["List-Unsubscribe"] = f"<{link}>"
        mime["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: the link takes a bare POST
    mime.set_content(email.body_text)
    mime.add_alternative(email.body_html, subtype="html")
    return mime


class Mailer:
    """Sends messages over one SMTP connection, opened at the first and kept for the next (a batch) until
    `close()`, a failure, or MESSAGES_PER_CONNECTION messages. Without MAIL_URL, into the development outbox.
    One sender (thread) at a time; use it as a context manager to close it."""

    def __init__(self) -> None:
        self._smtp: smtplib.SMTP | None = None
        self._sent = 0

    def _connect(self) -> smtplib.SMTP:
        server = parse_mail_url(current_app.config["MAIL_URL"])
        smtp = (smtplib.SMTP_SSL if server.use_ssl else smtplib.SMTP)(server.host, server.port, timeout=10)
        try:
            if server.use_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if server.username:
                smtp.login(server.username, server.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, email: Claimed) -> str:
        """Hand one message over; return the transport used ("smtp" or "outbox")."""
        if not current_app.config.get("MAIL_URL"):
            return "outbox"
        mime = _build(email, current_app.config["MAIL_FROM"])
        if self._smtp is not None and self._sent < MESSAGES_PER_CONNECTION:
            try:
                self._smtp.send_message(mime)
            except smtplib.SMTPServerDisconnected:
                self.close()  # the server dropped the kept connection: a fresh one, below
            except (OSError, smtplib.SMTPException):
                self.close()
                raise
            else:
                self._sent += 1
                return "smtp"
        self.close()
        self._smtp = self._connect()
        try:
            self._smtp.send_message(mime)
        except (OSError, smtplib.SMTPException):
            self.close()
            raise
        self._sent = 1
        return "smtp"

    def close(self) -> None:
        """Say goodbye to the server, if connected (a batch ends, the worker's queue is empty)."""
        smtp, self._smtp, self._sent = self._smtp, None, 0
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def claim_email(session: Session, email_id: int) -> Claimed | None:
    """Take one queued message for this sender (committed): one that nobody has tried yet, or whose next attempt
    is due (a failure's back-off, or a sender's lease, has run out). None if it isn't there to take. The one
    conditional UPDATE every sender claims with, so a message two senders reach at once goes out once."""
    now = utcnow()
    with unit_of_work(session):  # committed: nothing held open while the mail server answers
        row = session.execute(
            update(OutboundEmail)
            .where(OutboundEmail.id == email_id, OutboundEmail.status == EmailStatus.QUEUED.value,
                   or_(OutboundEmail.attempts == 0, OutboundEmail.next_attempt_at <= now))
            .values(attempts=OutboundEmail.attempts + 1, next_attempt_at=now + SEND_LEASE)
            .returning(OutboundEmail.id, OutboundEmail.message, OutboundEmail.to_address, OutboundEmail.subject,
                       OutboundEmail.body_text, OutboundEmail.body_html, OutboundEmail.attempts,
                       OutboundEmail.supporter_id)
            .execution_options(synchronize_session=False)
        ).one_or_none()
    return None if row is None else Claimed(**row._asdict())  # the columns are named as its fields


def _attempt(email: Claimed, mailer: Mailer) -> dict[str, Any]:
    """Hand one claimed message over; the columns that record how it went. Logged by the message's id, never
    its address (an SMTP error's text often quotes the address: that is blanked in the log line too)."""
    with log_context(email_id=email.id):
        return _attempt_logged(email, mailer)


def _attempt_logged(email: Claimed, mailer: Mailer) -> dict[str, Any]:
    try:
        transport = mailer.send(email)
    except (OSError, smtplib.SMTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        EMAILS_FAILED.labels(email.message).inc()
        log.warning("Sending email %s (%s) failed (attempt %s): %s", email.id, email.message, email.attempts,
                    scrub(error))
        # Back off 1, 2, 4 … minutes; give up (status failed) after MAX_ATTEMPTS.
        failed = {"last_error": error, "next_attempt_at": utcnow() + timedelta(minutes=2 ** (email.attempts - 1))}
        if email.attempts >= MAX_ATTEMPTS:
            failed["status"] = EmailStatus.FAILED.value
        return failed
    EMAILS_SENT.labels(email.message).inc()
    log.info("Sent email %s (%s) by %s", email.id, email.message, transport)
    return {"status": EmailStatus.SENT.value, "transport": transport, "sent_at": utcnow(), "last_error": ""}


def _record(session: Session, email_id: int, outcome: dict[str, Any]) -> bool:
    """Store how a send went (committed); True if it was sent."""
    with unit_of_work(session):
        session.execute(update(OutboundEmail).where(OutboundEmail.id == email_id).values(**outcome)
                        .execution_options(synchronize_session=False))
    return outcome.get("status") == EmailStatus.SENT.value


def send_emails(session: Session, email_ids: Iterable[int]) -> tuple[int, int]:
    """Try to send the given queued messages now. Returns (sent, failed); commits its own bookkeeping."""
    claimed = (email for email in (claim_email(session, email_id) for email_id in email_ids) if email is not None)
    return send_claimed(session, claimed)


def send_claimed(session: Session, claimed: Iterable[Claimed]) -> tuple[int, int]:
    """Send messages this process has claimed (their rows are committed), one at a time over one connection.
    (sent, failed)."""
    sent = failed = 0
    with Mailer() as mailer:
        for email in claimed:
            if _record(session, email.id, _attempt(email, mailer)):
                sent += 1
            else:
                failed += 1
    return sent, failed


def retry_due_emails(session: Session) -> tuple[int, int]:
    """Send every queued message whose next attempt is due (the `email retry` command): links first."""
    due = list(session.scalars(
        select(OutboundEmail.id).where(OutboundEmail.status == EmailStatus.QUEUED.value,
                                       OutboundEmail.next_attempt_at <= utcnow())
        .order_by(OutboundEmail.message.not_in(PRIORITY_MESSAGES), OutboundEmail.id)
    ))
    return send_emails(session, due)


@sends_after_commit
def flush_committed_emails(session: Session) -> None:
    """Send what the session's committed transactions queued (or hand it to the queue's worker). Run by
    `membership.db.unit_of_work` after each commit point, never inside one."""
    queued: list[Claimed] = committed(session, AFTER_COMMIT_NAME)
    if not queued:
        return
    try:
        if redis_queue() is None:
            send_claimed(session, queued)  # written claimed by this request (see queue_email)
            return
        try:
            for priority in (True, False):
                ids = [email.id for email in queued if (email.message in PRIORITY_MESSAGES) is priority]
                if ids:
                    push(EMAILS, ids, priority=priority)
        except redis.RedisError as exc:
            log.warning("The email queue is unreachable (%s); sending %d email(s) from the request instead.",
                        exc, len(queued))
            send_emails(session, [email.id for email in queued])
    except Exception:  # the work is committed; a mail problem must not turn it into an error page
        log.exception("Sending emails after commit failed; they stay queued for `email retry`.")


def send_queued(session: Session, email_id: int, mailer: Mailer) -> bool | None:
    """Send one message the queue handed over, over the worker's `mailer` (its connection kept for the next
    message): True if sent, False if the attempt failed (it stays queued for `email retry`), None if it isn't
    there to take (sent or being sent by another sender, or deleted by an erasure)."""
    claimed = claim_email(session, email_id)
    if claimed is None:
        return None
    return _record(session, email_id, _attempt(claimed, mailer))


BODY_RETENTION_BATCH = 1000


def delete_old_bodies(session: Session, sent_before: datetime, limit: int = BODY_RETENTION_BATCH) -> int:
    """Delete the text and HTML of up to `limit` messages sent before `sent_before` (EMAIL_BODY_RETENTION_DAYS),
    keeping who it went to, its subject and dates. Returns how many; flushes, the caller commits each batch."""
    ids = list(session.scalars(
        select(OutboundEmail.id).where(OutboundEmail.body_deleted_at.is_(None), OutboundEmail.sent_at < sent_before,
                                       OutboundEmail.status == EmailStatus.SENT.value)
        .order_by(OutboundEmail.body_deleted_at, OutboundEmail.sent_at).limit(limit)
    ))
    if not ids:
        return 0
    deleted = session.execute(
        update(OutboundEmail).where(OutboundEmail.id.in_(ids), OutboundEmail.body_deleted_at.is_(None))
        .values(body_text="", body_html="", body_deleted_at=utcnow()).execution_options(synchronize_session=False)
    )
    return rows_affected(deleted)
