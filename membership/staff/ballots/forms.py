"""Staff ballot forms: a ballot with its options, an article URL, and the suggestion review buttons."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields import DateTimeLocalField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from membership.ballots.methods import METHODS, method_of
from membership.ballots.models import MAX_OPTIONS, MAX_WEIGHT, MIN_OPTIONS, Ballot, ResultsVisibility, VotingMethod
from membership.db import parse_id
from membership.formatting import to_major_text
from membership.giving.models import Tier
from membership.i18n import gettext, lazy_gettext, lazy_ngettext, translation_field
from membership.i18n import gettext as _
from membership.money import parse_major_amount
from membership.staff.forms import TranslatedText, submitted_translations, translation_fields

# Rows beyond this many are never processed: a form is 20 options and a few blank rows.
MAX_OPTION_ROWS = 40
BLANK_ROWS = 3
TIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"]


def _strip(value: str | None) -> str | None:
    return value.replace("\r\n", "\n").strip() if isinstance(value, str) else value


class OptionForm(Form):
    """One option row. Existing options carry their id; a row with no title and no id is left out."""

    id = HiddenField()
    title = StringField(lazy_gettext("Title"), filters=[_strip], validators=[Optional(), Length(max=200)])
    description = TextAreaField(lazy_gettext("Short description"), filters=[_strip],
                                validators=[Optional(), Length(max=500)])
    remove = BooleanField(lazy_gettext("Remove this option"))

    def validate_id(self, field: HiddenField) -> None:
        if field.data and parse_id(str(field.data)) is None:
            raise ValidationError(lazy_gettext("Not an option of this ballot."))

    @property
    def option_id(self) -> int | None:
        return parse_id(str(self.id.data or ""))

    @property
    def blank(self) -> bool:
        return self.option_id is None and not self.title.data and not self.description.data

    @property
    def translations(self) -> dict[str, dict[str, str]]:
        """The title and description in other languages (fields added by `make_ballot_form`)."""
        return _translations_of(self, OPTION_TRANSLATED)


class BallotForm(FlaskForm):
    """A ballot's settings and its 2 to 20 options. Build it with `make_ballot_form`, which adds a minimum
    amount per currency and a weight per tier."""

    title = StringField(lazy_gettext("Title"), filters=[_strip],
                        validators=[DataRequired(lazy_gettext("Enter the ballot's title.")), Length(max=200)])
    introduction = TextAreaField(lazy_gettext("Introduction"), filters=[_strip],
                                 validators=[Optional(), Length(max=5000)])
    opens_at = DateTimeLocalField(lazy_gettext("Opens (UTC)"), format=TIME_FORMATS,
                                  validators=[InputRequired(lazy_gettext("Enter when voting opens, in UTC."))])
    closes_at = DateTimeLocalField(lazy_gettext("Closes (UTC)"), format=TIME_FORMATS,
                                   validators=[InputRequired(lazy_gettext("Enter when voting closes, in UTC."))])
    method = RadioField(lazy_gettext("Method"), default=VotingMethod.SINGLE.value,
                        choices=[SelectChoice(key.value, method.label) for key, method in METHODS.items()])
    max_choices = IntegerField(lazy_gettext("N: the most topics a patron may approve (approval only)"), default=3,
                               validators=[Optional(),
                                           NumberRange(2, MAX_OPTIONS, lazy_gettext("Choose N between 2 and 20."))])
    require_paid_before_open = BooleanField(
        lazy_gettext("Only patrons whose first membership payment came before the ballot opens"), default=True)
    results_visibility = RadioField(lazy_gettext("When results show"), default=ResultsVisibility.AFTER_CLOSE.value,
                                    choices=[
        SelectChoice(ResultsVisibility.AFTER_CLOSE.value, lazy_gettext("After the ballot closes")),
        SelectChoice(ResultsVisibility.LIVE.value, lazy_gettext("Live, while the ballot is open")),
    ])
    weighting = RadioField(lazy_gettext("Weighting"), default="equal", choices=[
        SelectChoice("equal", lazy_gettext("One patron, one vote")),
        SelectChoice("tier", lazy_gettext("By membership tier, with the weights below (at most %(count)s times)",
                                          count=MAX_WEIGHT)),
    ])
    options = FieldList(FormField(OptionForm), max_entries=MAX_OPTION_ROWS)
    languages: Sequence[str] = ()

    def __init__(self, tiers: Sequence[Tier], currencies: Sequence[str], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tiers = tiers
        self.currencies = currencies
        self.min_monthly: dict[str, int] = {}
        self.options_errors: list[str] = []

    # Dynamic fields ------------------------------------------------------------------------------------

    def translation_fields(self) -> list[Any]:
        """The ballot's title and introduction in each other language, for the template."""
        return [self[translation_field(name, locale)] for locale in self.languages for name in BALLOT_TRANSLATED]

    @property
    def translations(self) -> dict[str, dict[str, str]]:
        return _translations_of(self, BALLOT_TRANSLATED)

    def minimum_fields(self) -> list[Any]:
        return [self[minimum_field(code)] for code in self.currencies]

    def weight_fields(self) -> list[Any]:
        return [self[weight_field(tier.id)] for tier in self.tiers]

    @property
    def tier_weights(self) -> dict[str, int]:
        return {str(tier.id): int(self[weight_field(tier.id)].data or 1) for tier in self.tiers}

    @property
    def opening(self) -> datetime:
        opening: datetime = self.opens_at.data
        return opening.replace(tzinfo=UTC)

    @property
    def closing(self) -> datetime:
        closing: datetime = self.closes_at.data
        return closing.replace(tzinfo=UTC)

    def kept_rows(self) -> list[OptionForm]:
        """The option rows that make the ballot: not blank, not ticked for removal."""
        return [row.form for row in self.options if not row.form.blank and not row.form.remove.data]

    # Checks ---------------------------------------------------------------------------------------------

    def validate_closes_at(self, field: DateTimeLocalField) -> None:
        if self.opens_at.data and field.data and field.data <= self.opens_at.data:
            raise ValidationError(lazy_gettext("Closing must come after opening."))

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        valid = bool(super().validate(extra_validators))
        for code in self.currencies:
            field = self[minimum_field(code)]
            text = (field.data or "").strip()
            if not text:
                continue
            try:
                self.min_monthly[code] = parse_major_amount(text, code)
            except ValueError as exc:
                field.errors.append(str(exc))
                valid = False
        for row in self.options:
            if row.form.option_id is not None and not row.form.remove.data and not row.form.title.data:
                row.form.title.errors.append(lazy_gettext("Enter the option's title, or tick “Remove this option”."))
                valid = False
            elif row.form.option_id is None and not row.form.blank and not row.form.title.data:
                row.form.title.errors.append(lazy_gettext("Enter the option's title, or clear its description."))
                valid = False
        kept = len(self.kept_rows())
        if kept < MIN_OPTIONS:
            self.options_errors.append(_("A ballot needs at least %(count)s options: give each a title.",
                                         count=MIN_OPTIONS))
        elif kept > MAX_OPTIONS:
            self.options_errors.append(f"A ballot can have at most {MAX_OPTIONS} options.")
        if self.method.data in METHODS:
            method = method_of(VotingMethod(self.method.data))
            self.max_choices.errors.extend(
                method.form_problems(self.max_choices.data, kept, MIN_OPTIONS <= kept <= MAX_OPTIONS))
        return valid and not self.options_errors and not self.max_choices.errors

    def summary(self) -> list[tuple[str, str]]:
        """(anchor, message) for every problem, for the error summary at the top of the form."""
        items: list[tuple[str, str]] = []
        for field in self:
            if field.name in ("options", "csrf_token"):
                continue
            items.extend((field.id, f"{field.label.text}: {error}") for error in field.errors)
            if field.name == "weighting":
                items.extend(("options", error) for error in self.options_errors)
        for index, row in enumerate(self.options, start=1):
            for sub in row.form:
                items.extend((sub.id, _("Option %(number)s, %(field)s: %(problem)s", number=index,
                                        field=str(sub.label.text).lower(), problem=error)) for error in sub.errors)
        items.extend(("csrf_token", error) for error in self.csrf_token.errors)
        return items


