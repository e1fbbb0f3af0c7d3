"""Logs: JSON lines with a request id and the ids of what they concern, and never a supporter's address or name."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from membership.logs import QUIET_LOGGERS, JsonFormatter, TextFormatter, configure_logging, unconfigure_logging
from stripe_double import DoubleServer
from tests.support.giving import pay, settle, start_gift
from tests.support.helpers import csrf_token, mentions
from tests.support.servers import LiveServer, SmtpSink

ADDRESS = "olena.petrenko@example.org"
NAME = "Olena Petrenko"
TEST_SERVERS = ("mail.log", "stripe_double", "asyncio")


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every line logged meanwhile, as production writes it (LOG_FORMAT=json), from DEBUG up (LOG_LEVEL=DEBUG)."""
    stream = io.StringIO()
    levels = {name: logging.getLogger(name).level for name in ("", *QUIET_LOGGERS)}
    configure_logging("json", "DEBUG", stream)
    yield stream
    unconfigure_logging()
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_request_gets_an_id_returns_it_and_every_line_it_logs_carries_it(
    app: Flask, client: FlaskClient, json_lines: io.StringIO
) -> None:
    @app.get("/test-logs")
    def noisy() -> str:
        logging.getLogger("membership.test").warning("Something an operator should see")
        return "ok"

    given = client.get("/test-logs", headers={"X-Request-ID": "lb-1234.abc"})
    assert given.headers["X-Request-ID"] == "lb-1234.abc"
    made = client.get("/test-logs", headers={"X-Request-ID": "no spaces or <tags> please"})
    assert len(made.headers["X-Request-ID"]) == 32 and made.headers["X-Request-ID"].isalnum()
    lines = [line for line in parsed(json_lines) if line["logger"] == "membership.test"]
    assert [line["request_id"] for line in lines] == ["lb-1234.abc", made.headers["X-Request-ID"]]
    assert lines[0]["level"] == "warning" and lines[0]["message"] == "Something an operator should see"
    # Between requests the id is gone: a line logged outside a request carries none.
    logging.getLogger("membership.test").warning("after")
    assert "request_id" not in parsed(json_lines)[-1]


def test_a_gift_paid_and_a_sign_in_link_log_what_happened_by_id_and_never_the_readers_address_or_name(
    app: Flask, client: FlaskClient, double: DoubleServer, live_app: LiveServer, smtp_server: SmtpSink,
    json_lines: io.StringIO,
) -> None:
    checkout = start_gift(client, email=ADDRESS, name=NAME, message="From Olena Petrenko, with love")
    pay(double, checkout)
    settle(double)
    app.config["MAIL_URL"] = "smtp://127.0.0.1:9"  # the mail server is down for the sign-in link: a failed send
    client.post("/account/sign-in", data={"email": ADDRESS, "csrf_token": csrf_token(client, "/account/sign-in")})
    # Every line but those of the test's own SMTP server and Stripe double (which print what they receive).
    lines = [line for line in parsed(json_lines) if not str(line["logger"]).startswith(TEST_SERVERS)]
    text = "\n".join(json.dumps(line) for line in lines)
    assert ADDRESS not in text and "Olena" not in text and "Petrenko" not in text
    assert not mentions(text, "4242") and "4242424242424242" not in text  # neither the card nor its last four
    started = next(line for line in lines if str(line["message"]).startswith(f"Checkout {checkout.id} started"))
    assert started["checkout_id"] == checkout.id and started["request_id"]
    processed = [line for line in lines if str(line["message"]).endswith("(checkout.session.completed) processed")]
    assert processed and str(processed[0]["event_id"]).startswith("evt_")
    completed = next(line for line in lines if str(line["message"]).startswith(f"Checkout {checkout.id} completed"))
    assert completed["checkout_id"] == checkout.id and completed["event_id"] == processed[0]["event_id"]
    assert any(str(line["message"]).startswith("Sent email") and line.get("email_id") for line in lines)
    failed = [line for line in lines if "failed (attempt 1)" in str(line["message"])]
    assert failed and failed[0]["level"] == "warning" and failed[0]["email_id"]


def test_an_address_in_a_message_or_a_traceback_is_blanked_in_both_formats() -> None:
    try:
        raise ValueError("recipient refused: <olena@example.org>")
    except ValueError:
        record = logging.LogRecord("membership.email", logging.WARNING, __file__, 1, "Sending to %s failed",
                                   ("olena@example.org",), exc_info=sys.exc_info())
    json_line, text_line = JsonFormatter().format(record), TextFormatter().format(record)
    assert "olena@example.org" not in json_line and "olena@example.org" not in text_line
    entry = json.loads(json_line)
    assert entry["message"] == "Sending to [email] failed" and "ValueError" in entry["exc"]
