"""Subscriptions, invoices and test clocks: starting, renewing, retrying, updating and cancelling.

Time always comes in as a parameter: a customer on a test clock lives at the clock's frozen_time, everyone
else at real time (the background tick). Renewals and retries are processed in the order they fall due.
"""

from __future__ import annotations

import calendar
import heapq
from datetime import UTC, datetime

from . import objects
from .core import Double
from .money import format_price
from .payments import ChargeResult, charge_card, open_pending_disputes
from .store import Obj, random_token, render
from .wire import (
    StripeError,
    get_bool,
    get_dict,
    get_int,
    get_str,
    invalid,
    not_found,
    reject_unknown,
    updated_metadata,
)

# Stripe's classic retry schedule: try again 3, 5 and 7 days after the previous attempt, then give up.
RETRY_DAYS = (3, 5, 7)
LIVE_STATUSES = ("incomplete", "trialing", "active", "past_due", "unpaid")


# Stripe's `cancellation_details[feedback]` codes: why a customer cancelled.
CANCELLATION_FEEDBACK = (
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
)


def add_interval(anchor: int, interval: str, count: int) -> int:
    """`anchor` moved by `count` months or years, keeping the day of month (clamped, as Stripe does)."""
    start = datetime.fromtimestamp(anchor, UTC)
    months = count * (12 if interval == "year" else 1)
    if interval == "day":
        return anchor + count * 86400
    if interval == "week":
        return anchor + count * 7 * 86400
    total = start.month - 1 + months
    year, month = start.year + total // 12, total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return int(start.replace(year=year, month=month, day=day).timestamp())


def item_of(sub: Obj) -> Obj:
    """The (single) subscription item."""
    item: Obj = sub["items"]["data"][0]
    return item


def describe_price(price_obj: Obj) -> str:
    """`€5.00 per month` for a price."""
    recurring = price_obj.get("recurring") or {}
    return format_price(int(price_obj["unit_amount"]), str(price_obj["currency"]), recurring.get("interval"))


def payment_method_for(d: Double, sub: Obj) -> Obj | None:
    """The card renewals use: the subscription's default, else the customer's."""
    pm_id = sub.get("default_payment_method")
    if not pm_id:
        customer = d.store.get(sub["customer"], "customer")
        pm_id = customer["invoice_settings"]["default_payment_method"] if customer else None
    return d.store.get(pm_id, "payment_method") if pm_id else None


# -- invoices ----------------------------------------------------------------------------------------------


def create_invoice(d: Double, sub: Obj, billing_reason: str, now: int, *, period: tuple[int, int]) -> Obj:
    """Create and finalize the invoice for the item's current period (invoice.created, invoice.finalized)."""
    customer = d.store.get(sub["customer"], "customer")
    assert customer is not None
    item = item_of(sub)
    price_obj = item["price"]
    product = d.store.get(price_obj["product"], "product")
    name = product["name"] if product else "Subscription"
    invoice_id = d.new("in_")
    line = objects.invoice_line(
        d.new("il_"),
        invoice_id=invoice_id,
        sub=sub,
        item=item,
        price_obj=price_obj,
        description=f"1 \u00d7 {name} (at {describe_price(price_obj)})",
        period_start=item["current_period_start"],
        period_end=item["current_period_end"],
    )
    sequence = int(customer["next_invoice_sequence"])
    customer["next_invoice_sequence"] = sequence + 1
    invoice = objects.invoice(
        invoice_id,
        now,
        customer_obj=customer,
        sub=sub,
        billing_reason=billing_reason,
        amount=int(price_obj["unit_amount"]),
        currency=price_obj["currency"],
        number=f"{customer['invoice_prefix']}-{sequence:04d}",
        hosted_url=f"{d.base_url}/i/{invoice_id}",
        period_start=period[0],
        period_end=period[1],
        lines=[line],
    )
    d.store.add(invoice)
    d.emit("invoice.created", invoice)
    invoice.update(status="open", effective_at=now)
    invoice["status_transitions"]["finalized_at"] = now
    d.emit("invoice.finalized", invoice)
    sub["latest_invoice"] = invoice["id"]
    return invoice


