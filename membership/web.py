"""Request plumbing shared by every blueprint: one transaction per request, template helpers, headers."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app

from membership.config import stripe_page_origins
from membership.db import db
from membership.email import flush_committed_emails
from membership.formatting import register_template_filters
from membership.queue import push_committed

# No third-party origins anywhere: scripts, styles, fonts and images come from this app only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; form-action 'self' {stripe}; frame-ancestors {frame_ancestors}; base-uri 'self'"
)


def _commit_request(response: Response) -> Response:
    """The one place a request's transaction ends: commit what the view's services wrote, then send the
    emails it queued and hand queued work (exports) to the worker.

    Error handlers roll back before rendering, so a failed request commits nothing. A commit that
    fails raises here and becomes a 500 page.
    """
    db.session.commit()
    flush_committed_emails()
    push_committed(db.session())
    return response


def content_security_policy(frame_ancestors: str = "'none'") -> str:
    # Checkout and the Billing Portal are reached by a form POST answered with a 303 to Stripe, and
    # Chromium applies form-action to every redirect of a form submission: each hosted page's origin must
    # be listed, or the button does nothing.
    config = current_app.config
    stripe_origins = config.get("STRIPE_PAGE_ORIGINS") or stripe_page_origins(config.get("STRIPE_API_BASE") or "")
    return CONTENT_SECURITY_POLICY.format(stripe=stripe_origins, frame_ancestors=frame_ancestors)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", content_security_policy())
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:
        # The old header for old browsers; a page others may frame (the appeal) says so in its CSP alone.
        response.headers.setdefault("X-Frame-Options", "DENY")
    return response


def control_attrs(field: Any, hint: str | None = None, **extra: str | None) -> dict[str, str]:
    """HTML attributes that tie a form control to its hint and errors for screen readers."""
    described = [f"{field.id}-hint"] if hint else []
    if field.errors:
        described.append(f"{field.id}-error")
    attrs = {name: value for name, value in extra.items() if value}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    return attrs


def init_app(app: Flask) -> None:
    app.add_template_global(control_attrs)
    app.after_request(_commit_request)
    app.after_request(_security_headers)
    register_template_filters(app)

    @app.context_processor
    def newsroom() -> dict[str, object]:
        return {
            "newsroom_name": app.config["NEWSROOM_NAME"],
            "newsroom_address": app.config["NEWSROOM_ADDRESS"],
        }
