"""Giving pages: the support page, the give form, Stripe's return pages, and the webhook."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote as url_quote
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer

from membership.config import DEFAULT_OTHER_WAYS, CurrencyRules, signing_keys, wall_review
from membership.db import current_session, db, utcnow
from membership.errors import render_error
from membership.extensions import csrf
from membership.formatting import (
    amount_input_text,
    current_locale,
    format_charge,
    format_fee_rule,
    format_recurring,
    to_major_text,
)
from membership.giving import campaigns, events, services
from membership.giving.catalogue import Catalogue, current_catalogue
from membership.giving.forms import ATTRIBUTION_MAX, FREQUENCY_CHOICES, SOURCE_MAX, GiveForm, QuoteForm
from membership.giving.models import Checkout, Frequency
from membership.giving.services import currency_rules
from membership.giving.stripe_gateway import InvalidWebhook, gateway
from membership.i18n import gettext as _
from membership.i18n import lazy_gettext, localized_setting, public_page, requested_locale, stripe_locale
from membership.money import parse_major_amount
from membership.pace import background
from membership.wall.services import RECENT, wall_page
from membership.web import content_security_policy, json_attribute

bp = Blueprint("giving", __name__)

ATTRIBUTION_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
FREQUENCY_ALIASES = {"once": "once", "one-time": "once", "onetime": "once", "monthly": "monthly",
                     "month": "monthly", "yearly": "yearly", "year": "yearly", "annual": "yearly"}
CANCEL_TOKEN_MAX_AGE = 7 * 24 * 3600
# The give form's fields the "add a second membership" button sends again, as the reader filled them in.
RESENT_FIELDS = ("frequency", "currency", "preset", "amount", "email", "name", "message", "anonymous", "cover_fees",
                 "email_consent", "source", *ATTRIBUTION_FIELDS)


def _cancel_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(signing_keys(current_app.config), salt="give-cancelled")


def _clean_source(value: str) -> str:
    """An article URL for attribution: http(s) only and bounded; anything else is not kept."""
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme in ("http", "https") and parts.netloc and len(value) <= SOURCE_MAX:
        return value
    return ""


def _attribution_from(args: Mapping[str, str]) -> dict[str, str]:
    values = {"source": _clean_source(args.get("source", ""))}
    for name in ATTRIBUTION_FIELDS:
        values[name] = args.get(name, "").strip()[:ATTRIBUTION_MAX]
    if not values.get("utm_campaign") and campaigns.SLUG.match(args.get("campaign", "")[:60]):
        values["utm_campaign"] = args.get("campaign", "")[:60]  # ?campaign=slug: the campaign's own pages
    return values


def _running_campaign(catalogue: Catalogue, slug: str | None) -> campaigns.Progress | None:
    """The campaign a page was opened for (?campaign= or ?utm_campaign=), with its progress, while it runs: the
    campaign comes with the cached catalogue, its progress is counted now (one statement)."""
    now = utcnow()
    campaign = catalogue.campaign(slug, now)
    return campaigns.progress(current_session(), campaign, now) if campaign is not None else None


def _prefill_from_query(args: Mapping[str, str],
                        rules: Mapping[str, CurrencyRules]) -> tuple[dict[str, object], list[str]]:
    """Form data from ?amount=&frequency=&currency= plus attribution, and notices for values we can't use."""
    notices: list[str] = []
    data: dict[str, object] = {"currency": current_app.config["MEMBERSHIP_DEFAULT_CURRENCY"]}
    data.update(_attribution_from(args))
    currency = args.get("currency", "").strip().upper()
    if currency:
        if currency in rules:
            data["currency"] = currency
        else:
            notices.append(_("We can't accept %(currency)s here; please choose one of the currencies listed.",
                             currency=currency[:10]))
    frequency = args.get("frequency", "").strip().lower()
    if frequency:
        if frequency in FREQUENCY_ALIASES:
            data["frequency"] = FREQUENCY_ALIASES[frequency]
        else:
            notices.append(_("The link asked for a frequency we don't offer; choose once, monthly or yearly."))
    amount = args.get("amount", "").strip()
    if amount:
        try:
            minor = parse_major_amount(amount, str(data["currency"]))
        except ValueError:
            notices.append(_("The amount in the link isn't one we can use; choose an amount below."))
        else:
            data["amount_minor"] = minor
    return data, notices


