"""Staff ballots at /staff/ballots (editors and admins): the list, drafting and editing, publishing, results
(aggregates only), the article each topic became, and the topic-suggestion review queue."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from membership.ballots import services as ballot_services
from membership.ballots.models import (
    Ballot,
    BallotOption,
    BallotPhase,
    ResultsVisibility,
    TopicSuggestion,
    VotingMethod,
    Weighting,
)
from membership.ballots.views import results_chart
from membership.config import patron_grace
from membership.db import current_session, utcnow
from membership.giving.models import Tier
from membership.giving.services import currency_rules
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext, ngettext, translation_locales
from membership.staff.auth import Permission, client_ip, signed_in_staff, staff_required
from membership.staff.ballots import services
from membership.staff.ballots.forms import (
    AcceptSuggestionForm,
    ArticleForm,
    BallotForm,
    ballot_data,
    make_ballot_form,
    new_ballot_data,
)
from membership.staff.forms import ConfirmForm
from membership.staff.tiers.services import all_tiers

bp = Blueprint("staff_ballots", __name__, url_prefix="/staff/ballots")

PHASE_WORDS = {
    BallotPhase.DRAFT: lazy_gettext("Draft"),
    BallotPhase.UPCOMING: lazy_gettext("Published, opens later"),
    BallotPhase.OPEN: lazy_gettext("Open"),
    BallotPhase.CLOSED: lazy_gettext("Closed"),
}


def _ballot(ballot_id: int) -> Ballot:
    ballot = current_session().get(Ballot, ballot_id)
    if ballot is None:
        abort(404)
    return ballot


def _tiers() -> list[Tier]:
    return all_tiers(current_session())


def _form(**kwargs: object) -> BallotForm:
    return make_ballot_form(_tiers(), list(currency_rules()), translation_locales(), **kwargs)


def _to_the_minute(submitted: datetime, saved: datetime | None) -> datetime:
    """The form shows times to the minute: an untouched field keeps the saved time's seconds."""
    if saved is not None and submitted == saved.replace(second=0, microsecond=0):
        return saved
    return submitted


def _values(form: BallotForm, ballot: Ballot | None = None) -> services.BallotValues:
    return services.BallotValues(
        title=form.title.data or "",
        introduction=form.introduction.data or "",
        opens_at=_to_the_minute(form.opening, ballot.opens_at if ballot else None),
        closes_at=_to_the_minute(form.closing, ballot.closes_at if ballot else None),
        method=VotingMethod(form.method.data),
        max_choices=int(form.max_choices.data or 1),
        results_visibility=ResultsVisibility(form.results_visibility.data),
        weighting=Weighting(form.weighting.data),
        tier_weights=form.tier_weights,
        require_paid_before_open=bool(form.require_paid_before_open.data),
        min_monthly=form.min_monthly,
        options=[services.OptionValues(row.option_id, row.title.data or "", row.description.data or "",
                                       bool(row.remove.data), row.translations)
                 for row in (entry.form for entry in form.options) if not row.blank],
        translations=form.translations,
    )


def _show_rule_errors(form: BallotForm, error: services.BallotRuleBroken) -> None:
    """Put each broken rule's message next to its field."""
    for name, message in error.errors.items():
        if name == "options":
            form.options_errors.append(message)
        elif name in ("tier_weights", "min_monthly"):
            target = form.weight_fields() if name == "tier_weights" else form.minimum_fields()
            (target[0] if target else form.weighting).errors.append(message)
        else:
            form[name].errors.append(message)


def _render_form(form: BallotForm, ballot: Ballot | None, status: int) -> ResponseReturnValue:
    voted = ballot is not None and services.has_votes(current_session(), ballot.id)
    return render_template("staff/ballots/form.html", form=form, ballot=ballot, voted=voted,
                           locked=services.LOCKED_ONCE_VOTED if voted else {}), status


@bp.get("")
@staff_required(Permission.BALLOTS)
def index() -> ResponseReturnValue:
    session = current_session()
    return render_template("staff/ballots/index.html", rows=services.ballot_rows(session, utcnow()),
                           phase_words=PHASE_WORDS, waiting=len(services.pending_suggestions(session)))


@bp.route("/new", methods=["GET", "POST"])
@staff_required(Permission.BALLOTS)
def new() -> ResponseReturnValue:
    form = _form(data=new_ballot_data())
    if not form.validate_on_submit():
        return _render_form(form, None, 400 if form.is_submitted() else 200)
    try:
        ballot = services.create_ballot(current_session(), signed_in_staff(), _values(form), ip=client_ip())
    except services.BallotRuleBroken as exc:
        _show_rule_errors(form, exc)
        return _render_form(form, None, 400)
    flash(_("Saved the draft ballot “%(title)s”. Patrons can't see it until you publish it.", title=ballot.title))
    return redirect(url_for("staff_ballots.detail", ballot_id=ballot.id), code=303)


@bp.route("/<int:ballot_id>/edit", methods=["GET", "POST"])
@staff_required(Permission.BALLOTS)
def edit(ballot_id: int) -> ResponseReturnValue:
    ballot = _ballot(ballot_id)
    tiers, currencies = _tiers(), list(currency_rules())
    form = make_ballot_form(tiers, currencies, translation_locales(), data=ballot_data(ballot, tiers, currencies))
    if not form.validate_on_submit():
        return _render_form(form, ballot, 400 if form.is_submitted() else 200)
    try:
        changed = services.update_ballot(current_session(), signed_in_staff(), ballot, _values(form, ballot),
                                         ip=client_ip())
    except services.BallotRuleBroken as exc:
        _show_rule_errors(form, exc)
        return _render_form(form, ballot, 400)
    flash(_("Saved the ballot “%(title)s”.", title=ballot.title) if changed
          else _("Nothing to save: the ballot is unchanged."))
    return redirect(url_for("staff_ballots.detail", ballot_id=ballot.id), code=303)


