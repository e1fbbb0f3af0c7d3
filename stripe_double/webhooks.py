"""Webhook delivery: sign each event as Stripe does, POST it from a worker thread, retry with backoff."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import itertools
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
    """Delivers pending deliveries in creation order, `config.delivery_concurrency` at a time (Stripe sends many
    at once); failures wait `base * 2**attempts` before retrying.

    Deliveries live in the store (so the dashboard shows them and a state file keeps them); the workers take
    the store lock only to pick and to record, never while the HTTP request is in flight. The pending ones
    are also kept in a heap by due time, so picking the next one costs the same with 100,000 as with ten.
    """

    def __init__(self, store: Store, config: DoubleConfig) -> None:
        self.store = store
        self.config = config
        self._wake = threading.Condition(store.lock)
        self._settled = threading.Condition(store.lock)  # notified when the last pending delivery settles
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._due: list[tuple[float, int, Obj]] = []  # (next_attempt_at, sequence, delivery) of pending ones
        self._sequence = itertools.count()
        self._pending = 0

    def enqueue(self, event: Obj) -> int:
        """Create one delivery per interested endpoint; returns how many (the event's pending_webhooks)."""
        count = 0
        with self.store.lock:
            for endpoint in self.store.all("webhook_endpoint"):
                if endpoint.get("status") != "enabled" or not endpoint_wants(endpoint, event["type"]):
                    continue
                delivery = {
                    "event": event["id"],
                    "endpoint": endpoint["id"],
                    "url": endpoint["url"],
                    "status": "pending",
                    "attempts": [],
                    "next_attempt_at": time.time(),
                }
                self.store.deliveries.append(delivery)
                self._schedule(delivery)
                self._pending += 1
                count += 1
            if count:
                self._wake.notify(count)
        return count

    def _schedule(self, delivery: Obj) -> None:
        heapq.heappush(self._due, (float(delivery["next_attempt_at"]), next(self._sequence), delivery))

    def start(self) -> None:
        """Start the delivery threads, taking up what the store has pending (a state file, a reset)."""
        self._stop.clear()
        with self.store.lock:
            self._due = []
            pending = [d for d in self.store.deliveries if d["status"] == "pending"]
            for delivery in pending:
                self._schedule(delivery)
            self._pending = len(pending)
        self._threads = [threading.Thread(target=self._run, name=f"stripe-double-webhooks-{n}", daemon=True)
                         for n in range(max(1, self.config.delivery_concurrency))]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the workers (pending deliveries stay pending, e.g. in the state file)."""
        self._stop.set()
        with self.store.lock:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.config.delivery_timeout_seconds + 1)
        self._threads = []

    def pending(self) -> int:
        """How many deliveries still wait for a 2xx (or for their last attempt)."""
        with self.store.lock:
            if not self.store.deliveries:
                self._pending = 0  # the store was reset under us
            return self._pending

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is pending; False if the timeout came first. Woken as the last delivery settles
        (a poll every 10 ms made each wait 5 ms longer on average), and looking again every 50 ms anyway: a
        reset of the store empties it without settling anything."""
        deadline = time.monotonic() + timeout
        with self.store.lock:
            while self.pending():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._settled.wait(timeout=min(remaining, 0.05))
        return True

    def _settle(self, delivery: Obj, status: str) -> None:
        """Mark a pending delivery succeeded or failed (under the store lock), waking `wait_idle` after the last."""
        delivery["status"] = status
        self._pending = max(0, self._pending - 1)
        if not self._pending:
            self._settled.notify_all()

    def _take(self) -> Obj | None:
        """The next due delivery (taken off the heap: no other worker gets it), waiting for one; None to stop."""
        with self.store.lock:
            while not self._stop.is_set():
                while self._due and self._due[0][2]["status"] != "pending":
                    heapq.heappop(self._due)  # the store was reset, or it was given up
                now = time.time()
                if self._due and self._due[0][0] <= now:
                    return heapq.heappop(self._due)[2]
                self._wake.wait(timeout=min(1.0, self._due[0][0] - now) if self._due else 1.0)
        return None

    def _run(self) -> None:
        while (delivery := self._take()) is not None:
            self._attempt(delivery)

    def _attempt(self, delivery: Obj) -> None:
        with self.store.lock:
            event = self.store.get(delivery["event"])
            endpoint = self.store.get(delivery["endpoint"])
            if event is None or endpoint is None:
                self._settle(delivery, "failed")
                return
            payload = json.dumps(render_event_at(render(event), endpoint.get("api_version")), indent=2)
            secret = str(endpoint["_secret"])
            url = str(endpoint["url"])
        started = time.perf_counter()
        status, error = self._post(url, payload, secret)
        took_ms = round(1000 * (time.perf_counter() - started), 2)
        with self.store.lock:
            attempts: list[Obj] = delivery["attempts"]
            attempts.append({"at": int(time.time()), "status": status, "error": error, "ms": took_ms})
            if status is not None and 200 <= status < 300:
                event["pending_webhooks"] = max(0, int(event["pending_webhooks"]) - 1)
                self._settle(delivery, "succeeded")
            elif len(attempts) >= self.config.max_delivery_attempts:
                self._settle(delivery, "failed")
            else:
                wait = min(self.config.retry_base_seconds * 2 ** len(attempts), self.config.retry_max_seconds)
                delivery["next_attempt_at"] = time.time() + wait
                self._schedule(delivery)
                self._wake.notify()

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