def _frequency_texts() -> dict[str, dict[str, str]]:
    """What the give form says for each frequency (static/give.js swaps them in when the reader changes it)."""
    return {
        Frequency.ONCE.value: {"legend": "", "suffix": "", "amount_hint": _("Choose an amount or enter your own."),
                               "payment_hint": _("You'll pay on Stripe's secure page.")},
        Frequency.MONTHLY.value: {
            "legend": _("(charged monthly)"), "suffix": _("per month"),
            "amount_hint": _("Choose an amount per month or enter your own."),
            "payment_hint": _("You'll pay on Stripe's secure page; you can cancel your membership at any time.")},
        Frequency.YEARLY.value: {
            "legend": _("(charged yearly)"), "suffix": _("per year"),
            "amount_hint": _("Choose an amount per year or enter your own."),
            "payment_hint": _("You'll pay on Stripe's secure page; you can cancel your membership at any time.")},
    }


def _render_form(form: GiveForm, catalogue: Catalogue, status: int = 200, notices: list[str] | None = None,
                 chosen_minor: int | None = None) -> tuple[str, int]:
    rules = catalogue.rules
    currency = form.currency.data if form.currency.data in rules else current_app.config[
        "MEMBERSHIP_DEFAULT_CURRENCY"]
    try:
        frequency = Frequency(form.frequency.data)
    except ValueError:
        frequency = Frequency.ONCE
    presets = catalogue.preset_amounts(currency, frequency)
    if chosen_minor is not None:
        if chosen_minor in presets:
            form.preset.data = to_major_text(chosen_minor, currency)
        elif not form.amount.data:
            form.amount.data = amount_input_text(chosen_minor, currency)
    # static/give.js swaps these in when the reader changes currency or frequency; it formats nothing itself.
    locale = current_locale()
    # The same for every reader in a locale until staff change the catalogue: formatted once, kept with it.
    preset_table = catalogue.derived(("give.preset_table", str(locale)), lambda: {
        code: {f.value: [{"value": to_major_text(p, code), "label": format_recurring(p, code, f.value, locale),
                          "most_chosen": p == catalogue.most_chosen.get((code, f)),
                          "suggested": p == catalogue.suggested_amount(code, f),
                          "impact": catalogue.impact(code, f, p, str(locale))}
                         for p in catalogue.preset_amounts(code, f)]
               for f in Frequency}
        for code in rules
    })
    fee_hints = catalogue.derived(("give.fee_hints", str(locale)), lambda: {
        code: _("Adds %(fee)s to your payment; the exact total is shown before you pay.",
                fee=format_fee_rule(r.fee.percent_bps, r.fee.fixed_minor, code, locale))
        for code, r in rules.items()})
    frequency_texts = catalogue.derived(("give.frequency_texts", str(locale)), _frequency_texts)
    # The tiles and the data static/give.js reads are the same for every reader in a locale: the page marks the
    # reader's choice (`form.preset.data`) and errors itself; the JSON is serialised once, not per request.
    return render_template(
        "giving/give.html",
        form=form,
        notices=notices or [],
        currency=currency,
        frequency=frequency,
        frequency_choices=FREQUENCY_CHOICES,
        tiles=preset_table[currency][frequency.value],
        preset_table_json=catalogue.derived(("give.preset_table_json", str(locale)), lambda: json_attribute(
            preset_table)),
        fee_hints_json=catalogue.derived(("give.fee_hints_json", str(locale)), lambda: json_attribute(fee_hints)),
        fee_hints=fee_hints,
        campaign=_running_campaign(catalogue, form.utm_campaign.data),
        frequency_texts=frequency_texts,
        frequency_texts_json=catalogue.derived(("give.frequency_texts_json", str(locale)), lambda: json_attribute(
            frequency_texts)),
    ), status


