"""Patron pages under /account: sign-in by emailed link, the account, self-service."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from membership.config import patron_grace
from membership.db import current_session, utcnow
from membership.email import read_unsubscribe_token
from membership.extensions import csrf
from membership.formatting import format_day, format_recurring, to_major_text
from membership.giving.models import Membership
from membership.giving.services import currency_rules
from membership.giving.stripe_gateway import gateway
from membership.i18n import (
    LOCALE_COOKIE,
    PATRON_LOCALE_KEY,
    in_locale,
    language_name,
    lazy_gettext,
    remember_account_locale,
    stripe_locale,
    supported_locales,
)
from membership.i18n import gettext as _
from membership.patrons import services, statements
from membership.patrons.auth import (
    current_supporter,
    safe_next,
    sign_in_required,
    sign_in_session,
    sign_out_session,
    signed_in_supporter,
)
from membership.patrons.forms import (
    CANCEL_REASONS,
    BallotEmailsForm,
    CancelForm,
    ChangeAmountForm,
    ConfirmForm,
    ConsentForm,
    LanguageForm,
    PortalForm,
    SignInForm,
    WallForm,
)
from membership.patrons.statement_pdf import Issuer, StatementFontMissing, render_statement_pdf
from membership.supporters import tokens
from membership.supporters.services import end_sessions
from membership.supporters.tokens import TokenPurpose
from membership.wall.services import set_shown_on_wall, shown_on_wall

log = logging.getLogger(__name__)
bp = Blueprint("patrons", __name__, url_prefix="/account")

MEMBERSHIP_STATUS_WORDS = {
    "active": lazy_gettext("Active"),
    "trialing": lazy_gettext("Active (trial)"),
    "past_due": lazy_gettext("Payment overdue"),
    "incomplete": lazy_gettext("Waiting for the first payment"),
    "incomplete_expired": lazy_gettext("Never started (the first payment didn't go through)"),
    "unpaid": lazy_gettext("Unpaid"),
    "paused": lazy_gettext("Paused"),
    "canceled": lazy_gettext("Ended"),
}
PAYMENT_STATUS_WORDS = {
    "paid": lazy_gettext("Paid"),
    "partially_refunded": lazy_gettext("Partly refunded"),
    "refunded": lazy_gettext("Refunded"),
    "disputed": lazy_gettext("Disputed"),
}
PAYMENT_KIND_WORDS = {"gift": lazy_gettext("One-time gift"), "membership": lazy_gettext("Membership")}


@bp.app_context_processor
def patron_context() -> dict[str, object]:
    return {"current_supporter": current_supporter}


def _account_url() -> str:
    return f"{current_app.config['PUBLIC_URL']}{url_for('patrons.account')}"


def _no_store(body: str, status: int = 200) -> ResponseReturnValue:
    # Pages behind an emailed token must not be kept by shared caches or the browser's history cache.
    return body, status, {"Cache-Control": "no-store"}


def _invalid_link(message: str) -> ResponseReturnValue:
    return _no_store(render_template("patrons/invalid_link.html", message=message), 400)


@bp.errorhandler(services.StripeChangeFailed)
def stripe_unavailable(error: services.StripeChangeFailed) -> tuple[str, int]:
    # Whatever the failed change had written (its MembershipChange row, a cancel reason) is undone by the request's
    # unit of work, as for any error.
    return render_template("patrons/unavailable.html"), 503


# Signing in and out ---------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> ResponseReturnValue:
    form = SignInForm(data={"next": request.args.get("next", "")} if request.method == "GET" else None)
    if request.method == "GET" and current_supporter() is not None:
        return redirect(safe_next(form.next.data, url_for("patrons.account")))
    if not form.validate_on_submit():
        return render_template("patrons/sign_in.html", form=form), 400 if form.is_submitted() else 200
    next_path = safe_next(form.next.data, "")
    query = f"?{urlencode({'next': next_path})}" if next_path else ""

    def link_for(token: str) -> str:
        return f"{current_app.config['PUBLIC_URL']}{url_for('patrons.confirm_sign_in', token=token)}{query}"

    limits = services.SignInLimits(
        link_minutes=int(current_app.config["SIGN_IN_LINK_MINUTES"]),
        per_address=int(current_app.config["SIGN_IN_LIMIT_PER_ADDRESS"]),
        per_ip=int(current_app.config["SIGN_IN_LIMIT_PER_IP"]),
    )
    try:
        services.request_sign_in_link(current_session(), form.email.data, request.remote_addr or "", limits, link_for)
    except services.TooManyRequests:
        return render_template("patrons/too_many.html"), 429, {"Retry-After": "3600"}
    return render_template("patrons/sign_in_sent.html", minutes=limits.link_minutes)


@bp.route("/sign-in/<token>", methods=["GET", "POST"])
def confirm_sign_in(token: str) -> ResponseReturnValue:
    """GET only shows the button (mail scanners prefetch links); the POST uses the link up and signs in."""
    form = ConfirmForm()
    try:
        row = tokens.check_token(current_session(), token, TokenPurpose.SIGN_IN)
        if not form.validate_on_submit():
            return _no_store(render_template("patrons/confirm_sign_in.html", form=form, email=row.supporter.email))
        supporter = tokens.use_token(current_session(), token, TokenPurpose.SIGN_IN)
    except tokens.InvalidLink as exc:
        return _invalid_link(str(exc))
    sign_in_session(supporter)
    return redirect(safe_next(request.args.get("next"), url_for("patrons.account")), code=303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    """Signs out on every device, so a lost phone or a copied cookie is signed out too."""
    if ConfirmForm().validate_on_submit():
        supporter = current_supporter()
        if supporter is not None:
            end_sessions(current_session(), supporter)
        sign_out_session()
        flash(_("You're signed out on all your devices."))
    return redirect(url_for("patrons.sign_in"), code=303)


@bp.route("/fix-card/<token>", methods=["GET", "POST"])
def fix_card(token: str) -> ResponseReturnValue:
    """The payment-failed email's link: a button that signs the patron in and opens Stripe's card update."""
    form = ConfirmForm()
    try:
        row = tokens.check_token(current_session(), token, TokenPurpose.FIX_CARD)
        if not form.validate_on_submit():
            return _no_store(render_template("patrons/fix_card.html", form=form, email=row.supporter.email))
        # The Portal session first: if Stripe is down the link isn't used up and works again later.
        url = services.portal_url(gateway(), row.supporter, _account_url(), update_card=True,
                                 locale=stripe_locale())
        supporter = tokens.use_token(current_session(), token, TokenPurpose.FIX_CARD)
    except tokens.InvalidLink as exc:
        return _invalid_link(str(exc))
    except services.NothingToChange as exc:
        return _invalid_link(str(exc))
    sign_in_session(supporter)
    return redirect(url, code=303)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> ResponseReturnValue:
    """A List-Unsubscribe link, no sign-in needed (its token is signed). GET only shows the button (mail scanners
    prefetch links); a POST unsubscribes: the button's, or a mail client's one-click (RFC 8058) with no session."""
    found = read_unsubscribe_token(token)
    if found is None:
        return _invalid_link(_("This unsubscribe link is not valid. It may have been copied incompletely; you can "
                               "also switch these emails off on your account page."))
    supporter_id, preference = found
    if request.method == "GET":
        return _no_store(render_template("patrons/unsubscribe.html", preference=preference))
    services.unsubscribe(current_session(), supporter_id, preference)
    return _no_store(render_template("patrons/unsubscribed.html", preference=preference))


# A mail client's one-click POST carries no CSRF token; the signed token in the address is what authorises it.
csrf.exempt(unsubscribe)


# The account ----------------------------------------------------------------------------------------


@bp.get("")
@sign_in_required
def account() -> str:
    supporter = signed_in_supporter()
    overview = services.account_overview(current_session(), supporter.id, patron_grace())
    on_wall = shown_on_wall(current_session(), supporter.id)
    return render_template(
        "patrons/account.html",
        overview=overview,
        consent_form=ConsentForm(formdata=None, data={"email_consent": supporter.email_consent}),
        ballot_emails_form=BallotEmailsForm(formdata=None, data={"ballot_emails": supporter.ballot_emails}),
        wall_form=WallForm(formdata=None, data={"on_wall": on_wall}) if on_wall is not None else None,
        language_form=_language_form(formdata=None, data={"locale": supporter.locale or ""}),
        can_change_amount=services.amount_changeable,
        can_cancel=services.cancellable,
        can_resume=services.resumable,
        membership_words=MEMBERSHIP_STATUS_WORDS,
        payment_words=PAYMENT_STATUS_WORDS,
        kind_words=PAYMENT_KIND_WORDS,
        statement_years=statements.statement_years(current_session(), supporter.id),
    )


@bp.post("/consent")
@sign_in_required
def consent() -> ResponseReturnValue:
    form = ConsentForm()
    if form.validate_on_submit():
        services.update_consent(current_session(), signed_in_supporter().id, bool(form.email_consent.data))
        flash(_("We'll email you news and updates.") if form.email_consent.data
              else _("We won't email you news and updates. You'll still get receipts and sign-in links."))
    return redirect(url_for("patrons.account"), code=303)


@bp.post("/ballot-emails")
@sign_in_required
def ballot_emails() -> ResponseReturnValue:
    form = BallotEmailsForm()
    if form.validate_on_submit():
        services.update_ballot_emails(current_session(), signed_in_supporter().id, bool(form.ballot_emails.data))
        flash(_("We'll email you when a topic you voted for is published.") if form.ballot_emails.data
              else _("We won't email you when a topic you voted for is published."))
    return redirect(url_for("patrons.account"), code=303)


@bp.post("/wall")
@sign_in_required
def wall() -> ResponseReturnValue:
    form = WallForm()
    if form.validate_on_submit():
        set_shown_on_wall(current_session(), signed_in_supporter().id, bool(form.on_wall.data))
        flash(_("Your name is on our supporter wall. Thank you!") if form.on_wall.data
              else _("Your name and messages are off our supporter wall."))
    return redirect(url_for("patrons.account"), code=303)


def _language_form(**kwargs: object) -> LanguageForm:
    return LanguageForm([(locale, language_name(locale)) for locale in supported_locales()], **kwargs)


@bp.post("/language")
@sign_in_required
def language() -> ResponseReturnValue:
    """The language of the patron's pages and emails. The `lang` cookie a `?lang=` link left is dropped, so the
    saved choice is what their pages follow from now on."""
    form = _language_form()
    response = make_response(redirect(url_for("patrons.account"), code=303))
    if form.validate_on_submit():
        locale = str(form.locale.data)
        services.update_locale(current_session(), signed_in_supporter().id, locale)
        remember_account_locale(PATRON_LOCALE_KEY, locale)
        response.delete_cookie(LOCALE_COOKIE, samesite="Lax", secure=request.is_secure, httponly=True)
        with in_locale(locale):
            flash(_("Saved: your account and our emails to you are now in %(language)s.",
                    language=language_name(locale)))
    elif form.locale.errors:
        flash(_("Choose one of the languages offered."))
    return response


@bp.post("/portal")
@sign_in_required
def portal() -> ResponseReturnValue:
    """Stripe's Billing Portal: update the card, download invoices; it returns to /account."""
    form = PortalForm()
    if not form.validate_on_submit():
        return redirect(url_for("patrons.account"), code=303)
    try:
        url = services.portal_url(gateway(), signed_in_supporter(), _account_url(), locale=stripe_locale(),
                                  update_card=form.update_card.data == "1")
    except services.NothingToChange as exc:
        flash(str(exc))
        return redirect(url_for("patrons.account"), code=303)
    return redirect(url, code=303)