def attempt_invoice(
    d: Double, invoice: Obj, sub: Obj, now: int, *, off_session: bool, in_checkout: bool = False
) -> ChargeResult | None:
    """Charge an open invoice with the subscription's card; emits invoice.paid or invoice.payment_failed.

    Returns None when there is no card to charge (counted as a failed attempt, as Stripe does).
    """
    pm = payment_method_for(d, sub)
    result = None
    invoice["attempt_count"] = int(invoice["attempt_count"]) + 1
    invoice["attempted"] = True
    if pm is not None:
        description = (
            "Subscription creation" if invoice["billing_reason"] == "subscription_create" else ("Subscription update")
        )
        result = charge_card(
            d,
            pm,
            amount=int(invoice["amount_due"]),
            currency=invoice["currency"],
            customer_id=sub["customer"],
            description=description,
            metadata={},
            off_session=off_session,
            in_checkout=in_checkout,
            now=now,
        )
    if result is not None and result.ok:
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            next_payment_attempt=None,
            default_payment_method=None,
        )
        invoice["status_transitions"]["paid_at"] = now
        payment = objects.invoice_payment(
            d.new("inpay_"), now, invoice_obj=invoice, payment_intent_id=result.payment_intent["id"]
        )
        d.store.add(payment)
        d.emit("invoice.paid", invoice)
        d.emit("invoice.payment_succeeded", invoice)
        return result
    attempts = int(invoice["attempt_count"])
    retry = RETRY_DAYS[attempts - 1] if attempts <= len(RETRY_DAYS) else None
    invoice["next_payment_attempt"] = now + retry * 86400 if retry else None
    d.emit("invoice.payment_failed", invoice)
    return result


def settle_subscription(d: Double, sub: Obj, invoice: Obj, paid: bool, now: int) -> None:
    """Move the subscription after an invoice attempt: active when paid, past_due, or canceled at the end."""
    before = render(sub)
    if paid:
        if sub["status"] != "active":
            sub["status"] = "active"
            d.emit_update("customer.subscription.updated", sub, before)
        return
    if invoice["next_payment_attempt"] is None and sub["status"] != "incomplete":
        cancel_subscription(d, sub, now, reason="payment_failed")
        return
    if sub["status"] == "active":
        sub["status"] = "past_due"
        d.emit_update("customer.subscription.updated", sub, before)


def pay_invoice(d: Double, invoice: Obj, *, out_of_band: bool) -> Obj:
    """Pay an open invoice now: charge the subscription's card, or mark it paid out of band (as staff do in
    the Dashboard for money received another way; no PaymentIntent, so no invoice_payment, and only
    invoice.paid is sent)."""
    if invoice["status"] != "open":
        raise StripeError(f"Invoice is already {invoice['status']}; only an open invoice can be paid.",
                          code="invoice_not_open")
    sub_id = invoice["parent"]["subscription_details"]["subscription"]
    sub = d.store.get(sub_id, "subscription")
    assert sub is not None
    now = d.now_for_customer(sub["customer"])
    if out_of_band:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, next_payment_attempt=None)
        invoice["status_transitions"]["paid_at"] = now
        d.emit("invoice.paid", invoice)
        settle_subscription(d, sub, invoice, True, now)
        return invoice
    result = attempt_invoice(d, invoice, sub, now, off_session=True)
    settle_subscription(d, sub, invoice, result is not None and result.ok, now)
    if result is None or not result.ok:
        raise StripeError("Your card was declined.", status=402, type="card_error", code="card_declined")
    return invoice


# -- subscriptions -----------------------------------------------------------------------------------------