@bp.get("/give/quote")
def quote() -> tuple[Response, int]:
    """What a choice on the give form would charge, for its live total: the amount read and checked exactly as
    the form reads it, the card fees added when covered, and the text to show; or the form's own message.

    Read-only, so a GET without a CSRF token; the form without JavaScript never needs it."""
    rules = currency_rules()
    form = QuoteForm(rules, formdata=request.args)
    if not form.validate():
        problem = next(field for field in form if field.errors)
        return jsonify(error=problem.errors[0]), 400
    assert form.amount_minor is not None
    code = form.currency.data
    fee = services.fee_cover_for(rules[code], form.amount_minor) if form.cover_fees.data else 0
    total = form.amount_minor + fee
    charge = format_charge(total, fee, code, form.frequency.data, current_locale())
    return jsonify(currency=code, amount_minor=form.amount_minor, fee_cover_minor=fee, total_minor=total,
                   total=charge, summary=_("Total: %(charge)s.", charge=charge)), 200


@bp.get("/")
def support_page() -> str:
    catalogue = current_catalogue(current_session())
    rules = catalogue.rules
    currency = request.args.get("currency", "").upper()
    if currency not in rules:
        currency = current_app.config["MEMBERSHIP_DEFAULT_CURRENCY"]
    attribution = {k: v for k, v in _attribution_from(request.args).items() if v}
    other_ways = other_ways_paragraphs()
    return render_template(
        "giving/support.html",
        tiers=catalogue.tiers,
        currency=currency,
        currencies=list(rules),
        attribution_query=urlencode(attribution),
        other_ways=other_ways,
        once_presets=catalogue.preset_amounts(currency, Frequency.ONCE),
        recent_supporters=wall_page(current_session(), wall_review(), size=RECENT).entries,
        campaign=_support_page_campaign(catalogue, attribution.get("utm_campaign")),
    )


def _support_page_campaign(catalogue: Catalogue, slug: str | None) -> campaigns.Progress | None:
    """The campaign a link names, else the one staff put on the support page."""
    if slug and (named := _running_campaign(catalogue, slug)) is not None:
        return named
    now = utcnow()
    campaign = catalogue.support_page_campaign(now)
    if campaign is not None and not slug:
        return campaigns.progress(current_session(), campaign, now)
    return None


# The built-in "other ways to support" (config.DEFAULT_OTHER_WAYS), one marked string a paragraph, so it reads in
# every language when the newsroom hasn't written its own.
DEFAULT_OTHER_WAYS_TRANSLATED = (
    lazy_gettext("Share our reporting with a friend who would value it."),
    lazy_gettext("Send us a tip or a story idea: our newsroom reads every message."),
    lazy_gettext("Organisations and foundations can write to us about grants and partnerships."),
)


def other_ways_paragraphs() -> list[str]:
    """The support page's "other ways to support", in the page's language: NEWSROOM_OTHER_WAYS_<LOCALE>, else
    NEWSROOM_OTHER_WAYS, else the built-in text (translated). Paragraphs are separated by a blank line."""
    text = localized_setting("NEWSROOM_OTHER_WAYS")
    if text == DEFAULT_OTHER_WAYS:
        return [str(paragraph) for paragraph in DEFAULT_OTHER_WAYS_TRANSLATED]
    return [p.strip() for p in text.split("\n\n") if p.strip()]


APPEAL_CACHE_SECONDS = 300


@bp.get("/appeal")
@public_page
def appeal() -> ResponseReturnValue:
    """The appeal for the foot of an article, made to be framed by the newsroom's site (APPEAL_EMBED_ORIGINS).

    Its links open in the whole window (`target=_top`) and carry the article (`?source=`) and any `utm_*` on."""
    catalogue = current_catalogue(current_session())
    currency = request.args.get("currency", "").strip().upper()
    if currency not in catalogue.rules:
        currency = current_app.config["MEMBERSHIP_DEFAULT_CURRENCY"]
    attribution = {k: v for k, v in _attribution_from(request.args).items() if v}
    if requested_locale():
        # The appeal's links keep the language it was framed in (`?lang=uk` in a Ukrainian article).
        attribution["lang"] = str(requested_locale())
    monthly = catalogue.smallest_monthly_amount(currency)
    page = render_template("giving/appeal.html", currency=currency, monthly=monthly,
                           attribution_query=urlencode(attribution),
                           campaign=_running_campaign(catalogue, attribution.get("utm_campaign")),
                           monthly_query=urlencode({"frequency": "monthly", "amount": to_major_text(monthly, currency),
                                                    "currency": currency, **attribution}) if monthly else "")
    response = make_response(page)
    response.headers["Content-Security-Policy"] = content_security_policy(
        " ".join(["'self'", *current_app.config["APPEAL_EMBED_ORIGINS"].split()]))
    # Framed on every article view, the busiest page by far: the same for every reader (no cookie, nothing
    # personal), so browsers and a CDN may keep it for a few minutes instead of asking the app each time.
    response.headers["Cache-Control"] = f"public, max-age={APPEAL_CACHE_SECONDS}"
    return response


