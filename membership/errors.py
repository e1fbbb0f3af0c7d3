"""Error pages: every failure gets a clear page, and nothing half-written is committed (the request's unit of
work, `membership.web.App.dispatch_request`, has rolled back whatever the view wrote before a handler runs)."""

from __future__ import annotations

import logging
from typing import Any

import sentry_sdk
from flask import Flask, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from membership.i18n import gettext, lazy_gettext
from membership.logs import scrub

log = logging.getLogger(__name__)

MESSAGES = {
    400: (lazy_gettext("The request could not be understood"),
          lazy_gettext("Something in the request was not valid. Nothing was changed.")),
    403: (lazy_gettext("Not allowed"), lazy_gettext("You don't have access to this page.")),
    404: (lazy_gettext("Page not found"),
          lazy_gettext("We couldn't find that page. It may have moved, or the link may be incomplete.")),
    405: (lazy_gettext("Not allowed"), lazy_gettext("That action isn't possible on this page.")),
    413: (lazy_gettext("Too much sent at once"),
          lazy_gettext("What was sent is larger than this site accepts, so nothing was changed. "
                       "Shorten the text and try again.")),
    429: (lazy_gettext("Too many requests"), lazy_gettext("Please wait a little and try again.")),
    500: (lazy_gettext("Something went wrong"),
          lazy_gettext("An unexpected error happened on our side. Nothing was charged.")),
    503: (lazy_gettext("Temporarily unavailable"), lazy_gettext("Please try again in a few minutes.")),
}


def render_error(status: int, title: str | None = None, message: str | None = None) -> tuple[str, int]:
    """The error page for `status`, with its own title and message or the status's defaults (all translated:
    callers pass text they marked)."""
    default_title, default_message = MESSAGES.get(status, MESSAGES[500])
    return render_template(
        "errors/error.html", status=status, title=title or default_title, message=message or default_message
    ), status


def _scrubbed(value: Any) -> Any:
    """A copy of an event's part with every email address in its text blanked, at any depth."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def scrub_event(event: Any, _hint: Any) -> Any:
    """Sentry's `before_send`: no email address leaves in a message, an exception's text or a breadcrumb.
    (Names and card details never get there: no request bodies, cookies or local variables are sent.)"""
    return _scrubbed(event)


def init_error_reports(app: Flask) -> None:
    """With SENTRY_DSN set, report unhandled errors (web, worker, CLI) to Sentry, with personal data left out."""
    dsn = str(app.config.get("SENTRY_DSN") or "")
    if not dsn:
        return
    sentry_sdk.init(
        dsn=dsn,
        environment=str(app.config["SENTRY_ENVIRONMENT"]),
        # Personal data stays out by the SDK's default (no IP addresses, cookies or user details: `send_default_pii`
        # unset, as newer SDKs want it), and by the three settings below.
        max_request_body_size="never",  # form bodies carry email addresses and names
        include_local_variables=False,  # a frame's locals may hold a supporter row
        before_send=scrub_event,
        before_breadcrumb=lambda crumb, _hint: _scrubbed(crumb),
    )


def report_exception(error: BaseException) -> None:
    """Tell Sentry (when configured) about an error a handler caught: Flask's `got_request_exception` signal,
    which Sentry listens to, is never sent for an exception an error handler has turned into a page."""
    sentry_sdk.capture_exception(error)


def init_app(app: Flask) -> None:
    init_error_reports(app)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return render_error(
            400,
            gettext("This form has expired"),
            gettext("For your security the form could not be sent (its security token was missing or out of "
                    "date). Nothing was changed and nothing was charged. Please go back, reload the page and try "
                    "again."),
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int]:
        status = error.code or 500
        # A 400's description is ours (an `abort(400, _("…"))`); werkzeug's own defaults are English, so ours
        # stand in for them.
        described = status == 400 and error.description != type(error).description
        return render_error(status, message=str(error.description) if described else None)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[str, int]:
        cause: BaseException = error
        if isinstance(error, InternalServerError) and error.original_exception is not None:
            cause = error.original_exception
        log.error("Unhandled error", exc_info=cause)
        report_exception(cause)
        return render_error(500)