@bp.get("/<int:ballot_id>")
@staff_required(Permission.BALLOTS)
def detail(ballot_id: int) -> ResponseReturnValue:
    return _render_detail(_ballot(ballot_id))


def _render_detail(ballot: Ballot, article_forms: dict[int, ArticleForm] | None = None,
                   status: int = 200) -> ResponseReturnValue:
    now = utcnow()
    tally = ballot_services.tally(current_session(), ballot, now, patron_grace())
    forms = {option.id: ArticleForm(formdata=None, data={"article_url": option.article_url}, prefix=f"o{option.id}")
             for option in ballot.options}
    forms.update(article_forms or {})
    return render_template(
        "staff/ballots/detail.html", ballot=ballot, phase=ballot.phase(now), Phase=BallotPhase,
        phase_words=PHASE_WORDS, rules=ballot_services.rules_statement(ballot), tally=tally,
        chart=results_chart(ballot, tally), confirm=ConfirmForm(),
        article_forms=forms, tiers={str(tier.id): tier.name for tier in _tiers()},
    ), status


@bp.post("/<int:ballot_id>/publish")
@staff_required(Permission.BALLOTS)
def publish(ballot_id: int) -> ResponseReturnValue:
    ballot = _ballot(ballot_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        published = services.publish_ballot(current_session(), signed_in_staff(), ballot, utcnow(), ip=client_ip())
    except services.BallotRuleBroken as exc:
        flash(str(exc))
        return redirect(url_for("staff_ballots.detail", ballot_id=ballot.id), code=303)
    flash(_("Published “%(title)s”: patrons see it at /ballots and can vote once it opens.", title=ballot.title)
          if published else _("This ballot was already published."))
    return redirect(url_for("staff_ballots.detail", ballot_id=ballot.id), code=303)


@bp.post("/<int:ballot_id>/options/<int:option_id>/article")
@staff_required(Permission.BALLOTS)
def article(ballot_id: int, option_id: int) -> ResponseReturnValue:
    """Attach the published article a topic became; its voters are emailed the first time."""
    ballot = _ballot(ballot_id)
    option = current_session().get(BallotOption, option_id)
    if option is None or option.ballot_id != ballot.id:
        abort(404)
    form = ArticleForm(prefix=f"o{option.id}")
    if not form.validate_on_submit():
        return _render_detail(ballot, {option.id: form}, 400)
    ballot_url = f"{current_app.config['PUBLIC_URL']}{url_for('ballots.show', ballot_id=ballot.id)}"
    try:
        emailed = services.commission_option(current_session(), signed_in_staff(), option, form.article_url.data,
                                             utcnow(), ballot_url, ip=client_ip())
    except services.BallotRuleBroken as exc:
        form.article_url.errors = list(exc.errors.values())
        return _render_detail(ballot, {option.id: form}, 400)
    flash(ngettext("Linked the article to “%(title)s”. %(num)d patron who chose it will be emailed the link.",
                   "Linked the article to “%(title)s”. %(num)d patrons who chose it will be emailed the link.",
                   emailed, title=option.title) if emailed
          else _("Linked the article to “%(title)s”. Nobody is emailed again: voters hear once per topic.",
                 title=option.title))
    return redirect(url_for("staff_ballots.detail", ballot_id=ballot.id, _anchor=f"option-{option.id}"), code=303)


# Topic suggestions ----------------------------------------------------------------------------------


def _suggestion(suggestion_id: int) -> TopicSuggestion:
    suggestion = current_session().get(TopicSuggestion, suggestion_id)
    if suggestion is None:
        abort(404)
    return suggestion


def _accept_form() -> AcceptSuggestionForm:
    form = AcceptSuggestionForm()
    form.ballot.choices = [(b.id, b.title) for b in services.draft_ballots(current_session())]
    return form


@bp.get("/suggestions")
@staff_required(Permission.BALLOTS)
def suggestions() -> ResponseReturnValue:
    return _render_suggestions()


def _render_suggestions(status: int = 200, error: str = "") -> ResponseReturnValue:
    return render_template("staff/ballots/suggestions.html",
                           suggestions=services.pending_suggestions(current_session()), accept=_accept_form(),
                           decline=ConfirmForm(), error=error), status


@bp.post("/suggestions/<int:suggestion_id>/accept")
@staff_required(Permission.BALLOTS)
def accept(suggestion_id: int) -> ResponseReturnValue:
    suggestion = _suggestion(suggestion_id)
    form = _accept_form()
    if not form.validate_on_submit():
        return _render_suggestions(400, _("Choose a draft ballot to add the topic to."))
    ballot = _ballot(form.ballot.data)
    try:
        option = services.accept_suggestion(current_session(), signed_in_staff(), suggestion, ballot, utcnow(),
                                            ip=client_ip())
    except services.BallotRuleBroken as exc:
        return _render_suggestions(400, str(exc))
    flash(_("Added “%(topic)s” to the draft ballot “%(title)s”. Edit it there if needed.", topic=option.title,
            title=ballot.title))
    return redirect(url_for("staff_ballots.suggestions"), code=303)


@bp.post("/suggestions/<int:suggestion_id>/decline")
@staff_required(Permission.BALLOTS)
def decline(suggestion_id: int) -> ResponseReturnValue:
    suggestion = _suggestion(suggestion_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    declined = services.decline_suggestion(current_session(), signed_in_staff(), suggestion, utcnow(), ip=client_ip())
    flash(_("Declined the suggestion.") if declined else _("This suggestion was already reviewed."))
    return redirect(url_for("staff_ballots.suggestions"), code=303)