@bp.get("/give")
def give_form() -> tuple[str, int]:
    catalogue = current_catalogue(current_session())
    data, notices = _prefill_from_query(request.args, catalogue.rules)
    data.setdefault("frequency", Frequency.MONTHLY.value)  # opens on Monthly unless the link says otherwise
    chosen = data.pop("amount_minor", None)
    if not isinstance(chosen, int):  # no amount in the link: the suggested preset (staff's "most chosen")
        chosen = catalogue.suggested_amount(str(data["currency"]), Frequency(str(data["frequency"])))
    form = GiveForm(catalogue.rules, formdata=None, data=data)
    return _render_form(form, catalogue, notices=notices, chosen_minor=chosen if isinstance(chosen, int) else None)


@bp.post("/give")
def give() -> ResponseReturnValue:
    catalogue = current_catalogue(current_session())
    form = GiveForm(catalogue.rules)
    if "refresh" in request.form:
        # Without JavaScript, "Update amounts" re-renders the presets for the chosen currency and frequency.
        form.validate()
        for field in form:
            field.errors = []
        return _render_form(form, catalogue)
    if not form.validate_on_submit():
        return _render_form(form, catalogue, status=400)
    assert form.amount_minor is not None
    choice = services.GiftChoice(
        email=form.email.data,
        name=(form.name.data or "").strip(),
        frequency=Frequency(form.frequency.data),
        amount_minor=form.amount_minor,
        currency=form.currency.data,
        cover_fees=bool(form.cover_fees.data),
        message=form.message.data or "",
        anonymous=bool(form.anonymous.data),
        email_consent=bool(form.email_consent.data),
        attribution=services.Attribution(
            source_url=_clean_source(form.source.data or ""),
            **{name: (getattr(form, name).data or "").strip() for name in ATTRIBUTION_FIELDS},
        ),
    )
    if (choice.frequency is not Frequency.ONCE and form.second_membership.data != "1"
            and services.has_running_membership(current_session(), choice.email)):
        # Ask before opening a second subscription nobody meant to have (and that /account must then show).
        return render_template("giving/already_member.html", form=form, resent=RESENT_FIELDS)
    limits = services.CheckoutLimits(per_ip=int(current_app.config["CHECKOUT_LIMIT_PER_IP"]),
                                     per_address=int(current_app.config["CHECKOUT_LIMIT_PER_ADDRESS"]))
    try:
        services.check_checkout_limits(current_session(), choice.email, request.remote_addr or "", limits)
    except services.TooManyCheckouts:
        return render_template("giving/too_many.html"), 429, {"Retry-After": "3600"}
    public_url = current_app.config["PUBLIC_URL"]
    serializer = _cancel_serializer()
    try:
        _, url = services.start_checkout(
            current_session(),
            gateway(),
            choice,
            catalogue.rules,
            newsroom=localized_setting("NEWSROOM_NAME"),
            success_url=f"{public_url}/give/thanks?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=lambda checkout_id: f"{public_url}/give/cancelled?ref={serializer.dumps(checkout_id)}",
            locale=current_locale(),
            stripe_locale=stripe_locale(),
            invoice_footer=current_app.config["NEWSROOM_REGISTRATION"],
        )
    except services.PaymentsUnavailable:
        return render_template("giving/unavailable.html"), 503
    return redirect(url, code=303)


@bp.get("/give/thanks")
def thanks() -> tuple[str, int]:
    session_id = request.args.get("session_id", "").strip()
    if not session_id or len(session_id) > 255:
        return render_error(400, _("Missing payment reference"),
                            _("This page needs the payment reference Stripe adds when it sends you back."))
    confirmation = services.confirm_checkout(current_session(), gateway(), session_id)
    if confirmation is None:
        return render_error(404, _("Payment not found"), _("We have no record of that payment reference."))
    checkout = confirmation.checkout
    monthly = ""
    if checkout.frequency is Frequency.ONCE:
        monthly = url_for("giving.give_form", frequency="monthly", currency=checkout.currency,
                          amount=to_major_text(checkout.amount_minor, checkout.currency))
    return render_template(
        "giving/thanks.html",
        checkout=checkout,
        confirmed=confirmation.confirmed,
        wall_review=wall_review(),
        share=share_links(_clean_source(checkout.source_url or "")
                          or f"{current_app.config['PUBLIC_URL']}{url_for('giving.support_page')}"),
        make_it_monthly=monthly,
    ), 200


