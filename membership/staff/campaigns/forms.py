"""The campaign form: goal amounts typed in major units, dates as UTC days."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from membership.giving.campaigns import SLUG, GoalKind
from membership.i18n import gettext, lazy_gettext, translation_field
from membership.money import parse_major_amount
from membership.staff.forms import DayField, TranslatedText, strip_text, submitted_translations, translation_fields


class CampaignForm(FlaskForm):
    title = StringField(lazy_gettext("Title"), filters=[strip_text],
                        validators=[DataRequired(lazy_gettext("Give the campaign a title.")), Length(max=200)])
    slug = StringField(lazy_gettext("Address name (slug)"), filters=[strip_text, lambda v: v.lower() if v else v],
                       validators=[DataRequired(lazy_gettext("Give the campaign an address name.")), Length(max=60)])
    text = TextAreaField(lazy_gettext("Text"), filters=[strip_text], validators=[Optional(), Length(max=4000)])
    goal_kind = RadioField(lazy_gettext("Goal"), default=GoalKind.AMOUNT.value, choices=[
        SelectChoice(GoalKind.AMOUNT.value, lazy_gettext("An amount raised")),
        SelectChoice(GoalKind.PATRONS.value, lazy_gettext("A number of new patrons"))])
    goal_amount = StringField(lazy_gettext("Amount to raise"), filters=[strip_text], validators=[Length(max=20)])
    goal_currency = SelectField(lazy_gettext("Currency"), choices=[])
    goal_patrons = IntegerField(lazy_gettext("New patrons"), validators=[
        Optional(), NumberRange(min=1, max=10_000_000, message=lazy_gettext("Enter a number from 1 up."))])
    starts_on = DayField(lazy_gettext("First day (UTC)"),
                         validators=[DataRequired(lazy_gettext("Enter the first day."))])
    ends_on = DayField(lazy_gettext("Last day (UTC, included)"),
                       validators=[DataRequired(lazy_gettext("Enter the last day."))])
    matching_text = TextAreaField(lazy_gettext("Matching (optional)"), filters=[strip_text],
                                  validators=[Optional(), Length(max=500)])
    on_support_page = BooleanField(lazy_gettext("Show it on the support page while it runs"))

    def __init__(self, currencies: Sequence[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.goal_currency.choices = [SelectChoice(code, code) for code in currencies]
        self.goal_minor: int | None = None
        self.languages: list[str] = []

    def translation_fields(self) -> list[Any]:
        """The title, text and matching text in each other language, for the template."""
        return [self[translation_field(name, locale)] for locale in self.languages for name in TRANSLATED]

    @property
    def translations(self) -> dict[str, dict[str, str]]:
        """What staff gave in the other languages: {"uk": {"title": "…"}}; empty fields left out."""
        return submitted_translations(self, self.languages, TRANSLATED)

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        valid = bool(super().validate(extra_validators))
        if self.slug.data and not SLUG.match(self.slug.data):
            self.slug.errors.append(str(lazy_gettext(
                "Use lower-case letters, digits and single hyphens, e.g. winter-2026.")))
            valid = False
        if self.goal_kind.data == GoalKind.AMOUNT.value:
            try:
                self.goal_minor = parse_major_amount(self.goal_amount.data or "", self.goal_currency.data or "")
            except ValueError as exc:
                self.goal_amount.errors.append(str(exc))
                valid = False
        elif not self.goal_patrons.data:
            self.goal_patrons.errors.append(str(lazy_gettext("Enter how many new patrons the campaign aims for.")))
            valid = False
        if self.starts_on.data and self.ends_on.data and self.ends_on.data < self.starts_on.data:
            self.ends_on.errors.append(str(lazy_gettext("The last day can't be before the first.")))
            valid = False
        return valid

    @property
    def starts_at(self) -> datetime:
        assert self.starts_on.data is not None
        return datetime.combine(self.starts_on.data, time(), tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        """The end of the last day (the next midnight), so the last day counts whole."""
        assert self.ends_on.data is not None
        return datetime.combine(self.ends_on.data + timedelta(days=1), time(), tzinfo=UTC)


# The campaign's texts staff may give in each other language, and how long each may be (as the default's).
TRANSLATED = {"title": 200, "text": 4000, "matching_text": 500}


def make_campaign_form(currencies: Sequence[str], languages: Sequence[str] = (), **kwargs: Any) -> CampaignForm:
    """A CampaignForm with the title, text and matching text in each of `languages` (the offered ones besides the
    default: a field left empty shows the default language's text)."""
    fields = translation_fields(languages, {
        "title": TranslatedText(StringField, lambda language: gettext("Title (%(language)s)", language=language),
                                TRANSLATED["title"]),
        "text": TranslatedText(TextAreaField, lambda language: gettext("Text (%(language)s)", language=language),
                               TRANSLATED["text"]),
        "matching_text": TranslatedText(
            TextAreaField, lambda language: gettext("Matching (%(language)s)", language=language),
            TRANSLATED["matching_text"]),
    })
    form_class = type("CampaignFormWithLanguages", (CampaignForm,), fields)
    form: CampaignForm = form_class(currencies, **kwargs)
    form.languages = list(languages)
    return form
