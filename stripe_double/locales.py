# ruff: noqa: RUF001  (Ukrainian words: Cyrillic letters that look like Latin ones are meant)
"""The hosted pages' words in the languages the double speaks, chosen as Stripe chooses: the session's `locale`,
or for `auto` (and none) the browser's Accept-Language. A test double: a small dict, no catalogs.

Stripe's own pages don't speak Ukrainian and its API refuses `locale=uk` (the schema check refuses it here too):
a Ukrainian reader reaches Ukrainian only through `auto` and a Ukrainian browser, which is what the app sends.
"""

from __future__ import annotations

from typing import Any

from flask import request

DEFAULT = "en"
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "pay_title": "Pay {price}", "back": "← Back", "email": "Email", "card_number": "Card number",
        "expiry": "Expiry (MM / YY)", "cvc": "CVC", "card_name": "Name on card",
        "book": "Book", "donate": "Donate", "pay": "Pay", "subscribe": "Subscribe",
        "per_month": "{amount} per month", "per_year": "{amount} per year",
        "paid_title": "Payment complete", "expired_title": "This checkout has expired",
        "paid_text": "This payment of {amount} has already been made. You will not be charged again.",
        "expired_text": "Nothing was charged. Please start again from the site.", "continue": "Continue",
        "auth_title": "Authenticate your payment", "auth_heading": "3D Secure authentication",
        "auth_text": "Your bank asks you to confirm the payment of", "auth_approve": "Complete authentication",
        "auth_fail": "Fail authentication",
        "portal_title": "Manage your subscription", "subscriptions": "Subscriptions",
        "no_subscriptions": "No active subscriptions.", "status": "Status", "cancels_on": "Cancels on",
        "renew": "Renew subscription", "next_renewal": "Next renewal", "cancel": "Cancel subscription",
        "payment_method": "Payment method", "card_ending": "{brand} ending in {last4}, expires {expiry}",
        "no_card": "No card on file.", "update_your_card": "Update your card", "update_card": "Update card",
        "save_card": "Save card", "invoices": "Invoices", "no_invoices": "No invoices yet.", "date": "Date",
        "amount": "Amount", "invoice": "Invoice", "return_to": "Return to {host}",
    },
    "uk": {
        "pay_title": "Оплата {price}", "back": "← Назад", "email": "Електронна пошта", "card_number": "Номер картки",
        "expiry": "Термін дії (ММ / РР)", "cvc": "CVC", "card_name": "Ім’я на картці",
        "book": "Забронювати", "donate": "Пожертвувати", "pay": "Оплатити", "subscribe": "Оформити підписку",
        "per_month": "{amount} на місяць", "per_year": "{amount} на рік",
        "paid_title": "Оплату завершено", "expired_title": "Термін дії цієї сторінки оплати минув",
        "paid_text": "Цей платіж на {amount} уже здійснено. Повторно кошти не спишуть.",
        "expired_text": "Кошти не списано. Почніть знову на сайті.", "continue": "Продовжити",
        "auth_title": "Підтвердьте платіж", "auth_heading": "Перевірка 3D Secure",
        "auth_text": "Ваш банк просить підтвердити платіж на", "auth_approve": "Підтвердити",
        "auth_fail": "Не підтверджувати",
        "portal_title": "Керування підпискою", "subscriptions": "Підписки",
        "no_subscriptions": "Активних підписок немає.", "status": "Статус", "cancels_on": "Буде скасовано",
        "renew": "Поновити підписку", "next_renewal": "Наступне поновлення", "cancel": "Скасувати підписку",
        "payment_method": "Спосіб оплати", "card_ending": "{brand}, що закінчується на {last4}, дійсна до {expiry}",
        "no_card": "Картку не додано.", "update_your_card": "Оновіть картку", "update_card": "Оновити картку",
        "save_card": "Зберегти картку", "invoices": "Рахунки", "no_invoices": "Рахунків ще немає.", "date": "Дата",
        "amount": "Сума", "invoice": "Рахунок", "return_to": "Повернутися на {host}",
    },
}


def page_language(locale: str | None) -> str:
    """The language a hosted page is shown in for a session's `locale` ('en', 'fr', 'auto' or None)."""
    if locale and locale != "auto":
        language = locale.split("-", 1)[0].lower()
        return language if language in TEXTS else DEFAULT
    return request.accept_languages.best_match(list(TEXTS), default=DEFAULT) or DEFAULT


def words(locale: str | None) -> dict[str, Any]:
    """What a hosted page's template needs: `t` (its words) and `page_lang` (its `<html lang>`)."""
    language = page_language(locale)
    return {"t": TEXTS[language], "page_lang": language}