def share_links(url: str) -> dict[str, str]:
    """Plain share links for a page (no third-party scripts): by email, Telegram, Facebook and X."""
    subject = _("Worth reading: %(newsroom)s", newsroom=localized_setting("NEWSROOM_NAME"))
    return {
        "email": "mailto:?" + urlencode({"subject": subject, "body": url}, quote_via=url_quote),
        "telegram": "https://t.me/share/url?" + urlencode({"url": url}, quote_via=url_quote),
        "facebook": "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url}, quote_via=url_quote),
        "x": "https://x.com/intent/post?" + urlencode({"url": url}, quote_via=url_quote),
    }


@bp.get("/give/cancelled")
def cancelled() -> tuple[str, int]:
    try:
        checkout_id = _cancel_serializer().loads(request.args.get("ref", ""), max_age=CANCEL_TOKEN_MAX_AGE)
    except BadSignature:
        return render_error(400, _("This return link isn't valid"),
                            _("Nothing was charged. You can start again from the give page."))
    checkout = services.abandon_checkout(current_session(), gateway(), int(checkout_id))
    if checkout is None:
        abort(404)
    catalogue = current_catalogue(current_session())
    form = GiveForm(catalogue.rules, formdata=None, data=_form_data_from_checkout(checkout))
    return _render_form(
        form,
        catalogue,
        notices=[_("Your payment was cancelled and nothing was charged. Your choices are kept below.")],
        chosen_minor=checkout.amount_minor,
    )


def _form_data_from_checkout(checkout: Checkout) -> dict[str, object]:
    return {
        "frequency": checkout.frequency.value,
        "currency": checkout.currency,
        "email": checkout.supporter.email or "",
        "name": checkout.supporter.name,
        "message": checkout.message,
        "anonymous": checkout.anonymous,
        "cover_fees": checkout.cover_fees,
        "email_consent": checkout.email_consent,
        "source": checkout.source_url,
        "utm_source": checkout.utm_source,
        "utm_medium": checkout.utm_medium,
        "utm_campaign": checkout.utm_campaign,
        "utm_term": checkout.utm_term,
        "utm_content": checkout.utm_content,
    }


class WebhookFailed(Exception):
    """Processing a verified event failed: the request's unit of work rolls back, and Stripe is told 500 (it
    retries). The detail is in the log and the stored event's last_error."""

    def __init__(self, event_id: str) -> None:
        super().__init__(event_id)
        self.event_id = event_id


@bp.errorhandler(WebhookFailed)
def webhook_failed(error: WebhookFailed) -> tuple[Response, int]:
    # Stripe (and anyone) sees nothing of the detail.
    return jsonify(error="processing failed", event=error.event_id), 500


@bp.post("/stripe/webhook")
def stripe_webhook() -> tuple[Response, int]:
    """Verify → store → process → 2xx; with a queue (REDIS_URL), verify → store → enqueue → 2xx, and the worker
    processes. Bad signatures are refused before anything is stored."""
    try:
        event = gateway().verify_webhook(
            request.get_data(cache=False), request.headers.get("Stripe-Signature"),
            current_app.config["STRIPE_WEBHOOK_SECRET"],
        )
    except InvalidWebhook as exc:
        return jsonify(error=str(exc)), 400
    if events.queued_processing():  # stored and handed to the worker; answered before any processing
        outcome = events.acknowledge_event(db.engine, event)
        return jsonify(received=True, event=outcome.event_id, result=outcome.result), 200
    try:
        with background():  # processing an event waits behind readers' Stripe calls (membership/pace.py)
            outcome = events.receive_event(current_session(), gateway(), event)
    except Exception as exc:
        raise WebhookFailed(event["id"]) from exc
    return jsonify(received=True, event=outcome.event_id, result=outcome.result), 200


# Stripe signs the webhook; a CSRF token can't apply to a server-to-server POST.
csrf.exempt(stripe_webhook)
