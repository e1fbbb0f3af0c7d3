"""Forms for tiers and amounts. Amounts are typed in major units ("7.50") and kept in minor units."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from flask_babel import LazyString, pgettext
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from membership.config import CurrencyRules
from membership.formatting import format_money, format_recurring
from membership.giving.models import IMPACT_MAX, Frequency
from membership.i18n import gettext, language_name, lazy_gettext, translation_field
from membership.i18n import gettext as _
from membership.money import AmountLimits, check_stripe_charge, parse_major_amount
from membership.staff.forms import TranslatedText, strip_text, submitted_translations, translation_fields
from membership.staff.tiers.services import TIER_FREQUENCIES, SuggestedAmount

MAX_PRESETS = 6


def parse_staff_amount(text: str, currency: str) -> int:
    """An amount staff typed, in minor units: read as the give form reads it, and one Stripe can charge."""
    minor = parse_major_amount(text, currency)
    check_stripe_charge(minor, currency)
    return minor


def check_within(minor: int, limits: AmountLimits, currency: str) -> None:
    """Raise ValueError unless the amount is one the give form accepts in this currency."""
    if minor < limits.minimum_minor:
        raise ValueError(_("This is below the smallest gift accepted in %(currency)s (%(amount)s).",
                           currency=currency, amount=format_money(limits.minimum_minor, currency)))
    if minor > limits.maximum_minor:
        raise ValueError(_("This is above the largest gift accepted in %(currency)s (%(amount)s).",
                           currency=currency, amount=format_money(limits.maximum_minor, currency)))


def tier_amount_field(currency: str, frequency: Frequency) -> str:
    return f"{frequency.value}_{currency}"


class TierForm(FlaskForm):
    """A tier's name, texts and visibility, plus one suggested-amount field per currency and frequency.

    Build it with `make_tier_form`, which adds the amount fields for the configured currencies.
    """

    # "Name" of a tier, not a person's (languages call them differently).
    name = StringField(LazyString(lambda: pgettext("tier", "Name")), filters=[strip_text],
                       validators=[DataRequired(lazy_gettext("Enter the tier's name.")), Length(max=80)])
    description = TextAreaField(lazy_gettext("Description"), filters=[strip_text],
                                validators=[Optional(), Length(max=2000)])
    benefits = TextAreaField(lazy_gettext("Benefits, one a line"), validators=[Optional(), Length(max=2000)])
    active = BooleanField(lazy_gettext("Show this tier on the support page"), default=True)

    def __init__(self, rules: Mapping[str, CurrencyRules], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rules = rules
        self.amounts: dict[tuple[str, Frequency], int] = {}
        self.languages: list[str] = []

    def translation_fields(self) -> list[Any]:
        """The name, description and benefits in each other language, for the template."""
        return [self[translation_field(name, locale)] for locale in self.languages for name in TRANSLATED]

    @property
    def translations(self) -> dict[str, dict[str, str]]:
        """What staff gave in the other languages: {"uk": {"name": "…"}}; empty fields left out."""
        return submitted_translations(self, self.languages, TRANSLATED)

    def amount_rows(self) -> list[tuple[str, list[Any]]]:
        """(currency, [monthly field, yearly field]) for the template."""
        return [(code, [self[tier_amount_field(code, f)] for f in TIER_FREQUENCIES]) for code in self.rules]

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        valid = bool(super().validate(extra_validators))
        for code, rules in self.rules.items():
            for frequency in TIER_FREQUENCIES:
                field = self[tier_amount_field(code, frequency)]
                text = (field.data or "").strip()
                if not text:
                    continue  # no suggestion in this currency
                try:
                    minor = parse_staff_amount(text, code)
                    check_within(minor, rules.limits, code)
                except ValueError as exc:
                    field.errors.append(str(exc))
                    valid = False
                else:
                    self.amounts[(code, frequency)] = minor
        return valid


# The tier's texts staff may give in each other language, and how long each may be.
TRANSLATED = {"name": 80, "description": 2000, "benefits": 2000}


def _translation_fields(languages: Sequence[str]) -> dict[str, Any]:
    return translation_fields(languages, {
        "name": TranslatedText(StringField, lambda language: gettext("Name (%(language)s)", language=language),
                               TRANSLATED["name"]),
        "description": TranslatedText(
            TextAreaField, lambda language: gettext("Description (%(language)s)", language=language),
            TRANSLATED["description"]),
        "benefits": TranslatedText(
            TextAreaField, lambda language: gettext("Benefits, one a line (%(language)s)", language=language),
            TRANSLATED["benefits"], filters=()),
    })


def _amount_label(frequency: Frequency, currency: str) -> Any:
    """The label of a tier's suggested-amount field (lazy: the form class outlives the request)."""
    if frequency is Frequency.MONTHLY:
        return lazy_gettext("Monthly in %(currency)s", currency=currency)
    if frequency is Frequency.YEARLY:
        return lazy_gettext("Yearly in %(currency)s", currency=currency)
    return lazy_gettext("One-time in %(currency)s", currency=currency)


