"""What the app needs on its Stripe account: `flask stripe setup` makes it, `flask stripe check` verifies it.

Both take the gateway and plain settings and return a report for the command to print; neither touches the
database. What setup makes is marked with metadata (`membership=billing_portal` / `membership=webhook`), so
setup finds it again (a second run changes nothing) and the gateway finds the Portal configuration to open
Portal sessions with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from membership.giving.events import HANDLERS
from membership.giving.stripe_gateway import (
    API_VERSION,
    PORTAL_CONFIGURATION_MARK,
    SETUP_METADATA_KEY,
    WEBHOOK_ENDPOINT_MARK,
    StripeGateway,
    StripeRejected,
    find_marked,
)

WEBHOOK_PATH = "/stripe/webhook"
# Stripe's own cancellation reasons, all offered (the app's cancel form asks the same question).
CANCELLATION_REASONS = ("too_expensive", "missing_features", "switched_service", "unused", "customer_service",
                        "too_complex", "low_quality", "other")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# What a restricted key (rk_…) must be allowed, as the Dashboard names it, and a request that needs exactly
# that permission and changes nothing: a read, or a write Stripe refuses anyway (unknown id, missing param).
PERMISSION_PROBES: tuple[tuple[str, str, str, dict[str, Any] | None], ...] = (
    ("Checkout Sessions: Write", "post", "/v1/checkout/sessions", None),
    ("Customers: Write", "delete", "/v1/customers/cus_membership_permission_probe", None),
    ("Subscriptions: Write", "post", "/v1/subscriptions/sub_membership_permission_probe", None),
    ("Invoices: Read", "get", "/v1/invoices", {"limit": 1}),
    ("PaymentIntents: Read", "get", "/v1/payment_intents/pi_membership_permission_probe", None),
    ("PaymentMethods: Read", "get", "/v1/payment_methods/pm_membership_permission_probe", None),
    ("Charges: Read", "get", "/v1/charges", {"limit": 1}),
    ("Refunds: Write", "post", "/v1/refunds", None),
    ("Disputes: Read", "get", "/v1/disputes", {"limit": 1}),
    ("Balance: Read", "get", "/v1/balance_transactions/txn_membership_permission_probe", None),
    ("Events: Read", "get", "/v1/events", {"limit": 1}),
    ("Customer portal: Write", "post", "/v1/billing_portal/sessions", None),
    ("Webhook Endpoints: Write", "post", "/v1/webhook_endpoints", None),
    ("Account: Read", "get", "/v1/account", None),
)


def handled_event_types() -> list[str]:
    """The event types the webhook dispatches (events.HANDLERS): exactly what the endpoint should send."""
    return sorted(HANDLERS)


def webhook_url(public_url: str) -> str:
    return f"{public_url.rstrip('/')}{WEBHOOK_PATH}"


def on_this_machine(public_url: str) -> bool:
    """A PUBLIC_URL Stripe can't reach (events then come through `stripe listen`, not an endpoint)."""
    return (urlsplit(public_url).hostname or "") in LOOPBACK_HOSTS


def portal_configuration_params(public_url: str) -> dict[str, Any]:
    """The Portal the app needs: card update, invoices, cancel at the period's end with a reason; no plan
    switching (amounts change on /account/amount) and no customer details (the email is the patron's
    sign-in name here)."""
    return {
        "features": {
            "customer_update": {"enabled": False},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True},
            "subscription_cancel": {
                "enabled": True,
                "mode": "at_period_end",
                "proration_behavior": "none",
                "cancellation_reason": {"enabled": True, "options": list(CANCELLATION_REASONS)},
            },
            "subscription_update": {"enabled": False},
        },
        "default_return_url": f"{public_url.rstrip('/')}/account",
        "metadata": {SETUP_METADATA_KEY: PORTAL_CONFIGURATION_MARK},
    }


