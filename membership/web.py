"""Request plumbing shared by every blueprint: one unit of work per request, template helpers, headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app, request, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from werkzeug.routing import IntegerConverter, Map

from membership.branding import accent_color, brand_stylesheet, brand_version, logo_origin, logo_url
from membership.config import DEFAULT_ACCENT_COLOR, stripe_page_origins
from membership.db import MAX_ID, db, unit_of_work
from membership.formatting import register_template_filters
from membership.i18n import lazy_gettext, localized_setting

# No third-party origins anywhere: scripts, styles, fonts and images come from this app only (but for the
# newsroom's logo, when NEWSROOM_LOGO_URL is on a site of its own: that https origin alone).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{logo}; "
    "font-src 'self'; form-action 'self' {stripe}; frame-ancestors {frame_ancestors}; base-uri 'self'"
)


# Requests whose body may exceed MAX_CONTENT_LENGTH (MEMBERSHIP_MAX_REQUEST_KB, sized for forms), and the setting
# that bounds each instead: Stripe's events can be far larger than any form.
LARGE_BODY_LIMITS = {"giving.stripe_webhook": "STRIPE_WEBHOOK_MAX_BYTES"}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NUL_MESSAGE = lazy_gettext("The address or the form contained a character (NUL) that no page of ours sends, so it "
                           "was refused. Nothing was changed.")


class App(Flask):
    """The Flask app, with the one place a request's transaction ends."""

    def dispatch_request(self) -> ResponseReturnValue:
        """Each request is one unit of work (`membership.db.unit_of_work`): what the view returns (a page, a
        redirect, a 4xx form) commits what its services wrote, then the emails it queued are sent and queued
        work (exports) is handed to the worker. Anything the view raises (an `abort`, a service's error, a
        bug) rolls it all back before the error's handler renders its page, so a failed request commits
        nothing; so does a commit that fails, which becomes a 500 page. Views never commit or roll back.
        (The `before_request` hooks only read the request, so nothing is written outside the view.)"""
        with unit_of_work(db.session()):
            return super().dispatch_request()


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: a number up to MAX_ID, so a larger one is a 404 like any missing row, instead of
    a query the database refuses."""

    def __init__(self, url_map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = MAX_ID, signed: bool = False) -> None:
        super().__init__(url_map, fixed_digits, min, max, signed)


def publicly_cacheable(response: Response) -> bool:
    """Whether shared caches (a CDN, a proxy) may keep the response and hand it to other readers."""
    cache = response.cache_control
    return bool(cache.public or cache.s_maxage is not None) and not (cache.private or cache.no_store)


View = TypeVar("View", bound=Callable[..., Any])


def sessionless(view: View) -> View:
    """Mark a view whose responses never set the session cookie (health checks and metrics: their callers keep
    no cookies, and a patron's permanent session would otherwise be re-sent on every response)."""
    view.sessionless = True  # type: ignore[attr-defined]
    return view


class CacheSafeSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions that never set a cookie on a publicly cacheable response: a cache would hand that
    cookie, with the reader's session in it, to everyone it serves the page to. (A patron's session is permanent,
    so Flask would otherwise re-send the cookie on every response, changed or not.) Nor on a `sessionless` view's.

    Flask reads sessions signed with SECRET_KEY or any of SECRET_KEY_FALLBACKS, and signs with SECRET_KEY: a
    rotated key signs nobody out (docs/operations.md)."""

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        view = app.view_functions.get(request.endpoint or "")
        if publicly_cacheable(response) or getattr(view, "sessionless", False):
            return
        super().save_session(app, session, response)


def content_security_policy(frame_ancestors: str = "'none'") -> str:
    # Checkout and the Billing Portal are reached by a form POST answered with a 303 to Stripe, and
    # Chromium applies form-action to every redirect of a form submission: each hosted page's origin must
    # be listed, or the button does nothing.
    config = current_app.config
    stripe_origins = config.get("STRIPE_PAGE_ORIGINS") or stripe_page_origins(config.get("STRIPE_API_BASE") or "")
    logo = logo_origin(str(config.get("NEWSROOM_LOGO_URL") or ""))
    return CONTENT_SECURITY_POLICY.format(stripe=stripe_origins, frame_ancestors=frame_ancestors,
                                          logo=f" {logo}" if logo else "")


# A year: the stylesheet's address carries its digest (`?v=`), so a new accent is fetched at a new address.
BRAND_CSS_CACHE_SECONDS = 31_536_000


@sessionless
def brand_css() -> Response:
    """The newsroom's accent for site.css (NEWSROOM_ACCENT_COLOR): a stylesheet rather than an inline style, so
    the Content-Security-Policy keeps `style-src 'self'`."""
    response = Response(brand_stylesheet(current_app.config), mimetype="text/css")
    response.headers["Cache-Control"] = f"public, max-age={BRAND_CSS_CACHE_SECONDS}, immutable"
    return response


def brand_css_url() -> str | None:
    """The brand stylesheet's address for a page's <head>; None with the default accent, which site.css has."""
    if accent_color(current_app.config) == DEFAULT_ACCENT_COLOR:
        return None
    return url_for("brand_css", v=brand_version(current_app.config))


def _body_limit() -> None:
    setting = LARGE_BODY_LIMITS.get(request.endpoint or "")
    if setting:
        request.max_content_length = int(current_app.config[setting])


def _refuse_nul_bytes() -> None:
    """A NUL byte is never part of a link or form of ours, and PostgreSQL refuses it in text: refuse the request
    here, once, before any view or query sees one (as a 400 page)."""
    values = [request.path, *(item for pair in request.args.items(multi=True) for item in pair)]
    if request.mimetype in FORM_TYPES:  # other bodies (the webhook's JSON) are left to their views, unread here
        values += [item for pair in request.form.items(multi=True) for item in pair]
    if any("\x00" in value for value in values):
        abort(400, str(NUL_MESSAGE))


def _cache_headers(response: Response) -> Response:
    """Nothing is kept by browsers or caches unless its view says so (only /appeal and static files do): pages
    show personal data (account, supporters, exports, sign-in links, the thanks page) or a form's CSRF token."""
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"
    return response