def start_subscription(
    d: Double, *, customer: Obj, price_obj: Obj, pm: Obj, metadata: Obj, now: int
) -> tuple[Obj, Obj, ChargeResult | None]:
    """The subscription a paid Checkout creates: incomplete → first invoice paid → active."""
    interval = price_obj["recurring"]["interval"]
    sub_id = d.new("sub_")
    item = objects.subscription_item(
        d.new("si_"),
        now,
        subscription_id=sub_id,
        price_obj=price_obj,
        period_start=now,
        period_end=add_interval(now, interval, 1),
    )
    sub = objects.subscription(
        sub_id,
        now,
        customer=customer["id"],
        currency=price_obj["currency"],
        item=item,
        metadata=metadata,
        default_payment_method=pm["id"],
        test_clock=customer.get("test_clock"),
    )
    sub["_periods"] = 1
    d.store.add(sub)
    d.emit("customer.subscription.created", sub)
    invoice = create_invoice(d, sub, "subscription_create", now, period=(now, now))
    result = attempt_invoice(d, invoice, sub, now, off_session=False, in_checkout=True)
    settle_subscription(d, sub, invoice, result is not None and result.ok, now)
    return sub, invoice, result


def renew(d: Double, sub: Obj, now: int) -> None:
    """Start the next period at its boundary `now` and bill it (subscription_cycle)."""
    item = item_of(sub)
    before = render(sub)
    previous = (item["current_period_start"], item["current_period_end"])
    sub["_periods"] = int(sub.get("_periods", 1)) + 1
    item["current_period_start"] = previous[1]
    item["current_period_end"] = add_interval(
        int(sub["billing_cycle_anchor"]), item["price"]["recurring"]["interval"], sub["_periods"]
    )
    invoice = create_invoice(d, sub, "subscription_cycle", now, period=previous)
    d.emit_update("customer.subscription.updated", sub, before)
    result = attempt_invoice(d, invoice, sub, now, off_session=True)
    paid = result is not None and result.ok
    settle_subscription(d, sub, invoice, paid, now)
    if result is not None and result.ok:
        open_pending_disputes(d, result.charge["id"])


def cancel_subscription(d: Double, sub: Obj, now: int, *, reason: str, comment: str | None = None) -> Obj:
    """End a subscription now (customer.subscription.deleted); its open invoices stop being retried."""
    if sub["status"] == "canceled":
        return sub
    sub["status"] = "canceled"
    sub["ended_at"] = now
    sub["canceled_at"] = sub["canceled_at"] or now
    sub["cancellation_details"]["reason"] = sub["cancellation_details"]["reason"] or reason
    if comment is not None:
        sub["cancellation_details"]["comment"] = comment
    for invoice in d.store.find("invoice", status="open"):
        if invoice["parent"]["subscription_details"]["subscription"] == sub["id"]:
            invoice["next_payment_attempt"] = None
    d.emit("customer.subscription.deleted", sub)
    return sub


def set_cancel_at_period_end(
    d: Double, sub: Obj, cancel: bool, now: int, comment: str | None = None, feedback: str | None = None
) -> None:
    """Schedule or undo cancellation at the end of the current period (customer.subscription.updated)."""
    before = render(sub)
    if cancel:
        sub.update(cancel_at_period_end=True, cancel_at=item_of(sub)["current_period_end"], canceled_at=now)
        sub["cancellation_details"]["reason"] = "cancellation_requested"
    else:
        sub.update(cancel_at_period_end=False, cancel_at=None, canceled_at=None)
        sub["cancellation_details"] = {"comment": None, "feedback": None, "reason": None}
    if comment is not None:
        sub["cancellation_details"]["comment"] = comment
    if feedback is not None:
        sub["cancellation_details"]["feedback"] = feedback
    d.emit_update("customer.subscription.updated", sub, before)


def cancellation_feedback(params: Obj) -> str | None:
    """`cancellation_details[feedback]`, one of Stripe's reason codes."""
    feedback = get_str(get_dict(params, "cancellation_details"), "feedback")
    if feedback is not None and feedback not in CANCELLATION_FEEDBACK:
        raise invalid(
            "cancellation_details[feedback]",
            f"Invalid cancellation_details[feedback]: must be one of {', '.join(CANCELLATION_FEEDBACK)}",
            "parameter_invalid",
        )
    return feedback


