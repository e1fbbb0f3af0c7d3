"""Which language a page or an email is written in, and the gettext catalogs that write it.

Every string a person reads is marked for translation (`gettext`/`_`, `ngettext`, `lazy_gettext` in Python;
`{{ _('…') }}`, `{% trans %}` in templates) and looked up in `membership/translations/<locale>/LC_MESSAGES`.
English is the source language; a language is offered when it is in SUPPORTED_LOCALES and has a catalog.

A page's language is chosen, in order, by:
1. `?lang=uk` on any page, remembered in the `lang` cookie (set by `_remember_choice`);
2. the signed-in person's saved language: the staff member's on /staff pages, the patron's elsewhere (both
   kept in the session at sign-in, so choosing costs no query);
3. the browser's `Accept-Language`;
4. DEFAULT_LOCALE.

Publicly cached pages (`public_page`) read neither the cookie nor the session, only `?lang` and
`Accept-Language`, and say `Vary: Accept-Language`, so a shared cache never hands one reader's choice to another.

Emails are written in their recipient's stored language, whoever caused them (a request, the worker, `jobs
run`): `membership.email.queue_email` renders inside `in_locale(locale)`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from babel import Locale, UnknownLocaleError, support
from flask import Flask, Response, current_app, has_app_context, has_request_context, request, session
from flask_babel import Babel, force_locale, get_locale, get_translations
from flask_babel import gettext as gettext
from flask_babel import lazy_gettext as lazy_gettext
from flask_babel import lazy_ngettext as lazy_ngettext
from flask_babel import ngettext as ngettext
from jinja2 import pass_context
from markupsafe import Markup

__all__ = ["LOCALE_COOKIE", "gettext", "lazy_gettext", "lazy_ngettext", "localized", "localized_setting", "ngettext"]

TRANSLATIONS_DIRECTORY = "translations"  # under the package, so an installed wheel carries its catalogs
LOCALE_COOKIE = "lang"
LOCALE_COOKIE_MAX_AGE = 365 * 86400
# Session keys the sign-in code fills with the person's saved language (patrons.auth, staff.auth).
PATRON_LOCALE_KEY = "patron_locale"
STAFF_LOCALE_KEY = "staff_locale"
STAFF_PATH_PREFIX = "/staff"

F = TypeVar("F", bound=Callable[..., Any])


def check_locales(config: Mapping[str, Any]) -> None:
    """SUPPORTED_LOCALES names languages Babel knows, DEFAULT_LOCALE is one of them, and STRIPE_LOCALES maps each
    to something Stripe takes (config.check_settings calls it at start-up)."""
    from membership.config import ConfigError  # config → money → formatting → i18n: imported when used

    offered = list(config.get("SUPPORTED_LOCALES") or [])
    if not offered:
        raise ConfigError("SUPPORTED_LOCALES must name at least one language, e.g. SUPPORTED_LOCALES=en,uk.")
    for locale in offered:
        try:
            Locale.parse(locale)
        except (UnknownLocaleError, ValueError):
            raise ConfigError(f"SUPPORTED_LOCALES: {locale!r} is not a language code Babel knows (e.g. en, uk, pl)."
                              ) from None
    if config.get("DEFAULT_LOCALE") not in offered:
        raise ConfigError(f"DEFAULT_LOCALE ({config.get('DEFAULT_LOCALE')!r}) must be one of SUPPORTED_LOCALES "
                          f"({', '.join(offered)}).")
    for locale, stripe_locale in dict(config.get("STRIPE_LOCALES") or {}).items():
        if not stripe_locale or not all(part.isalnum() for part in stripe_locale.split("-")):
            raise ConfigError(f"STRIPE_LOCALES: {locale}={stripe_locale!r} must map to a Stripe locale such as "
                              "en, pl or auto.")


def public_page(view: F) -> F:
    """Mark a view whose response shared caches may keep: its language comes from `?lang` and Accept-Language
    only, never from the cookie or session of the reader who happened to ask first."""
    view._public_page = True  # type: ignore[attr-defined]
    return view


def supported_locales() -> list[str]:
    return list(current_app.config["SUPPORTED_LOCALES"])


def default_locale() -> str:
    return str(current_app.config["DEFAULT_LOCALE"])


def supported(value: str | None) -> str | None:
    """`value` when it names an offered language (case and `-`/`_` forgiven: 'UK', 'en-GB' → 'en'), else None."""
    if not value:
        return None
    wanted = value.strip().replace("-", "_")
    offered = supported_locales()
    for locale in offered:
        if wanted.lower() == locale.lower():
            return locale
    language = wanted.split("_", 1)[0].lower()
    return next((locale for locale in offered if locale.split("_", 1)[0].lower() == language), None)


def _is_public_page() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(view is not None and getattr(view, "_public_page", False))


def requested_locale() -> str | None:
    """The language `?lang` asks for, when it is offered."""
    return supported(request.args.get("lang"))


def select_locale() -> str:
    """The page's language (see the module's docstring for the order). Outside a request: DEFAULT_LOCALE."""
    if not has_request_context():
        return default_locale()
    chosen = requested_locale()
    if chosen:
        return chosen
    if not _is_public_page():
        chosen = supported(request.cookies.get(LOCALE_COOKIE))
        if chosen:
            return chosen
        key = STAFF_LOCALE_KEY if request.path.startswith(STAFF_PATH_PREFIX) else PATRON_LOCALE_KEY
        chosen = supported(session.get(key))
        if chosen:
            return chosen
    return request.accept_languages.best_match(supported_locales()) or default_locale()


def current_locale() -> str:
    """The active language as Babel names it ('en', 'uk'): the page's, or the one `in_locale` forced."""
    try:
        locale = get_locale()
    except RuntimeError:  # no app context at all (a plain function call in a script)
        return "en"
    return str(locale) if locale is not None else "en"


