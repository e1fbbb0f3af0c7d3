"""Plain account-level Stripe calls: what `flask import stripe` (adoption) and `flask stripe setup|check` read.

A mixin of `StripeGateway` (membership/giving/stripe_gateway.py, the one module that talks to Stripe): these
calls go through its `_list_all`, so they are paced, retried and typed like every other call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AccountCalls:
    def _call(self, method: str, path: str, params: Mapping[str, Any] | None = None,
              idempotency_key: str | None = None) -> dict[str, Any]:
        raise NotImplementedError  # StripeGateway's

    def _list_all(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError  # StripeGateway's

    def list_customers(self) -> list[dict[str, Any]]:
        return self._list_all("/v1/customers")

    def list_subscriptions(self, status: str = "all") -> list[dict[str, Any]]:
        return self._list_all("/v1/subscriptions", {"status": status, "expand": ["data.default_payment_method"]})

    def list_paid_invoices(self) -> list[dict[str, Any]]:
        """Every paid invoice, each with its first payments included (`payment_intent_for_invoice` reads them)."""
        return self._list_all("/v1/invoices", {"status": "paid", "expand": ["data.payments"]})

    def list_charges(self) -> list[dict[str, Any]]:
        return self._list_all("/v1/charges")

    def list_portal_configurations(self, active: bool | None = None) -> list[dict[str, Any]]:
        return self._list_all("/v1/billing_portal/configurations", {"active": active} if active is not None else {})

    def create_portal_configuration(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("post", "/v1/billing_portal/configurations", params)

    def update_portal_configuration(self, configuration_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._call("post", f"/v1/billing_portal/configurations/{configuration_id}", params)

    def list_webhook_endpoints(self) -> list[dict[str, Any]]:
        return self._list_all("/v1/webhook_endpoints")

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        self._call("delete", f"/v1/webhook_endpoints/{endpoint_id}")

    def retrieve_account(self) -> dict[str, Any]:
        return self._call("get", "/v1/account")