def _change_price(d: Double, sub: Obj, items: list[Obj], now: int) -> None:
    if len(items) != 1:
        raise invalid("items", "The double supports exactly one subscription item.", "parameter_invalid")
    change = items[0]
    item = item_of(sub)
    if get_str(change, "id") != item["id"]:
        raise invalid("items[0][id]", f"No such subscription item: '{change.get('id')}'", "resource_missing")
    price_id = get_str(change, "price")
    if price_id is not None:
        found = d.store.get(price_id, "price")
        if found is None:
            raise not_found("price", price_id, "items[0][price]")
        new_price = found
    else:
        data = get_dict(change, "price_data")
        if not data:
            return
        new_price = _price_from_data(d, data, "items[0][price_data]", now, recurring_required=True)
    if new_price["currency"] != sub["currency"]:
        raise invalid(
            "items[0][price_data][currency]",
            "The price's currency must match the subscription's.",
            "parameter_invalid",
        )
    item["price"] = render(new_price)
    item["plan"] = objects.plan_from_price(new_price)


def _price_from_data(d: Double, data: Obj, param: str, now: int, *, recurring_required: bool) -> Obj:
    currency = get_str(data, "currency")
    if currency is None:
        raise StripeError(
            f"Missing required param: {param}[currency].",
            code="parameter_missing",
            param=f"{param}[currency]",
        )
    amount = get_int(data, "unit_amount", param=f"{param}[unit_amount]")
    if amount is None:
        raise StripeError(
            f"Missing required param: {param}[unit_amount].",
            code="parameter_missing",
            param=f"{param}[unit_amount]",
        )
    if amount < 1:
        raise invalid(
            f"{param}[unit_amount]",
            "This value must be greater than or equal to 1.",
            "parameter_invalid_integer",
        )
    product_id = get_str(data, "product")
    if product_id is not None:
        if d.store.get(product_id, "product") is None:
            raise not_found("product", product_id, f"{param}[product]")
    else:
        product_data = get_dict(data, "product_data")
        name = get_str(product_data, "name")
        if name is None:
            raise StripeError(
                f"Missing required param: {param}[product_data][name].",
                code="parameter_missing",
                param=f"{param}[product_data][name]",
            )
        product_id = d.store.add(objects.product(d.new("prod_"), now, name))["id"]
    recurring = get_dict(data, "recurring")
    interval = get_str(recurring, "interval")
    if recurring_required and interval is None:
        raise StripeError(
            f"Missing required param: {param}[recurring][interval].",
            code="parameter_missing",
            param=f"{param}[recurring][interval]",
        )
    if interval is not None and interval not in ("day", "week", "month", "year"):
        raise invalid(f"{param}[recurring][interval]", f"Invalid recurring[interval]: {interval}", "parameter_invalid")
    price_obj = objects.price(
        d.new("price_"),
        now,
        product_id=product_id,
        currency=currency.lower(),
        unit_amount=amount,
        interval=interval,
    )
    return d.store.add(price_obj)


def price_from_data(d: Double, data: Obj, param: str, now: int, *, recurring_required: bool) -> Obj:
    """A Product (unless `product` is given) and a Price from inline `price_data`, validated like Stripe."""
    return _price_from_data(d, data, param, now, recurring_required=recurring_required)