def security_headers(policy: str | None = None) -> dict[str, str]:
    """The security headers of a response whose Content-Security-Policy is `policy` (default: ours)."""
    config = current_app.config
    policy = content_security_policy() if policy is None else policy
    headers = {}
    if (config["MEMBERSHIP_ENV"] == "production" and config["PUBLIC_URL"].startswith("https://")
            and int(config["HSTS_MAX_AGE"]) > 0):
        # Browsers then refuse plain http for this host, so a network attacker can't strip TLS from a reader.
        headers["Strict-Transport-Security"] = f"max-age={int(config['HSTS_MAX_AGE'])}"
    headers["Content-Security-Policy"] = policy
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    if "frame-ancestors 'none'" in policy:
        # The old header for old browsers; a page others may frame (the appeal) says so in its CSP alone.
        headers["X-Frame-Options"] = "DENY"
    return headers


def _security_headers(response: Response) -> Response:
    for name, value in security_headers(response.headers.get("Content-Security-Policy")).items():
        response.headers.setdefault(name, value)
    return response


def json_attribute(value: object) -> Markup:
    """What `value | tojson` gives a template (JSON safe in an HTML attribute), for a value computed once and kept,
    so a page doesn't serialise it again on every request."""
    return htmlsafe_json_dumps(value, dumps=current_app.json.dumps)


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
    """Request plumbing; before any blueprint is registered, so every `<int:…>` in a route is an IdConverter."""
    app.url_map.converters["int"] = IdConverter
    app.session_interface = CacheSafeSessionInterface()
    app.before_request(_body_limit)
    app.before_request(_refuse_nul_bytes)
    app.add_template_global(control_attrs)
    app.add_template_global(brand_css_url)
    app.add_url_rule("/brand.css", "brand_css", brand_css)
    app.after_request(_security_headers)
    app.after_request(_cache_headers)
    register_template_filters(app)

    @app.context_processor
    def newsroom() -> dict[str, object]:
        return {
            "newsroom_name": localized_setting("NEWSROOM_NAME"),
            "newsroom_address": localized_setting("NEWSROOM_ADDRESS"),
            "newsroom_logo_url": logo_url(current_app.config),
        }
