"""`template_gettext`: an email's templates translated through the catalog looked up once write exactly what the
app's own (flask-babel's) gettext writes, in every form templates use it."""

from __future__ import annotations

import pytest
from flask import Flask

from membership.i18n import in_locale, template_gettext

# Every way a template translates: _() with and without variables, a variable needing escaping, ngettext (its
# `num`, a Ukrainian plural form), pgettext, {% trans %} blocks with variables and plurals, escaped and not.
TEMPLATE = """\
{{ _("Hello %(name)s,", name=name) }}|{{ _("Hello,") }}|{{ _("Not in any catalog: 100%% of %(what)s", what=name) }}|
{{ ngettext("Choose at most %(num)d topic.", "Choose at most %(num)d topics.", count) }}|
{{ pgettext("tier", "Name") }}|{{ npgettext("tier", "%(num)d tier", "%(num)d tiers", count) }}|
{% trans trimmed newsroom=name %}Thank you for your gift of <strong>{{ amount }}</strong> to {{ newsroom }}.
It keeps our reporting independent and free for everyone to read.{% endtrans %}|
{% trans count=count %}{{ count }} topic{% pluralize %}{{ count }} topics{% endtrans %}|
{% autoescape false %}{{ _("Hello %(name)s,", name=name) }}{% endautoescape %}"""


@pytest.mark.parametrize("locale", ["en", "uk"])
@pytest.mark.parametrize("count", [1, 3, 5])
def test_bound_gettext_writes_what_the_apps_own_writes(app: Flask, locale: str, count: int) -> None:
    template = app.jinja_env.from_string(TEMPLATE)
    values = {"name": "Оксана <O'Brien> & Co", "amount": "1 000,00 ₴", "count": count}
    with in_locale(locale):
        own = template.render(**values)
        bound = template.render(**values, **template_gettext())
    assert bound == own
    assert "&lt;O&#39;Brien&gt; &amp; Co" in bound  # escaped under autoescape
    assert "<O'Brien>" in bound.rsplit("|", 1)[1]  # and not where autoescape is off
    if locale == "uk":
        assert "Виберіть не більше ніж" in bound and "Назва" in bound


def test_the_binding_is_to_the_language_it_was_made_in(app: Flask) -> None:
    template = app.jinja_env.from_string('{{ _("Hello,") }}')
    with in_locale("uk"):
        ukrainian = template_gettext()
        expected = template.render()
    with in_locale("en"):
        assert template.render(**ukrainian) == expected != template.render()
