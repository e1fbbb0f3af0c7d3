"""Patron ballot pages under /ballots: the list, a ballot (vote, results, what it commissioned), suggestions."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from membership.ballots import services
from membership.ballots.forms import SuggestionForm, VoteForm
from membership.ballots.methods import method_of
from membership.ballots.models import SUGGESTION_MAX, Ballot, BallotPhase
from membership.charts import ranked_bar_chart
from membership.config import patron_grace
from membership.db import current_session, utcnow
from membership.errors import render_error
from membership.formatting import format_alternatives, format_money
from membership.i18n import gettext as _
from membership.patrons.auth import current_supporter, sign_in_required, signed_in_supporter
from membership.patrons.services import is_patron

bp = Blueprint("ballots", __name__, url_prefix="/ballots")


def results_chart(ballot: Ballot, tally: services.Tally) -> Markup:
    """The results as a horizontal bar chart (server-rendered SVG); the page's table has the same figures."""
    weighted = tally.weight != tally.voters
    return ranked_bar_chart(
        f"ballot-{ballot.id}-results",
        _("Results: %(title)s", title=ballot.title),
        _("Weighted votes for each topic. The table beside the chart has the same figures, with each topic's share.")
        if weighted else
        _("Votes for each topic. The table beside the chart has the same figures, with each topic's share."),
        [result.option.title for result in tally.options],
        [result.weighted for result in tally.options],
        # Drawn 460 wide with 16-unit text and shown at most 30rem wide (`svg.chart.narrow`): the text renders at
        # 12.4 px or more from a 390 px phone (about 358 px for the chart) to a desktop.
        width=460, label_chars=28, font_size=16, css_class="chart narrow",
    )


def _render_ballot(ballot: Ballot, form: VoteForm | None = None, error: str = "",
                   status: int = 200) -> ResponseReturnValue:
    session = current_session()
    now = utcnow()
    phase = ballot.phase(now)
    supporter = current_supporter()
    eligibility = None
    choices: list[int] = []
    if supporter is not None:
        choices = services.current_choices(session, ballot.id, supporter.id)
        if phase is BallotPhase.OPEN:
            eligibility = services.check_eligibility(session, ballot, supporter.id, now, patron_grace())
    tally = services.tally(session, ballot, now, patron_grace()) if ballot.results_visible(now) else None
    selected = form.choice.data if form is not None and form.choice.data else choices
    return render_template(
        "ballots/show.html",
        ballot=ballot,
        phase=phase,
        Phase=BallotPhase,
        method=method_of(ballot.method),
        rules=services.rules_statement(ballot),
        minimums=format_alternatives([format_money(minimum, currency)
                                      for currency, minimum in sorted((ballot.min_monthly or {}).items())]),
        supporter=supporter,
        eligibility=eligibility,
        choices=choices,
        selected=set(selected),
        form=form or VoteForm(formdata=None),
        error=error,
        tally=tally,
        chart=results_chart(ballot, tally) if tally is not None else None,
        commissioned=services.commissioned(ballot),
    ), status


@bp.get("")
def index() -> ResponseReturnValue:
    return _render_index(SuggestionForm(formdata=None))


def _render_index(form: SuggestionForm, status: int = 200) -> ResponseReturnValue:
    supporter = current_supporter()
    return render_template(
        "ballots/index.html",
        lists=services.published_ballots(current_session(), utcnow()),
        form=form,
        supporter=supporter,
        can_suggest=supporter is not None and is_patron(current_session(), supporter.id, patron_grace()),
        suggestions_per_day=services.SUGGESTIONS_PER_DAY,
        suggestion_max=SUGGESTION_MAX,
    ), status


@bp.post("/suggest")
@sign_in_required
def suggest() -> ResponseReturnValue:
    form = SuggestionForm()
    supporter = signed_in_supporter()
    if not form.validate_on_submit():
        return _render_index(form, 400)
    try:
        services.suggest_topic(current_session(), supporter.id, form.topic.data, utcnow(), patron_grace())
    except services.TooManySuggestions as exc:
        form.topic.errors = [str(exc)]
        return _render_index(form, 429)
    except services.SuggestionRefused as exc:
        form.topic.errors = [str(exc)]
        return _render_index(form, 400)
    flash(_("Thank you: your topic is with the editors. They read every suggestion."))
    return redirect(url_for("ballots.index"), code=303)


@bp.get("/<int:ballot_id>")
def show(ballot_id: int) -> ResponseReturnValue:
    ballot = services.published_ballot(current_session(), ballot_id)
    if ballot is None:
        abort(404)
    return _render_ballot(ballot)


@bp.post("/<int:ballot_id>/vote")
@sign_in_required
def vote(ballot_id: int) -> ResponseReturnValue:
    """Record the vote; anything wrong (a closed ballot, an unknown option, too many) is a 400 with the reason."""
    supporter = signed_in_supporter()
    form = VoteForm()
    try:
        if not form.validate_on_submit():
            raise services.VoteRejected(_("Choose from the topics listed."))
        services.cast_vote(current_session(), ballot_id, supporter.id, list(form.choice.data or []), utcnow(),
                           patron_grace())
    except services.VoteRejected as exc:
        ballot = services.published_ballot(current_session(), ballot_id)
        if ballot is None:
            return render_error(400, _("No such ballot"), _("There is no such ballot. Nothing was recorded."))
        return _render_ballot(ballot, form, _("%(reason)s Nothing was recorded.", reason=str(exc)), 400)
    flash(_("Thank you for voting."))
    return redirect(url_for("ballots.show", ballot_id=ballot_id, _anchor="your-vote"), code=303)