def portal_differences(configuration: dict[str, Any], public_url: str) -> list[str]:
    """How a Portal configuration differs from what the app needs (empty when it is right)."""
    features = configuration.get("features") or {}

    def feature(name: str) -> dict[str, Any]:
        return features.get(name) or {}

    cancel = feature("subscription_cancel")
    reasons = cancel.get("cancellation_reason") or {}
    checks = (
        (not configuration.get("active"), "it is inactive"),
        (not feature("payment_method_update").get("enabled"), "card update is off"),
        (not feature("invoice_history").get("enabled"), "invoice history is off"),
        (not cancel.get("enabled"), "cancelling is off"),
        (bool(cancel.get("enabled")) and cancel.get("mode") != "at_period_end",
         "it cancels at once instead of at the period's end"),
        (not reasons.get("enabled") or sorted(reasons.get("options") or []) != sorted(CANCELLATION_REASONS),
         "it doesn't ask every cancellation reason"),
        (bool(feature("subscription_update").get("enabled")), "plan switching is on"),
        (bool(feature("subscription_pause").get("enabled")), "pausing is on"),
        (bool(feature("customer_update").get("enabled")), "customers may change their email and details"),
        (configuration.get("default_return_url") != f"{public_url.rstrip('/')}/account",
         "its return URL isn't PUBLIC_URL/account"),
    )
    return [words for wrong, words in checks if wrong]


def endpoint_differences(endpoint: dict[str, Any], url: str, event_types: Iterable[str]) -> list[str]:
    """How a webhook endpoint differs from what the app needs (empty when it is right)."""
    wanted, enabled = set(event_types), set(endpoint.get("enabled_events") or [])
    wrong: list[str] = []
    if endpoint.get("url") != url:
        wrong.append(f"it points at {endpoint.get('url')}, not {url}")
    if endpoint.get("api_version") != API_VERSION:
        wrong.append(f"its API version is {endpoint.get('api_version') or 'the account default'}, not {API_VERSION}")
    if missing := sorted(wanted - enabled):
        wrong.append(f"it doesn't send {', '.join(missing)}")
    if extra := sorted(enabled - wanted):
        wrong.append(f"it also sends {', '.join(extra)}, which the app doesn't handle")
    if endpoint.get("status") != "enabled":
        wrong.append("it is disabled")
    return wrong


@dataclass
class SetupReport:
    """What `stripe setup` did, line by line; `secret` is a new endpoint's signing secret (shown once)."""

    lines: list[str] = field(default_factory=list)
    changed: bool = False
    secret: str | None = None


def set_up_account(gateway: StripeGateway, public_url: str) -> SetupReport:
    """Create or update the Portal configuration and the webhook endpoint; a second run changes nothing."""
    report = SetupReport()
    _set_up_portal(gateway, public_url, report)
    _set_up_endpoint(gateway, public_url, report)
    return report


def _set_up_portal(gateway: StripeGateway, public_url: str, report: SetupReport) -> None:
    wanted = portal_configuration_params(public_url)
    mine = find_marked(gateway.list_portal_configurations(), PORTAL_CONFIGURATION_MARK)
    if mine is None:
        created = gateway.create_portal_configuration(wanted)
        report.lines.append(f"Billing Portal configuration {created['id']}: created.")
        report.changed = True
    elif differences := portal_differences(mine, public_url):
        gateway.update_portal_configuration(str(mine["id"]), {**wanted, "active": True})
        report.lines.append(f"Billing Portal configuration {mine['id']}: updated ({'; '.join(differences)}).")
        report.changed = True
    else:
        report.lines.append(f"Billing Portal configuration {mine['id']}: already right, unchanged.")


