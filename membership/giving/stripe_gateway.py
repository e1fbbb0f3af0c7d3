"""The only module that talks to Stripe.

It wraps `stripe.StripeClient`, points it at `STRIPE_API_BASE` when set (the offline double) and at
Stripe otherwise, and hands plain dicts and dataclasses back so nothing else depends on the SDK.
Every POST carries an idempotency key derived from one of our own rows, so a retried request never
charges or creates twice; each key starts with this installation's id (`membership.installation`), so another
installation sharing the Stripe account, or this one after a database reset, never meets our keys.

`API_VERSION` is the version the installed SDK's typed classes describe; the Stripe double takes the same one
from the SDK, so the app, the double and the types always speak one version.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

import requests
import stripe
import urllib3
from flask import current_app
from stripe import _api_requestor, _util
from stripe._api_version import _ApiVersion

from membership.giving.stripe_account_calls import AccountCalls
from membership.giving.stripe_types import (
    ChargeDetails,
    CheckoutOutcome,
    CheckoutRequest,
    InvalidWebhook,
    Receipt,
    SessionRef,
    StripePermissionDenied,
    StripeRejected,
    StripeUnavailable,
    charge_details_of,
    paid_intent_of,
)
from membership.metrics import observed_stripe_request
from membership.pace import RETRIES, Pace, PaceTimeout, backoff_seconds, current_priority

__all__ = ["API_VERSION", "ChargeDetails", "CheckoutOutcome", "CheckoutRequest", "InvalidWebhook", "Receipt",
           "SessionRef", "StripeGateway", "StripePermissionDenied", "StripeRejected", "StripeUnavailable",
           "find_marked", "gateway", "receipt_of"]

# The metadata that marks what `flask stripe setup` made on the account, so it finds them again.
SETUP_METADATA_KEY = "membership"
PORTAL_CONFIGURATION_MARK = "billing_portal"
WEBHOOK_ENDPOINT_MARK = "webhook"

API_VERSION: str = _ApiVersion.CURRENT
SIGNATURE_TOLERANCE_SECONDS = 300


def _formatted_only_when_kept(log: Callable[..., None], level: int) -> Callable[..., None]:
    # The SDK formats each call's log lines (one with the whole response body) before its logger drops them.
    def log_if_kept(message: str, **params: Any) -> None:
        if _util._console_log_level() or _util.logger.isEnabledFor(level):  # type: ignore[no-untyped-call]
            log(message, **params)
    return log_if_kept


for _name, _level in (("log_info", logging.INFO), ("log_debug", logging.DEBUG)):
    setattr(_api_requestor, _name, _formatted_only_when_kept(getattr(_api_requestor, _name), _level))


class _PacedClient(stripe.HTTPClient):
    """The SDK's HTTP client: one keep-alive urllib3 pool for every call to Stripe (thread-safe, shared by the
    SDK across threads), each request taking a turn at Stripe's pace first (the SDK's retries too).

    urllib3 directly, not requests: the same pool and sockets, without requests' per-call work (merging
    settings, cookie jars, hooks, re-reading proxy settings and netrc from the environment), which cost about
    1 ms of CPU a call. The proxy, if any, is read once, at start-up (`_proxy`)."""

    name = "urllib3"

    def __init__(self, pace: Callable[[], Pace | None], *, timeout: float, proxy: str | None) -> None:
        super().__init__(proxy=proxy)
        self._pace = pace
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        options: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED", "ca_certs": stripe.ca_bundle_path, "maxsize": 10,
                                   "retries": False}
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        # Each origin's connection pool, found once: the manager would parse every URL again to find it.
        self._origins: dict[str, urllib3.HTTPConnectionPool | None] = {}

    def _origin_pool(self, url: str) -> tuple[urllib3.HTTPConnectionPool | None, str]:
        """The pool for `url`'s origin and the path and query to ask it for; no pool when a plain-HTTP proxy needs
        the whole URL in the request line (then the manager sends it)."""
        cut = url.find("/", url.find("://") + 3)
        origin, target = (url, "/") if cut < 0 else (url[:cut], url[cut:])
        if origin not in self._origins:
            parsed = urllib3.util.parse_url(origin)
            needs_whole_url = self._pool._proxy_requires_url_absolute_form(parsed)
            self._origins[origin] = None if needs_whole_url else self._pool.connection_from_url(origin)
        return self._origins[origin], target

    def request(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None, *,
                _usage: list[str] | None = None) -> tuple[Any, int, Mapping[str, str]]:
        if (pace := self._pace()) is not None:
            pace.take()
        pool, target = self._origin_pool(url)
        options: dict[str, Any] = {"body": post_data, "headers": dict(headers or {}), "timeout": self._timeout,
                                   "retries": False, "redirect": False}
        try:
            if pool is None:
                response = self._pool.request(method.upper(), url, **options)
            else:
                response = pool.urlopen(method.upper(), target, assert_same_host=False, **options)
        except urllib3.exceptions.HTTPError as exc:
            # As the SDK's own clients decide: a connection or timeout error may be retried, a TLS one never.
            retry = not isinstance(exc, urllib3.exceptions.SSLError)
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Unexpected error communicating with Stripe. (Network error: {type(exc).__name__}: {exc})",
                should_retry=retry) from exc
        return response.data, response.status, response.headers

    def close(self) -> None:
        self._origins.clear()
        self._pool.clear()


def _retry_later(exc: stripe.RateLimitError) -> bool:
    """Whether a 429 is worth another try: a rate limit or lock timeout, unless Stripe-Should-Retry says no."""
    headers = {str(k).lower(): str(v) for k, v in (exc.headers or {}).items()}
    code = getattr(exc.error, "code", None)
    return headers.get("stripe-should-retry") != "false" and code in ("rate_limit", "lock_timeout")


def _proxy(api_base: str) -> str | None:
    """HTTPS_PROXY / HTTP_PROXY / NO_PROXY as they apply to the Stripe API, read once at start-up."""
    proxies = requests.utils.get_environ_proxies(api_base)
    return proxies.get(urlsplit(api_base).scheme) or proxies.get("all") or None


class StripeGateway(AccountCalls):
    """Stripe, as the app needs it. One instance per app; thread-safe like the SDK client it wraps."""

    def __init__(self, secret_key: str, api_base: str = "", timeout_seconds: int = 20,
                 installation_id: Callable[[], str] | None = None, pace: Pace | None = None) -> None:
        self.secret_key = secret_key
        self.pace = pace  # every request waits its turn here (membership/pace.py); None: no pacing
        # Called for each POST: this installation's id, which starts every idempotency key.
        self._installation_id = installation_id
        self.livemode = secret_key.startswith(("sk_live_", "rk_live_"))
        base = {"api": api_base, "connect": api_base, "files": api_base} if api_base else None
        self._client = stripe.StripeClient(
            secret_key or "sk_test_unconfigured",
            stripe_version=API_VERSION,
            base_addresses=base,  # type: ignore[arg-type]
            max_network_retries=2,
            http_client=_PacedClient(lambda: self.pace, timeout=timeout_seconds,
                                     proxy=_proxy(api_base or "https://api.stripe.com")),
        )
        self.configured = bool(secret_key)
        self._portal_configuration_id: str | None = None

    def _call(self, method: str, path: str, params: Mapping[str, Any] | None = None,
              idempotency_key: str | None = None) -> dict[str, Any]:
        if not self.configured:
            raise StripeUnavailable("STRIPE_SECRET_KEY is not set.")
        request_params = dict(params or {})
        if idempotency_key:
            prefix = self._installation_id() if self._installation_id else ""
            request_params["idempotency_key"] = f"{prefix}-{idempotency_key}" if prefix else idempotency_key
        try:
            response = self._request_retrying_429s(method, path, request_params)
        except PaceTimeout as exc:
            raise StripeUnavailable(str(exc)) from exc
        except (stripe.APIConnectionError, stripe.AuthenticationError, stripe.RateLimitError) as exc:
            raise StripeUnavailable(str(exc.user_message or exc)) from exc
        except stripe.APIError as exc:
            raise StripeUnavailable(str(exc.user_message or exc)) from exc
        except stripe.PermissionError as exc:
            raise StripePermissionDenied(str(exc.user_message or exc)) from exc
        except stripe.StripeError as exc:
            error = exc.error
            raise StripeRejected(
                str(exc.user_message or exc),
                code=getattr(error, "code", None),
                param=getattr(error, "param", None),
            ) from exc
        return dict(response.data)

    def _request_retrying_429s(self, method: str, path: str, params: dict[str, Any]) -> Any:
        """One API request; Stripe's 429s (rate_limit, lock_timeout) are retried with exponential back-off and
        jitter, as Stripe asks (the SDK leaves rate limits to us), unless Stripe-Should-Retry says no."""
        retries = RETRIES[current_priority()]
        for attempt in range(1, retries + 2):
            try:
                with observed_stripe_request(path) as observed:  # counted by status (each 429 too), and timed
                    response = self._client.raw_request(method, path, **params)
                    observed.status = str(response.code)
                    return response
            except stripe.RateLimitError as exc:
                if attempt > retries or not _retry_later(exc):
                    raise
                time.sleep(backoff_seconds(attempt))
        raise AssertionError("unreachable")

    # Checkout ---------------------------------------------------------------------------------------

    def create_checkout_session(self, request: CheckoutRequest) -> SessionRef:
        price_data: dict[str, Any] = {
            "currency": request.currency.lower(),
            "unit_amount": request.amount_minor,
            "product_data": {"name": request.product_name},
        }
        params: dict[str, Any] = {
            "mode": request.mode,
            "line_items": [{"price_data": price_data, "quantity": 1}],
            "client_reference_id": str(request.checkout_id),
            "metadata": dict(request.metadata),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            # The reader pays the amount and currency they chose, never a price Stripe localised for them.
            "adaptive_pricing": {"enabled": False},
            "locale": request.locale,
        }
        if request.customer_id:
            params["customer"] = request.customer_id
        else:
            params["customer_email"] = request.customer_email
        if request.mode == "subscription":
            price_data["recurring"] = {"interval": request.interval}
            params["subscription_data"] = {"metadata": dict(request.metadata)}
        else:
            params["submit_type"] = "donate"
            params["payment_intent_data"] = {"metadata": dict(request.metadata)}
            # Stripe issues a paid invoice for the gift: the reader's receipt, as a page and a PDF.
            invoice_data: dict[str, Any] = {"description": request.product_name, "metadata": dict(request.metadata)}
            if request.invoice_footer:
                invoice_data["footer"] = request.invoice_footer
            params["invoice_creation"] = {"enabled": True, "invoice_data": invoice_data}
            if not request.customer_id:
                params["customer_creation"] = "always"
        session = self._call("post", "/v1/checkout/sessions", params,
                             idempotency_key=f"checkout-{request.checkout_id}-session")
        return SessionRef(id=session["id"], url=session["url"])

    def retrieve_checkout_session(self, session_id: str) -> dict[str, Any]:
        return self._call("get", f"/v1/checkout/sessions/{session_id}")

    def checkout_outcome(self, session_id: str) -> CheckoutOutcome:
        """The session with its gift's charge (fee and net) or its subscription, and the invoice it issued (the
        receipt), expanded in one call."""
        session = self._call("get", f"/v1/checkout/sessions/{session_id}", {"expand": [
            "payment_intent.latest_charge.balance_transaction", "subscription.default_payment_method", "invoice"]})
        intent, subscription = session.get("payment_intent"), session.get("subscription")
        return CheckoutOutcome(
            session=session,
            charge=self._settled_charge(intent) if isinstance(intent, dict) else None,
            subscription=subscription if isinstance(subscription, dict) else None,
            receipt=receipt_of(session.get("invoice")),
        )

    def expire_checkout_session(self, session_id: str) -> dict[str, Any]:
        return self._call("post", f"/v1/checkout/sessions/{session_id}/expire",
                          idempotency_key=f"expire-{session_id}")

    # Subscriptions, invoices, charges ---------------------------------------------------------------

    def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._call("get", f"/v1/subscriptions/{subscription_id}",
                          {"expand": ["default_payment_method"]})

    def retrieve_invoice(self, invoice_id: str, *, with_payments: bool = False) -> dict[str, Any]:
        """An invoice; `with_payments` includes its first payments (`payments`, which Stripe leaves out unless
        expanded), so `payment_intent_for_invoice` needs no second request."""
        return self._call("get", f"/v1/invoices/{invoice_id}", {"expand": ["payments"]} if with_payments else None)

    def payment_intent_for_invoice(self, invoice: dict[str, Any]) -> str | None:
        """The PaymentIntent that paid an invoice (today's API keeps it on its invoice payments): read from the
        payments the invoice includes when it was retrieved with them, else (or when it has more than those)
        listed."""
        included = invoice.get("payments")
        if isinstance(included, dict):
            intent = paid_intent_of(included.get("data") or [])
            if intent is not None or not included.get("has_more"):
                return intent
        payments = self._call("get", "/v1/invoice_payments", {"invoice": str(invoice["id"]), "status": "paid",
                                                              "limit": 100})
        return paid_intent_of(payments.get("data") or [])

    def charge_details(self, payment_intent_id: str) -> ChargeDetails | None:
        """The succeeded charge of a PaymentIntent with its fee and net, or None if not settled yet."""
        return self._settled_charge(self._call("get", f"/v1/payment_intents/{payment_intent_id}",
                                               {"expand": ["latest_charge.balance_transaction"]}))

    @staticmethod
    def _settled_charge(intent: dict[str, Any]) -> ChargeDetails | None:
        """A PaymentIntent's latest charge (expanded, with its balance transaction), if it succeeded."""
        charge = intent.get("latest_charge")
        if not isinstance(charge, dict) or charge.get("status") != "succeeded":
            return None
        return charge_details_of(str(intent["id"]), charge)

    def retrieve_charge(self, charge_id: str) -> ChargeDetails:
        charge = self._call("get", f"/v1/charges/{charge_id}", {"expand": ["balance_transaction"]})
        return charge_details_of(str(charge.get("payment_intent") or ""), charge)

    def retrieve_dispute(self, dispute_id: str) -> dict[str, Any]:
        return self._call("get", f"/v1/disputes/{dispute_id}")

    def charge_dispute_status(self, charge_id: str) -> str:
        """The status of a charge's latest dispute as Stripe has it now ("" if it has none)."""
        disputes = self._call("get", "/v1/disputes", {"charge": charge_id, "limit": 1})
        data = disputes.get("data") or []
        return str(data[0].get("status") or "") if data else ""

    # Self-service --------------------------------------------------------------------------------------

    def create_portal_session(self, customer_id: str, return_url: str, update_card: bool = False,
                              locale: str = "auto") -> str:
        """A Billing Portal session's URL; with `update_card` it opens straight on the card update flow.

        It uses the configuration `flask stripe setup` made (found by its metadata, once per process), or the
        account's default one when there is none."""
        params: dict[str, Any] = {"customer": customer_id, "return_url": return_url, "locale": locale}
        configuration = self.app_portal_configuration_id()
        if configuration:
            params["configuration"] = configuration
        if update_card:
            params["flow_data"] = {"type": "payment_method_update"}
        session = self._call("post", "/v1/billing_portal/sessions", params)
        return str(session["url"])

    def change_subscription_amount(self, subscription_id: str, amount_minor: int, change_key: str) -> dict[str, Any]:
        """Charge `amount_minor` per interval from the next renewal on (no proration, no charge now)."""
        subscription = self.retrieve_subscription(subscription_id)
        item = subscription["items"]["data"][0]
        price = item["price"]
        params = {
            "items": [{
                "id": item["id"],
                "price_data": {
                    "currency": price["currency"],
                    "product": price["product"] if isinstance(price["product"], str) else price["product"]["id"],
                    "unit_amount": amount_minor,
                    "recurring": {"interval": price["recurring"]["interval"]},
                },
            }],
            "proration_behavior": "none",
        }
        return self._call("post", f"/v1/subscriptions/{subscription_id}", params, idempotency_key=change_key)

    def set_cancel_at_period_end(self, subscription_id: str, cancel: bool, change_key: str,
                                 feedback: str = "", comment: str = "") -> dict[str, Any]:
        """Cancel at the end of the paid period (or undo that), with the patron's reason."""
        params: dict[str, Any] = {"cancel_at_period_end": cancel}
        if cancel and (feedback or comment):
            details: dict[str, str] = {}
            if feedback:
                details["feedback"] = feedback
            if comment:
                details["comment"] = comment
            params["cancellation_details"] = details
        return self._call("post", f"/v1/subscriptions/{subscription_id}", params, idempotency_key=change_key)

    def app_portal_configuration_id(self) -> str | None:
        """The id of the active Portal configuration `flask stripe setup` made, remembered once found."""
        if self._portal_configuration_id is None:
            found = find_marked(self.list_portal_configurations(active=True), PORTAL_CONFIGURATION_MARK)
            self._portal_configuration_id = str(found["id"]) if found else None
        return self._portal_configuration_id

    # Staff actions ------------------------------------------------------------------------------------

    def create_refund(self, charge_id: str, amount_minor: int, refund_key: str, reason: str = "",
                      metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
        """Refund `amount_minor` of a charge (all of what is left, or part). Stripe answers with the refund."""
        params: dict[str, Any] = {"charge": charge_id, "amount": amount_minor}
        if reason:
            params["reason"] = reason
        if metadata:
            params["metadata"] = dict(metadata)
        return self._call("post", "/v1/refunds", params, idempotency_key=refund_key)

    def cancel_subscription_now(self, subscription_id: str, feedback: str = "", comment: str = "") -> dict[str, Any]:
        """End a subscription at once: no further charges, nothing refunded. (DELETEs take no idempotency key.)"""
        details = {key: value for key, value in (("feedback", feedback), ("comment", comment)) if value}
        params: dict[str, Any] = {"cancellation_details": details} if details else {}
        return self._call("delete", f"/v1/subscriptions/{subscription_id}", params)

    def delete_customer(self, customer_id: str) -> None:
        """Delete the customer and everything Stripe keeps on them (Stripe cancels their subscriptions too)."""
        self._call("delete", f"/v1/customers/{customer_id}")

    # Events -----------------------------------------------------------------------------------------

    def list_events(self, since: datetime | None = None, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every event Stripe still holds (30 days), newest first, one page at a time."""
        params: dict[str, Any] = {"limit": page_size}
        if since is not None:
            params["created"] = {"gte": int(since.timestamp())}
        while True:
            page = self._call("get", "/v1/events", params)
            data = page.get("data", [])
            yield from data
            if not page.get("has_more") or not data:
                return
            params["starting_after"] = data[-1]["id"]

    # Account setup (`flask stripe setup` and `flask stripe check`) ------------------------------------
    # No idempotency keys here: no row of ours stands behind these requests, and the SDK already sends
    # one key per request that it keeps across its own retries.

    def _list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"limit": 100, **(params or {})}
        items: list[dict[str, Any]] = []
        while True:
            page = self._call("get", path, query)
            data = page.get("data", [])
            items.extend(data)
            if not page.get("has_more") or not data:
                return items
            query["starting_after"] = data[-1]["id"]

    def create_webhook_endpoint(self, url: str, enabled_events: list[str], description: str) -> dict[str, Any]:
        """A new endpoint at our API version, marked as ours; Stripe shows its signing `secret` only now."""
        return self._call("post", "/v1/webhook_endpoints", {
            "url": url, "enabled_events": enabled_events, "api_version": API_VERSION, "description": description,
            "metadata": {SETUP_METADATA_KEY: WEBHOOK_ENDPOINT_MARK}})

    def update_webhook_endpoint(self, endpoint_id: str, url: str, enabled_events: list[str]) -> dict[str, Any]:
        """Point an endpoint at `url` for `enabled_events`, enabled and marked as ours."""
        return self._call("post", f"/v1/webhook_endpoints/{endpoint_id}", {
            "url": url, "enabled_events": enabled_events, "disabled": False,
            "metadata": {SETUP_METADATA_KEY: WEBHOOK_ENDPOINT_MARK}})

    def retrieve_country_spec(self, country: str) -> dict[str, Any]:
        return self._call("get", f"/v1/country_specs/{country}")

    def recent_checkout_sessions(self, limit: int = 20) -> list[dict[str, Any]]:
        return list(self._call("get", "/v1/checkout/sessions", {"limit": limit}).get("data", []))

    def permitted(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> bool:
        """Whether the key may make this request: False only on Stripe's permission error (403).

        Stripe checks a restricted key's permissions before the request itself, so a request it would
        refuse anyway (an unknown id, a missing parameter) is a harmless probe."""
        try:
            self._call(method, path, params)
        except StripePermissionDenied:
            return False
        except StripeRejected:
            return True
        return True

    def verify_webhook(self, payload: bytes, signature_header: str | None, secret: str) -> dict[str, Any]:
        """The event a webhook carries, once its signature verifies; raise InvalidWebhook otherwise."""
        if not signature_header:
            raise InvalidWebhook("Missing Stripe-Signature header.")
        if not secret:
            raise InvalidWebhook("STRIPE_WEBHOOK_SECRET is not configured.")
        try:
            stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature_header, secret, tolerance=SIGNATURE_TOLERANCE_SECONDS
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            raise InvalidWebhook(str(exc)) from None
        try:
            event = json.loads(payload)
        except ValueError:
            raise InvalidWebhook("The body is not valid JSON.") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or "type" not in event:
            raise InvalidWebhook("The body is not a Stripe event.")
        return event


def receipt_of(invoice: object) -> Receipt | None:
    """The receipt links of an invoice (an expanded one: an id alone, or a draft, has none yet)."""
    if not isinstance(invoice, dict) or not invoice.get("id") or not invoice.get("hosted_invoice_url"):
        return None
    return Receipt(invoice_id=str(invoice["id"]), url=str(invoice["hosted_invoice_url"]),
                   pdf_url=str(invoice.get("invoice_pdf") or ""))


def gateway() -> StripeGateway:
    """The app's gateway (made once by create_app)."""
    return cast(StripeGateway, current_app.extensions["stripe_gateway"])


def find_marked(items: list[dict[str, Any]], mark: str) -> dict[str, Any] | None:
    """The first object whose metadata marks it as `flask stripe setup`'s (`membership=<mark>`)."""
    return next((item for item in items if (item.get("metadata") or {}).get(SETUP_METADATA_KEY) == mark), None)
