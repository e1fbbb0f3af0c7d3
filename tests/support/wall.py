"""Supporter-wall test data: completed checkouts as the webhooks leave them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from membership.db import db, utcnow
from membership.giving.models import Checkout, CheckoutStatus, Frequency, PaymentKind, PaymentStatus, WallStatus
from membership.supporters.models import Supporter
from tests.support.patrons import add_payment, add_supporter


def add_gift(name: str, *, message: str = "", anonymous: bool = False, ago: timedelta = timedelta(hours=1),
             frequency: Frequency = Frequency.ONCE, wall_status: WallStatus = WallStatus.PENDING,
             payment_status: PaymentStatus = PaymentStatus.PAID, supporter: Supporter | None = None,
             **values: Any) -> Checkout:
    """A paid checkout by `name` (a new supporter unless given), completed `ago`, with its payment."""
    supporter = supporter or add_supporter(f"{name.lower().replace(' ', '.') or 'reader'}.{utcnow().timestamp()}"
                                           "@example.org", name=name)
    completed: datetime = utcnow() - ago
    checkout = Checkout(supporter_id=supporter.id, frequency=frequency, amount_minor=1000, currency="EUR",
                        message=message, anonymous=anonymous, status=CheckoutStatus.COMPLETED,
                        created_at=completed - timedelta(minutes=2), completed_at=completed, wall_status=wall_status,
                        **values)
    db.session.add(checkout)
    db.session.commit()
    payment = add_payment(supporter, 1000, completed, kind=PaymentKind.GIFT, status=payment_status)
    payment.checkout_id = checkout.id
    db.session.commit()
    return checkout