def _own_membership(membership_id: int | None) -> Membership | None:
    """The membership an action targets: the patron's own with this id (404 for anyone else's), or, with no id
    in the path, their newest running one."""
    membership = services.own_membership(current_session(), signed_in_supporter().id, membership_id)
    if membership_id is not None and membership is None:
        abort(404)
    return membership


@bp.route("/amount", methods=["GET", "POST"])
@bp.route("/memberships/<int:membership_id>/amount", methods=["GET", "POST"])
@sign_in_required
def change_amount(membership_id: int | None = None) -> ResponseReturnValue:
    membership = _own_membership(membership_id)
    changeable = membership if services.amount_changeable(membership) else None
    defaults = {"amount": to_major_text(changeable.amount_minor, changeable.currency),
                "currency": changeable.currency} if changeable else {}
    form = ChangeAmountForm(changeable, currency_rules(), data=defaults)
    if form.validate_on_submit():
        assert form.amount_minor is not None
        try:
            changed = services.change_amount(current_session(), gateway(), signed_in_supporter().id, form.amount_minor,
                                             membership_id=membership.id if membership else None)
        except services.NothingToChange as exc:
            form.amount.errors = [str(exc)]
        else:
            new_amount = format_recurring(form.amount_minor, changed.currency, changed.interval)
            if changed.current_period_end:
                flash(_("Done. From %(date)s you'll give %(amount)s. Nothing is charged now.",
                        date=format_day(changed.current_period_end), amount=new_amount))
            else:
                flash(_("Done. From your next payment you'll give %(amount)s. Nothing is charged now.",
                        amount=new_amount))
            return redirect(url_for("patrons.account"), code=303)
    rules = currency_rules().get(changeable.currency) if changeable else None
    return render_template("patrons/change_amount.html", form=form, membership=changeable, rules=rules,
                           membership_id=membership_id), 400 if form.is_submitted() else 200


