"""Who the signed-in supporter is. Patron pages check it here and nowhere else."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from flask import current_app, redirect, request, session, url_for

from membership.db import current_session
from membership.i18n import PATRON_LOCALE_KEY, remember_account_locale
from membership.supporters.models import Supporter

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "supporter_id"
SIGNED_IN_AT_KEY = "supporter_signed_in_at"
EPOCH_KEY = "supporter_session_epoch"


def sign_in_session(supporter: Supporter) -> None:
    """Start a fresh session for the supporter: whatever the cookie held before is dropped (no fixation)."""
    session.clear()
    session[SESSION_KEY] = supporter.id
    session[SIGNED_IN_AT_KEY] = int(time.time())
    session[EPOCH_KEY] = supporter.session_epoch
    remember_account_locale(PATRON_LOCALE_KEY, supporter.locale)
    session.permanent = True  # the cookie outlives the browser, for PERMANENT_SESSION_LIFETIME


def sign_out_session() -> None:
    """Forget the supporter in this cookie only; `end_sessions` is what signs them out everywhere."""
    for key in (SESSION_KEY, SIGNED_IN_AT_KEY, EPOCH_KEY, PATRON_LOCALE_KEY):
        session.pop(key, None)


def current_supporter() -> Supporter | None:
    """The signed-in supporter, if the session is younger than PATRON_SESSION_DAYS, still of their current
    session epoch (they haven't signed out anywhere since) and they aren't erased.

    Not cached beyond the database session's identity map, so a sign-in or sign-out within a request
    is seen at once.
    """
    supporter_id = session.get(SESSION_KEY)
    if supporter_id is None:
        return None
    supporter = current_session().get(Supporter, supporter_id) if isinstance(supporter_id, int) else None
    # The cookie's own expiry slides with each visit; this keeps a session to PATRON_SESSION_DAYS from sign-in.
    max_age = int(current_app.config["PATRON_SESSION_DAYS"]) * 86400
    fresh = time.time() - int(session.get(SIGNED_IN_AT_KEY, 0)) < max_age
    if (supporter is None or supporter.erased_at is not None or not supporter.email or not fresh
            or session.get(EPOCH_KEY) != supporter.session_epoch):
        sign_out_session()
        return None
    return supporter


def signed_in_supporter() -> Supporter:
    """The supporter of a view behind `sign_in_required`, which has already sent everyone else away."""
    supporter = current_supporter()
    assert supporter is not None, "views behind sign_in_required only"
    return supporter


def sign_in_required(view: F) -> F:
    """Signed-out visitors are sent to the sign-in page, which brings them back afterwards."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_supporter() is None:
            return redirect(url_for("patrons.sign_in", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return cast(F, wrapped)


def safe_next(target: str | None, default: str) -> str:
    """A path on this site to go to after signing in; anything else (other hosts, `//evil`) is ignored."""
    target = (target or "").strip()
    parts = urlsplit(target)
    if (not target.startswith("/") or target.startswith(("//", "/\\")) or parts.scheme or parts.netloc
            or any(ch in target for ch in "\r\n\\")):
        return default
    return target