def minimum_field(currency: str) -> str:
    return f"minimum_{currency}"


def weight_field(tier_id: int) -> str:
    return f"weight_{tier_id}"


# Texts staff may give in each other language (field → longest).
BALLOT_TRANSLATED = {"title": 200, "introduction": 5000}
OPTION_TRANSLATED = {"title": 200, "description": 500}


def _translations_of(form: Any, names: Mapping[str, int]) -> dict[str, dict[str, str]]:
    return submitted_translations(form, getattr(form, "languages", ()), names)


def _translation_fields(languages: Sequence[str], names: Mapping[str, int],
                        labels: Mapping[str, str]) -> dict[str, Any]:
    def label(name: str) -> Callable[[str], str]:
        return lambda language: gettext("%(field)s (%(language)s)", field=labels[name], language=language)

    return translation_fields(languages, {
        name: TranslatedText(StringField if name == "title" else TextAreaField, label(name), longest, (_strip,))
        for name, longest in names.items()})


def make_ballot_form(tiers: Sequence[Tier], currencies: Sequence[str], languages: Sequence[str] = (),
                     **kwargs: Any) -> BallotForm:
    """A BallotForm with a minimum monthly amount field per currency, a weight field per tier, and the ballot's
    and its options' texts in each of `languages` (the offered ones besides the default)."""
    fields: dict[str, Any] = {
        minimum_field(code): StringField(lazy_gettext("Minimum in %(currency)s per month (optional)", currency=code),
                                         filters=[_strip],
                                         validators=[Length(max=20)])
        for code in currencies
    }
    weights = [SelectChoice(str(n), lazy_ngettext("Once", "%(num)d times", n)) for n in range(1, MAX_WEIGHT + 1)]
    fields.update({weight_field(tier.id): SelectField(lazy_gettext("Weight of the %(tier)s tier", tier=tier.name),
                                                      choices=weights, default="1")
                   for tier in tiers})
    if languages:
        option_fields = _translation_fields(languages, OPTION_TRANSLATED,
                                            {"title": gettext("Title"), "description": gettext("Short description")})
        option_form = type("OptionFormWithLanguages", (OptionForm,), {**option_fields, "languages": tuple(languages)})
        fields["options"] = FieldList(FormField(option_form), max_entries=MAX_OPTION_ROWS)
        fields.update(_translation_fields(languages, BALLOT_TRANSLATED,
                                          {"title": gettext("Title"), "introduction": gettext("Introduction")}))
    fields["languages"] = tuple(languages)
    form_class = type("BallotFormWithSettings", (BallotForm,), fields)
    return form_class(tiers, currencies, **kwargs)  # type: ignore[no-any-return]


