"""The staff console's home page, menu and account page. They join the `staff` blueprint of the staff accounts
(`membership/staff/accounts/views.py`), which every staff member signs in through."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString

from membership.db import current_session, utcnow
from membership.i18n import (
    LOCALE_COOKIE,
    STAFF_LOCALE_KEY,
    in_locale,
    language_name,
    lazy_gettext,
    remember_account_locale,
    supported,
    supported_locales,
)
from membership.i18n import gettext as _
from membership.staff.accounts import services
from membership.staff.accounts.audit import audit_action
from membership.staff.accounts.forms import LanguageForm
from membership.staff.accounts.models import Role
from membership.staff.accounts.views import bp, recovery_codes_status
from membership.staff.auth import ROLE_PERMISSIONS, Permission, can, current_staff, signed_in_staff, staff_required
from membership.staff.labels import label
from membership.staff.supporters.forms import CANCEL_REASONS, REFUND_REASONS, choice_label

# Every staff section, in menu order: (permission, endpoint, label). A section shows once its view exists.
STAFF_NAV: list[tuple[Permission, str, LazyString]] = [
    (Permission.DASHBOARD, "staff_dashboard.dashboard", lazy_gettext("Dashboard")),
    (Permission.SUPPORTERS, "staff_supporters.index", lazy_gettext("Supporters")),
    (Permission.REPORTS, "staff_reports.index", lazy_gettext("Reports")),
    (Permission.TIERS, "staff_tiers.index", lazy_gettext("Tiers and amounts")),
    (Permission.BALLOTS, "staff_ballots.index", lazy_gettext("Ballots")),
    (Permission.CAMPAIGNS, "staff_campaigns.index", lazy_gettext("Campaigns")),
    (Permission.WALL, "staff_wall.index", lazy_gettext("Supporter wall")),
    (Permission.STAFF, "staff.users", lazy_gettext("Staff users")),
    (Permission.WEBHOOKS, "staff_webhooks.index", lazy_gettext("Webhooks")),
    (Permission.AUDIT, "staff.audit", lazy_gettext("Audit log")),
]
ROLE_NAMES = {Role.ADMIN: lazy_gettext("admin"), Role.EDITOR: lazy_gettext("editor"),
              Role.ANALYST: lazy_gettext("analyst")}


def staff_nav() -> list[tuple[Permission, str, LazyString]]:
    return [item for item in STAFF_NAV if item[1] in current_app.view_functions]


def role_name(role: Role) -> str:
    return str(ROLE_NAMES[role])


@bp.app_context_processor
def staff_context() -> dict[str, object]:
    return {"can": can, "Permission": Permission, "current_staff": current_staff, "staff_nav": staff_nav,
            "now": utcnow, "role_name": role_name, "audit_action": audit_action,
            "label": label, "reason_label": _reason_label, "refund_reason_label": _refund_reason_label}


def _reason_label(code: str) -> str:
    return choice_label(CANCEL_REASONS, code)


def _refund_reason_label(code: str) -> str:
    return choice_label(REFUND_REASONS, code)


@bp.get("/")
@staff_required()
def home() -> str:
    user = signed_in_staff()
    return render_template("staff/home.html", user=user, permissions=ROLE_PERMISSIONS[user.role],
                           **recovery_codes_status(user))


@bp.route("/account", methods=["GET", "POST"])
@staff_required()
def account() -> ResponseReturnValue:
    """The staff member's account: the console's language (saved on the account, so every device follows it)."""
    user = signed_in_staff()
    languages = [(code, language_name(code)) for code in supported_locales()]
    form = LanguageForm(locale=supported(user.locale) or "", languages=languages)
    if form.validate_on_submit():
        chosen = supported(form.locale.data)
        services.set_staff_locale(current_session(), user, chosen)
        remember_account_locale(STAFF_LOCALE_KEY, chosen)
        with in_locale(chosen):
            flash(_("The staff console now speaks your chosen language.") if chosen
                  else _("The staff console now follows your browser's language."))
        response = redirect(url_for("staff.account"))
        # A `?lang` choice remembered in the cookie would outrank the one just saved.
        response.delete_cookie(LOCALE_COOKIE)
        return response
    status = 400 if form.errors else 200
    return render_template("staff/accounts/account.html", user=user, form=form), status
