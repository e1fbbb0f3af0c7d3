"""Webhook delivery: sign each event as Stripe does, POST it from a worker thread, retry with backoff."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import threading
import time
import urllib.error
import urllib.request

from .config import DoubleConfig
from .store import Obj, Store, render
from .versions import render_event_at


def sign(payload: str, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header: `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def endpoint_wants(endpoint: Obj, event_type: str) -> bool:
    """Whether an endpoint subscribed to this event type."""
    enabled = endpoint.get("enabled_events") or ["*"]
    return "*" in enabled or event_type in enabled


class WebhookDispatcher:
    """Delivers pending deliveries in creation order; failures wait `base * 2**attempts` before retrying.

    Deliveries live in the store (so the dashboard shows them and a state file keeps them); the worker
    takes the store lock only to pick and to record, never while the HTTP request is in flight.
    """

    def __init__(self, store: Store, config: DoubleConfig) -> None:
        self.store = store
        self.config = config
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def enqueue(self, event: Obj) -> int:
        """Create one delivery per interested endpoint; returns how many (the event's pending_webhooks)."""
        count = 0
        with self.store.lock:
            for endpoint in self.store.all("webhook_endpoint"):
                if endpoint.get("status") != "enabled" or not endpoint_wants(endpoint, event["type"]):
                    continue
                self.store.deliveries.append(
                    {
                        "event": event["id"],
                        "endpoint": endpoint["id"],
                        "url": endpoint["url"],
                        "status": "pending",
                        "attempts": [],
                        "next_attempt_at": time.time(),
                    }
                )
                count += 1
        self._wake.set()
        return count

    def start(self) -> None:
        """Start the worker thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="stripe-double-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the worker (pending deliveries stay pending, e.g. in the state file)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.delivery_timeout_seconds + 1)
            self._thread = None

    def pending(self) -> int:
        """How many deliveries still wait for a 2xx (or for their last attempt)."""
        with self.store.lock:
            return sum(1 for d in self.store.deliveries if d["status"] == "pending")

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending; False if the timeout came first."""
        deadline = time.monotonic() + timeout
        while self.pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _next_due(self) -> tuple[Obj | None, float]:
        now = time.time()
        soonest = now + 1.0
        with self.store.lock:
            for delivery in self.store.deliveries:
                if delivery["status"] != "pending":
                    continue
                if delivery["next_attempt_at"] <= now:
                    return delivery, now
                soonest = min(soonest, delivery["next_attempt_at"])
        return None, soonest

    def _run(self) -> None:
        while not self._stop.is_set():
            delivery, soonest = self._next_due()
            if delivery is None:
                self._wake.wait(timeout=max(0.0, soonest - time.time()))
                self._wake.clear()
                continue
            self._attempt(delivery)

    def _attempt(self, delivery: Obj) -> None:
        with self.store.lock:
            event = self.store.get(delivery["event"])
            endpoint = self.store.get(delivery["endpoint"])
            if event is None or endpoint is None:
                delivery["status"] = "failed"
                return
            payload = json.dumps(render_event_at(render(event), endpoint.get("api_version")), indent=2)
            secret = str(endpoint["_secret"])
            url = str(endpoint["url"])
        status, error = self._post(url, payload, secret)
        with self.store.lock:
            attempts: list[Obj] = delivery["attempts"]
            attempts.append({"at": int(time.time()), "status": status, "error": error})
            if status is not None and 200 <= status < 300:
                delivery["status"] = "succeeded"
                event["pending_webhooks"] = max(0, int(event["pending_webhooks"]) - 1)
            elif len(attempts) >= self.config.max_delivery_attempts:
                delivery["status"] = "failed"
            else:
                wait = min(self.config.retry_base_seconds * 2 ** len(attempts), self.config.retry_max_seconds)
                delivery["next_attempt_at"] = time.time() + wait

    def _post(self, url: str, payload: str, secret: str) -> tuple[int | None, str | None]:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            "Stripe-Signature": sign(payload, secret, int(time.time())),
        }
        if not url.startswith(("http://", "https://")):
            return None, f"unsupported URL {url}"
        request = urllib.request.Request(url, data=payload.encode(), headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=self.config.delivery_timeout_seconds) as response:  # noqa: S310
                return int(response.status), None
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code), f"HTTP {exc.code}"
        except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, timed out, or not HTTP at all
            return None, str(exc) or type(exc).__name__