@bp.route("/cancel", methods=["GET", "POST"])
@bp.route("/memberships/<int:membership_id>/cancel", methods=["GET", "POST"])
@sign_in_required
def cancel(membership_id: int | None = None) -> ResponseReturnValue:
    membership = _own_membership(membership_id)
    cancellable = membership if services.cancellable(membership) else None
    form = CancelForm()
    if cancellable is not None and form.validate_on_submit():
        try:
            cancelled = services.cancel_membership(current_session(), gateway(), signed_in_supporter().id,
                                                   reason=form.reason.data or "", comment=form.comment.data or "",
                                                   membership_id=cancellable.id)
        except services.NothingToChange:
            cancellable = None
        else:
            if cancelled.current_period_end:
                flash(_("Your membership is cancelled: it stays active until %(date)s, and you won't be charged "
                        "again. Changed your mind? You can resume it any time before then.",
                        date=format_day(cancelled.current_period_end)))
            else:
                flash(_("Your membership is cancelled: it stays active until the end of the period you've paid for, "
                        "and you won't be charged again. Changed your mind? You can resume it any time before then."))
            return redirect(url_for("patrons.account"), code=303)
    return render_template("patrons/cancel.html", form=form, membership=cancellable, reasons=CANCEL_REASONS,
                           membership_id=membership_id), 400 if form.is_submitted() else 200


