"""Who the staff member is and what they may do: roles are checked here and nowhere else."""

from __future__ import annotations

import enum
import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import abort, current_app, redirect, request, session, url_for

from membership.db import current_session
from membership.i18n import STAFF_LOCALE_KEY, remember_account_locale
from membership.staff.accounts.models import Role, StaffUser
from membership.staff.accounts.services import two_factor_required

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "staff"


class Permission(enum.StrEnum):
    DASHBOARD = "dashboard"
    SUPPORTERS = "supporters"  # read supporters, their gifts and memberships
    MANAGE_SUPPORTERS = "manage_supporters"  # refunds, cancellations, data export, erasure
    REPORTS = "reports"  # reports and exports
    BALLOTS = "ballots"  # ballots and topic suggestions
    WALL = "wall"  # the public supporter wall: approve messages, hide entries
    TIERS = "tiers"  # tiers, preset amounts, bounds
    STAFF = "staff"  # staff users and the two-factor policy
    AUDIT = "audit"  # the audit log
    WEBHOOKS = "webhooks"  # the newsroom's webhook endpoints (webhooks out)
    CAMPAIGNS = "campaigns"  # campaigns with a goal


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ANALYST: frozenset({Permission.DASHBOARD, Permission.SUPPORTERS, Permission.REPORTS}),
    Role.EDITOR: frozenset({Permission.BALLOTS, Permission.WALL, Permission.CAMPAIGNS}),
    Role.ADMIN: frozenset(Permission),
}


def can(user: StaffUser | None, permission: Permission) -> bool:
    return user is not None and permission in ROLE_PERMISSIONS[user.role]


def sign_in_session(user: StaffUser) -> None:
    """Start the staff session. The cookie is signed by the server, so there is no session id to fix."""
    session.pop("staff_pending", None)
    session[SESSION_KEY] = {"id": user.id, "epoch": user.session_epoch, "at": int(time.time())}
    remember_account_locale(STAFF_LOCALE_KEY, user.locale)


def sign_out_session() -> None:
    session.pop(SESSION_KEY, None)
    session.pop("staff_pending", None)
    session.pop(STAFF_LOCALE_KEY, None)


def current_staff() -> StaffUser | None:
    """The signed-in staff member, if their session is still valid (same epoch, active, not too old)."""
    cache_key = "membership.current_staff"
    if cache_key in request.environ:
        return cast(StaffUser | None, request.environ[cache_key])
    data = session.get(SESSION_KEY)
    user = None
    if isinstance(data, dict):
        candidate = current_session().get(StaffUser, data.get("id"))
        max_age = int(current_app.config["STAFF_SESSION_HOURS"]) * 3600
        if (candidate is not None and candidate.active and candidate.session_epoch == data.get("epoch")
                and time.time() - int(data.get("at", 0)) < max_age):
            user = candidate
        else:
            sign_out_session()
    request.environ[cache_key] = user
    return user


def signed_in_staff() -> StaffUser:
    """The staff member of a view behind `staff_required`, which has already sent everyone else away."""
    user = current_staff()
    assert user is not None, "views behind staff_required only"
    return user


def staff_required(permission: Permission | None = None) -> Callable[[F], F]:
    """Signed-out visitors go to the staff sign-in; staff without `permission` get 403.

    Staff who must change their password, or set up two-factor sign-in because an admin requires it,
    are sent to do that first.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_staff()
            if user is None:
                return redirect(url_for("staff.sign_in", next=request.full_path.rstrip("?")))
            allowed_before_setup = {"staff.password", "staff.two_factor", "staff.sign_out"}
            if request.endpoint not in allowed_before_setup:
                if user.must_change_password:
                    return redirect(url_for("staff.password"))
                if not user.totp_enabled and two_factor_required(current_session()):
                    return redirect(url_for("staff.two_factor"))
            if permission is not None and not can(user, permission):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, wrapped)

    return decorator


def client_ip() -> str:
    """The client's address as this app sees it (put the app behind ProxyFix to trust X-Forwarded-For)."""
    return request.remote_addr or ""
