"""The staff dashboard page: figures for a date range, each chart followed by its table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import partial

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup

from membership import charts
from membership.config import patron_grace
from membership.db import current_session, utcnow
from membership.formatting import format_iso_day, format_number, format_percent, format_short_month
from membership.giving import events
from membership.giving.services import currency_rules
from membership.i18n import gettext as _
from membership.money import exponent
from membership.staff.auth import Permission, staff_required
from membership.staff.campaigns.services import campaign_results
from membership.staff.dashboard import periods, services
from membership.staff.dashboard.forms import DashboardForm
from membership.staff.dashboard.trends import MrrTrend, membership_revenue, mrr_trend

bp = Blueprint("staff_dashboard", __name__, url_prefix="/staff")


@bp.get("/dashboard")
@staff_required(Permission.DASHBOARD)
def dashboard() -> ResponseReturnValue:
    currencies = list(currency_rules())
    form = DashboardForm(request.args, currencies=currencies)
    failed, failed_total = events.failed_events(current_session())
    page = partial(render_template, "staff/dashboard/index.html", form=form, failed_events=failed,
                   failed_events_total=failed_total,
                   campaign_results=campaign_results(current_session(), utcnow()))
    if request.args and not form.validate():
        return page(data=None), 400
    today = utcnow().date()
    default = periods.default_range(form.date_to.data or today)
    try:
        period = periods.checked_range(form.date_from.data or default.first, form.date_to.data or default.last)
    except periods.RangeError as exc:
        form.date_to.errors = [str(exc)]
        return page(data=None), 400
    form.date_from.data, form.date_to.data = period.first, period.last
    grace = patron_grace()
    data = services.dashboard(current_session(), period, now=utcnow(), grace=grace, currencies=currencies,
                              rank_currency=form.rank.data or "")
    session = current_session()
    trends = mrr_trend(session, period, utcnow())
    memberships = membership_revenue(session, period, utcnow())
    charts_ = _charts(data, form.rank.data or "")
    charts_.update(_trend_charts(trends))
    return page(data=data, charts=charts_, grace_days=grace.days, currencies=currencies, trends=trends,
                membership_revenue=memberships)


def _trend_charts(trends: list[MrrTrend]) -> dict[str, Markup]:
    """One line of monthly recurring revenue per currency (amounts in different currencies are never added)."""
    result = {}
    for trend in trends:
        code = trend.currency

        def money(value: float, code: str = code) -> str:
            return format_number(round(value, exponent(code)))

        result[f"mrr-{code}"] = charts.line_chart(
            f"chart-mrr-{code.lower()}", _("Monthly recurring revenue in %(currency)s", currency=code),
            _("What the memberships running at the end of each month bring in a month, in %(currency)s (yearly "
              "ones count a twelfth). The table after the chart lists the figures.", currency=code),
            month_labels([p.month for p in trend.points]),
            [charts.Series(_("MRR"), [_major(p.mrr_minor, code) for p in trend.points])],
            value_label=money, axis_title=code)
    return result


def month_labels(months: Sequence[date]) -> list[str]:
    """'Dec\n2025', 'Jan\n2026', 'Feb'…: the year, on a second line, under the first month and every January."""
    return [f"{format_short_month(m)}\n{m.year}" if i == 0 or m.month == 1 else format_short_month(m)
            for i, m in enumerate(months)]


def _major(amount_minor: int, currency: str) -> float:
    return float(Decimal(amount_minor).scaleb(-exponent(currency)))


def _charts(data: services.Dashboard, rank_currency: str) -> dict[str, Markup]:
    movement = data.movement.months
    labels = month_labels([m.month for m in movement])
    span = {"first": format_iso_day(data.period.first), "last": format_iso_day(data.period.last)}
    result = {
        "movement": charts.bar_chart(
            "chart-movement", _("New and churned patrons per month"),
            _("Memberships started and ended in each month, %(first)s to %(last)s. The table after the chart "
              "lists the figures.", **span),
            labels, [charts.Series(_("New"), [m.new for m in movement]),
                     charts.Series(_("Churned"), [m.churned for m in movement])],
            axis_title=_("Memberships")),
        "churn": charts.line_chart(
            "chart-churn", _("Monthly churn rate"),
            _("Share of running memberships that ended in each month, %(first)s to %(last)s. The table after the "
              "chart lists the figures.", **span),
            labels, [charts.Series(_("Churn rate"), [(m.churn_rate or 0) * 100 for m in movement])],
            value_label=format_percent, axis_title=_("Per cent")),
    }
    reasons = data.cancellations.reasons
    if reasons:
        result["reasons"] = charts.ranked_bar_chart(
            "chart-reasons", _("Cancellation reasons"),
            _("Cancellations made from %(first)s to %(last)s, by the reason the patron gave. The table after the "
              "chart lists the figures.", **span),
            [str(r.label) for r in reasons], [r.count for r in reasons])
    for revenue in data.gifts:
        code, settled_in = revenue.currency, revenue.settlement_currency
        months = revenue.months

        def money(value: float, code: str = settled_in) -> str:
            return format_number(round(value, exponent(code)))

        # Gross is in the charge currency, fees and net in the settlement currency: one axis shows one currency.
        series = [] if revenue.converted else [
            charts.Series(_("Gross"), [_major(m.gross_minor, code) for m in months])]
        series += [charts.Series(_("Fees"), [_major(m.fee_minor, settled_in) for m in months]),
                   charts.Series(_("Net"), [_major(m.net_minor, settled_in) for m in months])]
        values = {"currency": code, "settled": settled_in, **span}
        if revenue.converted:
            title = _("One-time gifts in %(currency)s, settled in %(settled)s, per month", **values)
            description = _("Stripe fees and net after fees and refunds of one-time gifts in %(currency)s, settled "
                            "in %(settled)s, %(first)s to %(last)s. The table after the chart lists the figures.",
                            **values)
        else:
            title = _("One-time gifts in %(currency)s per month", **values)
            description = _("Gross, Stripe fees and net after fees and refunds of one-time gifts in %(currency)s, "
                            "%(first)s to %(last)s. The table after the chart lists the figures.", **values)
        result[f"gifts-{revenue.key}"] = charts.bar_chart(
            f"chart-gifts-{revenue.key.lower()}", title, description,
            month_labels([m.month for m in months]), series, value_label=money, axis_title=settled_in)
    for name, rows in (("articles", data.sources.articles), ("campaigns", data.sources.campaigns)):
        if rows:
            result[name] = _sources_chart(name, rows, rank_currency, span)
    return result


def _sources_chart(name: str, rows: Sequence[services.SourceRow], rank_currency: str,
                   span: dict[str, str]) -> Markup:
    """The top articles or campaigns (`name`), by revenue in `rank_currency` or (without one) by conversions."""
    values = {"count": len(rows), "currency": rank_currency, **span}
    articles = name == "articles"
    if rank_currency:
        numbers = [_major(r.revenue_minor.get(rank_currency, 0), rank_currency) for r in rows]
        title = (_("Revenue in %(currency)s by article", **values) if articles
                 else _("Revenue in %(currency)s by campaign", **values))
        description = (_("Top %(count)s articles by revenue, %(first)s to %(last)s. The table after the chart "
                         "lists conversions and revenue.", **values) if articles
                       else _("Top %(count)s campaigns by revenue, %(first)s to %(last)s. The table after the chart "
                              "lists conversions and revenue.", **values))
    else:
        numbers = [float(r.conversions) for r in rows]
        title = _("Conversions by article") if articles else _("Conversions by campaign")
        description = (_("Top %(count)s articles by completed checkouts, %(first)s to %(last)s. The table after "
                         "the chart lists conversions and revenue.", **values) if articles
                       else _("Top %(count)s campaigns by completed checkouts, %(first)s to %(last)s. The table "
                              "after the chart lists conversions and revenue.", **values))
    return charts.ranked_bar_chart(f"chart-{name}", title, description, [r.name for r in rows], numbers)