@bp.post("/resume")
@bp.post("/memberships/<int:membership_id>/resume")
@sign_in_required
def resume(membership_id: int | None = None) -> ResponseReturnValue:
    if membership_id is not None:
        _own_membership(membership_id)
    if ConfirmForm().validate_on_submit():
        try:
            resumed = services.resume_membership(current_session(), gateway(), signed_in_supporter().id,
                                                 membership_id=membership_id)
        except services.NothingToChange as exc:
            flash(str(exc))
        else:
            if resumed.current_period_end:
                flash(_("Welcome back: your membership continues, and renews on %(date)s.",
                        date=format_day(resumed.current_period_end)))
            else:
                flash(_("Welcome back: your membership continues."))
    return redirect(url_for("patrons.account"), code=303)


# Yearly statements ----------------------------------------------------------------------------------


@bp.get("/statements/<int:year>")
@sign_in_required
def statement(year: int) -> ResponseReturnValue:
    """The signed-in supporter's own statement for `year` as a PDF: no page takes whose it is."""
    now = utcnow()
    if not statements.statement_year_allowed(year, now):
        abort(404)
    found = statements.yearly_statement(current_session(), signed_in_supporter().id, year)
    if found is None:
        return _no_store(render_template("patrons/statement_none.html", year=year))
    config = current_app.config
    issuer = Issuer(config["NEWSROOM_NAME"], config["NEWSROOM_ADDRESS"], config["NEWSROOM_REGISTRATION"])
    try:
        pdf = render_statement_pdf(found, issuer, config["STATEMENT_FONT_PATH"], now.date())
    except StatementFontMissing:
        log.exception("Statement for %s could not be written", year)
        return _no_store(render_template("patrons/statement_unavailable.html", year=year), 503)
    return pdf, 200, {
        "Content-Type": "application/pdf",
        "Content-Disposition": f'inline; filename="statement-{year}.pdf"',
        "Cache-Control": "no-store",
    }
