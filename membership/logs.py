"""Logging: one JSON object per line in production (`LOG_FORMAT=json`), readable text in development.

Every line carries the context it was written in: the request id (taken from `X-Request-ID` or made, and
returned in the response), and where they apply the Stripe event id, the checkout id and the job (export or
email) id. The context lives in context variables (`log_context`), so it follows the request's thread and
nothing has to be passed down.

No line may carry an email address, a name or a card detail: messages name rows by id. As a second line of
defence the formatters blank anything shaped like an email address, in the message and in a traceback.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

# The context fields a line may carry, each in a context variable of its own.
CONTEXT_FIELDS = ("request_id", "event_id", "event_type", "checkout_id", "job_id", "email_id")
_context: dict[str, contextvars.ContextVar[object]] = {
    name: contextvars.ContextVar(f"log_{name}", default=None) for name in CONTEXT_FIELDS
}
REQUEST_ID_HEADER = "X-Request-ID"
# A request id from a proxy is kept only if it is this plain (it goes into every log line and a header).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
EMAIL_ADDRESS = re.compile(r"[^\s<>()\"',;:@]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
REDACTED = "[email]"
# Libraries whose lower levels print what they send and receive (Stripe's SDK logs every response body at DEBUG,
# addresses and card details included; its INFO lines repeat what membership_stripe_requests counts).
QUIET_LOGGERS = {"stripe": logging.WARNING}
# Paths whose requests are never logged (load balancers ask for them every few seconds).
QUIET_PATHS = frozenset({"/healthz", "/readyz"})
# What a LogRecord has of its own: anything else on a record came from `extra=` and goes into the JSON.
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def scrub(text: str) -> str:
    """The text with every email address blanked."""
    return EMAIL_ADDRESS.sub(REDACTED, text)


def current_context() -> dict[str, object]:
    """The context fields set where this runs."""
    return {name: value for name, var in _context.items() if (value := var.get()) is not None}


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add fields (ids) to every line logged inside the block; the previous values come back after it."""
    tokens = [(_context[name], _context[name].set(value)) for name, value in fields.items()
              if value is not None]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class ContextFilter(logging.Filter):
    """Puts the context fields on each record (as attributes), so both formatters can show them."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_context().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context fields, any `extra=` fields, and
    the traceback (as `exc`) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                line[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exc"] = scrub(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exc"] = scrub(record.exc_text)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """For a person at a terminal: `12:00:00 INFO membership.giving [request_id=… checkout_id=…] message`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        fields = {key: value for key, value in vars(record).items()
                  if key not in _RECORD_FIELDS and not key.startswith("_") and key != "context"}
        record.context = (" [" + " ".join(f"{key}={value}" for key, value in fields.items()) + "]") if fields else ""
        return scrub(super().format(record))


class _StandardError(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is at the time (a test's capture, a reopened stream), never a stale one."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(log_format: str, level: str, stream: Any = None) -> None:
    """Send every logger's lines to standard error (or `stream`), formatted as LOG_FORMAT says, from LOG_LEVEL up.
    Called by create_app; calling it again replaces what it set up before."""
    root = logging.getLogger()
    unconfigure_logging()
    handler = log_handler(log_format, stream)
    handler.membership = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, logging.getLogger().getEffectiveLevel()))


def unconfigure_logging() -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "membership", False)]:
        root.removeHandler(handler)


def log_handler(log_format: str, stream: Any = None) -> logging.Handler:
    """A handler writing lines in LOG_FORMAT, with the context fields, to `stream` (default: standard error)."""
    handler = _StandardError() if stream is None else logging.StreamHandler(stream)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    return handler


def configured() -> bool:
    """Whether `configure_logging` has set up the root logger (Alembic's env.py then leaves it alone)."""
    return any(getattr(handler, "membership", False) for handler in logging.getLogger().handlers)


# Request ids ----------------------------------------------------------------------------------------


def request_id_for(given: str) -> str:
    """A request's id: the one a proxy gave in X-Request-ID if it is plain enough, else a new one."""
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _start_request() -> None:
    request_id = request_id_for(request.headers.get(REQUEST_ID_HEADER, ""))
    request.environ["membership.request_id"] = request_id
    request.environ["membership.request_id_token"] = _context["request_id"].set(request_id)


def _return_request_id(response: Response) -> Response:
    request_id = request.environ.get("membership.request_id")
    if request_id:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def _end_request(_: BaseException | None) -> None:
    token = request.environ.pop("membership.request_id_token", None)
    if token is None:
        return
    try:
        _context["request_id"].reset(token)
    except ValueError:  # set in another context (a server that copies it per hook): just forget the id
        _context["request_id"].set(None)


def init_app(app: Flask) -> None:
    """Configure logging from LOG_FORMAT and LOG_LEVEL, and give every request an id (before any other hook).
    Logging someone else set up first is left alone (pytest's capture, in tests): as `logging.basicConfig` does."""
    if configured() or not logging.getLogger().handlers:
        configure_logging(str(app.config["LOG_FORMAT"]), str(app.config["LOG_LEVEL"]))
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_return_request_id)
    app.teardown_request(_end_request)
