"""The staff console's home page and menu. They join the `staff` blueprint of the staff accounts
(`membership/staff/accounts/views.py`), which every staff member signs in through."""

from __future__ import annotations

from flask import current_app, render_template

from membership.db import utcnow
from membership.staff.accounts.views import bp, recovery_codes_status
from membership.staff.auth import ROLE_PERMISSIONS, Permission, can, current_staff, signed_in_staff, staff_required

# Every staff section, in menu order: (permission, endpoint, label). A section shows once its view exists.
STAFF_NAV: list[tuple[Permission, str, str]] = [
    (Permission.DASHBOARD, "staff_dashboard.dashboard", "Dashboard"),
    (Permission.SUPPORTERS, "staff_supporters.index", "Supporters"),
    (Permission.REPORTS, "staff_reports.index", "Reports"),
    (Permission.TIERS, "staff_tiers.index", "Tiers and amounts"),
    (Permission.BALLOTS, "staff_ballots.index", "Ballots"),
    (Permission.CAMPAIGNS, "staff_campaigns.index", "Campaigns"),
    (Permission.WALL, "staff_wall.index", "Supporter wall"),
    (Permission.STAFF, "staff.users", "Staff users"),
    (Permission.WEBHOOKS, "staff_webhooks.index", "Webhooks"),
    (Permission.AUDIT, "staff.audit", "Audit log"),
]


def staff_nav() -> list[tuple[Permission, str, str]]:
    return [item for item in STAFF_NAV if item[1] in current_app.view_functions]


@bp.app_context_processor
def staff_context() -> dict[str, object]:
    return {"can": can, "Permission": Permission, "current_staff": current_staff, "staff_nav": staff_nav,
            "now": utcnow}


@bp.get("/")
@staff_required()
def home() -> str:
    user = signed_in_staff()
    return render_template("staff/home.html", user=user, permissions=ROLE_PERMISSIONS[user.role],
                           **recovery_codes_status(user))