def _set_up_endpoint(gateway: StripeGateway, public_url: str, report: SetupReport) -> None:
    url, event_types = webhook_url(public_url), handled_event_types()
    if on_this_machine(public_url):
        report.lines.append(
            f"Webhook endpoint: none made, as Stripe can't reach PUBLIC_URL ({public_url}) on this machine. Run "
            f"`stripe listen --latest --forward-to {url}` and set STRIPE_WEBHOOK_SECRET to the secret it prints.")
        return
    endpoints = gateway.list_webhook_endpoints()
    target = next((e for e in endpoints if e.get("url") == url), None) or find_marked(endpoints, WEBHOOK_ENDPOINT_MARK)
    description = "Reader-support membership (flask stripe setup)"
    if target is None:
        created = gateway.create_webhook_endpoint(url, event_types, description)
        report.lines.append(f"Webhook endpoint {created['id']} for {url}: created.")
        report.changed, report.secret = True, str(created["secret"])
    elif target.get("api_version") != API_VERSION:
        # Stripe can't change an endpoint's API version: a new endpoint replaces it (with a new secret).
        created = gateway.create_webhook_endpoint(url, event_types, description)
        gateway.delete_webhook_endpoint(str(target["id"]))
        report.lines.append(
            f"Webhook endpoint {created['id']} for {url}: created in place of {target['id']} (deleted), whose API "
            f"version {target.get('api_version') or '(the account default)'} can't be changed to {API_VERSION}.")
        report.changed, report.secret = True, str(created["secret"])
    elif differences := endpoint_differences(target, url, event_types):
        gateway.update_webhook_endpoint(str(target["id"]), url, event_types)
        report.lines.append(f"Webhook endpoint {target['id']}: updated ({'; '.join(differences)}).")
        report.changed = True
    else:
        report.lines.append(f"Webhook endpoint {target['id']} for {url}: already right, unchanged.")


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str


@dataclass
class CheckReport:
    """What `stripe check` found: facts to show, and the problems (each with its fix)."""

    facts: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def check_account(gateway: StripeGateway, *, public_url: str, currencies: Iterable[str], expect_live: bool,
                  key: str) -> CheckReport:
    """Read the account and report everything the app needs that is missing or wrong."""
    report = CheckReport()
    _check_key(gateway, key, expect_live, report)
    steps: tuple[tuple[Callable[[], None], str, str], ...] = (
        (lambda: _check_endpoint(gateway, public_url, report), "the webhook endpoints", "Webhook Endpoints"),
        (lambda: _check_portal(gateway, public_url, report), "the Billing Portal configurations", "Customer portal"),
        (lambda: _check_currencies(gateway, [c.lower() for c in currencies], report),
         "the account's country and currencies", "Account"),
        (lambda: _check_adaptive_pricing(gateway, report), "recent Checkout Sessions", "Checkout Sessions"),
    )
    # A refused read is reported and the other checks go on; Stripe down or a revoked key stops the check.
    for step, what, permission in steps:
        try:
            step()
        except StripeRejected as exc:
            report.problems.append(Problem(
                f"Couldn't read {what}: {exc}",
                f"Give the key {permission}: Read (or Write, as listed in docs/real-stripe.md)."))
    return report


def _check_key(gateway: StripeGateway, key: str, expect_live: bool, report: CheckReport) -> None:
    mode = "live" if gateway.livemode else "test"
    restricted = key.startswith("rk_")
    report.facts.append(f"Key: {mode} mode, {'restricted' if restricted else 'secret'} key.")
    if gateway.livemode != expect_live:
        report.problems.append(Problem(
            f"STRIPE_SECRET_KEY is a {mode}-mode key, but this check expects {'live' if expect_live else 'test'} mode.",
            "Use the test-mode key (sk_test_… or rk_test_…) from the Dashboard's test mode."
            if not expect_live else "Use the live key, or leave out --live to check a test-mode account."))
    if not restricted:
        return
    for permission, method, path, params in PERMISSION_PROBES:
        if not gateway.permitted(method, path, params):
            report.problems.append(Problem(
                f"The restricted key lacks {permission}.",
                f"In the Dashboard (Developers → API keys), edit the key and set {permission}."))