def update_subscription(d: Double, sub: Obj, params: Obj) -> Obj:
    """POST /v1/subscriptions/{id}: cancel at period end / resume, metadata, card, price for next renewals."""
    reject_unknown(
        params,
        [
            "cancel_at_period_end",
            "cancellation_details",
            "metadata",
            "proration_behavior",
            "items",
            "default_payment_method",
            "description",
        ],
    )
    if sub["status"] == "canceled" and set(params) - {"metadata", "cancellation_details", "expand"}:
        raise StripeError("A canceled subscription can only update its cancellation_details and metadata.")
    now = d.now_for_customer(sub["customer"])
    behavior = get_str(params, "proration_behavior")
    if behavior is not None and behavior not in ("none", "create_prorations", "always_invoice"):
        raise invalid("proration_behavior", f"Invalid proration_behavior: {behavior}", "parameter_invalid")
    comment = get_str(get_dict(params, "cancellation_details"), "comment")
    feedback = cancellation_feedback(params)
    cancel = get_bool(params, "cancel_at_period_end")
    before = render(sub)
    if "metadata" in params:
        sub["metadata"] = updated_metadata(sub["metadata"], params)
    pm_id = get_str(params, "default_payment_method")
    if pm_id is not None:
        if d.store.get(pm_id, "payment_method") is None:
            raise not_found("payment_method", pm_id, "default_payment_method")
        sub["default_payment_method"] = pm_id
    if "items" in params:
        items = params["items"]
        if not isinstance(items, list):
            raise invalid("items", "Invalid array", "parameter_invalid")
        _change_price(d, sub, items, now)
    if cancel is None:
        if comment is not None:
            sub["cancellation_details"]["comment"] = comment
        if feedback is not None:
            sub["cancellation_details"]["feedback"] = feedback
    d.emit_update("customer.subscription.updated", sub, before)
    if cancel is not None and cancel != sub["cancel_at_period_end"]:
        set_cancel_at_period_end(d, sub, cancel, now, comment, feedback)
    return sub


# -- time --------------------------------------------------------------------------------------------------


def _sub_next_due(sub: Obj, open_invoices: list[Obj], until: int) -> tuple[int, Obj | None] | None:
    """What falls due next for one subscription by `until`: its period end (or cancel_at), or a retry of one of
    its open invoices; (when, the invoice to retry or None)."""
    if sub["status"] not in ("active", "past_due"):
        return None
    best: tuple[int, Obj | None] | None = None
    due = int(item_of(sub)["current_period_end"])
    if sub["cancel_at"] is not None:
        due = min(due, int(sub["cancel_at"]))
    if due <= until:
        best = (due, None)
    for invoice in open_invoices:
        retry_at = invoice["next_payment_attempt"]
        if invoice["status"] != "open" or retry_at is None:
            continue
        if retry_at <= until and (best is None or retry_at < best[0]):
            best = (int(retry_at), invoice)
    return best


def _open_invoices_by_subscription(d: Double) -> dict[str, list[Obj]]:
    found: dict[str, list[Obj]] = {}
    for invoice in d.store.find("invoice", status="open"):
        found.setdefault(invoice["parent"]["subscription_details"]["subscription"], []).append(invoice)
    return found


def process_due(d: Double, subs: list[Obj], until: int, clock: Obj | None = None) -> None:
    """Run every renewal, retry and scheduled cancellation falling due up to `until`, oldest first.

    A heap holds each subscription's next due moment, so a clock with 50,000 subscriptions advances in one pass
    (each step re-reads only its own subscription's invoices)."""
    open_invoices = _open_invoices_by_subscription(d)
    heap: list[tuple[int, int, Obj]] = []
    for order, sub in enumerate(subs):
        due = _sub_next_due(sub, open_invoices.get(sub["id"], []), until)
        if due is not None:
            heapq.heappush(heap, (due[0], order, sub))
    steps = 0
    while heap and steps < 100 * len(subs) + 10_000:
        _, order, sub = heapq.heappop(heap)
        mine = [i for i in open_invoices.get(sub["id"], []) if i["status"] == "open"]
        due = _sub_next_due(sub, mine, until)
        if due is None:
            continue
        when, invoice = due
        if heap and heap[0][0] < when:  # it moved later meanwhile: the others' turn first
            heapq.heappush(heap, (when, order, sub))
            continue
        steps += 1
        if clock is not None:
            clock["frozen_time"] = when
        if invoice is not None:
            result = attempt_invoice(d, invoice, sub, when, off_session=True)
            settle_subscription(d, sub, invoice, result is not None and result.ok, when)
        elif sub["cancel_at_period_end"] or (sub["cancel_at"] is not None and sub["cancel_at"] <= when):
            cancel_subscription(d, sub, when, reason="cancellation_requested")
        else:
            renew(d, sub, when)
        latest = d.store.get(str(sub.get("latest_invoice") or ""), "invoice")
        if latest is not None and latest["status"] == "open" and latest not in mine:
            mine.append(latest)
        open_invoices[sub["id"]] = mine
        again = _sub_next_due(sub, mine, until)
        if again is not None:
            heapq.heappush(heap, (again[0], order, sub))