def make_tier_form(rules: Mapping[str, CurrencyRules], languages: Sequence[str] = (), **kwargs: Any) -> TierForm:
    """A TierForm with suggested monthly and yearly amount fields for each currency offered, and the tier's
    texts in each of `languages` (the offered ones besides the default: empty falls back to it)."""
    fields = {
        tier_amount_field(code, frequency): StringField(
            _amount_label(frequency, code), filters=[strip_text], validators=[Length(max=20)])
        for code in rules for frequency in TIER_FREQUENCIES
    }
    fields.update(_translation_fields(languages))
    form_class = type("TierFormWithAmounts", (TierForm,), fields)
    form: TierForm = form_class(rules, **kwargs)
    form.languages = list(languages)
    return form


class TierMoveForm(FlaskForm):
    direction = SelectField(lazy_gettext("Move"), choices=[SelectChoice("up", lazy_gettext("Up")),
                                                                SelectChoice("down", lazy_gettext("Down"))])


class TierStatusForm(FlaskForm):
    active = BooleanField(lazy_gettext("Shown on the support page"))


class CurrencyAmountsForm(FlaskForm):
    """One currency's bounds and preset amounts, checked together: every preset and every tier's
    suggested amount must stay within the bounds, or the give form would offer what it then refuses."""

    minimum = StringField(lazy_gettext("Smallest gift"), filters=[strip_text],
                          validators=[DataRequired(lazy_gettext("Enter the smallest amount accepted.")),
                                      Length(max=20)])
    maximum = StringField(lazy_gettext("Largest gift"), filters=[strip_text],
                          validators=[DataRequired(lazy_gettext("Enter the largest amount accepted.")),
                                      Length(max=20)])
    once = StringField(lazy_gettext("One-time presets"), filters=[strip_text], validators=[Length(max=200)])
    monthly = StringField(lazy_gettext("Monthly presets"), filters=[strip_text], validators=[Length(max=200)])
    yearly = StringField(lazy_gettext("Yearly presets"), filters=[strip_text], validators=[Length(max=200)])

    def __init__(self, currency: str, suggested: Sequence[SuggestedAmount], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.code = currency
        self.suggested = suggested
        self.minimum_minor: int | None = None
        self.maximum_minor: int | None = None
        self.presets: dict[Frequency, list[int]] = {}
        self.most_chosen: dict[Frequency, int | None] = {}

    @property
    def limits(self) -> AmountLimits:
        assert self.minimum_minor is not None and self.maximum_minor is not None
        return AmountLimits(minimum_minor=self.minimum_minor, maximum_minor=self.maximum_minor)

    def preset_fields(self) -> list[Any]:
        return [self.once, self.monthly, self.yearly]

    def validate_minimum(self, field: StringField) -> None:
        try:
            self.minimum_minor = parse_staff_amount(field.data or "", self.code)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def validate_maximum(self, field: StringField) -> None:
        try:
            minor = parse_staff_amount(field.data or "", self.code)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        if self.minimum_minor is not None and minor < self.minimum_minor:
            raise ValidationError(_("The largest gift can't be below the smallest (%(amount)s).",
                                    amount=format_money(self.minimum_minor, self.code)))
        self.maximum_minor = minor

    def validate(self, extra_validators: Mapping[str, Sequence[Any]] | None = None) -> bool:
        """The fields one by one, then whether every tier's suggested amount stays within the new bounds."""
        valid = bool(super().validate(extra_validators))
        if self.minimum_minor is None or self.maximum_minor is None:
            return False
        below = next((s for s in self.suggested if s.amount_minor < self.minimum_minor), None)
        if below is not None:
            self.minimum.errors.append(self._blocked_by(below, above=False))
        above = next((s for s in self.suggested if s.amount_minor > self.maximum_minor), None)
        if above is not None:
            self.maximum.errors.append(self._blocked_by(above, above=True))
        return valid and below is None and above is None

    def _blocked_by(self, suggestion: SuggestedAmount, *, above: bool) -> str:
        values = {"tier": suggestion.tier_name,
                  "amount": format_recurring(suggestion.amount_minor, self.code, suggestion.frequency.value)}
        if above:
            return str(_("The %(tier)s tier suggests %(amount)s, which would be above this. Change that tier's "
                         "amount first.", **values))
        return str(_("The %(tier)s tier suggests %(amount)s, which would be below this. Change that tier's amount "
                     "first.", **values))

    def validate_once(self, field: StringField) -> None:
        self._presets(field, Frequency.ONCE)

    def validate_monthly(self, field: StringField) -> None:
        self._presets(field, Frequency.MONTHLY)

    def validate_yearly(self, field: StringField) -> None:
        self._presets(field, Frequency.YEARLY)

    def _presets(self, field: StringField, frequency: Frequency) -> None:
        amounts: list[int] = []
        marked: int | None = None
        for part in (p for p in re.split(r"[,;\s]+", field.data or "") if p):
            star = part.endswith("*")  # "25*": the one staff mark as most chosen
            try:
                minor = parse_staff_amount(part.rstrip("*"), self.code)
                if self.minimum_minor is not None and self.maximum_minor is not None:
                    check_within(minor, self.limits, self.code)
            except ValueError as exc:
                raise ValidationError(_("%(amount)s: %(problem)s", amount=part, problem=exc)) from None
            if minor in amounts:
                raise ValidationError(_("%(amount)s is listed twice; list each amount once.", amount=part))
            if star and marked is not None:
                raise ValidationError(_("Mark one amount as most chosen, not several."))
            amounts.append(minor)
            marked = minor if star else marked
        if len(amounts) > MAX_PRESETS:
            raise ValidationError(_("List at most %(count)s amounts.", count=MAX_PRESETS))
        self.presets[frequency] = amounts
        self.most_chosen[frequency] = marked


def impact_field(frequency: Frequency, amount_minor: int, locale: str | None = None) -> str:
    """The field holding a preset's impact text (`locale`: another language's): impact_monthly_1000_uk."""
    name = f"impact_{frequency.value}_{amount_minor}"
    return translation_field(name, locale) if locale else name


def refuse_control_characters(form: FlaskForm, field: Any) -> None:
    """One line of plain text: tabs, line breaks and other control characters are refused, not silently dropped."""
    if any(unicodedata.category(char) == "Cc" for char in field.data or ""):
        raise ValidationError(_("Write the impact text on one line, without tabs or other control characters."))


class ImpactForm(FlaskForm):
    """What each preset amount of a currency pays for, in the default language and each other one.

    Build it with `make_impact_form`, which adds one field per preset and language."""

    def __init__(self, currency: str, presets: Mapping[Frequency, Sequence[int]], languages: Sequence[str],
                 *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.code = currency
        self.presets = presets
        self.languages = list(languages)

    def rows(self) -> list[tuple[Frequency, list[list[Any]]]]:
        """(frequency, [[default field, other languages' fields…] per preset]) for the template."""
        return [(frequency, [[self[impact_field(frequency, amount, locale)] for locale in (None, *self.languages)]
                             for amount in amounts])
                for frequency, amounts in self.presets.items() if amounts]

    @property
    def texts(self) -> dict[tuple[Frequency, int], tuple[str, dict[str, str]]]:
        """{(frequency, amount): (text, {"uk": text})}: what staff wrote, stripped, empty languages left out."""
        found: dict[tuple[Frequency, int], tuple[str, dict[str, str]]] = {}
        for frequency, amounts in self.presets.items():
            for amount in amounts:
                others = {locale: text for locale in self.languages
                          if (text := (self[impact_field(frequency, amount, locale)].data or "").strip())}
                found[(frequency, amount)] = ((self[impact_field(frequency, amount)].data or "").strip(), others)
        return found


def make_impact_form(currency: str, presets: Mapping[Frequency, Sequence[int]], languages: Sequence[str],
                     **kwargs: Any) -> ImpactForm:
    """An ImpactForm with a field for each preset of `currency`, in the default language and each of `languages`."""
    fields: dict[str, Any] = {}
    validators = [Optional(), Length(max=IMPACT_MAX), refuse_control_characters]
    for frequency, amounts in presets.items():
        for amount in amounts:
            shown = format_recurring(amount, currency, frequency.interval)
            fields[impact_field(frequency, amount)] = StringField(
                gettext("What %(amount)s pays for", amount=shown), filters=[strip_text], validators=validators)
            for locale in languages:
                fields[impact_field(frequency, amount, locale)] = StringField(
                    gettext("What %(amount)s pays for (%(language)s)", amount=shown, language=language_name(locale)),
                    filters=[strip_text], validators=validators)
    form_class = type("ImpactFormWithPresets", (ImpactForm,), fields)
    form: ImpactForm = form_class(currency, presets, languages, **kwargs)
    return form