def ballot_data(ballot: Ballot, tiers: Sequence[Tier], currencies: Sequence[str]) -> dict[str, Any]:
    """A saved ballot as form data, with its options and BLANK_ROWS empty rows for new ones."""
    data: dict[str, Any] = {
        "title": ballot.title, "introduction": ballot.introduction,
        "opens_at": ballot.opens_at.replace(tzinfo=None), "closes_at": ballot.closes_at.replace(tzinfo=None),
        "method": ballot.method.value, "max_choices": ballot.max_choices if ballot.max_choices > 1 else 3,
        "require_paid_before_open": ballot.require_paid_before_open,
        "results_visibility": ballot.results_visibility.value, "weighting": ballot.weighting.value,
        "options": [{"id": str(o.id), "title": o.title, "description": o.description, **_translation_data(o)}
                    for o in ballot.options],
        **_translation_data(ballot),
    }
    data["options"] += [{}] * min(BLANK_ROWS, MAX_OPTIONS - len(ballot.options))
    for code in currencies:
        if code in (ballot.min_monthly or {}):
            data[minimum_field(code)] = to_major_text(int(ballot.min_monthly[code]), code)
    for tier in tiers:
        data[weight_field(tier.id)] = str((ballot.tier_weights or {}).get(str(tier.id), 1))
    return data


def _translation_data(entity: Any) -> dict[str, str]:
    return {translation_field(name, locale): text
            for locale, texts in (entity.translations or {}).items() for name, text in texts.items()}


def new_ballot_data() -> dict[str, Any]:
    return {"options": [{}] * 5}


class ArticleForm(FlaskForm):
    article_url = StringField(lazy_gettext("Published article (http or https)"), filters=[_strip],
                              validators=[DataRequired(lazy_gettext("Enter the article's address.")), Length(max=2048)])

    def validate_article_url(self, field: StringField) -> None:
        parts = urlsplit(field.data or "")
        if parts.scheme not in ("http", "https") or not parts.netloc or any(ch.isspace() for ch in field.data):
            raise ValidationError(lazy_gettext("Enter the article's full address, starting with https:// or http://."))


class AcceptSuggestionForm(FlaskForm):
    ballot = SelectField(lazy_gettext("Add to the draft ballot"), coerce=int, choices=[])