@contextmanager
def in_locale(locale: str | None) -> Iterator[str]:
    """Write what happens inside in `locale` (a supporter's stored language, say), or the default when it is
    empty or no longer offered."""
    chosen = supported(locale) or default_locale()
    with force_locale(chosen):
        yield chosen


def template_gettext() -> dict[str, Callable[..., str]]:
    """The templates' `gettext`, `ngettext`, `pgettext` and `npgettext`, bound to the active language's catalog
    (inside `in_locale`): pass them to `render_template` and they replace the app's own for that render.

    flask-babel's look the catalog up again on every call (the context's locale, its translations cache), about
    half of an email's rendering. These behave as Jinja's "newstyle" gettext that flask-babel installs: the text
    is marked safe under autoescape and always %-formatted with the call's variables (`num` for the plural, as
    Jinja adds it). Templates imported without context still use the app's own, with the same result."""
    catalog = get_translations()

    def finish(context: Any, text: str, variables: dict[str, Any]) -> str:
        value = Markup(text) if context.eval_ctx.autoescape else text  # noqa: S704 - as Jinja's own newstyle gettext marks the catalog's text
        return value % variables

    @pass_context
    def bound_gettext(context: Any, message: str, /, **variables: Any) -> str:
        return finish(context, catalog.ugettext(message), variables)

    @pass_context
    def bound_ngettext(context: Any, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        return finish(context, catalog.ungettext(singular, plural, num), variables)

    @pass_context
    def bound_pgettext(context: Any, message_context: str, message: str, /, **variables: Any) -> str:
        variables.setdefault("context", message_context)
        return finish(context, catalog.upgettext(message_context, message), variables)

    @pass_context
    def bound_npgettext(context: Any, message_context: str, singular: str, plural: str, num: int, /,
                        **variables: Any) -> str:
        variables.setdefault("context", message_context)
        variables.setdefault("num", num)
        return finish(context, catalog.unpgettext(message_context, singular, plural, num), variables)

    return {"gettext": bound_gettext, "ngettext": bound_ngettext, "pgettext": bound_pgettext,
            "npgettext": bound_npgettext}


def html_lang() -> str:
    """The active language as HTML's `lang` wants it: 'uk', 'pt-BR'."""
    return current_locale().replace("_", "-")


@functools.cache
def _catalog(locale: str) -> support.Translations | support.NullTranslations:
    return support.Translations.load(str(Path(__file__).resolve().parent / TRANSLATIONS_DIRECTORY), [locale])


def translated(locale: str | None, message: str, **values: Any) -> str:
    """`message` in `locale` (the active language when None), also outside any app (a script calling the
    formatting module): the one way code that takes a `locale` argument translates."""
    if has_app_context():
        if locale is None or locale == current_locale():
            return str(gettext(message, **values))
        with in_locale(locale):
            return str(gettext(message, **values))
    text = str(_catalog(locale or "en").gettext(message))
    return text % values if values else text


def language_name(locale: str) -> str:
    """A language's own name, as a language switch shows it: 'English', 'Українська'."""
    try:
        name = Locale.parse(locale).get_display_name(locale) or locale
    except (UnknownLocaleError, ValueError):
        return locale
    return name[:1].upper() + name[1:]


def stripe_locale(locale: str | None = None) -> str:
    """What Stripe's Checkout and Billing Portal are told to speak for `locale` (default: the active language),
    by STRIPE_LOCALES; `auto` (the browser's language) for one Stripe doesn't offer."""
    chosen = locale or current_locale()
    mapping = current_app.config.get("STRIPE_LOCALES") or {}
    return str(mapping.get(chosen) or mapping.get(chosen.split("_", 1)[0]) or "auto")


def translation_locales() -> list[str]:
    """The offered languages besides the default one: those staff may give their content in."""
    return [locale for locale in supported_locales() if locale != default_locale()]


def translation_field(field: str, locale: str) -> str:
    """A form field holding `field` in `locale`: name_uk, title_pt_BR."""
    return f"{field}_{locale}"


def setting_key(name: str, locale: str) -> str:
    """The setting that gives `name` in `locale`: NEWSROOM_NAME_UK, NEWSROOM_NAME_PT_BR."""
    return f"{name}_{locale.upper()}"


def localized_setting(name: str, locale: str | None = None) -> str:
    """A setting staff write in each language (NEWSROOM_NAME, NEWSROOM_ADDRESS, NEWSROOM_OTHER_WAYS), in `locale`
    (default: the active language): `NAME_UK` when set, else the default language's `NAME`."""
    config = current_app.config
    chosen = locale or current_locale()
    for key in (setting_key(name, chosen), setting_key(name, chosen.split("_", 1)[0])):
        if config.get(key):
            return str(config[key])
    return str(config[name])


def localized(entity: Any, field: str, locale: str | None = None) -> str:
    """A field of content staff wrote (a tier's name, a ballot's title), in `locale` (default: the active
    language) when they gave it in that language, else as written in the default language.

    The other languages' texts live in the entity's `translations` JSON: {"uk": {"name": "…"}}."""
    chosen = locale or current_locale()
    translations = getattr(entity, "translations", None) or {}
    for key in (chosen, chosen.split("_", 1)[0]):
        text = (translations.get(key) or {}).get(field)
        if text:
            return str(text)
    return str(getattr(entity, field))


def with_translation(translations: dict[str, dict[str, str]] | None, locale: str, field: str,
                     text: str) -> dict[str, dict[str, str]]:
    """A copy of an entity's `translations` with `field` in `locale` set to `text` (removed when empty): a new
    dict, so the JSON column sees the change."""
    result = {key: dict(value) for key, value in (translations or {}).items()}
    fields = result.setdefault(locale, {})
    if text.strip():
        fields[field] = text.strip()
    else:
        fields.pop(field, None)
    if not fields:
        result.pop(locale, None)
    return result


def remember_account_locale(key: str, locale: str | None) -> None:
    """Keep a signed-in person's saved language in their session (`key`: PATRON_ or STAFF_LOCALE_KEY)."""
    if locale:
        session[key] = locale
    else:
        session.pop(key, None)


def _remember_choice(response: Response) -> Response:
    """`?lang=…` is remembered in a cookie (never on a publicly cached page); pages that choose by the browser's
    language say so to caches."""
    if _is_public_page():
        response.vary.add("Accept-Language")
        return response
    chosen = requested_locale()
    if chosen and request.cookies.get(LOCALE_COOKIE) != chosen:
        response.set_cookie(LOCALE_COOKIE, chosen, max_age=LOCALE_COOKIE_MAX_AGE, samesite="Lax",
                            secure=request.is_secure, httponly=True)
    response.vary.add("Cookie")
    return response


def switch_links() -> list[dict[str, Any]]:
    """The header's language switch: one link per offered language, to this page in that language."""
    if not has_request_context():
        return []
    active = current_locale()
    args = {key: value for key, value in request.args.items() if key != "lang"}
    links = []
    for locale in supported_locales():
        query = urlencode([*args.items(), ("lang", locale)])
        links.append({"locale": locale, "name": language_name(locale), "active": locale == active,
                      "href": f"{request.path}?{query}"})
    return links


def init_app(app: Flask) -> None:
    babel = Babel()
    babel.init_app(app, locale_selector=select_locale, default_domain="messages",
                   default_translation_directories=TRANSLATIONS_DIRECTORY)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", app.config["DEFAULT_LOCALE"])
    app.after_request(_remember_choice)
    app.context_processor(lambda: {"language_switch": switch_links, "html_lang": html_lang})
    app.add_template_filter(localized, "localized")