def _check_endpoint(gateway: StripeGateway, public_url: str, report: CheckReport) -> None:
    url = webhook_url(public_url)
    if on_this_machine(public_url):
        report.facts.append(f"Webhook endpoint: not needed, PUBLIC_URL is on this machine; events come through "
                            f"`stripe listen --latest --forward-to {url}`.")
        return
    endpoints = gateway.list_webhook_endpoints()
    at_url = [e for e in endpoints if e.get("url") == url]
    target = at_url[0] if at_url else find_marked(endpoints, WEBHOOK_ENDPOINT_MARK)
    if target is None:
        report.problems.append(Problem(f"No webhook endpoint sends events to {url}.",
                                       "Run `flask --app membership stripe setup` and set STRIPE_WEBHOOK_SECRET "
                                       "to the secret it prints."))
        return
    if len(at_url) > 1:
        report.problems.append(Problem(
            f"{len(at_url)} webhook endpoints send events to {url}: each event arrives more than once.",
            f"Delete all but {target['id']} in the Dashboard (Developers → Webhooks)."))
    if differences := endpoint_differences(target, url, handled_event_types()):
        report.problems.append(Problem(f"Webhook endpoint {target['id']}: {'; '.join(differences)}.",
                                       "Run `flask --app membership stripe setup` (a new API version means a new "
                                       "endpoint: set STRIPE_WEBHOOK_SECRET to the secret it prints)."))
    else:
        report.facts.append(f"Webhook endpoint {target['id']}: {url}, API {API_VERSION}, "
                            f"{len(handled_event_types())} event types.")


def _check_portal(gateway: StripeGateway, public_url: str, report: CheckReport) -> None:
    mine = find_marked(gateway.list_portal_configurations(), PORTAL_CONFIGURATION_MARK)
    if mine is None:
        report.problems.append(Problem("No Billing Portal configuration made by `stripe setup`: Portal sessions "
                                       "would use the account default, if there is one.",
                                       "Run `flask --app membership stripe setup`."))
    elif differences := portal_differences(mine, public_url):
        report.problems.append(Problem(f"Billing Portal configuration {mine['id']}: {'; '.join(differences)}.",
                                       "Run `flask --app membership stripe setup`."))
    else:
        report.facts.append(f"Billing Portal configuration {mine['id']}: card update, invoices, cancel at the "
                            "period's end with a reason, no plan switching.")


def _check_currencies(gateway: StripeGateway, currencies: list[str], report: CheckReport) -> None:
    account = gateway.retrieve_account()
    country = str(account.get("country") or "")
    supported = set(gateway.retrieve_country_spec(country).get("supported_payment_currencies") or [])
    report.facts.append(f"Account {account.get('id')}: {country}, settles in {account.get('default_currency')}.")
    for currency in currencies:
        if currency not in supported:
            report.problems.append(Problem(
                f"The account ({country}) can't charge {currency.upper()}, which the give form offers.",
                f"Remove {currency.upper()} from MEMBERSHIP_CURRENCIES."))


def _check_adaptive_pricing(gateway: StripeGateway, report: CheckReport) -> None:
    # The API doesn't expose the Dashboard's Adaptive Pricing setting; a Checkout Session shows whether it
    # applied to that session. Recent sessions with it on mean the account has it on (and something created
    # them without `adaptive_pricing[enabled]=false`).
    sessions = gateway.recent_checkout_sessions()
    adaptive = [s["id"] for s in sessions if (s.get("adaptive_pricing") or {}).get("enabled")]
    if adaptive:
        report.problems.append(Problem(
            f"Adaptive Pricing is on: recent Checkout Sessions ({', '.join(adaptive[:3])}) let readers pay in "
            "another currency than the one they chose.",
            "Turn it off in the Dashboard (Settings → Payments → Adaptive Pricing)."))
    elif sessions:
        report.facts.append(f"Adaptive Pricing: off in the {len(sessions)} most recent Checkout Sessions.")
    else:
        report.facts.append("Adaptive Pricing: no Checkout Session yet to tell (the API doesn't show the setting).")