def subscriptions_on_clock(d: Double, clock_id: str | None) -> list[Obj]:
    """Subscriptions whose customer lives on this clock (None: on real time)."""
    customers = {c["id"] for c in d.store.all("customer") if c.get("test_clock") == clock_id}
    return [s for s in d.store.all("subscription") if s["customer"] in customers]


def tick(d: Double) -> None:
    """The real-time heartbeat: renew clock-less subscriptions and expire old checkout sessions."""
    with d.store.lock:
        now = d.now()
        process_due(d, subscriptions_on_clock(d, None), now)
        for session in d.store.find("checkout.session", status="open"):
            if session["expires_at"] <= now:
                expire_session(d, session)


def expire_session(d: Double, session: Obj) -> Obj:
    """Close an open checkout session (checkout.session.expired)."""
    session.update(status="expired", url=None)
    d.emit("checkout.session.expired", session)
    return session


def create_clock(d: Double, params: Obj) -> Obj:
    """POST /v1/test_helpers/test_clocks."""
    reject_unknown(params, ["frozen_time", "name"])
    frozen = get_int(params, "frozen_time", required=True)
    assert frozen is not None
    clock = objects.test_clock(d.new("clock_"), d.now(), frozen_time=frozen, name=get_str(params, "name"))
    d.store.add(clock)
    d.emit("test_helpers.test_clock.created", clock)
    return clock


def advance_clock(d: Double, clock: Obj, frozen_time: int) -> Obj:
    """Move a clock forward, running everything that falls due on the way (then test_clock.ready)."""
    if frozen_time <= int(clock["frozen_time"]):
        raise invalid(
            "frozen_time",
            "The frozen_time must be after the test clock's current frozen_time.",
            "parameter_invalid_integer",
        )
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": frozen_time}}
    d.emit("test_helpers.test_clock.advancing", clock)
    process_due(d, subscriptions_on_clock(d, clock["id"]), frozen_time, clock)
    clock.update(frozen_time=frozen_time, status="ready", status_details={})
    d.emit("test_helpers.test_clock.ready", clock)
    return clock


# -- cards on file -----------------------------------------------------------------------------------------


def set_default_card(d: Double, customer: Obj, pm: Obj) -> list[Obj]:
    """Make `pm` the customer's and its subscriptions' card; retry past_due invoices with it at once.

    Returns the invoices that were retried.
    """
    now = d.now_for_customer(customer["id"])
    before = render(customer)
    customer["invoice_settings"]["default_payment_method"] = pm["id"]
    d.emit_update("customer.updated", customer, before)
    retried = []
    for sub in d.store.find("subscription", customer=customer["id"]):
        if sub["status"] not in LIVE_STATUSES:
            continue
        before = render(sub)
        sub["default_payment_method"] = pm["id"]
        d.emit_update("customer.subscription.updated", sub, before)
        if sub["status"] != "past_due":
            continue
        for invoice in d.store.find("invoice", status="open"):
            if invoice["parent"]["subscription_details"]["subscription"] == sub["id"]:
                result = attempt_invoice(d, invoice, sub, now, off_session=False)
                settle_subscription(d, sub, invoice, result is not None and result.ok, now)
                retried.append(invoice)
    return retried


def invoice_prefix() -> str:
    """A customer's invoice number prefix (Stripe uses 8 uppercase hex-like characters)."""
    return random_token(8).upper()
